import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint } from '../../src/io/endpoint.js';
import { StunClient } from '../../src/nat/stun-client.js';
import { answerStun } from '../../src/nat/stun-server.js';
import { choosePreferredRelay, netcheck } from '../../src/nat/netcheck.js';
import { systemClock, type Clock, type TimerHandle } from '../../src/clock.js';

// systemClock unrefs its timers (a real socket keeps the process alive); with no socket
// here, ref them so the runner waits for the probes' deadlines.
const clock: Clock = { ...systemClock, setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle };

test('preferred relay: lowest latency, with hysteresis (>= 10 ms faster and < 2/3 of the old)', () => {
  const m = (o: Record<string, number>) => new Map(Object.entries(o));
  assert.equal(choosePreferredRelay(m({})), null);
  assert.equal(choosePreferredRelay(m({ a: 30, b: 20 })), 'b');
  assert.equal(choosePreferredRelay(m({ a: 30, b: 21 }), 'a'), 'a', '9 ms faster: keep');
  assert.equal(choosePreferredRelay(m({ a: 30, b: 19 }), 'a'), 'b', '11 ms faster and < 20: switch');
  assert.equal(choosePreferredRelay(m({ a: 100, b: 80 }), 'a'), 'a', '20 ms faster but not < 2/3: keep');
  assert.equal(choosePreferredRelay(m({ a: 100, b: 66 }), 'a'), 'b');
  assert.equal(choosePreferredRelay(m({ b: 50 }), 'a'), 'b', 'old relay unmeasured: switch');
});

// A simulated path: the "NAT" picks the mapped source per destination; servers in `dead`
// never answer. Replies arrive on a later turn, like real datagrams.
function simulated(mappedFor: (server: Endpoint) => Endpoint, dead: Set<string> = new Set()): StunClient {
  const client: StunClient = new StunClient({
    send: (pkt, to) => {
      if (dead.has(to.key)) return;
      const ans = answerStun(pkt, mappedFor(to));
      if (ans.kind === 'response') setImmediate(() => client.handlePacket(ans.bytes));
    },
  });
  return client;
}

const S1 = Endpoint.of('192.0.2.1', 3478);
const S2 = Endpoint.of('198.51.100.1', 3478);
const S6 = Endpoint.of('2001:db8::1', 3478);

test('endpoint-independent mapping: same mapped address everywhere, v4 and v6 reported', async () => {
  const stun = simulated((s) => (s.isV4 ? Endpoint.of('203.0.113.7', 41641) : Endpoint.of('2001:db8:aa::7', 41641)));
  const r = await netcheck({ stun, relays: [{ id: 'r1', stun: [S1] }, { id: 'r2', stun: [S2, S6] }], timeoutMs: 500, clock });
  assert.equal(r.udp, true);
  assert.equal(r.ipv4 && r.ipv6, true);
  assert.equal(r.globalV4, '203.0.113.7:41641');
  assert.equal(r.globalV6, '[2001:db8:aa::7]:41641');
  assert.equal(r.mappingVariesByDestIP, false);
  assert.deepEqual(Object.keys(r.relayLatency).sort(), ['r1', 'r2']);
  assert.ok(r.preferredRelay === 'r1' || r.preferredRelay === 'r2');
});

test('endpoint-dependent mapping is detected; a silent server is a timeout, not a failure', async () => {
  let port = 50000;
  const stun = simulated(() => Endpoint.of('203.0.113.7', port++), new Set([S6.key]));
  const r = await netcheck({ stun, relays: [{ id: 'r1', stun: [S1] }], stunServers: [S2, S6], timeoutMs: 200, clock });
  assert.equal(r.mappingVariesByDestIP, true);
  assert.equal(r.ipv6, false);
  assert.equal(r.probes.find((p) => p.server === S6.key)?.error, 'ERR_STUN_TIMEOUT');
  assert.equal(r.preferredRelay, 'r1');
});

test('UDP blocked: relay latency falls back to TCP; the hysteresis keeps the old home', async () => {
  const stun = simulated(() => S1, new Set([S1.key, S2.key]));
  const tcp: Record<string, number> = { 'ws://a/relay': 40, 'ws://b/relay': 35 };
  const r = await netcheck({
    stun,
    relays: [
      { id: 'a', stun: [S1], url: 'ws://a/relay' },
      { id: 'b', stun: [S2], url: 'ws://b/relay' },
    ],
    timeoutMs: 150,
    clock,
    previousPreferred: 'a',
    tcpLatency: async (url) => tcp[url],
  });
  assert.equal(r.udp, false);
  assert.equal(r.mappingVariesByDestIP, null);
  assert.deepEqual(r.relayLatency, { a: { ms: 40, via: 'tcp' }, b: { ms: 35, via: 'tcp' } });
  assert.equal(r.preferredRelay, 'a');
});

test('abort rejects with ERR_ABORTED', async () => {
  const stun = simulated(() => S1, new Set([S1.key]));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(netcheck({ stun, relays: [{ id: 'a', stun: [S1] }], signal: ac.signal, timeoutMs: 5000, clock }), { code: 'ERR_ABORTED' });
});
