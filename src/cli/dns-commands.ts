import type { Command } from 'commander';
import type { AdminClient } from '../control/admin-client.js';
import type { DnsRecord, DnsRecordView } from '../wire/control.js';
import { table } from './format.js';
import type { TargetOptions } from './server-commands.js';

// `weft dns records set|rm|list`: MagicDNS records beyond nodes, kept by the coordinator
// and served by every agent. `set` replaces the records of one type at one name (several
// values make several records, e.g. two TXT strings); records written in the policy
// file's `dnsRecords` are listed too but changed only there.

export function registerDnsCommands(program: Command, withTarget: (c: Command) => Command, client: (o: TargetOptions) => AdminClient, out: (s: string) => void): void {
  const records = program.command('dns').description('MagicDNS').command('records').description('records beyond nodes (A, AAAA, CNAME, TXT, SRV)');
  withTarget(records.command('set'))
    .description('set the records of TYPE at NAME (replacing those there); SRV values are "priority weight port target"')
    .argument('<name>', 'a name inside the MagicDNS domain, e.g. grafana.weft.internal')
    .argument('<type>', 'A, AAAA, CNAME, TXT or SRV')
    .argument('<values...>', 'one value per record')
    .action(async (name: string, type: string, values: string[], o: TargetOptions) => {
      const r = await client(o).request<{ records: DnsRecord[] }>('PUT', '/api/v1/admin/dns/records', { name, type, values });
      for (const x of r.records) out(`set ${x.name} ${x.type} ${x.value}\n`);
    });
  withTarget(records.command('rm'))
    .description('remove the records at NAME (only those of TYPE when given)')
    .argument('<name>')
    .argument('[type]')
    .action(async (name: string, type: string | undefined, o: TargetOptions) => {
      const q = new URLSearchParams({ name, ...(type ? { type } : {}) });
      const r = await client(o).request<{ removed: DnsRecord[] }>('DELETE', `/api/v1/admin/dns/records?${q}`);
      for (const x of r.removed) out(`removed ${x.name} ${x.type} ${x.value}\n`);
    });
  withTarget(records.command('list'))
    .description('list every record the agents serve, and where it is set')
    .option('--json', 'machine-readable output')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { records: list } = await client(o).request<{ records: DnsRecordView[] }>('GET', '/api/v1/admin/dns/records');
      if (o.json) return out(JSON.stringify(list, null, 2) + '\n');
      out(table([['NAME', 'TYPE', 'VALUE', 'SOURCE'], ...list.map((r) => [r.name, r.type, r.value, r.source])]));
    });
}
