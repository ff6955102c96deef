// Is the engine process stuck or just busy? Its JavaScript thread blocks in onnxruntime's run() for as long as a
// prefill takes (seconds on a big model), so a missing answer alone says nothing; the process's CPU time does:
// a busy engine burns it, a stopped (SIGSTOP), deadlocked or otherwise wedged one does not.
import * as fs from 'node:fs';

export interface ProcessSample {
  /** The kernel's state letter: R running, S sleeping, T stopped, Z zombie, ... */
  readonly state: string;
  /** User + system CPU time so far, in clock ticks. */
  readonly cpuTicks: number;
}

/** One reading of /proc/<pid>/stat; undefined where there is no such file (not Linux, or the process is gone). */
export function sampleProcess(pid: number): ProcessSample | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ... utime stime ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!fields[0] || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { state: fields[0], cpuTicks: utime + stime };
}

export type Progress = 'progressing' | 'stuck' | 'unknown';

/** Watches the process for `windowMs`: stuck if it is stopped or used no CPU time in that window. */
export async function measureProgress(pid: number, windowMs: number): Promise<Progress> {
  const first = sampleProcess(pid);
  if (!first) return 'unknown';
  if (isStopped(first.state)) return 'stuck';
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const second = sampleProcess(pid);
  if (!second) return 'unknown';
  if (isStopped(second.state)) return 'stuck';
  return second.cpuTicks > first.cpuTicks ? 'progressing' : 'stuck';
}

function isStopped(state: string): boolean {
  return state === 'T' || state === 't';
}
