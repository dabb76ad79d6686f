import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { DiscoKeys, openDisco, sealDisco } from '../../src/nat/disco.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { FakeClock } from '../../src/clock.js';
import { RecordingBind, toBatch } from '../helpers/recording-bind.js';

// Issue 10, findings 3 and 4: what a stranger's or a replayer's disco packets cost a
// MagicBind. The inner socket records what the MagicBind sends and lets the test hand
// it datagrams directly (test/helpers/recording-bind.ts).

async function victim(clock = new FakeClock()) {
  const inner = new RecordingBind();
  const key = generatePrivateKey();
  const magic = new MagicBind({ inner, privateKey: key, clock, heartbeatMs: 3_600_000 });
  await magic.open(0, { onReceive() {} });
  const peerKey = generatePrivateKey();
  const peer = { priv: peerKey, pub: publicKeyFromPrivate(peerKey), keys: new DiscoKeys(peerKey, publicKeyFromPrivate(peerKey)) };
  magic.setPeers([{ publicKey: keyToBase64(peer.pub), endpoints: [], homeRelay: null }]);
  return { inner, magic, clock, peer, pub: publicKeyFromPrivate(key) };
}

test('10k disco packets from random keys cost < 10 µs each and leave no state', async (t) => {
  const { inner, magic } = await victim();
  const keys = Array.from({ length: 64 }, () => generatePrivateKey());
  const victimPub = publicKeyFromPrivate(generatePrivateKey());
  // Well-formed disco packets, each naming a fresh random sender key.
  const junk = Array.from({ length: 10_000 }, (_, i) => {
    const pkt = sealDisco(new DiscoKeys(keys[i % 64], publicKeyFromPrivate(keys[i % 64])), victimPub, { type: 'ping', stamp: Date.now(), txid: randomBytes(12) })!;
    pkt.set(randomBytes(32), 8);
    return pkt;
  });
  // Batches of 64 as the UDP bind delivers them, built before the clock starts.
  // (The receive path compacts a batch in place, so each pass gets its own.)
  const build = () => Array.from({ length: junk.length / 64 + 1 }, (_, i) => toBatch(junk.slice(i * 64, i * 64 + 64), [Endpoint.of('203.0.113.9', 40000)]));
  const [warm, batches] = [build(), build()];
  const before = magic.stateSizes();
  // A first pass warms the JIT up (a flood's cost is the steady state); then the
  // measured pass. CPU time, not wall time: the machine is shared, and cost is what the
  // finding is about.
  for (const { batch, sources } of warm) inner.events!.onReceive(batch, sources);
  const t0 = process.cpuUsage();
  for (const { batch, sources } of batches) inner.events!.onReceive(batch, sources);
  const used = process.cpuUsage(t0);
  const perPacketUs = (used.user + used.system) / junk.length;
  t.diagnostic(`${perPacketUs.toFixed(2)} µs CPU per packet`);
  assert.ok(perPacketUs < 10, `${perPacketUs.toFixed(2)} µs per packet`);
  assert.equal(magic.stats.discoBad, 20_000);
  assert.deepEqual(magic.stateSizes(), before, 'no key cached, no address learnt');
  assert.equal(inner.sent.length, 0, 'nothing answered');
  await magic.close();
});

test('a replayed ping (from a new source address) adds no candidate, grows nothing and is not answered', async () => {
  const { inner, magic, clock, peer, pub } = await victim();
  const ping = sealDisco(peer.keys, pub, { type: 'ping', stamp: clock.wallNow(), txid: randomBytes(12) })!;
  inner.deliver([ping], [Endpoint.of('198.51.100.7', 41641)]);
  assert.equal(magic.stats.discoStale, 0);
  const pongs = inner.sent.filter((s) => s.to === '198.51.100.7:41641' && openDisco(peer.keys, s.pkt)?.msg.type === 'pong');
  assert.equal(pongs.length, 1, 'the fresh ping is answered');
  const after = magic.stateSizes();
  assert.deepEqual([after.candidates, after.byAddr], [1, 1]);
  const sent = inner.sent.length;

  // The captured ping, replayed at once and a minute later from 200 other addresses.
  for (const delay of [0, 61_000]) {
    clock.advance(delay);
    inner.deliver(Array(100).fill(ping), Array.from({ length: 100 }, (_, i) => Endpoint.of(`203.0.113.${i + 1}`, 1000 + delay / 1000)));
  }
  assert.equal(magic.stats.discoStale, 200);
  assert.deepEqual(magic.stateSizes(), after, 'no candidate, no byAddr entry');
  assert.equal(inner.sent.length, sent, 'no pong to the replay sources');
  await magic.close();
});

test('byAddr is bounded per peer: fresh pings from many sources keep at most 512 addresses', async () => {
  const { inner, magic, clock, peer, pub } = await victim();
  for (let i = 0; i < 700; i++) {
    const ping = sealDisco(peer.keys, pub, { type: 'ping', stamp: clock.wallNow() + i, txid: randomBytes(12) })!;
    inner.deliver([ping], [Endpoint.of(`10.9.${i >> 8}.${i & 0xff}`, 5000)]);
  }
  const sizes = magic.stateSizes();
  assert.equal(magic.stats.discoStale, 0);
  assert.equal(sizes.byAddr, 512, JSON.stringify(sizes));
  assert.ok(sizes.candidates <= 64, JSON.stringify(sizes));
  await magic.close();
});
