// Runs the program so far in the benchmarks' sandbox (src/eval/sandbox.ts: its own processes, time and memory
// limits, a fresh temporary folder, no network where the machine allows it) with the benchmarks' Python
// (codegenMt.python, else the first python3 that has numpy and pandas). Model-written code never runs in the
// extension host, and never before the user has agreed, once per workspace, to it running on this machine
// (session/runConsent.ts asks; the answer is kept in workspaceState).
import * as vscode from 'vscode';
import { outcomeOf } from '../eval/programOutcome';
import { runProgram, detectIsolation, harnessPath, type SandboxOptions } from '../eval/sandbox';
import { findPython } from '../eval/python';
import type { ProgramOutcome, ProgramPort } from '../session/ports';
import { ConsentedRuns, type ConsentStore, type RunConsent } from '../session/runConsent';
import { COMMAND } from './contributes';
import { config, configuredPython, SETTING } from './settings';

/** workspaceState: 'yes' once the user agreed to runs in this workspace, 'no' once they declined. */
export const RUN_CONSENT_KEY = 'codegenMt.programRuns';
const RUN = 'Run';
const DONT_RUN = "Don't Run";

export class SandboxProgramRunner {
  private sandbox: { readonly python: string | undefined; readonly options: Promise<Omit<SandboxOptions, 'timeoutS'>> } | undefined;
  /** What the flow runs programs with: the sandbox, behind the workspace's consent. */
  readonly port: ProgramPort;

  constructor(private readonly state: vscode.Memento) {
    const consent: ConsentStore = {
      get: () => {
        const value = this.state.get<string>(RUN_CONSENT_KEY);
        return value === 'yes' || value === 'no' ? value : undefined;
      },
      set: (value) => this.setConsent(value),
    };
    this.port = new ConsentedRuns({ consent, ask: () => this.askConsent(), runAgreed: (program, signal) => this.runInSandbox(program, signal) });
  }

  private async runInSandbox(program: string, signal: AbortSignal): Promise<ProgramOutcome> {
    let options: SandboxOptions;
    try {
      options = { ...(await this.sandboxOptions()), timeoutS: runTimeoutSeconds() };
    } catch (err) {
      this.sandbox = undefined; // the next run looks again (the user may have installed Python since)
      return { status: 'not-run', error: `Not run: ${err instanceof Error ? err.message : String(err)}` };
    }
    const result = await runProgram({ kind: 'script', program }, options, { signal });
    return outcomeOf(result, options);
  }

  setConsent(consent: RunConsent): Thenable<void> {
    return this.state.update(RUN_CONSENT_KEY, consent);
  }

  private async askConsent(): Promise<boolean> {
    let description = 'its own processes with time and memory limits, in a fresh temporary folder';
    try {
      description = (await this.sandboxOptions()).isolation.description;
    } catch {
      // no Python yet: the run says so after the answer
    }
    const choice = await vscode.window.showWarningMessage(
      'Run the program after each accepted turn? The code was written by a model and runs on this machine.',
      {
        modal: true,
        detail:
          `CodeGen runs the program above the cursor in a sandbox: ${description}. The sandbox limits time, memory and ` +
          'processes and keeps the program away from the editor, but it is not a virtual machine: a hostile program ' +
          'may still read what your user can read where the machine allows no stronger isolation. Your answer is kept ' +
          'for this workspace ("CodeGen: Allow Program Runs" / "Stop Program Runs" change it).',
      },
      RUN,
      DONT_RUN,
    );
    return choice === RUN;
  }

  /** The Python and the isolation this machine allows, found once (again when codegenMt.python changes). */
  private sandboxOptions(): Promise<Omit<SandboxOptions, 'timeoutS'>> {
    const python = configuredPython();
    if (!this.sandbox || this.sandbox.python !== python) {
      const options = (async () => {
        const harness = harnessPath();
        const found = findPython(python, { harness });
        return { python: found, harness, isolation: await detectIsolation(found, harness), memoryMb: 2048 };
      })();
      this.sandbox = { python, options };
    }
    return this.sandbox.options;
  }
}

function runTimeoutSeconds(): number {
  return Math.max(1, config().get<number>(SETTING.runTimeoutSeconds, 10));
}

/** Allow / Stop Program Runs: the workspace's consent, given or taken back without a dialog. */
export function registerProgramRunCommands(runner: SandboxProgramRunner): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMAND.allowProgramRuns, () => runner.setConsent('yes')),
    vscode.commands.registerCommand(COMMAND.stopProgramRuns, () => runner.setConsent('no')),
  ];
}
