import { parsePrefix, type Prefix } from '../net/prefix.js';
import { DnsRecordError } from '../dns/errors.js';
import { parseRecord } from '../dns/records.js';
import type { DnsRecord } from '../wire/control.js';
import { PolicyError, type PolicyErrorCode } from './errors.js';
import { parseHuJSON, SourceMap, type JsonNode } from './hujson.js';
import {
  ALL_PORTS,
  hasPorts,
  normalizeUser,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  type AclDestination,
  type AclRule,
  type AutoApprovers,
  type Policy,
  type PolicyTest,
  type PolicyTestCase,
  type PortRange,
  type Selector,
} from './types.js';

// Structure and reference checks. Anything accepted here compiles: unknown groups and
// tags, malformed ports, CIDRs and protocols are rejected with the element's line.
// A bare word is a host alias when `hosts` defines it, otherwise a node name (nodes come
// and go, so an unknown node name is not an error; it matches nothing).

const PROTO_NAMES: Record<string, number[]> = {
  tcp: [PROTO_TCP],
  udp: [PROTO_UDP],
  icmp: [PROTO_ICMP, PROTO_ICMPV6],
  'ipv6-icmp': [PROTO_ICMPV6],
  sctp: [PROTO_SCTP],
  igmp: [2],
  gre: [47],
  esp: [50],
  ah: [51],
};

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const TAG_OR_GROUP_NAME = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/i;
const INTERNET = 'autogroup:internet';
const TOP_KEYS = new Set(['groups', 'tagOwners', 'hosts', 'acls', 'tests', 'autoApprovers', 'dnsRecords']);

class Parser {
  private readonly map: SourceMap;
  private readonly hosts = new Map<string, Prefix>();
  private readonly policy: Policy = { groups: new Map(), tagOwners: new Map(), acls: [], tests: [] };

  constructor(private readonly text: string) {
    this.map = new SourceMap(text);
  }

  fail(code: PolicyErrorCode, at: JsonNode, reason: string): never {
    const { line, column } = this.map.position(at.offset);
    throw new PolicyError(code, line, column, reason);
  }

  line(at: JsonNode): number {
    return this.map.position(at.offset).line;
  }

  run(): Policy {
    const root = parseHuJSON(this.text, this.map);
    const top = this.object(root, 'policy');
    for (const key of top.keys()) if (!TOP_KEYS.has(key)) this.fail('ERR_POLICY_SCHEMA', top.get(key)!.key, `unknown section ${JSON.stringify(key)}`);
    // Order matters: acls and tests refer to groups, tags and hosts.
    const hosts = top.get('hosts');
    if (hosts) this.parseHosts(hosts.value);
    const groups = top.get('groups');
    if (groups) this.parseGroups(groups.value);
    const owners = top.get('tagOwners');
    if (owners) this.parseTagOwners(owners.value);
    const acls = top.get('acls');
    if (acls) for (const a of this.array(acls.value, 'acls')) this.policy.acls.push(this.parseAcl(a));
    const auto = top.get('autoApprovers');
    if (auto) this.parseAutoApprovers(auto.value);
    const tests = top.get('tests');
    if (tests) for (const t of this.array(tests.value, 'tests')) this.policy.tests.push(this.parseTest(t));
    const records = top.get('dnsRecords');
    if (records) this.policy.dnsRecords = this.array(records.value, 'dnsRecords').map((r) => this.parseDnsRecord(r));
    return this.policy;
  }

  // --- JSON shape helpers -------------------------------------------------------------

  object(n: JsonNode, what: string): Map<string, { key: JsonNode; value: JsonNode }> {
    if (n.type !== 'object') this.fail('ERR_POLICY_SCHEMA', n, `${what} must be an object`);
    const out = new Map<string, { key: JsonNode; value: JsonNode }>();
    for (const prop of n.children ?? []) {
      const [key, value] = prop.children ?? [];
      if (!key || !value) this.fail('ERR_POLICY_SYNTAX', prop, 'incomplete property');
      const name = String(key.value);
      if (out.has(name)) this.fail('ERR_POLICY_SCHEMA', key, `duplicate key ${JSON.stringify(name)} in ${what}`);
      out.set(name, { key, value });
    }
    return out;
  }

  array(n: JsonNode, what: string): JsonNode[] {
    if (n.type !== 'array') this.fail('ERR_POLICY_SCHEMA', n, `${what} must be an array`);
    return n.children ?? [];
  }

  string(n: JsonNode, what: string): string {
    if (n.type !== 'string') this.fail('ERR_POLICY_SCHEMA', n, `${what} must be a string`);
    return n.value as string;
  }

  strings(n: JsonNode, what: string): Array<{ s: string; at: JsonNode }> {
    return this.array(n, what).map((e) => ({ s: this.string(e, `each entry of ${what}`), at: e }));
  }

  onlyKeys(obj: Map<string, { key: JsonNode }>, allowed: string[], what: string): void {
    for (const [k, v] of obj) if (!allowed.includes(k)) this.fail('ERR_POLICY_SCHEMA', v.key, `unknown field ${JSON.stringify(k)} in ${what}`);
  }

  // --- sections -----------------------------------------------------------------------

  parseHosts(n: JsonNode): void {
    for (const [name, { key, value }] of this.object(n, 'hosts')) {
      if (!LABEL.test(name)) this.fail('ERR_POLICY_BAD_SELECTOR', key, `host alias ${JSON.stringify(name)} is not a valid name`);
      this.hosts.set(name, this.prefix(this.string(value, `hosts.${name}`), value));
    }
  }

  parseGroups(n: JsonNode): void {
    for (const [name, { key, value }] of this.object(n, 'groups')) {
      this.checkPrefixedName(name, 'group:', key);
      const users = this.strings(value, name).map(({ s, at }) => {
        if (!s.includes('@') || s.length < 2) this.fail('ERR_POLICY_BAD_SELECTOR', at, `group members must be users (user@ or user@domain), got ${JSON.stringify(s)}`);
        return normalizeUser(s);
      });
      this.policy.groups.set(name, users);
    }
  }

  parseTagOwners(n: JsonNode): void {
    const entries = this.object(n, 'tagOwners');
    // Owners may name tags defined later in the same object.
    for (const [name, { key }] of entries) {
      this.checkPrefixedName(name, 'tag:', key);
      this.policy.tagOwners.set(name, []);
    }
    for (const [name, { value }] of entries) {
      const owners = this.strings(value, name).map(({ s, at }) => {
        if (s.startsWith('group:')) {
          if (!this.policy.groups.has(s)) this.fail('ERR_POLICY_UNKNOWN_GROUP', at, `unknown group ${JSON.stringify(s)}`);
          return s;
        }
        if (s.startsWith('tag:')) {
          if (!this.policy.tagOwners.has(s)) this.fail('ERR_POLICY_UNKNOWN_TAG', at, `unknown tag ${JSON.stringify(s)}`);
          return s;
        }
        if (!s.includes('@')) this.fail('ERR_POLICY_BAD_SELECTOR', at, `tag owners must be users, groups or tags, got ${JSON.stringify(s)}`);
        return normalizeUser(s);
      });
      this.policy.tagOwners.set(name, owners);
    }
  }

  parseAutoApprovers(n: JsonNode): void {
    const o = this.object(n, 'autoApprovers');
    this.onlyKeys(o, ['routes', 'exitNode'], 'autoApprovers');
    const out: AutoApprovers = { routes: [], exitNode: [] };
    const routes = o.get('routes');
    if (routes) {
      for (const [cidr, { key, value }] of this.object(routes.value, 'autoApprovers.routes')) {
        out.routes.push({ prefix: this.prefix(cidr, key), srcs: this.strings(value, cidr).map(({ s, at }) => this.selector(s, at)) });
      }
    }
    const exit = o.get('exitNode');
    if (exit) out.exitNode = this.strings(exit.value, 'autoApprovers.exitNode').map(({ s, at }) => this.selector(s, at));
    this.policy.autoApprovers = out;
  }

  /** One record alone (src/dns/records.ts); the coordinator checks the set against its domain and nodes. */
  parseDnsRecord(n: JsonNode): DnsRecord {
    const o = this.object(n, 'each entry of dnsRecords');
    this.onlyKeys(o, ['name', 'type', 'value'], 'a DNS record');
    const field = (k: string): string | undefined => {
      const v = o.get(k);
      return v ? this.string(v.value, `dnsRecords ${k}`) : undefined;
    };
    try {
      return parseRecord({ name: field('name'), type: field('type'), value: field('value') });
    } catch (err) {
      if (!(err instanceof DnsRecordError)) throw err;
      this.fail('ERR_POLICY_BAD_DNS_RECORD', o.get(err.field)?.value ?? n, err.message);
    }
  }

  checkPrefixedName(name: string, prefix: string, at: JsonNode): void {
    if (!name.startsWith(prefix) || !TAG_OR_GROUP_NAME.test(name.slice(prefix.length))) {
      this.fail('ERR_POLICY_BAD_SELECTOR', at, `${JSON.stringify(name)} must look like ${prefix}name`);
    }
  }

  parseAcl(n: JsonNode): AclRule {
    const o = this.object(n, 'an acl');
    this.onlyKeys(o, ['action', 'src', 'dst', 'proto'], 'an acl');
    const action = o.get('action');
    if (!action) this.fail('ERR_POLICY_SCHEMA', n, 'acl needs "action"');
    if (this.string(action.value, 'action') !== 'accept') this.fail('ERR_POLICY_BAD_ACTION', action.value, `action must be "accept", got ${JSON.stringify(action.value.value)}`);
    const src = o.get('src');
    const dst = o.get('dst');
    if (!src || !dst) this.fail('ERR_POLICY_SCHEMA', n, 'acl needs "src" and "dst"');
    const protoNode = o.get('proto')?.value;
    const protos = protoNode ? this.protos(protoNode) : null;
    const srcs = this.strings(src.value, 'src').map(({ s, at }) => this.selector(s, at));
    const dsts = this.strings(dst.value, 'dst').map(({ s, at }): AclDestination => {
      const { host, ports } = this.splitHostPort(s, at);
      const parsed = this.ports(ports, at);
      if (protos && !protos.some(hasPorts) && !(parsed.length === 1 && parsed[0].first === 0 && parsed[0].last === 65535)) {
        this.fail('ERR_POLICY_BAD_PORTS', at, `ports must be * for protocols without ports`);
      }
      return { selector: this.selector(host, at, true), ports: parsed, line: this.line(at) };
    });
    return { line: this.line(n), srcs, dsts, protos };
  }

  parseTest(n: JsonNode): PolicyTest {
    const o = this.object(n, 'a test');
    this.onlyKeys(o, ['src', 'proto', 'accept', 'deny'], 'a test');
    const src = o.get('src');
    if (!src) this.fail('ERR_POLICY_SCHEMA', n, 'test needs "src"');
    const srcText = this.string(src.value, 'src');
    const srcSel = this.testEndpoint(srcText, src.value);
    let proto = PROTO_TCP;
    const protoNode = o.get('proto')?.value;
    // `icmp` names ICMPv4 and ICMPv6; a test probes with the first.
    if (protoNode) proto = this.protos(protoNode)[0];
    const cases: PolicyTestCase[] = [];
    for (const expect of ['accept', 'deny'] as const) {
      const list = o.get(expect);
      if (!list) continue;
      for (const { s, at } of this.strings(list.value, expect)) {
        const { host, ports } = this.splitHostPort(s, at);
        if (!/^\d{1,5}$/.test(ports) || Number(ports) > 65535) this.fail('ERR_POLICY_BAD_PORTS', at, `a test destination needs one port, got ${JSON.stringify(ports)}`);
        cases.push({ expect, text: s, host: this.testEndpoint(host, at), port: Number(ports), line: this.line(at) });
      }
    }
    return { line: this.line(n), src: srcSel, srcText, proto, cases };
  }

  // --- values -------------------------------------------------------------------------

  /** Tests probe one identity: `*` and networks (other than single hosts) are not one. */
  testEndpoint(s: string, at: JsonNode): Selector {
    const sel = this.selector(s, at);
    if (sel.kind === 'all' || (sel.kind === 'prefix' && sel.prefix.bits !== sel.prefix.bytes.length * 8)) {
      this.fail('ERR_POLICY_BAD_SELECTOR', at, `a test needs a user, group, tag, node or single address, got ${JSON.stringify(s)}`);
    }
    return sel;
  }

  /** `asDst`: an ACL destination, the only place `autogroup:internet` means something. */
  selector(s: string, at: JsonNode, asDst = false): Selector {
    if (s === '*') return { kind: 'all' };
    if (s === INTERNET) {
      if (!asDst) this.fail('ERR_POLICY_BAD_SELECTOR', at, `${INTERNET} is only valid as an ACL destination`);
      return { kind: 'internet' };
    }
    if (s.startsWith('group:')) {
      if (!this.policy.groups.has(s)) this.fail('ERR_POLICY_UNKNOWN_GROUP', at, `unknown group ${JSON.stringify(s)}`);
      return { kind: 'group', group: s };
    }
    if (s.startsWith('tag:')) {
      if (!this.policy.tagOwners.has(s)) this.fail('ERR_POLICY_UNKNOWN_TAG', at, `unknown tag ${JSON.stringify(s)} (not in tagOwners)`);
      return { kind: 'tag', tag: s };
    }
    if (s.includes('@')) {
      if (s.length < 2 || /\s/.test(s)) this.fail('ERR_POLICY_BAD_SELECTOR', at, `bad user ${JSON.stringify(s)}`);
      return { kind: 'user', user: normalizeUser(s) };
    }
    if (s.startsWith('autogroup:')) this.fail('ERR_POLICY_BAD_SELECTOR', at, `${JSON.stringify(s)}: autogroups other than ${INTERNET} (as a destination) are not supported`);
    const host = this.hosts.get(s);
    if (host) return { kind: 'prefix', prefix: host };
    if (/[.:/]/.test(s)) return { kind: 'prefix', prefix: this.prefix(s, at) };
    if (LABEL.test(s)) return { kind: 'node', name: s.toLowerCase() };
    this.fail('ERR_POLICY_BAD_SELECTOR', at, `${JSON.stringify(s)} is not *, a user, group:, tag:, host, node name, IP or CIDR`);
  }

  prefix(s: string, at: JsonNode): Prefix {
    try {
      return parsePrefix(s);
    } catch {
      this.fail('ERR_POLICY_BAD_CIDR', at, `invalid IP or CIDR ${JSON.stringify(s)}`);
    }
  }

  /** `host:ports`, split at the last colon so IPv6 hosts work; `[v6]:ports` also accepted. */
  splitHostPort(s: string, at: JsonNode): { host: string; ports: string } {
    const i = s.lastIndexOf(':');
    if (i <= 0 || i === s.length - 1) this.fail('ERR_POLICY_BAD_PORTS', at, `${JSON.stringify(s)} must be host:ports`);
    let host = s.slice(0, i);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return { host, ports: s.slice(i + 1) };
  }

  ports(s: string, at: JsonNode): PortRange[] {
    if (s === '*') return [ALL_PORTS];
    return s.split(',').map((part) => {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
      const first = m ? Number(m[1]) : NaN;
      const last = m?.[2] !== undefined ? Number(m[2]) : first;
      if (!m || first > 65535 || last > 65535 || first > last) this.fail('ERR_POLICY_BAD_PORTS', at, `bad port or range ${JSON.stringify(part)}`);
      return { first, last };
    });
  }

  protos(n: JsonNode): number[] {
    if (n.type === 'number' && Number.isInteger(n.value) && n.value >= 0 && n.value <= 255) return [n.value as number];
    if (n.type === 'string') {
      const v = (n.value as string).toLowerCase();
      if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return [Number(v)];
      const named = PROTO_NAMES[v];
      if (named) return named;
    }
    this.fail('ERR_POLICY_BAD_PROTO', n, `unknown protocol ${JSON.stringify(n.value)}`);
  }
}

/** Parses and validates a HuJSON policy; throws PolicyError with the offending line. */
export function parsePolicy(text: string): Policy {
  return new Parser(text).run();
}
