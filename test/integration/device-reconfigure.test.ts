import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { Device } from '../../src/wireguard/device.js';
import type { DeviceConfig, PeerConfig } from '../../src/wireguard/config.js';
import { parseSet } from '../../src/wireguard/uapi.js';
import { udp4 } from '../helpers/packets.js';

// Device.reconfigure: one declarative call diffed against what runs.

interface Node {
  dev: Device;
  tun: FakeTun;
  key: PrivateKey;
  ip4: string;
  host: string;
}

async function makeNodes(n: number, clock: FakeClock) {
  const net = new FakeNetwork();
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const tun = new FakeTun({ name: `rc${i}` });
    const host = `192.0.2.${i + 1}`;
    const dev = new Device({ tun, bind: net.bind(host), clock, random: () => 0.5 });
    const key = generatePrivateKey();
    await dev.reconfigure({ privateKey: key, listenPort: 51820, peers: [] });
    await dev.start();
    nodes.push({ dev, tun, key, ip4: `10.0.0.${i + 1}`, host });
  }
  return { net, nodes };
}

const peerOf = (n: Node, extra: Partial<PeerConfig> = {}): PeerConfig => ({
  publicKey: publicKeyFromPrivate(n.key),
  endpoint: `${n.host}:51820`,
  allowedIps: [`${n.ip4}/32`],
  ...extra,
});

function configFor(self: Node, peers: PeerConfig[]): DeviceConfig {
  return { privateKey: self.key, peers };
}

async function settle(net: FakeNetwork, clock: FakeClock, ms = 0) {
  for (let i = 0; i < 20; i++) {
    await net.flush();
    if (ms) clock.advance(ms / 20);
  }
  await net.flush();
}

const send = (from: Node, to: Node, text: string) => from.tun.inject(udp4(from.ip4, 1000, to.ip4, 2000, Buffer.from(text)));
const status = (a: Node, b: Node) => a.dev.peerStatus(publicKeyFromPrivate(b.key));

test('an unchanged peer keeps its session across reconfigure; changed allowed IPs are replaced', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNodes(3, clock);
  const [a, b, c] = nodes;
  await a.dev.reconfigure(configFor(a, [peerOf(b), peerOf(c)]));
  await b.dev.reconfigure(configFor(b, [peerOf(a)]));
  await c.dev.reconfigure(configFor(c, [peerOf(a)]));
  send(a, b, 'one');
  send(a, c, 'two');
  await settle(net, clock);
  const before = status(a, b)!;
  assert.ok(before.sessionCreatedMs !== null, 'a has a session with b');

  clock.advance(1_000);
  await a.dev.reconfigure(configFor(a, [peerOf(b), peerOf(c, { allowedIps: [`${c.ip4}/32`, '10.9.0.0/16'] })]));
  const after = status(a, b)!;
  assert.equal(after.sessionCreatedMs, before.sessionCreatedMs, 'same session');
  assert.equal(after.handshakes, before.handshakes);
  const snap = a.dev.snapshot();
  const cSnap = snap.peers.find((p) => keyToBase64(p.publicKey) === keyToBase64(publicKeyFromPrivate(c.key)))!;
  assert.deepEqual([...cSnap.allowedIps].sort(), ['10.0.0.3/32', '10.9.0.0/16']);
  send(a, b, 'three');
  await settle(net, clock);
  assert.equal(status(a, b)!.handshakes, before.handshakes, 'no new handshake was needed');
  assert.equal(b.tun.written.length, 2);
  for (const n of nodes) await n.dev.close();
});

test('a peer left out is torn down; an invalid config changes nothing', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNodes(3, clock);
  const [a, b, c] = nodes;
  await a.dev.reconfigure(configFor(a, [peerOf(b), peerOf(c)]));
  await b.dev.reconfigure(configFor(b, [peerOf(a)]));
  send(a, b, 'x');
  await settle(net, clock);
  await assert.rejects(a.dev.reconfigure(configFor(a, [peerOf(b, { allowedIps: ['10.0.0.300/32'] })])));
  assert.equal(a.dev.snapshot().peers.length, 2, 'a rejected config removed nothing');
  await a.dev.reconfigure(configFor(a, [peerOf(c)]));
  assert.equal(status(a, b), undefined);
  assert.equal(a.dev.snapshot().peers.length, 1);
  send(a, b, 'unroutable');
  await settle(net, clock);
  assert.equal(b.tun.written.length, 1, 'nothing routes to a removed peer');
  for (const n of nodes) await n.dev.close();
});

test('peers added with initiate handshake at once, without crossing initiations', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNodes(2, clock);
  const [a, b] = nodes;
  // Both learn of each other in the same instant, as two agents getting one netmap delta.
  await a.dev.reconfigure(configFor(a, [peerOf(b, { initiate: true })]));
  await b.dev.reconfigure(configFor(b, [peerOf(a, { initiate: true })]));
  await settle(net, clock, 1_000);
  const sa = status(a, b)!;
  const sb = status(b, a)!;
  assert.ok(sa.lastHandshakeWallMs > 0 && sb.lastHandshakeWallMs > 0, 'a handshake completed without any data');
  assert.equal(sa.handshakeAttempts + sb.handshakeAttempts, 0, 'no initiation had to be retried');
  send(a, b, 'first');
  await settle(net, clock);
  assert.equal(b.tun.written.length, 1);
  for (const n of nodes) await n.dev.close();
});

test('wg set goes through reconfigure: a prefix moves to the peer that adds it, other peers untouched', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNodes(3, clock);
  const [a, b, c] = nodes;
  await a.dev.reconfigure(configFor(a, [peerOf(b, { allowedIps: [`${b.ip4}/32`, '10.8.0.0/16'] }), peerOf(c)]));
  await b.dev.reconfigure(configFor(b, [peerOf(a)]));
  send(a, b, 'x');
  await settle(net, clock);
  const before = status(a, b)!;
  await a.dev.apply(parseSet([`public_key=${Buffer.from(publicKeyFromPrivate(c.key)).toString('hex')}`, 'allowed_ip=10.8.0.0/16']));
  const byKey = new Map(a.dev.snapshot().peers.map((p) => [keyToBase64(p.publicKey), p.allowedIps.sort()]));
  assert.deepEqual(byKey.get(keyToBase64(publicKeyFromPrivate(b.key))), ['10.0.0.2/32']);
  assert.deepEqual(byKey.get(keyToBase64(publicKeyFromPrivate(c.key))), ['10.0.0.3/32', '10.8.0.0/16']);
  assert.equal(status(a, b)!.sessionCreatedMs, before.sessionCreatedMs);
  await net.flush();
  for (const n of nodes) await n.dev.close();
});
