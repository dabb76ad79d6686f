import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import type { PacketBatch } from '../../src/io/batch.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { SwimNode } from '../../src/serverless/swim.js';
import { TrustSet } from '../../src/serverless/trust.js';
import { MagicGossipTransport } from '../../src/serverless/udp-transport.js';
import { GOSSIP_MAGIC } from '../../src/serverless/wire.js';
import { RecordingBind } from '../helpers/recording-bind.js';
import { DHT_MAGIC, DHT_ROUTE } from '../../src/dht/wire.js';

// Gossip on the agent's shared UDP socket: two SWIM members on real loopback sockets
// (MagicBind around LinuxBind, as in the agent) find each other through a seed, and the
// demux keeps gossip and the engine's datagrams apart.

test('two members on real MagicBind sockets join through a seed and see each other alive', async (t) => {
  const keys = [generatePrivateKey(), generatePrivateKey()];
  const pubs = keys.map((k) => publicKeyFromPrivate(k));
  const engineRx = [0, 0];
  const magics = keys.map((k) => new MagicBind({ inner: new LinuxBind(), privateKey: k, heartbeatMs: 3_600_000 }));
  const ports = await Promise.all(magics.map((m, i) => m.open(0, { onReceive: (b: PacketBatch) => (engineRx[i] += b.count) })));
  const transports = magics.map((m) => new MagicGossipTransport(m));
  const nodes = keys.map(
    (k, i) =>
      new SwimNode({
        privateKey: k,
        publicKey: pubs[i],
        trust: new TrustSet(pubs.map((key, j) => ({ key, name: `m${j}`, role: 'node' as const }))),
        transport: transports[i],
        endpoints: [Endpoint.of('127.0.0.1', ports[i])],
        config: { probeIntervalMs: 200, gossipIntervalMs: 50 },
      }),
  );
  t.after(async () => {
    nodes.forEach((n) => n.stop());
    await Promise.all(magics.map((m) => m.shutdown()));
  });
  nodes[0].start();
  nodes[1].start([Endpoint.of('127.0.0.1', ports[0])]);
  const deadline = Date.now() + 10_000;
  const seen = () => nodes.every((n, i) => n.membership.members.get(nodes[1 - i].membership.self.id)?.state === 'alive');
  while (!seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen(), 'each sees the other alive');
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(transports.every((x) => x.counters.rx > 0 && x.counters.tx > 0 && x.counters.txErrors === 0));
  assert.deepEqual(engineRx, [0, 0], 'no gossip datagram reached the engine');
  assert.equal(nodes[0].counters.rxMalformed + nodes[1].counters.rxMalformed, 0);
});

test('demux: only datagrams with the whole gossip magic go to gossip; a throwing handler is caught and counted', async () => {
  const inner = new RecordingBind();
  const magic = new MagicBind({ inner, privateKey: generatePrivateKey(), heartbeatMs: 3_600_000 });
  let engine = 0;
  await magic.open(0, { onReceive: (b: PacketBatch) => (engine += b.count) });
  const transport = new MagicGossipTransport(magic);
  const got: Uint8Array[] = [];
  transport.onReceive((d) => got.push(d));
  const from = Endpoint.of('192.0.2.9', 4000);
  const gossip = Uint8Array.from([...GOSSIP_MAGIC, 2, 1, 2, 3]);
  const almost = Uint8Array.from([GOSSIP_MAGIC[0], 0x53, 0x57, 0x02, 2]); // first byte matches, version does not
  inner.deliver([gossip, almost], [from]);
  assert.equal(got.length, 1);
  assert.deepEqual([...got[0]], [...gossip]);
  assert.equal(magic.stats.malformed, 1, 'the near miss is malformed, not gossip');
  assert.equal(engine, 0);
  transport.onReceive(() => {
    throw new Error('bug');
  });
  assert.doesNotThrow(() => inner.deliver([gossip], [from]));
  assert.equal(transport.counters.rxErrors, 1);
  transport.send(from, gossip);
  assert.deepEqual(inner.sent.map((s) => s.to), [from.key], 'sent from the shared socket');
  transport.close();
  inner.deliver([gossip], [from]);
  assert.equal(magic.stats.malformed, 2, 'after close gossip is just an unknown datagram');
  await magic.close();
});

test('demux: gossip and the DHT share the socket by first byte; each gets copies that later datagrams do not overwrite', async () => {
  const inner = new RecordingBind();
  const magic = new MagicBind({ inner, privateKey: generatePrivateKey(), heartbeatMs: 3_600_000 });
  await magic.open(0, { onReceive: () => {} });
  const gossip = new MagicGossipTransport(magic);
  const dht = new MagicGossipTransport(magic, DHT_ROUTE);
  const got = { gossip: [] as Uint8Array[], dht: [] as Uint8Array[] };
  gossip.onReceive((d) => got.gossip.push(d));
  dht.onReceive((d) => got.dht.push(d));
  const from = Endpoint.of('192.0.2.9', 4000);
  const pkt = (magicBytes: Uint8Array, fill: number): Uint8Array => Uint8Array.from([...magicBytes, ...new Array(40).fill(fill)]);
  inner.deliver([pkt(DHT_MAGIC, 1)], [from]);
  inner.deliver([pkt(GOSSIP_MAGIC, 2)], [from]);
  inner.deliver([pkt(DHT_MAGIC, 3)], [from]);
  assert.deepEqual([got.gossip.length, got.dht.length], [1, 2]);
  assert.deepEqual([...got.dht[0]], [...pkt(DHT_MAGIC, 1)], 'the first datagram is intact after two more');
  assert.equal(got.dht[0].buffer.byteLength, got.dht[0].byteLength, 'a copy, not a view of the (reused) receive batch');
  dht.close();
  inner.deliver([pkt(DHT_MAGIC, 4), pkt(GOSSIP_MAGIC, 5)], [from, from]);
  assert.deepEqual([got.gossip.length, got.dht.length, magic.stats.malformed], [2, 2, 1], 'after the DHT closes, gossip still gets its own');
  gossip.close();
  await magic.close();
});
