import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { PacketBatch } from '../../src/io/batch.js';
import { ENDPOINT_BYTES, type Endpoint } from '../../src/io/endpoint.js';
import { silentLogger } from '../../src/log.js';
import { synthFor } from '../../src/nat/synthetic.js';
import { MAX_IN_FLIGHT, PeerProxies } from '../../src/agent/peer-proxy.js';

// The loopback proxies between an external engine and MagicBind, on real loopback UDP
// sockets: an "engine" socket stands in for wireguard-go, a recorder for MagicBind.

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

async function setup() {
  const engine = await udp();
  const sent: { pkt: Buffer; to: string }[] = [];
  let ready = 0;
  const proxies = new PeerProxies({
    enginePort: () => engine.address().port,
    send: (b, to) => (sent.push({ pkt: Buffer.from(b.packet(0)), to: to.key }), 1),
    logger: silentLogger,
    onReady: () => ready++,
  });
  const synth = new Map([['peerA', synthFor(7)]]);
  assert.equal(proxies.sync(synth).size, 0, 'not bound yet');
  const deadline = Date.now() + 2000;
  while (ready === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const local = proxies.sync(synth).get('peerA');
  assert.ok(local, 'bound after onReady');
  return { engine, sent, proxies, synth, local };
}

const until = async (cond: () => boolean) => {
  const deadline = Date.now() + 2000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
};

function batchFrom(synth: Endpoint, n: number): { batch: PacketBatch; sources: Uint8Array } {
  const batch = new PacketBatch(n, 64);
  const sources = new Uint8Array(n * ENDPOINT_BYTES);
  for (let i = 0; i < n; i++) {
    batch.push(Buffer.from([4, 0, 0, 0, i & 0xff]));
    sources.set(synth.bytes, i * ENDPOINT_BYTES);
  }
  return { batch, sources };
}

test('engine -> proxy goes to MagicBind under the peer\'s synthetic endpoint; strangers are dropped', async () => {
  const { engine, sent, proxies, synth, local } = await setup();
  try {
    engine.send(Buffer.from([1, 0, 0, 0, 9]), local.port, '127.0.0.1');
    await until(() => sent.length === 1);
    assert.deepEqual(sent, [{ pkt: Buffer.from([1, 0, 0, 0, 9]), to: synth.get('peerA')!.key }]);
    const stranger = await udp();
    stranger.send(Buffer.from([1, 0, 0, 0]), local.port, '127.0.0.1');
    await until(() => proxies.stats.strangers === 1);
    stranger.close();
    assert.equal(proxies.stats.strangers, 1);
    assert.equal(sent.length, 1, 'nothing from a socket other than the engine\'s');
    assert.equal(proxies.stats.fromEngine, 1);
  } finally {
    proxies.close();
    engine.close();
  }
});

test('MagicBind -> engine comes from the peer\'s proxy; unknown peers and a full queue drop', async () => {
  const { engine, proxies, synth, local } = await setup();
  const got: { port: number; first: number }[] = [];
  engine.on('message', (m, r) => got.push({ port: r.port, first: m[4] }));
  try {
    const one = batchFrom(synth.get('peerA')!, 1);
    proxies.onReceive(one.batch, one.sources);
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ port: local.port, first: 0 }]);
    const stranger = batchFrom(synthFor(99), 1);
    proxies.onReceive(stranger.batch, stranger.sources);
    assert.equal(proxies.stats.drops, 1, 'no proxy for that synthetic endpoint');
    // One burst larger than the per-socket bound: the excess is dropped, not queued.
    const burst = batchFrom(synth.get('peerA')!, MAX_IN_FLIGHT + 20);
    proxies.onReceive(burst.batch, burst.sources);
    assert.equal(proxies.stats.drops, 1 + 20);
    assert.equal(proxies.stats.toEngine, 1 + MAX_IN_FLIGHT);
  } finally {
    proxies.close();
    engine.close();
  }
});

test('a peer leaving the netmap loses its proxy', async () => {
  const { engine, proxies } = await setup();
  try {
    assert.ok(proxies.localFor('peerA'));
    assert.equal(proxies.sync(new Map()).size, 0);
    assert.equal(proxies.localFor('peerA'), null);
  } finally {
    proxies.close();
    engine.close();
  }
});
