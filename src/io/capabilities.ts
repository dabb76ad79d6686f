import { readFileSync } from 'node:fs';

// Linux capabilities of this process, read from /proc/self/status, so a daemon can say
// "needs root or CAP_NET_ADMIN" before it does anything rather than fail on EPERM later.

/** capability.h numbering. */
export const CAP_NET_ADMIN = 12;

/** Whether the effective set holds `cap`; true where /proc cannot tell (not Linux). */
export function hasCapability(cap: number, status = (): string => readFileSync('/proc/self/status', 'utf8')): boolean {
  let text: string;
  try {
    text = status();
  } catch {
    return true;
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(text);
  return m === null || ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}
