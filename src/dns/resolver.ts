import dnsPacket, { type Answer, type Question } from 'dns-packet';
import ipaddr from 'ipaddr.js';
import type { DnsRecord } from '../wire/control.js';
import { canonicalIp, canonicalName, inCidrs, reverseNameToIp } from './names.js';
import { recordAnswer, RecordTable } from './record-table.js';
import { within } from './records.js';
import { networkExchange, parseUpstream, type Transport, type Upstream, type UpstreamExchange } from './upstream.js';

// MagicDNS (Tailscale's net/dns/resolver): answers for mesh names and addresses from the
// netmap, everything else forwarded. Order per query:
//   1. `<name>.<domain>` and bare `<name>`: A/AAAA from the netmap; names inside the
//      domain also from the records (A, AAAA, CNAME, TXT, SRV; a CNAME is followed
//      inside the domain); unknown names inside the domain get NXDOMAIN (never leak mesh
//      lookups upstream);
//   2. PTR for mesh addresses; unknown addresses inside the mesh ranges get NXDOMAIN;
//   3. the most specific split-DNS route suffix -> its resolvers;
//   4. the default upstreams (the system's previous resolvers); none or all failing ->
//      SERVFAIL.
// Forwarded queries travel byte for byte (EDNS and DNSSEC bits included) and the upstream's
// answer comes back unchanged. resolve() never throws: unparsable queries get FORMERR when
// the header can be read, and are dropped (null) otherwise.

export interface MeshHost {
  /** A single DNS label, as the coordinator names nodes. */
  name: string;
  ipv4?: string;
  ipv6?: string;
}

export interface DnsConfig {
  /** Mesh domain, e.g. `weft.internal`. */
  domain: string;
  hosts: MeshHost[];
  /** Mesh address ranges: reverse lookups inside them are answered here only. */
  meshRanges: string[];
  /** Split DNS: domain suffix -> resolvers (`ip`, `ip:port`, `[v6]:port`). */
  routes: Record<string, string[]>;
  /** Resolvers for everything else (the system's previous ones). */
  upstreams: string[];
  /** Records beyond nodes (netmap v9); malformed ones are dropped and counted. */
  records?: readonly DnsRecord[];
}

export interface ResolverOptions {
  exchange?: UpstreamExchange;
  /** Per upstream attempt (default 2 s); servers are tried in order. */
  timeoutMs?: number;
  /** TTL of local answers (default 5 s, as Tailscale: netmaps change). */
  ttl?: number;
}

export interface DnsStats {
  queries: number;
  local: number;
  nxdomain: number;
  forwarded: number;
  servfail: number;
  formerr: number;
  notimp: number;
  dropped: number;
  /** Records of the current config dropped as malformed or outside the domain. */
  badRecords: number;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
/** Largest UDP answer we advertise for local answers (DNS flag day 2020). */
const EDNS_UDP_SIZE = 1232;
/** Largest UDP message without EDNS (RFC 1035 §4.2.1). */
const CLASSIC_UDP_SIZE = 512;
/** CNAMEs followed inside the domain for one answer (loops end here). */
const MAX_CNAME_CHAIN = 8;

interface Compiled {
  domain: string;
  byName: Map<string, MeshHost>;
  byIp: Map<string, string>;
  records: RecordTable;
  meshRanges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  /** Longest suffix first. */
  routes: Array<{ suffix: string; servers: Upstream[] }>;
  upstreams: Upstream[];
}

function compile(c: DnsConfig): Compiled {
  const domain = canonicalName(c.domain);
  const byName = new Map<string, MeshHost>();
  const byIp = new Map<string, string>();
  for (const h of c.hosts) {
    const name = canonicalName(h.name);
    byName.set(name, h);
    for (const ip of [h.ipv4, h.ipv6]) {
      const k = ip ? canonicalIp(ip) : null;
      if (k) byIp.set(k, `${name}.${domain}`);
    }
  }
  return {
    domain,
    byName,
    byIp,
    records: new RecordTable(c.records ?? [], domain),
    meshRanges: c.meshRanges.map((r) => ipaddr.parseCIDR(r)),
    routes: Object.entries(c.routes)
      .map(([suffix, servers]) => ({ suffix: canonicalName(suffix), servers: servers.map(parseUpstream) }))
      .sort((a, b) => b.suffix.length - a.suffix.length),
    upstreams: c.upstreams.map(parseUpstream),
  };
}

export class MagicDnsResolver {
  readonly stats: DnsStats = { queries: 0, local: 0, nxdomain: 0, forwarded: 0, servfail: 0, formerr: 0, notimp: 0, dropped: 0, badRecords: 0 };
  private cfg: Compiled;
  private readonly exchange: UpstreamExchange;
  private readonly timeoutMs: number;
  private readonly ttl: number;

  /** Throws only on a bad config (unparsable resolver or range), never per query. */
  constructor(config: DnsConfig, opts: ResolverOptions = {}) {
    this.cfg = compile(config);
    this.stats.badRecords = this.cfg.records.dropped;
    this.exchange = opts.exchange ?? networkExchange;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.ttl = opts.ttl ?? 5;
  }

  /** Applies a new netmap / DNS config; queries in flight finish with the old one. */
  setConfig(config: DnsConfig): void {
    this.cfg = compile(config);
    this.stats.badRecords = this.cfg.records.dropped;
  }

  /** Answers one query; null means drop (not even a header to answer). Never rejects. */
  async resolve(query: Uint8Array, transport: Transport = 'udp'): Promise<Uint8Array | null> {
    this.stats.queries++;
    if (query.length < 12 || query[2] & 0x80) {
      // Too short for a header, or a response: answering could loop between resolvers.
      this.stats.dropped++;
      return null;
    }
    const id = (query[0] << 8) | query[1];
    const rd = ((query[2] << 8) | query[3]) & FLAG_RD;
    try {
      if (((query[2] >> 3) & 0x0f) !== 0) {
        this.stats.notimp++;
        return headerOnly(id, rd, RCODE.NOTIMP);
      }
      let packet: dnsPacket.DecodedPacket;
      try {
        packet = dnsPacket.decode(Buffer.from(query.buffer, query.byteOffset, query.length));
      } catch {
        packet = undefined as never;
      }
      const q = packet?.questions?.length === 1 ? packet.questions[0] : undefined;
      if (!q || typeof q.name !== 'string') {
        this.stats.formerr++;
        return headerOnly(id, rd, RCODE.FORMERR);
      }
      const edns = packet.additionals?.some((a) => a.type === 'OPT') ?? false;
      const local = this.answerLocally(q);
      if (local) {
        this.stats.local++;
        if (local.rcode === RCODE.NXDOMAIN) this.stats.nxdomain++;
        const resp = encodeAnswer(id, rd, local.rcode, q, local.answers, edns);
        // Too big for UDP (many records at one name): TC, and the client asks again over TCP.
        if (transport === 'udp' && resp.length > (edns ? EDNS_UDP_SIZE : CLASSIC_UDP_SIZE)) return encodeAnswer(id, rd | FLAG_TC, local.rcode, q, [], edns);
        return resp;
      }
      const response = await this.forward(q, query, transport);
      if (response) {
        this.stats.forwarded++;
        return response;
      }
      this.stats.servfail++;
      return encodeAnswer(id, rd, RCODE.SERVFAIL, q, [], edns);
    } catch {
      this.stats.servfail++;
      return headerOnly(id, rd, RCODE.SERVFAIL);
    }
  }

  private answerLocally(q: Question): { rcode: number; answers: Answer[] } | null {
    if (q.class !== 'IN') return null;
    const cfg = this.cfg;
    const name = canonicalName(q.name);
    const inDomain = within(name, cfg.domain);
    // The typings lack ANY (255), which dns-packet decodes as 'ANY'.
    const type: string = q.type;
    if (inDomain || !name.includes('.')) {
      const answers = this.lookup(inDomain ? name : `${name}.${cfg.domain}`, q.name, type, 0);
      if (answers) return { rcode: RCODE.NOERROR, answers };
    }
    if (inDomain) return { rcode: name === cfg.domain || cfg.records.isInterior(name) ? RCODE.NOERROR : RCODE.NXDOMAIN, answers: [] };
    const ip = reverseNameToIp(name);
    if (ip) {
      const target = cfg.byIp.get(ip);
      if (target) return { rcode: RCODE.NOERROR, answers: type === 'PTR' || type === 'ANY' ? [{ type: 'PTR', name: q.name, ttl: this.ttl, data: `${target}.` }] : [] };
      if (inCidrs(ip, cfg.meshRanges)) return { rcode: RCODE.NXDOMAIN, answers: [] };
    }
    return null;
  }

  /**
   * The answers for `fqdn` (inside the domain) of `type`, or null when nothing lives
   * there. A node's addresses come from the netmap; a CNAME (never at a node's name) is
   * answered for any type and followed while its target stays inside the domain.
   */
  private lookup(fqdn: string, owner: string, type: string, depth: number): Answer[] | null {
    const cfg = this.cfg;
    const label = fqdn.slice(0, Math.max(0, fqdn.length - cfg.domain.length - 1));
    const host = cfg.byName.get(label);
    const records = cfg.records.get(fqdn);
    if (!host && records.length === 0) return null;
    const cname = host ? undefined : records.find((r) => r.type === 'CNAME');
    if (cname && type !== 'CNAME') {
      const chain = depth < MAX_CNAME_CHAIN && within(cname.value, cfg.domain) ? this.lookup(cname.value, cname.value, type, depth + 1) : null;
      return [recordAnswer(cname, owner, this.ttl), ...(chain ?? [])];
    }
    const wants = (t: string): boolean => type === t || type === 'ANY';
    const answers: Answer[] = [];
    if (host && wants('A') && host.ipv4) answers.push({ type: 'A', name: owner, ttl: this.ttl, data: host.ipv4 });
    if (host && wants('AAAA') && host.ipv6) answers.push({ type: 'AAAA', name: owner, ttl: this.ttl, data: host.ipv6 });
    for (const r of records) if (wants(r.type) && !(host && (r.type === 'A' || r.type === 'AAAA' || r.type === 'CNAME'))) answers.push(recordAnswer(r, owner, this.ttl));
    return answers;
  }

  /** The first valid upstream answer, or null when every server failed. */
  private async forward(q: Question, query: Uint8Array, transport: Transport): Promise<Uint8Array | null> {
    const name = canonicalName(q.name);
    const servers = this.cfg.routes.find((r) => within(name, r.suffix))?.servers ?? this.cfg.upstreams;
    for (const server of servers) {
      try {
        const resp = await this.exchange(server, query, transport, this.timeoutMs);
        if (resp.length >= 12 && resp[0] === query[0] && resp[1] === query[1] && resp[2] & 0x80) return resp;
      } catch {
        // Next server; all failing gives SERVFAIL.
      }
    }
    return null;
  }
}

function headerOnly(id: number, rd: number, rcode: number): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = id >> 8;
  b[1] = id & 0xff;
  const flags = FLAG_QR | rd | FLAG_RA | rcode;
  b[2] = flags >> 8;
  b[3] = flags & 0xff;
  return b;
}

function encodeAnswer(id: number, rd: number, rcode: number, q: Question, answers: Answer[], edns: boolean): Uint8Array {
  const aa = rcode === RCODE.SERVFAIL ? 0 : FLAG_AA;
  return dnsPacket.encode({
    type: 'response',
    id,
    flags: aa | rd | FLAG_RA | rcode,
    questions: [q],
    answers,
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
}
