// Preconditions for e2e tests and benchmarks. A missing precondition skips the test
// with a visible reason, except when WEFT_E2E_REQUIRED=1 (set by .ci/run), where it
// fails the test instead.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The part of node:test's TestContext we use. */
export interface SkipContext {
  skip(message?: string): void;
}

export function e2eRequired(): boolean {
  return process.env.WEFT_E2E_REQUIRED === '1';
}

export function which(cmd: string): string | null {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : null;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(dir || '.', cmd);
    if (isExecutable(p)) return p;
  }
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) {
    const p = join(dir, cmd);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Reasons why this test cannot run (empty: it can). */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => which(t) === null).map((t) => `missing tool: ${t}`);
}

export function rootReason(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (e2e needs network namespaces)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  return null;
}

/**
 * Skips the test (returns false) or, under WEFT_E2E_REQUIRED=1, throws. Returns true
 * when every precondition holds.
 */
export function requireOrSkip(t: SkipContext, reasons: Array<string | null>): boolean {
  const r = reasons.filter((x): x is string => !!x);
  if (!r.length) return true;
  const msg = r.join('; ');
  if (e2eRequired()) throw new Error(`precondition failed (WEFT_E2E_REQUIRED=1): ${msg}`);
  t.skip(msg);
  return false;
}

export function requireTools(t: SkipContext, tools: string[]): boolean {
  return requireOrSkip(t, missingTools(tools));
}

export function requireRoot(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason()]);
}
