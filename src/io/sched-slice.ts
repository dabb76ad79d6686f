import { nativeOptional } from './native.js';

// Short scheduler slices for the engine's threads (Linux 6.12+, EEVDF's custom slice,
// sched_setattr's sched_runtime). A thread asking for a shorter slice gets earlier
// deadlines: it runs sooner after a wake-up, and a busy one hands its core over sooner
// (after 0.1 ms instead of the base slice, 1.4 ms on the 2-core machine). The data path
// sleeps until a packet wakes it, and during a handshake storm it shares the cores with
// the handshake worker, V8's helper threads and everything else the machine runs; its
// waits for a core were what was left of a stalled ping (docs/BENCHMARKS.md, "Short
// scheduler slices"). Only a hint: the threads' share of the CPU, policy and nice stay as
// they are, and a kernel without it ignores it.

/** The kernel's lower bound for a custom slice. */
export const SHORT_SLICE_NS = 100_000;

/**
 * Asks for short slices for the calling thread only: threads and processes it starts
 * later begin at the kernel's defaults (reset on fork). wireguard-go, which `weft up
 * --backend wireguard-go` starts, lost pings for over a second under CPU load when it
 * inherited the short slice. False without the addon or where the kernel does not take
 * it (nothing changes then).
 */
export function preferShortSlices(): boolean {
  return nativeOptional('setSchedSlice')?.(SHORT_SLICE_NS) ?? false;
}
