import { systemClock, type Clock } from '../clock.js';
import { parsePrefix, type Prefix } from '../net/prefix.js';
import { PrefixTrie } from '../net/prefix-trie.js';
import type { WireFilterRule } from './compile.js';
import { FlowTable } from './flow-table.js';
import {
  isEchoReply,
  isEchoRequest,
  isIcmpError,
  PacketInfo,
  PARSE_LATER_FRAGMENT,
  PARSE_MALFORMED,
  PARSE_OK,
  TCP_ACK,
  TCP_SYN,
} from './packet.js';
import { DEFAULT_PROTOS, hasPorts, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './types.js';

// The ingress packet filter (Tailscale's wgengine/filter RunIn/RunOut), called by the
// engine on every decrypted packet from the tunnel:
// - the destination must be one of this node's addresses;
// - TCP: a SYN without ACK (a new connection) needs a rule; any other segment passes,
//   as in Tailscale: the local TCP stack rejects segments of unknown connections, and
//   established connections survive policy reloads and agent restarts;
// - UDP/SCTP: a rule for the port, or the reverse of a flow this node opened (outbound());
// - ICMP: echo requests and errors pass when any rule admits the source; echo replies
//   need an echo this node sent; other types need a rule naming the protocol;
// - other protocols need a rule naming them;
// - IPv4/IPv6 fragments after the first pass (their first fragment was judged).
//
// Rules are indexed by source: a trie over all source prefixes whose entries point at a
// precomputed "class" (the rules whose sources contain that prefix), so a packet costs
// one longest-prefix match plus a binary search in that class's port table.

export interface FilterStats {
  accepted: number;
  /** Accepted without a rule: TCP non-SYN, replies to tracked flows, later fragments. */
  acceptedNonSyn: number;
  acceptedTracked: number;
  acceptedFragments: number;
  droppedNoRule: number;
  droppedNotLocal: number;
  droppedMalformed: number;
  /** Routed packets (subnet router, exit node) no forwarding rule admits. */
  droppedForward: number;
}

export interface PacketFilterOptions {
  /** This node's addresses (the netmap's self ipv4/ipv6); packets to others are dropped. */
  localAddresses: string[];
  rules: WireFilterRule[];
  clock?: Clock;
  /** Tracked outbound flows, LRU-bounded (default 4096). */
  maxFlows?: number;
  /** A tracked flow with no packets for this long is forgotten (default 120 s). */
  flowIdleMs?: number;
}

/** The rules that apply to sources in one trie entry, flattened for lookup. */
class RuleClass {
  /** Per protocol without ports (ICMP, GRE, ...): allowed. */
  readonly protos = new Uint8Array(256);
  /** Per port protocol: sorted disjoint [first, last, first, last, ...]. */
  readonly tcp: Int32Array;
  readonly udp: Int32Array;
  readonly sctp: Int32Array;

  constructor(rules: WireFilterRule[]) {
    const ranges = new Map<number, Array<[number, number]>>([[PROTO_TCP, []], [PROTO_UDP, []], [PROTO_SCTP, []]]);
    for (const r of rules) {
      for (const p of r.protos ?? DEFAULT_PROTOS) {
        if (hasPorts(p)) ranges.get(p)!.push(...r.ports);
        else this.protos[p] = 1;
      }
    }
    this.tcp = flatten(ranges.get(PROTO_TCP)!);
    this.udp = flatten(ranges.get(PROTO_UDP)!);
    this.sctp = flatten(ranges.get(PROTO_SCTP)!);
  }

  allowsPort(proto: number, port: number): boolean {
    const t = proto === PROTO_TCP ? this.tcp : proto === PROTO_UDP ? this.udp : this.sctp;
    let lo = 0;
    let hi = (t.length >> 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (port < t[mid * 2]) hi = mid - 1;
      else if (port > t[mid * 2 + 1]) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

function flatten(ranges: Array<[number, number]>): Int32Array {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [a, b] of ranges) {
    if (out.length && a <= out[out.length - 1] + 1) out[out.length - 1] = Math.max(out[out.length - 1], b);
    else out.push(a, b);
  }
  return Int32Array.from(out);
}

function prefixStart(p: Prefix): bigint {
  let v = 0n;
  for (const b of p.bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  const width = outer.family === 4 ? 32 : 128;
  const shift = BigInt(width - outer.bits);
  return prefixStart(outer) >> shift === prefixStart(inner) >> shift;
}

/**
 * Builds a trie over the prefixes `prefixesOf` gives each rule: each prefix maps to the
 * value made (once per distinct set) from all rules whose prefixes contain it.
 */
function buildIndex<T>(rules: WireFilterRule[], prefixesOf: (r: WireFilterRule) => string[], make: (rules: WireFilterRule[]) => T): PrefixTrie<T> {
  const trie = new PrefixTrie<T>();
  for (const family of [4, 6] as const) {
    const own = new Map<string, { prefix: Prefix; rules: Set<number> }>();
    rules.forEach((r, i) => {
      if (r.family && r.family !== family) return;
      for (const s of prefixesOf(r)) {
        const prefix = parsePrefix(s);
        if (prefix.family !== family) continue;
        const key = `${prefix.bytes.join('.')}/${prefix.bits}`;
        let e = own.get(key);
        if (!e) own.set(key, (e = { prefix, rules: new Set() }));
        e.rules.add(i);
      }
    });
    // Sorted by start then length, prefixes nest like brackets: a stack of the
    // enclosing ones gives each prefix its inherited rules in one pass.
    const sorted = [...own.values()]
      .map((e) => ({ ...e, start: prefixStart(e.prefix) }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.prefix.bits - b.prefix.bits));
    const stack: Array<{ prefix: Prefix; all: Set<number> }> = [];
    const classes = new Map<string, T>();
    for (const e of sorted) {
      while (stack.length && !containsPrefix(stack[stack.length - 1].prefix, e.prefix)) stack.pop();
      const all = new Set([...(stack[stack.length - 1]?.all ?? []), ...e.rules]);
      stack.push({ prefix: e.prefix, all });
      const ids = [...all].sort((a, b) => a - b);
      const key = ids.join(',');
      let cls = classes.get(key);
      if (cls === undefined) classes.set(key, (cls = make(ids.map((i) => rules[i]))));
      trie.insert(e.prefix, cls);
    }
  }
  return trie;
}

const bySource = (rules: WireFilterRule[]): PrefixTrie<RuleClass> => buildIndex(rules, (r) => r.srcs, (rs) => new RuleClass(rs));

/** Local rules by source; forwarding rules by destination, then by source. */
function buildIndexes(rules: WireFilterRule[]): { local: PrefixTrie<RuleClass>; forward: PrefixTrie<PrefixTrie<RuleClass>> } {
  return {
    local: bySource(rules.filter((r) => !r.dsts)),
    forward: buildIndex(rules.filter((r) => r.dsts), (r) => r.dsts!, bySource),
  };
}

export class PacketFilter {
  readonly stats: FilterStats = {
    accepted: 0,
    acceptedNonSyn: 0,
    acceptedTracked: 0,
    acceptedFragments: 0,
    droppedNoRule: 0,
    droppedNotLocal: 0,
    droppedMalformed: 0,
    droppedForward: 0,
  };
  private index: PrefixTrie<RuleClass>;
  private forwardIndex: PrefixTrie<PrefixTrie<RuleClass>>;
  private local4: Uint8Array[] = [];
  private local6: Uint8Array[] = [];
  private readonly flows: FlowTable;
  private readonly pkt = new PacketInfo();

  constructor(opts: PacketFilterOptions) {
    this.flows = new FlowTable(opts.maxFlows ?? 4096, opts.flowIdleMs ?? 120_000, opts.clock ?? systemClock);
    ({ local: this.index, forward: this.forwardIndex } = buildIndexes(opts.rules));
    this.setLocalAddresses(opts.localAddresses);
  }

  /** Replaces the rules (netmap delta); tracked flows are kept. Throws (keeping the old rules) on an invalid prefix. */
  setRules(rules: WireFilterRule[]): void {
    ({ local: this.index, forward: this.forwardIndex } = buildIndexes(rules));
  }

  setLocalAddresses(addrs: string[]): void {
    const ps = addrs.map((a) => parsePrefix(a));
    this.local4 = ps.filter((p) => p.family === 4).map((p) => p.bytes);
    this.local6 = ps.filter((p) => p.family === 6).map((p) => p.bytes);
  }

  get trackedFlows(): number {
    return this.flows.size;
  }

  /** Judges a decrypted packet from the tunnel: true = deliver, false = drop (counted). */
  allowInbound(buf: Uint8Array, off = 0, len = buf.length - off): boolean {
    return this.judge(buf, off, len, false);
  }

  /**
   * Judges a decrypted packet this node routes on (subnet router, exit node): as
   * allowInbound, with the rules whose `dsts` hold its destination. The caller decided
   * it is to be forwarded (not local).
   */
  allowForward(buf: Uint8Array, off = 0, len = buf.length - off): boolean {
    return this.judge(buf, off, len, true);
  }

  // One body for both directions, so allowInbound costs a single call as before.
  private judge(buf: Uint8Array, off: number, len: number, forward: boolean): boolean {
    const p = this.pkt;
    const st = p.parse(buf, off, len);
    if (st === PARSE_MALFORMED) {
      this.stats.droppedMalformed++;
      return false;
    }
    if (!forward && !this.isLocal(buf, p.dstOff, p.family)) {
      this.stats.droppedNotLocal++;
      return false;
    }
    if (st === PARSE_LATER_FRAGMENT) {
      this.stats.acceptedFragments++;
      return this.accept();
    }
    const proto = p.proto;
    const cls = forward ? this.forwardIndex.lookupPacket(buf, off, len, 'dst')?.lookupPacket(buf, off, len, 'src') : this.index.lookupPacket(buf, off, len, 'src');
    if (proto === PROTO_TCP) {
      if ((p.tcpFlags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) {
        this.stats.acceptedNonSyn++;
        return this.accept();
      }
      if (cls?.allowsPort(proto, p.dstPort)) return this.accept();
    } else if (proto === PROTO_UDP || proto === PROTO_SCTP) {
      if (cls?.allowsPort(proto, p.dstPort)) return this.accept();
      this.reverseKey(buf, p.dstPort, p.srcPort);
      if (this.flows.has()) {
        this.stats.acceptedTracked++;
        return this.accept();
      }
    } else if (cls?.protos[proto]) {
      return this.accept();
    } else if (isEchoReply(proto, p.icmpType)) {
      this.reverseKey(buf, p.icmpId, 0);
      if (this.flows.has()) {
        this.stats.acceptedTracked++;
        return this.accept();
      }
    } else if (cls && (isEchoRequest(proto, p.icmpType) || isIcmpError(proto, p.icmpType))) {
      // "ICMP allowed when any port is open": a class exists only for sources with rules.
      return this.accept();
    }
    if (forward) this.stats.droppedForward++;
    else this.stats.droppedNoRule++;
    return false;
  }

  /** Records a packet this node sends into the tunnel, so its replies pass. */
  recordOutbound(buf: Uint8Array, off = 0, len = buf.length - off): void {
    const p = this.pkt;
    if (p.parse(buf, off, len) !== PARSE_OK) return;
    const k = this.flows.key;
    if (p.proto === PROTO_UDP || p.proto === PROTO_SCTP) {
      this.fillKey(buf, p.srcOff, p.dstOff, p.srcPort, p.dstPort);
    } else if (isEchoRequest(p.proto, p.icmpType)) {
      this.fillKey(buf, p.srcOff, p.dstOff, p.icmpId, 0);
    } else {
      return;
    }
    k[0] = p.proto | (p.family << 8);
    this.flows.upsert();
  }

  private accept(): boolean {
    this.stats.accepted++;
    return true;
  }

  /** Key of the flow this inbound packet would answer (local = its destination). */
  private reverseKey(buf: Uint8Array, localPort: number, remotePort: number): void {
    const p = this.pkt;
    this.fillKey(buf, p.dstOff, p.srcOff, localPort, remotePort);
    this.flows.key[0] = p.proto | (p.family << 8);
  }

  private fillKey(buf: Uint8Array, localOff: number, remoteOff: number, localPort: number, remotePort: number): void {
    const k = this.flows.key;
    const words = this.pkt.family === 4 ? 1 : 4;
    k[1] = ((localPort << 16) | remotePort) >>> 0;
    for (let w = 0; w < 4; w++) {
      k[2 + w] = w < words ? readU32(buf, localOff + w * 4) : 0;
      k[6 + w] = w < words ? readU32(buf, remoteOff + w * 4) : 0;
    }
  }

  private isLocal(buf: Uint8Array, off: number, family: 4 | 6): boolean {
    const list = family === 4 ? this.local4 : this.local6;
    for (const a of list) {
      let same = true;
      for (let i = 0; i < a.length && same; i++) same = buf[off + i] === a[i];
      if (same) return true;
    }
    return false;
  }
}

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}
