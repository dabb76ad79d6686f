import { DnsRecordError } from '../dns/errors.js';
import { checkRecordSet, hostName, parseRecord, RECORD_TYPES, recordKey } from '../dns/records.js';
import type { Policy } from '../policy/index.js';
import type { DnsConfig, DnsRecord, DnsRecordType, DnsRecordView } from '../wire/control.js';
import { badRequest, conflict, ControlError, notFound } from './errors.js';
import type { NodeRecord, Store } from './store/index.js';

// The coordinator's MagicDNS config (netmap `dns`, v9 `records`): the policy's
// `dnsRecords` plus the records admins set with `weft dns records` (stored, migration 9).
// Every change is validated as a whole set (records.ts checkRecordSet) before it is
// stored or swapped in; the hub then sends the new `dns` to every node. Nodes that come
// later never make the set invalid: at a node's name its addresses win (resolver.ts).

export function recordErrorToControl(err: unknown, field?: string): ControlError {
  if (err instanceof DnsRecordError) return err.code === 'ERR_DNS_RECORD_CONFLICT' ? conflict(err.code, err.message, field ?? err.field) : badRequest(err.code, err.message, field ?? err.field);
  throw err;
}

const sameSet = (a: readonly DnsRecord[], b: readonly DnsRecord[]): boolean => a.length === b.length && a.every((r, i) => recordKey(r) === recordKey(b[i]));

export class MeshDns {
  private admin: DnsRecord[] = [];
  private fromPolicy: DnsRecord[] = [];
  private current: DnsConfig;

  constructor(
    private readonly store: Store,
    private readonly domain: string,
    private readonly nodes: () => Iterable<NodeRecord>,
    base: Omit<DnsConfig, 'records'>,
  ) {
    this.current = { ...base, records: [] };
  }

  /** The `dns` every netmap carries. */
  get config(): DnsConfig {
    return this.current;
  }

  private names(): string[] {
    return [...this.nodes()].map((n) => n.name);
  }

  /** Re-reads the admin records and takes `policy`'s; true when the served set changed. */
  async load(policy: Policy): Promise<boolean> {
    this.admin = await this.store.listDnsRecords();
    return this.swap(policy.dnsRecords ?? []);
  }

  /** A new policy: throws a 400/409 ControlError (field `policy`) when its records clash with the domain, nodes or admin records. */
  checkPolicy(policy: Policy): void {
    try {
      checkRecordSet([...(policy.dnsRecords ?? []), ...this.admin], this.domain, this.names());
    } catch (err) {
      throw recordErrorToControl(err, 'policy');
    }
  }

  /** The policy in force changed (already checked); true when the served set changed. */
  policyChanged(policy: Policy): boolean {
    return this.swap(policy.dnsRecords ?? []);
  }

  private swap(fromPolicy: DnsRecord[]): boolean {
    this.fromPolicy = fromPolicy;
    const unique = new Map([...fromPolicy, ...this.admin].map((r) => [recordKey(r), { name: r.name, type: r.type, value: r.value }]));
    const records = [...unique.values()].sort((a, b) => (recordKey(a) < recordKey(b) ? -1 : 1));
    if (sameSet(records, this.current.records ?? [])) return false;
    this.current = { ...this.current, records };
    return true;
  }

  list(): DnsRecordView[] {
    const policy = new Set(this.fromPolicy.map(recordKey));
    return (this.current.records ?? []).map((r) => ({ ...r, source: policy.has(recordKey(r)) ? 'policy' : 'admin' }));
  }

  /** Replaces the admin records of `type` at `name` with `values`; returns the records now there. */
  async set(name: string, type: string, values: readonly string[], now: number): Promise<DnsRecord[]> {
    let parsed: DnsRecord[];
    try {
      parsed = [...new Map(values.map((value) => parseRecord({ name, type, value })).map((r) => [recordKey(r), r])).values()];
    } catch (err) {
      throw recordErrorToControl(err);
    }
    const n = parsed[0].name;
    const t = parsed[0].type;
    if (this.fromPolicy.some((r) => r.name === n && r.type === t)) throw conflict('ERR_DNS_RECORD_IN_POLICY', `${t} records at ${n} are set in the policy file; change them there`, 'name');
    const rest = this.admin.filter((r) => !(r.name === n && r.type === t));
    try {
      checkRecordSet([...this.fromPolicy, ...rest, ...parsed], this.domain, this.names());
    } catch (err) {
      throw recordErrorToControl(err);
    }
    await this.store.setDnsRecords(n, t, parsed.map((r) => r.value), now);
    this.admin = [...rest, ...parsed];
    this.swap(this.fromPolicy);
    return parsed;
  }

  /** Removes the admin records at `name` (of `type`, or all); 404 when there were none. */
  async remove(name: string, type: string | undefined): Promise<DnsRecord[]> {
    const n = hostName(name);
    if (!n) throw badRequest('ERR_DNS_RECORD_NAME', `${JSON.stringify(name)} is not a valid DNS name`, 'name');
    const t = type?.toUpperCase() as DnsRecordType | undefined;
    if (t !== undefined && !RECORD_TYPES.includes(t)) throw badRequest('ERR_DNS_RECORD_TYPE', `type must be one of ${RECORD_TYPES.join(', ')}`, 'type');
    const left = this.admin.filter((r) => !(r.name === n && (t === undefined || r.type === t)));
    // Removing the target of an SRV record would leave it pointing nowhere.
    try {
      checkRecordSet([...this.fromPolicy, ...left], this.domain, this.names());
    } catch (err) {
      throw recordErrorToControl(err, 'name');
    }
    const removed = await this.store.deleteDnsRecords(n, t);
    if (removed.length === 0) {
      const inPolicy = this.fromPolicy.some((r) => r.name === n && (t === undefined || r.type === t));
      throw inPolicy ? conflict('ERR_DNS_RECORD_IN_POLICY', `records at ${n} are set in the policy file; change them there`, 'name') : notFound('ERR_DNS_RECORD_NOT_FOUND', `no records${t ? ` of type ${t}` : ''} set at ${n}`, 'name');
    }
    this.admin = left;
    this.swap(this.fromPolicy);
    return removed;
  }
}
