import { InvalidArgumentError } from '../errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses `90d`, `1h30m`, `45s`, `2w` (and a bare `0`) into milliseconds. `0` means
 * "never" to callers that accept it; anything else malformed throws.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (!/^(\d+[smhdw])+$/.test(s)) throw new InvalidArgumentError(`invalid duration ${JSON.stringify(text)} (use e.g. 30m, 1h, 90d)`);
  let ms = 0;
  for (const [, n, u] of s.matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * UNIT_MS[u];
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError(`duration ${JSON.stringify(text)} is too large`);
  return ms;
}

/**
 * `--since`: a duration back from `now` (`30m`, `7d`) or a time (`2026-01-31`,
 * `2026-01-31T12:00:00Z`); returns Unix ms.
 */
export function parseSince(text: string, now: number): number {
  const s = text.trim();
  if (/^(\d+[smhdw])+$/.test(s)) return now - parseDuration(s);
  const t = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`--since wants a duration like 1h or 7d, or a time like 2026-01-31T12:00:00Z; got ${JSON.stringify(text)}`);
  return t;
}
