import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { Device } from '../../src/wireguard/device.js';
import { parsePrefix } from '../../src/net/prefix.js';
import { udp4 } from '../helpers/packets.js';

/** Two started devices over the fake network, each the other's peer (10.0.0.1 and 10.0.0.2). */
async function pair(net: FakeNetwork) {
  const mk = async (host: string) => {
    const tun = new FakeTun();
    const dev = new Device({ tun, bind: net.bind(host) });
    const key = generatePrivateKey();
    dev.setPrivateKey(key);
    await dev.setListenPort(51820);
    await dev.start();
    return { tun, dev, key, host };
  };
  const a = await mk('192.0.2.1');
  const b = await mk('192.0.2.2');
  for (const [x, y, ip] of [[a, b, '10.0.0.2'], [b, a, '10.0.0.1']] as const) {
    const p = x.dev.addPeer(publicKeyFromPrivate(y.key));
    x.dev.allowedIps.insert(parsePrefix(`${ip}/32`), p);
    p.endpoint = Endpoint.of(y.host, 51820);
  }
  return { a, b };
}

test('sendPacket routes like a TUN packet; onOutboundPacket sees it; onInboundPacket consumes what it claims', async () => {
  const net = new FakeNetwork();
  const { a, b } = await pair(net);
  assert.equal(a.dev.sendPacket(udp4('10.0.0.1', 1, '10.9.9.9', 2, new Uint8Array(4))), false, 'no route');
  assert.equal(a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([1]))), true);
  await net.flush();
  assert.equal(b.tun.written.length, 1, 'delivered to the TUN without a tap');
  const seen: number[] = [];
  const out: number[] = [];
  a.dev.onOutboundPacket = (buf, off, len) => void out.push(len, buf[off + 28]);
  b.dev.onInboundPacket = (buf, off, len) => {
    assert.equal(len, 29, 'the IP packet alone');
    seen.push(buf[off + 28]);
    return buf[off + 28] === 2; // consume only payload 2
  };
  a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([2])));
  a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([3])));
  await net.flush();
  assert.deepEqual(seen, [2, 3]);
  assert.deepEqual(out, [29, 2, 29, 3], 'the outbound hook sees each routed packet by offset and length');
  assert.deepEqual(b.tun.written.map((p) => p[28]), [1, 3], 'the consumed packet never reached the TUN');
  await a.dev.close();
  await b.dev.close();
});

test('onActive fires when a handshake completes on either side, not per packet and not for an unanswered initiation', async () => {
  const lossy = new FakeNetwork();
  const lost = await pair(lossy);
  let unanswered = 0;
  lost.a.dev.onActive = () => void unanswered++;
  lossy.filter = () => 'drop';
  lost.a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([1])));
  await lossy.flush();
  assert.equal(unanswered, 0, 'an initiation nobody answers: not busy');

  const net = new FakeNetwork();
  const { a, b } = await pair(net);
  const calls = { a: 0, b: 0 };
  a.dev.onActive = () => void calls.a++;
  b.dev.onActive = () => void calls.b++;
  a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([1])));
  await net.flush();
  assert.equal(b.tun.written.length, 1, 'the session carries the packet');
  assert.deepEqual(calls, { a: 1, b: 1 }, 'the initiator on the response, the responder on the first data');
  for (let i = 0; i < 20; i++) a.dev.sendPacket(udp4('10.0.0.1', 1, '10.0.0.2', 2, new Uint8Array([i])));
  await net.flush();
  assert.equal(b.tun.written.length, 21);
  assert.deepEqual(calls, { a: 1, b: 1 }, 'nothing more per packet');
  for (const d of [lost.a, lost.b, a, b]) await d.dev.close();
});
