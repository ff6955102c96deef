// Bytes, rate and time left of a download, and how to write them. The clock is injected so tests need no timing.

export interface ProgressSnapshot {
  readonly bytes: number;
  readonly totalBytes: number;
  /** Over the last few seconds; undefined until there are two samples. */
  readonly bytesPerSecond?: number;
  /** Seconds left at that rate; undefined while the rate is unknown. */
  readonly etaSeconds?: number;
}

export class ProgressMeter {
  private readonly samples: { t: number; bytes: number }[] = [];
  private bytes = 0;

  constructor(
    private readonly totalBytes: number,
    private readonly now: () => number = () => Date.now(),
    private readonly windowMs = 5000,
  ) {}

  /** Sets the bytes done so far (bytes already on disk count toward the total, not the rate). */
  update(bytes: number, transferred = true): void {
    const t = this.now();
    if (!transferred) {
      // Bytes that were found, not fetched: shift the window so the rate ignores the jump.
      const jump = bytes - this.bytes;
      for (const s of this.samples) s.bytes += jump;
    }
    this.bytes = bytes;
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[1].t >= this.windowMs) this.samples.shift();
  }

  snapshot(): ProgressSnapshot {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    let bytesPerSecond: number | undefined;
    if (first && last && last.t > first.t) bytesPerSecond = ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
    const left = Math.max(0, this.totalBytes - this.bytes);
    const etaSeconds = bytesPerSecond && bytesPerSecond > 0 ? left / bytesPerSecond : left === 0 ? 0 : undefined;
    return { bytes: this.bytes, totalBytes: this.totalBytes, bytesPerSecond, etaSeconds };
  }
}

/** `358 MB`, `1.43 GB`, `512 B` (decimal units, as the hub shows sizes). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

/** `42 s`, `3 min 5 s`, `1 h 2 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** `12.3 MB of 358 MB, 5.20 MB/s, 1 min 6 s left`. */
export function describeProgress(p: ProgressSnapshot): string {
  const parts = [`${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`];
  if (p.bytesPerSecond !== undefined) parts.push(`${formatBytes(Math.round(p.bytesPerSecond))}/s`);
  if (p.etaSeconds !== undefined && p.bytes < p.totalBytes) parts.push(`${formatDuration(p.etaSeconds)} left`);
  return parts.join(', ');
}
