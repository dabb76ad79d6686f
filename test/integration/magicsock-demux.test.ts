import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import type { PacketBatch } from '../../src/io/batch.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { DiscoKeys, sealDisco } from '../../src/nat/disco.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { RecordingBind, toBatch } from '../helpers/recording-bind.js';

// The per-datagram receive path of MagicBind (#13): WireGuard datagrams from known
// sources, with peers interleaved (the case the one-entry cache missed), are mapped to
// the peers' synthetic endpoints without creating an Endpoint or a string key. Counted,
// not timed: Endpoint.fromBytes and Endpoint#key are wrapped while the datagrams go through.

test('interleaved WireGuard datagrams from two known peers: sources rewritten, no Endpoint or key built', async () => {
  const clock = new FakeClock();
  const inner = new RecordingBind();
  const key = generatePrivateKey();
  const pub = publicKeyFromPrivate(key);
  const magic = new MagicBind({ inner, privateKey: key, clock, heartbeatMs: 3_600_000 });
  const got: { count: number; sources: string[]; first: number[] }[] = [];
  await magic.open(0, {
    onReceive(batch: PacketBatch, sources: Uint8Array) {
      const list: string[] = [];
      for (let i = 0; i < batch.count; i++) list.push(Buffer.from(sources.subarray(i * ENDPOINT_BYTES, (i + 1) * ENDPOINT_BYTES)).toString('hex'));
      got.push({ count: batch.count, sources: list, first: Array.from({ length: batch.count }, (_, i) => batch.data[batch.start(i) + 4]) });
    },
  });
  const peers = [0, 1].map(() => {
    const k = generatePrivateKey();
    return { pub: publicKeyFromPrivate(k), keys: new DiscoKeys(k, publicKeyFromPrivate(k)) };
  });
  const synth = magic.setPeers(peers.map((p) => ({ publicKey: keyToBase64(p.pub), endpoints: [], homeRelay: null })));
  const from = [Endpoint.of('198.51.100.7', 41641), Endpoint.of('2001:db8::9', 41641)];
  // A fresh ping from each source proves it belongs to its peer.
  peers.forEach((p, i) => inner.deliver([sealDisco(p.keys, pub, { type: 'ping', stamp: clock.wallNow() + i, txid: randomBytes(12) })!], [from[i]]));
  assert.equal(magic.stateSizes().byAddr, 2);

  // Transport-shaped datagrams, alternating sources; byte 4 numbers them.
  const wg = (n: number) => {
    const p = new Uint8Array(64);
    p[0] = 4;
    p[4] = n;
    return p;
  };
  const batches = Array.from({ length: 50 }, (_, b) => toBatch(Array.from({ length: 64 }, (_, i) => wg((b + i) & 0xff)), from));
  // The first datagram from each peer wakes it (its paths are pinged: heartbeat.ts); the
  // steady state after that is what is counted.
  inner.events!.onReceive(batches[0].batch, batches[0].sources);
  const fromBytes = Endpoint.fromBytes;
  const keyGetter = Object.getOwnPropertyDescriptor(Endpoint.prototype, 'key')!;
  let built = 0;
  let keys = 0;
  Endpoint.fromBytes = (src: Uint8Array, off?: number) => (built++, fromBytes(src, off));
  Object.defineProperty(Endpoint.prototype, 'key', { ...keyGetter, get(this: Endpoint) { keys++; return keyGetter.get!.call(this); } });
  try {
    for (const { batch, sources } of batches.slice(1)) inner.events!.onReceive(batch, sources);
  } finally {
    Endpoint.fromBytes = fromBytes;
    Object.defineProperty(Endpoint.prototype, 'key', keyGetter);
  }
  assert.equal(built, 0, 'no Endpoint per datagram');
  assert.equal(keys, 0, 'no string key per datagram');
  assert.equal(magic.stats.wgUnknownSource, 0);
  assert.equal(got.length, 50);
  const want = peers.map((p) => Buffer.from(synth.get(keyToBase64(p.pub))!.bytes).toString('hex'));
  for (const [b, g] of got.entries()) {
    assert.equal(g.count, 64);
    assert.deepEqual(g.sources, Array.from({ length: 64 }, (_, i) => want[i % 2]), 'each source becomes its peer\'s synthetic endpoint');
    assert.deepEqual(g.first, Array.from({ length: 64 }, (_, i) => (b + i) & 0xff), 'payloads in order');
  }
  // An unknown source is still dropped and counted.
  inner.deliver([wg(1)], [Endpoint.of('203.0.113.1', 1)]);
  assert.equal(magic.stats.wgUnknownSource, 1);
  await magic.close();
});
