// Output helpers for the list commands: aligned tables and times a person reads.

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export const pad2 = (n: number): string => String(n).padStart(2, '0');

/** An ISO time from the API as `2026-12-05 17:46` in the local time zone; `none` for null. */
export function localTime(iso: string | null | undefined, none = '-'): string {
  if (!iso) return none;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.getFullYear()}-${pad2(t.getMonth() + 1)}-${pad2(t.getDate())} ${pad2(t.getHours())}:${pad2(t.getMinutes())}`;
}

/** valid / expired / revoked, as the lists show keys. */
export function keyState(k: { revoked: boolean; expiresAt: string | null }, now = Date.now()): string {
  if (k.revoked) return 'revoked';
  return k.expiresAt !== null && Date.parse(k.expiresAt) <= now ? 'expired' : 'valid';
}

/** `--json` on list and create commands, and what it prints. */
export const jsonOption = ['--json', 'machine-readable output'] as const;
export const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
