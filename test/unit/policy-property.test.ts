// Property: compile + the packet filter agree with a direct reading of the policy
// (a reference evaluator that never builds CIDR sets or tries) on random policies and
// packets, both to nodes and through random subnet routers / exit nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { compilePolicy, PacketFilter, parsePolicy, type PolicyNode } from '../../src/policy/index.js';
import { buildProbe } from '../../src/policy/probe.js';

const USERS = ['a', 'b', 'c'];
const TAGS = ['tag:x', 'tag:y'];
const N = 6;
const v4 = (i: number): string => `100.64.0.${i + 1}`;
const v6 = (i: number): string => `fd7a:115c:a1e0::${i + 1}`;
const SELECTORS = ['*', 'a@', 'b@', 'c@', 'group:g1', 'group:g2', ...TAGS, 'n0', 'n3', 'n5', 'h1', '100.64.0.3', '100.64.0.0/30', 'fd7a:115c:a1e0::/126', '10.0.0.0/8', 'fd7a:115c:a1e0::5', '10.0.1.7', '10.0.0.0/23', 'fd00:1::/48'];
const DST_SELECTORS = [...SELECTORS, 'autogroup:internet'];
/** Approved subnet routes a node may hold, and destinations of routed packets (LANs and the internet). */
const ROUTES = ['10.0.0.0/24', '10.0.1.0/24', '192.168.0.0/16', 'fd00:1::/64'];
const ROUTED_DSTS = ['10.0.0.5', '10.0.1.7', '10.0.2.1', '192.168.3.4', '8.8.8.8', 'fd00:1::5', '2001:db8::1'];
const MESH = ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'];
const PORTS = ['*', '22', '80', '53', '80-90', '22,443', '1-100'];
const PROTOS = [undefined, 'tcp', 'udp', 'icmp'];
const DEFAULT = [6, 17, 1, 58];
const PROTO_NUM: Record<string, number[]> = { tcp: [6], udp: [17], icmp: [1, 58] };

interface Acl { src: string[]; dst: string[]; proto?: string }

const nodeArb = fc.record({ user: fc.constantFrom(...USERS), tags: fc.subarray(TAGS, { maxLength: 2 }), routes: fc.subarray(ROUTES), exit: fc.boolean() });
const toNodes = (specs: Array<{ user: string; tags: string[]; routes: string[]; exit: boolean }>): PolicyNode[] =>
  specs.map((s, i) => ({ id: `k${i}`, name: `n${i}`, user: s.tags.length ? null : s.user, tags: s.tags, ipv4: v4(i), ipv6: v6(i), routes: s.routes, exit: s.exit }));
const aclArb = fc
  .record({
    src: fc.array(fc.constantFrom(...SELECTORS), { minLength: 1, maxLength: 3 }),
    dst: fc.array(fc.tuple(fc.constantFrom(...DST_SELECTORS), fc.constantFrom(...PORTS)), { minLength: 1, maxLength: 3 }),
    proto: fc.constantFrom(...PROTOS),
  })
  .map((a): Acl => ({ src: a.src, dst: a.dst.map(([s, p]) => `${s}:${a.proto === 'icmp' ? '*' : p}`), ...(a.proto ? { proto: a.proto } : {}) }));
const pktArb = fc.record({
  src: fc.oneof(fc.nat(N - 1), fc.constant(-1)),
  dst: fc.nat(N - 1),
  v6: fc.boolean(),
  proto: fc.constantFrom(6, 17, 1),
  port: fc.constantFrom(22, 53, 80, 85, 443, 1000),
  syn: fc.boolean(),
  echo: fc.boolean(),
  /** >= 0: a routed destination (ROUTED_DSTS) through node `dst` instead of `dst` itself. */
  routed: fc.oneof(fc.constant(-1), fc.nat(ROUTED_DSTS.length - 1)),
});

const inCidr = (addr: string, cidr: string): boolean => {
  const a = ipaddr.parse(addr);
  const c = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : ([ipaddr.parse(cidr), a.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
  return a.kind() === c[0].kind() && a.match(c);
};

/** What the agent's routes.mayForward decides: our subnets, or anything outside the mesh on an exit node. */
const forwards = (router: PolicyNode, dst: string): boolean =>
  (router.routes ?? []).some((r) => inCidr(dst, r)) || (!!router.exit && !MESH.some((m) => inCidr(dst, m)));

function reference(
  acls: Acl[],
  groups: Record<string, string[]>,
  hosts: Record<string, string>,
  nodes: PolicyNode[],
  pkt: { src: string; dst: string; proto: number; port: number; syn: boolean; echo: boolean },
  /** Set for a packet `router` forwards (pkt.dst is then not a node). */
  router?: PolicyNode,
): boolean {
  const owner = (addr: string): PolicyNode | undefined => nodes.find((n) => n.ipv4 === addr || n.ipv6 === addr);
  const inRoutes = (addr: string): boolean => (router?.routes ?? []).some((r) => inCidr(addr, r));
  const matches = (sel: string, addr: string, asDst = false): boolean => {
    const n = owner(addr);
    if (sel === '*') return true;
    if (sel === 'autogroup:internet') return !!router?.exit && !inRoutes(addr);
    if (sel.endsWith('@')) return !!n && n.tags.length === 0 && n.user === sel.slice(0, -1);
    if (sel.startsWith('group:')) return !!n && n.tags.length === 0 && groups[sel].includes(`${n.user}@`);
    if (sel.startsWith('tag:')) return !!n && n.tags.includes(sel);
    if (/^n\d$/.test(sel)) return !!n && n.name === sel;
    // Through a router, networks reach only what it routes as a subnet.
    return inCidr(addr, hosts[sel] ?? sel) && (!router || !asDst || inRoutes(addr));
  };
  const split = (d: string): [string, string] => [d.slice(0, d.lastIndexOf(':')), d.slice(d.lastIndexOf(':') + 1)];
  const inPorts = (spec: string, port: number): boolean =>
    spec === '*' || spec.split(',').some((r) => { const [a, b = a] = r.split('-').map(Number); return port >= a && port <= b; });
  const icmp = pkt.proto === 1 || pkt.proto === 58;
  if (pkt.proto === 6 && !pkt.syn) return true;
  let any = false;
  for (const acl of acls) {
    if (!acl.src.some((s) => matches(s, pkt.src))) continue;
    for (const d of acl.dst) {
      const [sel, ports] = split(d);
      if (!matches(sel, pkt.dst, true)) continue;
      any = true;
      const protos = acl.proto ? PROTO_NUM[acl.proto] : DEFAULT;
      if (protos.includes(pkt.proto) && (icmp || inPorts(ports, pkt.port))) return true;
    }
  }
  return icmp && pkt.echo && any;
}

test('compile + filter agree with the reference evaluator', () => {
  fc.assert(
    fc.property(
      fc.array(nodeArb, { minLength: N, maxLength: N }),
      fc.subarray(['a@', 'b@', 'c@']),
      fc.subarray(['a@', 'b@', 'c@']),
      fc.constantFrom('100.64.0.2', '100.64.0.0/29', 'fd7a:115c:a1e0::4', '0.0.0.0/0', '10.0.0.0/16'),
      fc.array(aclArb, { maxLength: 6 }),
      fc.array(pktArb, { minLength: 1, maxLength: 40 }),
      (nodeSpecs, g1, g2, h1, acls, pkts) => {
        const nodes = toNodes(nodeSpecs);
        const groups = { 'group:g1': g1, 'group:g2': g2 };
        const hosts = { h1 };
        const text = JSON.stringify({ groups, tagOwners: { 'tag:x': ['a@'], 'tag:y': ['group:g1'] }, hosts, acls: acls.map((a) => ({ action: 'accept', ...a })) });
        const compiled = compilePolicy(parsePolicy(text), nodes);
        for (const p of pkts) {
          const dstNode = nodes[p.dst];
          const routedDst = p.routed >= 0 ? ROUTED_DSTS[p.routed] : null;
          const v6pkt = routedDst ? routedDst.includes(':') : p.v6;
          const src = p.src < 0 ? (v6pkt ? 'fd00::99' : '10.9.9.9') : v6pkt ? v6(p.src) : v4(p.src);
          const dst = routedDst ?? (v6pkt ? dstNode.ipv6 : dstNode.ipv4);
          // The agent hands the filter only packets it would forward; others are not for it.
          if (routedDst && !forwards(dstNode, routedDst)) continue;
          const proto = p.proto === 1 && v6pkt ? 58 : p.proto;
          const filter = new PacketFilter({ localAddresses: [dstNode.ipv4, dstNode.ipv6], rules: compiled.filter(dstNode.id) });
          const probe = buildProbe({ src, dst, proto, dstPort: p.port, tcpFlags: p.syn ? 0x02 : 0x10, icmpType: p.echo ? undefined : v6pkt ? 200 : 13 });
          const got = routedDst ? filter.allowForward(probe) : filter.allowInbound(probe);
          const want = reference(acls, groups, hosts, nodes, { src, dst, proto, port: p.port, syn: p.syn, echo: p.echo }, routedDst ? dstNode : undefined);
          assert.equal(got, want, `${text}\n${JSON.stringify({ src, dst, proto, port: p.port, syn: p.syn, echo: p.echo, router: routedDst ? dstNode : null })}`);
          // Visibility: a pair that can exchange a packet must be mutually visible.
          if (want && p.src >= 0 && p.src !== p.dst && (proto !== 6 || p.syn)) {
            assert.ok(compiled.canSee(`k${p.src}`, dstNode.id));
            assert.ok(compiled.peers(dstNode.id).includes(`k${p.src}`));
            assert.ok(compiled.peers(`k${p.src}`).includes(dstNode.id));
          }
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('visibility is exactly "a rule admits one to the other"', () => {
  fc.assert(
    fc.property(fc.array(nodeArb, { minLength: N, maxLength: N }), fc.array(aclArb, { maxLength: 4 }), (nodeSpecs, acls) => {
      const nodes = toNodes(nodeSpecs);
      const text = JSON.stringify({ groups: { 'group:g1': ['a@'], 'group:g2': [] }, tagOwners: { 'tag:x': [], 'tag:y': [] }, hosts: { h1: '100.64.0.2' }, acls: acls.map((a) => ({ action: 'accept', ...a })) });
      const c = compilePolicy(parsePolicy(text), nodes);
      for (let i = 0; i < N; i++) {
        const viaCanSee = nodes.filter((_, j) => c.canSee(`k${i}`, `k${j}`)).map((n) => n.id);
        assert.deepEqual(c.peers(`k${i}`), viaCanSee);
        // canSee holds iff some rule lets one reach the other (or its routes): check against the filters.
        for (let j = 0; j < N; j++) {
          if (i === j) continue;
          const reach = (a: number, b: number): boolean => c.filter(`k${b}`).some((r) => r.srcs.some((s) => ipaddr.parse(v4(a)).kind() === ipaddr.parseCIDR(s)[0].kind() ? ipaddr.parse(v4(a)).match(ipaddr.parseCIDR(s)) && r.family !== 6 : ipaddr.parse(v6(a)).match(ipaddr.parseCIDR(s)) && r.family !== 4));
          assert.equal(c.canSee(`k${i}`, `k${j}`), reach(i, j) || reach(j, i), `${text} ${i} ${j}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
