import type { Answer } from 'dns-packet';
import type { DnsRecord } from '../wire/control.js';
import { parseRecord, parseSrv, within } from './records.js';

// The agent's index of MagicDNS records (records.ts) for the resolver: by name, with the
// empty non-terminals between them and the domain (`_tcp.web.<domain>` above
// `_http._tcp.web.<domain>` exists without data: NOERROR, not NXDOMAIN). Records that do
// not parse or lie outside the domain are dropped and counted, never fatal.

export class RecordTable {
  private readonly byName = new Map<string, DnsRecord[]>();
  private readonly interior = new Set<string>();
  readonly dropped: number;

  constructor(records: readonly unknown[], domain: string) {
    let dropped = 0;
    for (const raw of records) {
      let r: DnsRecord;
      try {
        r = parseRecord((raw ?? {}) as Record<string, unknown>);
      } catch {
        dropped++;
        continue;
      }
      if (r.name === domain || !within(r.name, domain)) {
        dropped++;
        continue;
      }
      this.byName.set(r.name, [...(this.byName.get(r.name) ?? []), r]);
      for (let n = r.name.slice(r.name.indexOf('.') + 1); n !== domain; n = n.slice(n.indexOf('.') + 1)) this.interior.add(n);
    }
    this.dropped = dropped;
  }

  get(name: string): readonly DnsRecord[] {
    return this.byName.get(name) ?? [];
  }

  /** A name that exists only because records sit below it. */
  isInterior(name: string): boolean {
    return this.interior.has(name);
  }
}

/** The wire answer for one record, owned by `owner` (as the query spelled it). */
export function recordAnswer(r: DnsRecord, owner: string, ttl: number): Answer {
  switch (r.type) {
    case 'SRV': {
      const s = parseSrv(r.value)!;
      return { type: 'SRV', name: owner, ttl, data: { priority: s.priority, weight: s.weight, port: s.port, target: s.target } };
    }
    case 'TXT':
      return { type: 'TXT', name: owner, ttl, data: [Buffer.from(r.value)] };
    default:
      return { type: r.type, name: owner, ttl, data: r.value };
  }
}
