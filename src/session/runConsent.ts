// Model-written programs run only once the user has agreed, once per workspace: the first run asks (one dialog,
// however many runs wait for it), the answer is kept, and after a "no" only a run the user asked for asks again.
// Where the answer is kept and how the question is put are the host's (VS Code: workspaceState and a modal).
import type { ProgramOutcome, ProgramPort } from './ports';

export type RunConsent = 'yes' | 'no';

/** The workspace's answer, kept across windows and restarts. */
export interface ConsentStore {
  get(): RunConsent | undefined;
  set(consent: RunConsent): PromiseLike<void>;
}

export interface ConsentedRunsDeps {
  readonly consent: ConsentStore;
  /** Puts the question to the user; true for "Run". */
  readonly ask: () => Promise<boolean>;
  /** Runs a program the user has agreed to run (the sandbox). */
  readonly runAgreed: (program: string, signal: AbortSignal) => Promise<ProgramOutcome>;
}

export const DECLINED_RUN_ERROR = 'Not run: running model-written programs is declined for this workspace (Run Program asks again).';

export class ConsentedRuns implements ProgramPort {
  /** The question on screen: runs asked for meanwhile wait for its one answer. */
  private asking: Promise<boolean> | undefined;

  constructor(private readonly deps: ConsentedRunsDeps) {}

  async run(program: string, { signal, asked }: { signal: AbortSignal; asked: boolean }): Promise<ProgramOutcome | undefined> {
    if (this.deps.consent.get() !== 'yes') {
      // An automatic run asks once; after a "no" only Run Program asks again.
      if (!asked && this.deps.consent.get() === 'no') return undefined;
      this.asking ??= this.askOnce().finally(() => (this.asking = undefined));
      if (!(await this.asking)) return asked ? { status: 'not-run', error: DECLINED_RUN_ERROR } : undefined;
    }
    if (signal.aborted) return undefined;
    return this.deps.runAgreed(program, signal);
  }

  private async askOnce(): Promise<boolean> {
    const agreed = await this.deps.ask();
    await this.deps.consent.set(agreed ? 'yes' : 'no');
    return agreed;
  }
}
