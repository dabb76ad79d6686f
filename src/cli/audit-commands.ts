import type { Command } from 'commander';
import type { AuditEntryView } from '../control/audit.js';
import { parseSince } from '../control/durations.js';
import { parseIntArg } from './node-args.js';
import type { AdminClient } from '../control/admin-client.js';

// `weft audit list`: the coordinator's log of admin changes (who, what, when, from where).

export interface AuditCommandDeps {
  withTarget: (c: Command) => Command;
  client: (o: never) => AdminClient;
  table: (rows: string[][]) => string;
  out: (s: string) => void;
}

export function registerAuditCommands(program: Command, d: AuditCommandDeps): void {
  const audit = program.command('audit').description('the log of admin changes');
  d.withTarget(audit.command('list'))
    .description('list admin changes, oldest first')
    .option('--since <duration|time>', 'only changes since then: 1h, 7d, or a time like 2026-01-31T12:00:00Z')
    .option('--limit <n>', 'at most the newest N entries (1-1000)', '100')
    .option('--json', 'machine-readable output')
    .action(async (o: { since?: string; limit: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: String(parseIntArg('--limit', o.limit, 1, 1000)) });
      if (o.since !== undefined) q.set('since', new Date(parseSince(o.since, Date.now())).toISOString());
      const { entries } = await d.client(o as never).request<{ entries: AuditEntryView[] }>('GET', `/api/v1/admin/audit?${q}`);
      if (o.json) return d.out(JSON.stringify(entries, null, 2) + '\n');
      d.out(d.table([['TIME', 'ACTOR', 'SOURCE', 'ACTION', 'TARGET', 'DETAIL'], ...entries.map((e) => [e.time, e.actor, e.source, e.action, e.target, JSON.stringify(e.detail)])]));
    });
}
