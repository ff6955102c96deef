// "CodeGen: Run MTPB Benchmark...": the paper's benchmark on the current model (src/eval does the work), with a
// cancellable progress notification; opens the Markdown report. A run resumes where an earlier, cancelled run of
// the same choice on the same model stopped.
import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import { runMtpb, type MtpbMode } from '../eval';
import { errorText } from './errors';
import type { ModelManager } from './modelManager';
import { evaluationPython } from './settings';

export const RUN_MTPB_COMMAND = 'codegenMt.runMtpb';

interface RunChoice extends vscode.QuickPickItem {
  readonly problems?: readonly string[];
  readonly modes: readonly MtpbMode[];
}

const CHOICES: readonly RunChoice[] = [
  { label: 'Quick check', description: '5 problems, multi- and single-turn, 1 sample per test input', problems: ['1', '2', '3', '4', '5'], modes: ['multi', 'single'] },
  { label: 'Full MTPB, multi-turn', description: '115 problems x 5 test inputs, 1 sample each', modes: ['multi'] },
  { label: 'Full MTPB, multi- and single-turn', description: 'the paper\u2019s comparison (twice as long)', modes: ['multi', 'single'] },
];

export function registerMtpbCommand(context: vscode.ExtensionContext, model: ModelManager, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(vscode.commands.registerCommand(RUN_MTPB_COMMAND, () => runMtpbCommand(context, model, log)));
}

async function runMtpbCommand(context: vscode.ExtensionContext, model: ModelManager, log: vscode.LogOutputChannel): Promise<void> {
  const choice = await vscode.window.showQuickPick(CHOICES, { title: 'Run MTPB on the current model', placeHolder: 'What to run' });
  if (!choice) return;
  let info;
  try {
    info = await model.ensureLoaded();
  } catch (err) {
    void vscode.window.showErrorMessage(`CodeGen: the model could not be loaded: ${errorText(err)}`);
    return;
  }
  const modelName = `${info.modelDir} (${info.variant})`;
  // One folder per (model, choice): running the same again resumes it instead of starting over.
  const key = createHash('sha256').update(`${modelName}\n${choice.label}`).digest('hex').slice(0, 12);
  const outDir = vscode.Uri.joinPath(context.globalStorageUri, 'mtpb', key).fsPath;
  log.info(`MTPB (${choice.label}) on ${modelName} into ${outDir}`);

  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `MTPB: ${choice.label}`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      let reported = 0;
      try {
        return await runMtpb(
          model.engine,
          { outDir, model: modelName, modes: choice.modes, problems: choice.problems, python: evaluationPython(), nPositions: info.nPositions },
          {
            signal: controller.signal,
            onNote: (text) => log.info(`MTPB: ${text}`),
            onProgress: ({ done, total, etaMs, passed }) => {
              const percent = total > 0 ? (100 * done) / total : 0;
              const eta = etaMs === undefined ? '' : `, about ${formatDuration(etaMs)} left`;
              progress.report({ increment: percent - reported, message: `${done}/${total} samples, ${passed} passed${eta}` });
              reported = percent;
            },
          },
        );
      } catch (err) {
        log.error(`MTPB failed: ${errorText(err)}`);
        void vscode.window.showErrorMessage(`CodeGen: MTPB could not run: ${errorText(err)}`);
        return undefined;
      }
    },
  );
  if (!result) return;
  if (!result.complete) {
    void vscode.window.showInformationMessage('MTPB was stopped; the report covers the samples done so far. Run it again to continue where it stopped.');
  }
  await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(result.summaryMarkdownPath));
}

function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 1 ? `${minutes} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
}
