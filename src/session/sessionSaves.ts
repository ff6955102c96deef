// The flow's saves of a session: each one in the background, in order (the store runs them in order, so awaiting
// the newest awaits them all), the panel told the new session list after a save of the session it shows; a save
// that fails is logged, never thrown (the session stays in memory and the next save tries again).
import type { LogPort, PanelPort, StorePort } from './ports';
import type { TurnMachine } from './turnMachine';

export class SessionSaves {
  /** The newest save. */
  private last: Promise<void> = Promise.resolve();
  /** When the last save started (Date.now()), for the saves made while a turn streams. */
  private lastStarted = 0;

  constructor(
    private readonly deps: { readonly store: StorePort; readonly log: LogPort },
    /** The panel to tell, and whether `session` is the one it shows. */
    private readonly shown: () => { readonly panel: PanelPort; readonly session: TurnMachine },
  ) {}

  /** Resolves when every save asked for so far is on disk. */
  done(): Promise<void> {
    return this.last;
  }

  /** How long ago the last save started, in ms. */
  sinceLast(now: number): number {
    return now - this.lastStarted;
  }

  save(session: TurnMachine): Promise<void> {
    const saved = this.write(session);
    this.last = saved;
    return saved;
  }

  private async write(session: TurnMachine): Promise<void> {
    this.lastStarted = Date.now();
    const isShown = (): boolean => this.shown().session === session;
    try {
      await this.deps.store.save(session.toRecord(), isShown());
      if (isShown()) this.shown().panel.post({ type: 'sessions', sessions: await this.deps.store.list() });
    } catch (err) {
      this.deps.log.error(`Could not save the session to ${this.deps.store.folder}: ${String(err)}`);
    }
  }
}
