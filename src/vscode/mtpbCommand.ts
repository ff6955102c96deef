// "CodeGen: Run MTPB Benchmark...": the paper's benchmark on the current model (src/eval does the work), with a
// cancellable progress notification; opens the Markdown report. A run resumes where an earlier, cancelled run of
// the same choice on the same model stopped. Given `'quick'` or `{ problems, modes, samples }` (tests, other
// extensions) it asks nothing and resolves to the run's result.
import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import { runMtpb, type MtpbMode, type MtpbRunResult } from '../eval';
import { COMMAND } from './contributes';
import { errorText } from './errors';
import type { ModelManager } from './modelManager';
import { configuredPython } from './settings';


interface RunChoice extends vscode.QuickPickItem {
  readonly problems?: readonly string[];
  readonly modes: readonly MtpbMode[];
  readonly samples?: number;
}

/** The arguments that skip the pick: the quick check, or a selection (default: every problem, multi-turn, 1 sample). */
export type RunMtpbArgs = 'quick' | { readonly problems?: readonly string[]; readonly modes?: readonly MtpbMode[]; readonly samples?: number };

const CHOICES: readonly RunChoice[] = [
  { label: 'Quick check', description: '5 problems, multi- and single-turn, 1 sample per test input', problems: ['1', '2', '3', '4', '5'], modes: ['multi', 'single'] },
  { label: 'Full MTPB, multi-turn', description: '115 problems x 5 test inputs, 1 sample each', modes: ['multi'] },
  { label: 'Full MTPB, multi- and single-turn', description: 'the paper\u2019s comparison (twice as long)', modes: ['multi', 'single'] },
];

export function registerMtpbCommand(context: vscode.ExtensionContext, model: ModelManager, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(vscode.commands.registerCommand(COMMAND.runMtpb, (arg?: unknown) => runMtpbCommand(context, model, log, argChoice(arg))));
}

/** The run that arguments given to the command name, if they name one (a menu passes other things). */
function argChoice(arg: unknown): RunChoice | undefined {
  if (arg === 'quick') return CHOICES[0];
  if (typeof arg !== 'object' || arg === null) return undefined;
  const { problems, modes, samples } = arg as { problems?: unknown; modes?: unknown; samples?: unknown };
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  const known = strings(modes) ? modes.filter((m): m is MtpbMode => m === 'multi' || m === 'single') : [];
  const chosenModes: MtpbMode[] = known.length ? known : ['multi'];
  const chosenProblems = strings(problems) ? problems : undefined;
  const chosenSamples = typeof samples === 'number' ? samples : undefined;
  const label = `${chosenProblems ? `problems ${chosenProblems.join(', ')}` : 'all problems'}, ${chosenModes.join(' and ')}, ${chosenSamples ?? 1} per input`;
  return { label, problems: chosenProblems, modes: chosenModes, samples: chosenSamples };
}

async function runMtpbCommand(context: vscode.ExtensionContext, model: ModelManager, log: vscode.LogOutputChannel, given?: RunChoice): Promise<MtpbRunResult | undefined> {
  const choice = given ?? (await vscode.window.showQuickPick(CHOICES, { title: 'Run MTPB on the current model', placeHolder: 'What to run' }));
  if (!choice) return undefined;
  let info;
  try {
    info = await model.ensureLoaded();
  } catch (err) {
    void vscode.window.showErrorMessage(`CodeGen: the model could not be loaded: ${errorText(err)}`);
    return undefined;
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
          { outDir, model: modelName, modes: choice.modes, problems: choice.problems, samples: choice.samples, python: configuredPython(), nPositions: info.nPositions },
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
  if (!result) return undefined;
  if (!result.complete) {
    void vscode.window.showInformationMessage('MTPB was stopped; the report covers the samples done so far. Run it again to continue where it stopped.');
  }
  await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(result.summaryMarkdownPath));
  return result;
}

function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 1 ? `${minutes} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
}
