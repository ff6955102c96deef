// The ids package.json contributes (commands, the view and its container, the status bar item), spelled once: every
// module that registers or runs one imports it from here, and a test checks this list against package.json both
// ways. A leaf module (it imports nothing) so that, e.g., the error notifications can offer Select Model without an
// import cycle with the model manager that registers it; and so that the test runs in plain Node. The settings'
// readers are settings.ts.

/** Each command's id, and the module that registers it. */
export const COMMAND = {
  submitPrompt: 'codegenMt.submitPrompt', // sessionCommands.ts
  acceptTurn: 'codegenMt.acceptTurn', // sessionCommands.ts
  rejectTurn: 'codegenMt.rejectTurn', // sessionCommands.ts
  regenerateTurn: 'codegenMt.regenerateTurn', // sessionCommands.ts
  stopGeneration: 'codegenMt.stopGeneration', // sessionCommands.ts
  newSession: 'codegenMt.newSession', // sessionCommands.ts
  openSession: 'codegenMt.openSession', // sessionCommands.ts
  exportSession: 'codegenMt.exportSession', // sessionCommands.ts
  scorePromptComments: 'codegenMt.scorePromptComments', // hints.ts
  toggleHints: 'codegenMt.toggleHints', // hints.ts
  selectModel: 'codegenMt.selectModel', // modelPicker.ts
  downloadModel: 'codegenMt.downloadModel', // modelDownload.ts
  focusPanel: 'codegenMt.focusPanel', // extension.ts
  runMtpb: 'codegenMt.runMtpb', // mtpbCommand.ts
  connectServer: 'codegenMt.connectServer', // serverBackend.ts
  setServerApiKey: 'codegenMt.setServerApiKey', // serverBackend.ts
  useLocalModel: 'codegenMt.useLocalModel', // serverBackend.ts
  runProgram: 'codegenMt.runProgram', // sessionCommands.ts
  allowProgramRuns: 'codegenMt.allowProgramRuns', // programRunner.ts
  stopProgramRuns: 'codegenMt.stopProgramRuns', // programRunner.ts
} as const;

export type CommandId = (typeof COMMAND)[keyof typeof COMMAND];

/** The activity bar's view container and the panel's webview view in it. */
export const VIEW_CONTAINER = 'codegenMt';
export const PANEL_VIEW = 'codegenMt.panel';
/** The command VS Code makes for showing a view container. */
export const SHOW_VIEW_CONTAINER_COMMAND = `workbench.view.extension.${VIEW_CONTAINER}`;
/** The command VS Code makes for focusing a view. */
export const FOCUS_PANEL_VIEW_COMMAND = `${PANEL_VIEW}.focus`;

export const MODEL_STATUS_ITEM = 'codegenMt.model';

/** The settings' section, and each setting's key in it (package.json: contributes.configuration). */
export const CONFIG_SECTION = 'codegenMt';
export const SETTING = {
  modelPath: 'modelPath',
  modelVariant: 'modelVariant',
  threads: 'threads',
  compile: 'compile',
  compiledModelCache: 'compiledModelCache',
  temperature: 'temperature',
  topP: 'topP',
  maxNewTokens: 'maxNewTokens',
  insertPromptAsComment: 'insertPromptAsComment',
  lowThreshold: 'perplexity.lowThreshold',
  highThreshold: 'perplexity.highThreshold',
  hintsEnabled: 'hints.enabled',
  python: 'python',
  serverUrl: 'server.url',
  serverModel: 'server.model',
  serverApiKeyEnv: 'server.apiKeyEnv',
  serverTimeoutSeconds: 'server.timeoutSeconds',
  runAfterAccept: 'run.afterAccept',
  candidatesPerTurn: 'candidatesPerTurn',
  speculate: 'speculate',
  runTimeoutSeconds: 'run.timeoutSeconds',
} as const;
