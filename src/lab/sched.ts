import { readFileSync } from 'node:fs';
import { release } from 'node:os';

// For tests of the engine's scheduler slices (io/sched-slice.ts).

/** The kernel takes a custom slice for SCHED_OTHER threads (Linux 6.12+). */
export const kernelTakesSlices = ((): boolean => {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  return process.platform === 'linux' && (major > 6 || (major === 6 && minor >= 12));
})();

/** The slice in ns from a thread's /proc sched file's text; null where the kernel does not show it. */
export function sliceFromSched(text: string): number | null {
  const m = /^se\.slice\s*:\s*(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** A thread's slice (this thread's when no pid is given; a process's main thread when no tid). */
export function threadSlice(pid?: number, tid = pid): number | null {
  return sliceFromSched(readFileSync(pid === undefined ? '/proc/thread-self/sched' : `/proc/${pid}/task/${tid}/sched`, 'utf8'));
}
