// Progress of a long run on stderr: a redrawn bar with ETA on a terminal, a plain line every 5% otherwise.

export interface Progress {
  readonly done: number;
  readonly total: number;
  /** Estimated time left, from this run's pace; undefined before the first sample finishes. */
  readonly etaMs: number | undefined;
  readonly passed: number;
}

export class ProgressClock {
  private readonly started = Date.now();
  private doneAtStart = -1;

  constructor(readonly total: number) {}

  progress(done: number, passed: number): Progress {
    if (this.doneAtStart < 0) this.doneAtStart = done;
    const made = done - this.doneAtStart;
    const elapsed = Date.now() - this.started;
    const etaMs = made > 0 ? (elapsed / made) * (this.total - done) : undefined;
    return { done, total: this.total, etaMs, passed };
  }
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '--';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private lastPlainStep = -1;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream | { write(text: string): boolean; isTTY?: boolean; columns?: number },
    private readonly label: string,
  ) {}

  update(p: Progress): void {
    const fraction = p.total ? p.done / p.total : 1;
    const text = `${this.label} ${p.done}/${p.total} ${(fraction * 100).toFixed(0)}% passed ${p.passed} ETA ${formatDuration(p.etaMs)}`;
    if (this.stream.isTTY) {
      const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - text.length - 4));
      const filled = Math.round(fraction * width);
      this.stream.write(`\r\x1b[2K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`);
      this.drawn = true;
    } else {
      const step = Math.floor(fraction * 20);
      if (step !== this.lastPlainStep) {
        this.lastPlainStep = step;
        this.stream.write(text + '\n');
      }
    }
  }

  /** Ends the bar's line (on a terminal) so that what follows starts on its own line. */
  end(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
