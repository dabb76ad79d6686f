import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { Device } from '../../src/wireguard/device.js';
import { parsePrefix } from '../../src/net/prefix.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { PacketBatch } from '../../src/io/batch.js';
import { udp4, udp6 } from '../helpers/packets.js';

const udpPacket = (src: string, dst: string, sp: number, dp: number, payload: Uint8Array) =>
  src.includes(':') ? udp6(src, sp, dst, dp, payload) : udp4(src, sp, dst, dp, payload);

// Two or more devices over an in-memory network with fake TUNs and a fake clock, so
// protocol timers (rekey at 120 s, key zeroing at 540 s) run in milliseconds.

interface Node {
  dev: Device;
  tun: FakeTun;
  key: PrivateKey;
  ip4: string;
  ip6: string;
  host: string;
}

/** Devices of the running test: settle also waits for their handshake worker. */
const live = new Set<Device>();

async function makeNet(n: number, clock: FakeClock) {
  const net = new FakeNetwork();
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const tun = new FakeTun({ name: `wgt${i}` });
    const host = `192.0.2.${i + 1}`;
    const dev = new Device({ tun, bind: net.bind(host), clock, random: () => 0.5 });
    const key = generatePrivateKey();
    dev.setPrivateKey(key);
    await dev.setListenPort(51820);
    await dev.start();
    nodes.push({ dev, tun, key, ip4: `10.0.0.${i + 1}`, ip6: `fd00::${i + 1}`, host });
    live.add(dev);
  }
  for (const a of nodes)
    for (const b of nodes) {
      if (a === b) continue;
      const p = a.dev.addPeer(publicKeyFromPrivate(b.key));
      a.dev.allowedIps.insert(parsePrefix(`${b.ip4}/32`), p);
      a.dev.allowedIps.insert(parsePrefix(`${b.ip6}/128`), p);
      p.endpoint = Endpoint.of(b.host, 51820);
    }
  return { net, nodes };
}

async function settle(net: FakeNetwork, clock: FakeClock, ms = 0) {
  for (let i = 0; i < 20; i++) {
    await net.flush();
    await handshakesAnswered();
    if (ms) clock.advance(ms / 20);
  }
  await net.flush();
}

// Initiations on a handshake worker (a flood starts it) come back in real time, not
// on the fake clock.
async function handshakesAnswered(): Promise<void> {
  for (let i = 0; i < 2000 && [...live].some((d) => (d.handshakeOffload?.inFlight ?? 0) > 0); i++) await new Promise((r) => setTimeout(r, 1));
}

function send(from: Node, to: Node, payload: string, v6 = false) {
  from.tun.inject(udpPacket(v6 ? from.ip6 : from.ip4, v6 ? to.ip6 : to.ip4, 1000, 2000, Buffer.from(payload)));
}

function received(n: Node): string[] {
  return n.tun.written.map((p) => Buffer.from(p.subarray(p[0] >> 4 === 4 ? 28 : 48)).toString());
}

async function closeAll(nodes: Node[]) {
  for (const n of nodes) {
    await n.dev.close();
    live.delete(n.dev);
  }
}

test('handshake on first packet, then data flows both ways (IPv4 and IPv6)', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'hello');
  await settle(net, clock);
  assert.deepEqual(received(b), ['hello']);
  send(b, a, 'hi back', true);
  await settle(net, clock);
  assert.deepEqual(received(a), ['hi back']);
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  assert.ok(pa.lastHandshakeWallMs > 0);
  assert.ok(pa.txBytes > 0 && pa.rxBytes > 0);
  await closeAll(nodes);
});

test('rekey after REKEY_AFTER_TIME keeps traffic flowing with a new session', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'first');
  await settle(net, clock);
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  const first = pa.keypairs.current!;
  for (let t = 0; t < 13; t++) {
    clock.advance(10_000);
    send(a, b, `tick${t}`);
    send(b, a, `tock${t}`);
    await settle(net, clock);
  }
  assert.notEqual(pa.keypairs.current, first, 'a new session after 130 s');
  assert.equal(received(b).length, 14);
  assert.equal(received(a).length, 13);
  await closeAll(nodes);
});

test('keys are zeroed 540 s after the last session and a later packet handshakes again', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'x');
  await settle(net, clock);
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  for (let t = 0; t < 541; t++) await settle(net, clock, 1_000);
  assert.equal(pa.keypairs.current, null);
  send(a, b, 'y');
  await settle(net, clock, 100);
  assert.deepEqual(received(b), ['x', 'y']);
  await closeAll(nodes);
});

test('handshake retransmits every 5 s and gives up after 90 s when the peer is silent', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  let initiations = 0;
  net.filter = (pkt) => {
    if (pkt[0] === 1) initiations++;
    return 'drop';
  };
  send(a, b, 'lost');
  for (let i = 0; i < 120; i++) await settle(net, clock, 1_000);
  assert.equal(initiations, 20, 'one initiation plus 19 retries, as wg-go and the kernel (attempts > MAX_TIMER_HANDSHAKES)');
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  assert.equal(pa.staged.length, 0, 'staged packets flushed on give-up');
  await closeAll(nodes);
});

test('roaming: the endpoint follows the latest authenticated packet', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'one');
  await settle(net, clock);
  net.changeAddress(a.dev.bind as never, '198.51.100.7');
  send(a, b, 'two');
  await settle(net, clock);
  const pb = b.dev.lookupPeer(publicKeyFromPrivate(a.key))!;
  assert.equal(pb.endpoint?.ip, '198.51.100.7');
  send(b, a, 'back');
  await settle(net, clock);
  assert.deepEqual(received(a), ['back']);
  await closeAll(nodes);
});

test('a packet whose inner source is not allowed for the peer is dropped and counted', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'ok');
  await settle(net, clock);
  // b accepts only 10.0.0.1 from a: route 10.9.9.9 through b on a's side and spoof it.
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  a.dev.allowedIps.insert(parsePrefix('10.0.0.0/24'), pa);
  a.tun.inject(udpPacket('10.9.9.9', b.ip4, 1, 2, Buffer.from('spoof')));
  await settle(net, clock);
  assert.deepEqual(received(b), ['ok']);
  assert.equal(b.dev.stats.disallowedSource, 1);
  await closeAll(nodes);
});

test('replayed transport packets are dropped and counted', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'warm');
  await settle(net, clock);
  net.filter = (pkt) => (pkt[0] === 4 && pkt.length > 32 ? 'duplicate' : 'pass');
  send(a, b, 'once');
  await settle(net, clock);
  assert.deepEqual(received(b), ['warm', 'once']);
  assert.equal(b.dev.stats.replayed, 1);
  await closeAll(nodes);
});

test('a wrong preshared key prevents a session', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  const pa = a.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  const psk = new Uint8Array(32).fill(7);
  a.dev.setPresharedKey(pa, psk as never);
  send(a, b, 'nope');
  await settle(net, clock);
  assert.deepEqual(received(b), []);
  assert.ok(a.dev.stats.handshakeFailed + b.dev.stats.handshakeFailed >= 1);
  await closeAll(nodes);
});

test('under a handshake flood the responder answers with cookies and a real peer still connects', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(3, clock);
  const [a, b, c] = nodes;
  // c floods b with valid-mac1 initiations (it knows b's public key) from many ports.
  const pc = c.dev.lookupPeer(publicKeyFromPrivate(b.key))!;
  for (let i = 0; i < 300; i++) {
    pc.lastSentHandshake = -Infinity;
    c.dev.sendHandshakeInitiation(pc, true);
  }
  await settle(net, clock);
  assert.ok(b.dev.stats.cookieRepliesSent > 0, 'cookie replies sent under load');
  assert.ok(b.dev.handshakeOffload?.running, 'the flood started the handshake worker');
  send(a, b, 'through the flood');
  await settle(net, clock, 12_000);
  assert.deepEqual(received(b), ['through the flood']);
  await closeAll(nodes);
});

test('malformed datagrams never throw out of the receive path (fuzz)', async () => {
  const clock = new FakeClock();
  const { net, nodes } = await makeNet(2, clock);
  const [a, b] = nodes;
  send(a, b, 'warm');
  await settle(net, clock);
  const target = Endpoint.of(b.host, 51820);
  const attacker = net.bind('203.0.113.9');
  await attacker.open(4444, { onReceive: () => {} });
  const one = new PacketBatch(1, 512);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.integer({ min: 1, max: 4 }), async (bytes, type) => {
      const pkt = Buffer.from(bytes);
      if (pkt.length >= 4) pkt.writeUInt32LE(type, 0);
      one.reset();
      one.push(pkt);
      attacker.send(one, target);
      await net.flush();
    }),
    { numRuns: 5_000 },
  );
  assert.equal(b.dev.stats.handlerErrors, 0);
  await attacker.close();
  send(a, b, 'still alive');
  await settle(net, clock);
  assert.deepEqual(received(b), ['warm', 'still alive']);
  await closeAll(nodes);
});
