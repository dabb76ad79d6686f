import ipaddr from 'ipaddr.js';
import type { DnsRecord, DnsRecordType } from '../wire/control.js';
import { DnsRecordError } from './errors.js';
import { canonicalIp, canonicalName } from './names.js';

// MagicDNS records beyond nodes (as Headscale's dns.extra_records): A, AAAA, CNAME, TXT
// and SRV data in presentation form, set in the policy file (`dnsRecords`) or with
// `weft dns records set`. parseRecord() checks one record alone (policy parser, admin
// API, agent); checkRecordSet() checks a whole set against the mesh domain and the node
// names (coordinator). The agent drops records that do not parse rather than failing.

export const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'CNAME', 'TXT', 'SRV'];
/** One TXT character-string (RFC 1035 §3.3). */
export const MAX_TXT_STRING = 255;
/** TXT bytes per name, so every local answer fits the 1232-byte EDNS size. */
export const MAX_TXT_PER_NAME = 1000;
/** Records in one set (policy plus admin): bounds the netmap and every agent's tables. */
export const MAX_RECORDS = 1000;

const LABEL = /^(?:[a-z0-9_]|[a-z0-9_][a-z0-9_-]{0,61}[a-z0-9])$/;

/** A lower-case host name without the trailing dot, or null (labels of letters, digits, `-`, `_`). */
export function hostName(s: string): string | null {
  const n = canonicalName(s);
  if (n.length === 0 || n.length > 253) return null;
  return n.split('.').every((l) => LABEL.test(l)) ? n : null;
}

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** `priority weight port target` (RFC 2782), or null. */
export function parseSrv(value: string): SrvData | null {
  const m = /^(\d{1,5}) (\d{1,5}) (\d{1,5}) (\S+)$/.exec(value.trim());
  if (!m) return null;
  const [priority, weight, port] = [m[1], m[2], m[3]].map(Number);
  const target = hostName(m[4]);
  if (!target || priority > 65535 || weight > 65535 || port > 65535) return null;
  return { priority, weight, port, target };
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** One record alone, in canonical form; throws DnsRecordError naming the bad field. */
export function parseRecord(r: { name?: unknown; type?: unknown; value?: unknown }): DnsRecord {
  if (typeof r.name !== 'string') throw new DnsRecordError('ERR_DNS_RECORD_NAME', 'name must be a string', 'name');
  const name = hostName(r.name);
  if (!name) throw new DnsRecordError('ERR_DNS_RECORD_NAME', `${JSON.stringify(r.name)} is not a valid DNS name (labels of a-z, 0-9, -, _; at most 63 and 253 characters)`, 'name');
  const type = typeof r.type === 'string' ? r.type.toUpperCase() : '';
  if (!(RECORD_TYPES as readonly string[]).includes(type)) throw new DnsRecordError('ERR_DNS_RECORD_TYPE', `type must be one of ${RECORD_TYPES.join(', ')}`, 'type');
  if (typeof r.value !== 'string') throw new DnsRecordError('ERR_DNS_RECORD_VALUE', 'value must be a string', 'value');
  const bad = (why: string): never => {
    throw new DnsRecordError('ERR_DNS_RECORD_VALUE', `${type} ${name}: ${why}`, 'value');
  };
  let value = r.value;
  switch (type as DnsRecordType) {
    case 'A':
    case 'AAAA': {
      const ip = canonicalIp(value);
      const want = type === 'A' ? 'ipv4' : 'ipv6';
      if (!ip || !ipaddr.isValid(value) || ipaddr.parse(ip).kind() !== want || (want === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(value))) bad(`${JSON.stringify(value)} is not an ${want === 'ipv4' ? 'IPv4' : 'IPv6'} address`);
      value = ip!;
      break;
    }
    case 'CNAME': {
      const target = hostName(value);
      if (!target) bad(`${JSON.stringify(value)} is not a valid DNS name`);
      if (target === name) bad('a CNAME cannot point at itself');
      value = target!;
      break;
    }
    case 'TXT':
      if (Buffer.byteLength(value) > MAX_TXT_STRING) bad(`TXT strings hold at most ${MAX_TXT_STRING} bytes`);
      if (CONTROL.test(value)) bad('TXT strings may not hold control characters');
      break;
    case 'SRV': {
      const srv = parseSrv(value);
      if (!srv) bad(`${JSON.stringify(value)} is not "priority weight port target" (numbers 0-65535 and a DNS name)`);
      value = `${srv!.priority} ${srv!.weight} ${srv!.port} ${srv!.target}`;
      break;
    }
  }
  return { name, type: type as DnsRecordType, value };
}

export const recordKey = (r: DnsRecord): string => `${r.name} ${r.type} ${r.value}`;

export const within = (name: string, suffix: string): boolean => name === suffix || name.endsWith(`.${suffix}`);

/**
 * A whole set against the mesh: every name strictly inside `domain`; no CNAME beside
 * other data at one name (RFC 1034 §3.6.2) nor at a node's name (the node's addresses
 * live there); TXT per name within MAX_TXT_PER_NAME; each SRV target a node or a name
 * with A, AAAA or CNAME records. Returns the set sorted, duplicates dropped.
 */
export function checkRecordSet(records: readonly DnsRecord[], domain: string, nodeNames: Iterable<string>): DnsRecord[] {
  const d = canonicalName(domain);
  const unique = new Map(records.map((r) => [recordKey(r), r]));
  if (unique.size > MAX_RECORDS) throw new DnsRecordError('ERR_DNS_TOO_MANY_RECORDS', `at most ${MAX_RECORDS} DNS records`, 'records');
  const nodes = new Set([...nodeNames].map((n) => `${canonicalName(n)}.${d}`));
  const byName = new Map<string, DnsRecord[]>();
  for (const r of unique.values()) {
    if (r.name === d || !within(r.name, d)) throw new DnsRecordError('ERR_DNS_RECORD_NAME', `${r.name} is not inside the MagicDNS domain ${d}`, 'name');
    byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  }
  for (const [name, rs] of byName) {
    const cname = rs.filter((r) => r.type === 'CNAME');
    if (cname.length && rs.length > 1) throw new DnsRecordError('ERR_DNS_RECORD_CONFLICT', `${name} has a CNAME, so it can hold no other record`, 'name');
    if (nodes.has(name) && rs.some((r) => r.type === 'CNAME' || r.type === 'A' || r.type === 'AAAA')) {
      throw new DnsRecordError('ERR_DNS_RECORD_CONFLICT', `${name} is a node's name: its addresses come from the node (TXT and SRV records may sit there)`, 'name');
    }
    const txt = rs.reduce((n, r) => n + (r.type === 'TXT' ? Buffer.byteLength(r.value) : 0), 0);
    if (txt > MAX_TXT_PER_NAME) throw new DnsRecordError('ERR_DNS_RECORD_VALUE', `${name}: TXT records hold at most ${MAX_TXT_PER_NAME} bytes per name`, 'value');
  }
  const addressed = (n: string): boolean => nodes.has(n) || (byName.get(n) ?? []).some((r) => r.type !== 'TXT' && r.type !== 'SRV');
  for (const r of unique.values()) {
    if (r.type !== 'SRV') continue;
    const target = parseSrv(r.value)!.target;
    if (!addressed(target)) throw new DnsRecordError('ERR_DNS_SRV_TARGET', `SRV ${r.name}: target ${target} is neither a node nor a name with A, AAAA or CNAME records`, 'value');
  }
  return [...unique.values()].sort((a, b) => (recordKey(a) < recordKey(b) ? -1 : recordKey(a) > recordKey(b) ? 1 : 0));
}
