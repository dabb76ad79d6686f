import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { PacketFilter, type WireFilterRule } from '../../src/policy/index.js';
import { FlowTable, KEY_WORDS } from '../../src/policy/flow-table.js';
import { buildProbe } from '../../src/policy/probe.js';

const ME4 = '100.64.0.1';
const ME6 = 'fd7a:115c:a1e0::1';
const PEER4 = '100.64.0.2';
const PEER6 = 'fd7a:115c:a1e0::2';

function filter(rules: WireFilterRule[], clock = new FakeClock(), maxFlows?: number): PacketFilter {
  return new PacketFilter({ localAddresses: [ME4, ME6], rules, clock, maxFlows, flowIdleMs: 1000 });
}

const SSH_FROM_PEER: WireFilterRule = { srcs: [`${PEER4}/32`, `${PEER6}/128`], ports: [[22, 22], [8000, 8100]], protos: [6] };

test('TCP: SYN needs a rule, other segments pass', () => {
  const f = filter([SSH_FROM_PEER]);
  for (const [src, dst] of [[PEER4, ME4], [PEER6, ME6]]) {
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 6, dstPort: 22 })), true);
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 6, dstPort: 8050 })), true);
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 6, dstPort: 23 })), false);
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 6, dstPort: 23, tcpFlags: 0x12 })), true, 'SYN-ACK');
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 6, dstPort: 23, tcpFlags: 0x10 })), true, 'ACK');
    assert.equal(f.allowInbound(buildProbe({ src, dst, proto: 17, dstPort: 22 })), false, 'rule is TCP only');
  }
  assert.equal(f.allowInbound(buildProbe({ src: '100.64.0.3', dst: ME4, proto: 6, dstPort: 22 })), false);
  assert.equal(f.stats.droppedNoRule, 5);
  assert.equal(f.stats.acceptedNonSyn, 4);
});

test('packets not for this node are dropped', () => {
  const f = filter([{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] }]);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: '100.64.0.9', proto: 6, dstPort: 22 })), false);
  assert.equal(f.allowInbound(buildProbe({ src: PEER6, dst: 'fd7a:115c:a1e0::9', proto: 6, dstPort: 22 })), false);
  assert.equal(f.stats.droppedNotLocal, 2);
  f.setLocalAddresses(['100.64.0.9']);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: '100.64.0.9', proto: 6, dstPort: 22 })), true);
});

test('UDP: rule or the reverse of a flow this node opened, forgotten when idle', () => {
  const clock = new FakeClock();
  const f = filter([], clock);
  const reply = buildProbe({ src: PEER4, dst: ME4, proto: 17, srcPort: 53, dstPort: 5555 });
  assert.equal(f.allowInbound(reply), false);
  f.recordOutbound(buildProbe({ src: ME4, dst: PEER4, proto: 17, srcPort: 5555, dstPort: 53 }));
  assert.equal(f.allowInbound(reply), true);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 17, srcPort: 54, dstPort: 5555 })), false, 'other remote port');
  clock.advance(900);
  assert.equal(f.allowInbound(reply), true, 'replies keep the flow alive');
  clock.advance(900);
  assert.equal(f.allowInbound(reply), true);
  clock.advance(1001);
  assert.equal(f.allowInbound(reply), false, 'idle flow expired');
  assert.equal(f.stats.acceptedTracked, 3);
  // v6 flows are separate from v4.
  f.recordOutbound(buildProbe({ src: ME6, dst: PEER6, proto: 17, srcPort: 5555, dstPort: 53 }));
  assert.equal(f.allowInbound(buildProbe({ src: PEER6, dst: ME6, proto: 17, srcPort: 53, dstPort: 5555 })), true);
  assert.equal(f.allowInbound(reply), false);
});

test('flows are LRU-bounded', () => {
  const f = filter([], new FakeClock(), 4);
  for (let p = 1; p <= 5; p++) f.recordOutbound(buildProbe({ src: ME4, dst: PEER4, proto: 17, srcPort: p, dstPort: 53 }));
  assert.equal(f.trackedFlows, 4);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 17, srcPort: 53, dstPort: 1 })), false, 'oldest evicted');
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 17, srcPort: 53, dstPort: 5 })), true);
});

test('ICMP: echo allowed when any port is open; replies need our echo', () => {
  const f = filter([SSH_FROM_PEER]);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 1 })), true);
  assert.equal(f.allowInbound(buildProbe({ src: PEER6, dst: ME6, proto: 1 })), true, 'ICMPv6 echo');
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 1, icmpType: 3 })), true, 'unreachable');
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 1, icmpType: 13 })), false, 'timestamp');
  assert.equal(f.allowInbound(buildProbe({ src: '100.64.0.3', dst: ME4, proto: 1 })), false);
  const reply = buildProbe({ src: '100.64.0.3', dst: ME4, proto: 1, icmpType: 0, icmpId: 7 });
  assert.equal(f.allowInbound(reply), false);
  f.recordOutbound(buildProbe({ src: ME4, dst: '100.64.0.3', proto: 1, icmpId: 7 }));
  assert.equal(f.allowInbound(reply), true);
  assert.equal(f.allowInbound(buildProbe({ src: '100.64.0.3', dst: ME4, proto: 1, icmpType: 0, icmpId: 8 })), false);
  // A rule naming ICMP admits every type.
  const g = filter([{ srcs: ['0.0.0.0/0'], ports: [[0, 65535]], protos: [1] }]);
  assert.equal(g.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 1, icmpType: 13 })), true);
  assert.equal(g.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 1 })), false);
});

test('other protocols need a rule naming them', () => {
  const f = filter([{ srcs: ['0.0.0.0/0'], ports: [[0, 65535]], protos: [47] }]);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 47 })), true);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 50 })), false);
});

test('family-restricted rules apply to one family only', () => {
  const f = filter([{ srcs: ['0.0.0.0/0', '::/0'], ports: [[80, 80]], family: 6 }]);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 80 })), false);
  assert.equal(f.allowInbound(buildProbe({ src: PEER6, dst: ME6, proto: 6, dstPort: 80 })), true);
});

test('nested source prefixes inherit the enclosing rules', () => {
  const f = filter([
    { srcs: ['100.64.0.0/10'], ports: [[80, 80]], protos: [6] },
    { srcs: ['100.64.0.0/24'], ports: [[81, 81]], protos: [6] },
    { srcs: [`${PEER4}/32`], ports: [[82, 82]], protos: [6] },
    { srcs: ['100.64.1.0/24'], ports: [[83, 83]], protos: [6] },
  ]);
  const ok = (src: string, port: number): boolean => f.allowInbound(buildProbe({ src, dst: ME4, proto: 6, dstPort: port }));
  assert.deepEqual([80, 81, 82, 83].map((p) => ok(PEER4, p)), [true, true, true, false]);
  assert.deepEqual([80, 81, 82, 83].map((p) => ok('100.64.0.3', p)), [true, true, false, false]);
  assert.deepEqual([80, 81, 82, 83].map((p) => ok('100.64.1.3', p)), [true, false, false, true]);
  assert.deepEqual([80, 81, 82, 83].map((p) => ok('10.0.0.1', p)), [false, false, false, false]);
});

test('fragments and extension headers', () => {
  const f = filter([SSH_FROM_PEER]);
  const later = buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 9999 });
  later[7] = 10; // fragment offset 80 bytes
  assert.equal(f.allowInbound(later), true);
  const first = buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 9999 });
  first[6] = 0x20; // MF, offset 0: judged normally
  assert.equal(f.allowInbound(first), false);
  // IPv6 with hop-by-hop then a fragment header.
  const base = buildProbe({ src: PEER6, dst: ME6, proto: 6, dstPort: 22 });
  const ext = new Uint8Array(base.length + 16);
  ext.set(base.subarray(0, 40));
  ext[6] = 0; // hop-by-hop
  ext[5] = 20 + 16;
  ext[40] = 44; // next: fragment
  ext[41] = 0; // 8 bytes
  ext[48] = 6; // fragment header: next TCP, offset 0
  ext.set(base.subarray(40), 56);
  assert.equal(f.allowInbound(ext), true);
  ext.set([0, 22], 58); // port 22 -> also fine; now later fragment
  ext[50] = 0x01;
  ext[51] = 0x00; // offset 32 * 8
  assert.equal(f.allowInbound(ext), true);
  assert.equal(f.stats.acceptedFragments, 2);
});

test('malformed packets are dropped and counted, never thrown', () => {
  const f = filter([{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] }]);
  const good = buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 22 });
  const cases = [new Uint8Array(0), new Uint8Array(19), Uint8Array.of(0x75, ...new Uint8Array(30)), good.subarray(0, 30)];
  const badIhl = good.slice();
  badIhl[0] = 0x4f;
  const badLen = good.slice();
  badLen[3] = 200;
  cases.push(badIhl, badLen);
  for (const c of cases) assert.equal(f.allowInbound(c), false);
  assert.equal(f.stats.droppedMalformed, cases.length);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), (bytes, cut) => {
      f.allowInbound(bytes);
      f.recordOutbound(bytes);
      f.allowInbound(good.subarray(0, Math.min(cut, good.length)));
    }),
    { numRuns: 20000 },
  );
});

test('FlowTable agrees with a simple LRU model', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(40), fc.nat(5)), { maxLength: 400 }), (ops) => {
      const clock = new FakeClock();
      const t = new FlowTable(16, 50, clock);
      const model = new Map<number, number>(); // key -> last seen, in LRU order
      for (const [insert, k, dt] of ops) {
        clock.advance(dt);
        t.key.fill(0);
        t.key[0] = k;
        t.key[KEY_WORDS - 1] = k * 7919;
        const now = clock.now();
        if (insert) {
          model.delete(k);
          model.set(k, now);
          if (model.size > 16) model.delete(model.keys().next().value!);
          t.upsert();
        } else {
          const seen = model.get(k);
          const live = seen !== undefined && now - seen <= 50;
          model.delete(k);
          if (live) model.set(k, now);
          assert.equal(t.has(), live);
        }
      }
    }),
    { numRuns: 500 },
  );
});

// A subnet router (ME) for 10.1.0.0/24 and fd00:1::/64; PEER may reach LAN host 10.1.0.5 on TCP 80 and UDP 53, and the v6 subnet on anything.
const LAN4 = '10.1.0.5';
const LAN6 = 'fd00:1::5';
const ROUTER_RULES: WireFilterRule[] = [
  { srcs: [`${PEER4}/32`, `${PEER6}/128`], ports: [[80, 80]], protos: [6], dsts: [`${LAN4}/32`] },
  { srcs: [`${PEER4}/32`, `${PEER6}/128`], ports: [[53, 53]], protos: [17], dsts: ['10.1.0.0/24'] },
  { srcs: [`${PEER6}/128`], ports: [[0, 65535]], dsts: ['fd00:1::/64'] },
  // A local rule never admits forwarded packets, and a forwarding rule never local ones.
  { srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]], protos: [6], family: 4 },
];

test('allowForward: destination and source prefixes, ports and protocols', () => {
  const f = filter(ROUTER_RULES);
  const fwd = (src: string, dst: string, proto: number, dstPort: number, extra: Partial<Parameters<typeof buildProbe>[0]> = {}): boolean =>
    f.allowForward(buildProbe({ src, dst, proto, dstPort, ...extra }));
  assert.equal(fwd(PEER4, LAN4, 6, 80), true);
  assert.equal(fwd(PEER4, LAN4, 6, 22), false, 'other port');
  assert.equal(fwd(PEER4, '10.1.0.6', 6, 80), false, 'other LAN host');
  assert.equal(fwd('100.64.0.3', LAN4, 6, 80), false, 'other source');
  assert.equal(fwd(PEER4, LAN4, 17, 80), false, 'TCP-only rule');
  assert.equal(fwd(PEER4, '10.1.0.77', 17, 53), true, 'the whole subnet on UDP 53');
  assert.equal(fwd(PEER4, '10.1.0.77', 6, 53), false);
  assert.equal(fwd(PEER6, LAN6, 6, 4242), true);
  assert.equal(fwd(PEER6, LAN6, 58, 0), true, 'default protocols include ICMPv6');
  assert.equal(fwd(PEER6, 'fd00:2::5', 6, 4242), false, 'outside the routes');
  assert.equal(fwd(PEER4, ME4, 6, 80), false, 'the router itself is not a forwarding destination');
  assert.equal(f.stats.droppedForward, 7);
  // The local rule (TCP from anyone, v4) does not open the LAN; forwarding rules do not open us.
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 6, dstPort: 9 })), true);
  assert.equal(f.allowInbound(buildProbe({ src: PEER4, dst: ME4, proto: 17, dstPort: 53 })), false);
  assert.equal(f.stats.droppedForward, 7);
  // New rules replace both indexes.
  f.setRules([]);
  assert.equal(fwd(PEER4, LAN4, 6, 80), false);
});

test('allowForward: stateful like allowInbound (TCP non-SYN, tracked UDP, ICMP), fragments, malformed', () => {
  const clock = new FakeClock();
  const f = filter(ROUTER_RULES, clock);
  assert.equal(f.allowForward(buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 6, dstPort: 22, tcpFlags: 0x10 })), true, 'TCP non-SYN');
  assert.equal(f.allowForward(buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 6, dstPort: 22, tcpFlags: 0x12 })), true, 'SYN-ACK');
  assert.equal(f.stats.acceptedNonSyn, 2);
  // UDP: the reverse of a flow the LAN host opened towards the mesh through us (no SNAT) passes.
  const reply = buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 17, srcPort: 5000, dstPort: 6000 });
  assert.equal(f.allowForward(reply), false);
  f.recordOutbound(buildProbe({ src: LAN4, dst: '100.64.0.3', proto: 17, srcPort: 6000, dstPort: 5000 }));
  assert.equal(f.allowForward(reply), true);
  assert.equal(f.stats.acceptedTracked, 1);
  clock.advance(2000);
  assert.equal(f.allowForward(reply), false, 'flow forgotten when idle');
  // ICMP: echo when a rule admits the source to that destination; replies need a tracked echo.
  assert.equal(f.allowForward(buildProbe({ src: PEER4, dst: LAN4, proto: 1 })), true);
  assert.equal(f.allowForward(buildProbe({ src: PEER4, dst: '10.1.0.9', proto: 1 })), true, 'UDP 53 rule covers the subnet');
  assert.equal(f.allowForward(buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 1 })), false);
  assert.equal(f.allowForward(buildProbe({ src: PEER4, dst: LAN4, proto: 1, icmpType: 13 })), false, 'timestamp needs an ICMP rule');
  const echoReply = buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 1, icmpType: 0, icmpId: 9 });
  assert.equal(f.allowForward(echoReply), false);
  f.recordOutbound(buildProbe({ src: LAN4, dst: '100.64.0.3', proto: 1, icmpId: 9 }));
  assert.equal(f.allowForward(echoReply), true);
  // Later fragments pass (the first was judged); a first fragment is judged.
  const later = buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 17, dstPort: 9 });
  later[7] = 10;
  assert.equal(f.allowForward(later), true);
  const first = buildProbe({ src: '100.64.0.3', dst: LAN4, proto: 17, dstPort: 9 });
  first[6] = 0x20;
  assert.equal(f.allowForward(first), false);
  assert.equal(f.stats.acceptedFragments, 1);
  // Malformed: dropped, counted, never thrown.
  const good = buildProbe({ src: PEER4, dst: LAN4, proto: 6, dstPort: 80 });
  for (const c of [new Uint8Array(0), good.subarray(0, 30), Uint8Array.of(0x75, ...new Uint8Array(30))]) assert.equal(f.allowForward(c), false);
  assert.equal(f.stats.droppedMalformed, 3);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), (bytes, cut) => {
      f.allowForward(bytes);
      f.allowForward(good.subarray(0, Math.min(cut, good.length)));
    }),
    { numRuns: 5000 },
  );
});
