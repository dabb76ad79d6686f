import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { StunClient } from '../../src/nat/stun-client.js';
import { answerStun } from '../../src/nat/stun-server.js';
import { encodeBindingError, parseStun } from '../../src/nat/stun.js';

const SERVER = Endpoint.of('192.0.2.1', 3478);
const MAPPED = Endpoint.of('203.0.113.5', 61000);

function setup(reply: 'never' | 'success' | 'error', rc?: number) {
  const clock = new FakeClock();
  const sentAt: number[] = [];
  const client: StunClient = new StunClient({
    clock,
    rc,
    send: (pkt, to) => {
      assert.equal(to.key, SERVER.key);
      sentAt.push(clock.now());
      if (reply === 'never') return;
      const msg = parseStun(pkt);
      assert.ok(msg);
      const ans = reply === 'error' ? encodeBindingError(msg.transactionId, 401, 'Unauthorized') : (answerStun(pkt, MAPPED) as { bytes: Uint8Array }).bytes;
      clock.setTimeout(() => client.handlePacket(ans), 30);
    },
  });
  return { clock, client, sentAt };
}

test('RFC 8489 retransmission: RTO 500 ms doubling, Rc = 7, then Rm x RTO -> ERR_STUN_TIMEOUT at 39.5 s', async () => {
  const { clock, client, sentAt } = setup('never');
  const t0 = clock.now();
  const p = client.binding(SERVER);
  let settled = false;
  p.catch(() => {}).finally(() => (settled = true));
  clock.advance(39_499);
  await Promise.resolve();
  assert.equal(settled, false);
  clock.advance(1);
  await assert.rejects(p, { code: 'ERR_STUN_TIMEOUT' });
  assert.deepEqual(sentAt.map((t) => t - t0), [0, 500, 1500, 3500, 7500, 15500, 31500]);
  assert.equal(client.stats.timeouts, 1);
  assert.equal(client.inFlight, 0);
  assert.equal(clock.pending, 0);
});

test('configurable Rc; success resolves with the mapped address and RTT', async () => {
  const { clock, client, sentAt } = setup('success', 3);
  const p = client.binding(SERVER);
  clock.advance(30);
  const r = await p;
  assert.equal(r.mapped.key, MAPPED.key);
  assert.equal(r.rttMs, 30);
  assert.equal(sentAt.length, 1);
  assert.equal(clock.pending, 0);
});

test('error response rejects with the STUN code; abort rejects ERR_ABORTED and clears timers', async () => {
  const e = setup('error');
  const p = e.client.binding(SERVER);
  e.clock.advance(30);
  await assert.rejects(p, { code: 'ERR_STUN_ERROR_RESPONSE', stunCode: 401 });

  const a = setup('never');
  const ac = new AbortController();
  const q = a.client.binding(SERVER, { signal: ac.signal });
  a.clock.advance(600);
  ac.abort();
  await assert.rejects(q, { code: 'ERR_ABORTED' });
  assert.equal(a.clock.pending, 0);
  await assert.rejects(a.client.binding(SERVER, { signal: ac.signal }), { code: 'ERR_ABORTED' });
});

test('unmatched and malformed datagrams are counted, never thrown', () => {
  const { client } = setup('never');
  assert.equal(client.handlePacket(new Uint8Array(5)), false);
  assert.equal(client.handlePacket(encodeBindingError(new Uint8Array(12), 400, 'x')), false);
  assert.deepEqual([client.stats.malformed, client.stats.unmatched], [1, 1]);
});
