// `codegen-mt session --run`: the program so far run after each turn, in the benchmarks' sandbox (the same Python
// and isolation as \`mtpb\`), and how each run ended (printed, raised at a line of a turn, timed out).
import { outcomeOf } from '../eval/programOutcome';
import { detectIsolation, harnessPath, runProgram, type SandboxOptions } from '../eval/sandbox';
import { findPython } from '../eval/python';
import { programRunPlace, type ProgramRunView } from '../protocol/webview';
import { assembleProgram } from '../session/paperFormat';
import type { CompletedTurn } from '../session/multiTurn';
import { runView } from '../session/programRuns';
import type { TurnRecord } from '../session/sessionFormat';

export interface SessionRunner {
  /** Runs the program made of `header` and the turns so far; the run as the panel would show it. */
  run(header: string, turns: readonly CompletedTurn[]): Promise<ProgramRunView>;
  readonly description: string;
}

/** The sandbox for the session's runs (Python with numpy and pandas: --python, else the first python3 that has them). */
export async function sessionRunner(python: string | undefined, timeoutS: number): Promise<SessionRunner> {
  const harness = harnessPath();
  const found = findPython(python, { harness });
  const isolation = await detectIsolation(found, harness);
  const options: SandboxOptions = { python: found, harness, isolation, timeoutS, memoryMb: 2048 };
  return {
    description: isolation.description,
    async run(header, turns) {
      const program = assembleProgram(header, turns);
      const outcome = outcomeOf(await runProgram({ kind: 'script', program }, options), options);
      // The turns as the session holds them, all accepted: the line of an exception is mapped to its turn.
      const records = turns.map((t, i) => ({ id: String(i), prompt: t.prompt, code: t.code, state: 'accepted' }) as unknown as TurnRecord);
      return runView(outcome, program, records);
    },
  };
}

/** One line (and what it printed) for the terminal. */
export function describeRun(run: ProgramRunView): string {
  const head = run.status === 'ran' ? 'ran' : run.status === 'raised' ? `raised${programRunPlace(run)}` : run.status === 'timed-out' ? 'timed out' : 'not run';
  const output = run.output === '' ? '' : `\n${run.output.replace(/\n?$/, '\n')}`;
  return `[run: ${head}${run.error ? `: ${run.error}` : ''}]${output}`;
}
