// The `--exit-circuit` TUN path in one process: a client stack (standing in for the
// host's kernel) writes into a FakeTun; the Device hands what no peer routes to
// CircuitTun, whose forwarder accepts the TCP connection and "dials the circuit" (a fake:
// a loopback server). Mesh destinations without a peer stay unrouted; UDP is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { CircuitTun, circuitKeep } from '../../src/agent/circuit-tun.js';
import { generatePrivateKey } from '../../src/crypto/keys.js';
import { PacketBatch, TRANSPORT_HEADROOM } from '../../src/io/batch.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { silentLogger } from '../../src/log.js';
import { WasmLwip } from '../../src/netstack/lwip-wasm.js';
import { NetStack } from '../../src/netstack/stack.js';
import { dialTcp } from '../../src/netstack/tcp-socket.js';
import { UdpSocket } from '../../src/netstack/udp-socket.js';
import { Device } from '../../src/wireguard/device.js';

test('outside TCP from the TUN goes to the circuit dialler; mesh stays unrouted; UDP dropped and counted', async () => {
  const server = createServer((s) => s.once('data', (d) => s.end(`echo ${d}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const tun = new FakeTun();
  const dev = new Device({ tun, bind: new FakeNetwork().bind('192.0.2.1') });
  dev.setPrivateKey(generatePrivateKey());
  await dev.start();
  const host = new NetStack({ addon: new WasmLwip() });
  host.setAddresses('100.64.0.1', 'fd7a:115c:a1e0::1');
  const one = new PacketBatch(1, 65536 + TRANSPORT_HEADROOM);
  tun.onWrite = (p) => {
    one.reset();
    one.push(p, TRANSPORT_HEADROOM);
    host.write(one);
  };
  host.start({
    onPackets: (b) => {
      for (let i = 0; i < b.count; i++) if (b.lengths[i]) tun.inject(Uint8Array.prototype.slice.call(b.packet(i)) as Uint8Array);
    },
    onClose: () => {},
  });
  const dialled: string[] = [];
  const ct = new CircuitTun(dev, circuitKeep(['100.64.0.0/10', 'fc00::/7']), async (h, p) => {
    dialled.push(`${h}:${p}`);
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    return s;
  }, silentLogger);
  try {
    const s = dialTcp(host, '203.0.113.7', 443, { allowHalfOpen: true });
    await once(s, 'connect');
    let text = '';
    s.on('data', (d: Buffer) => (text += d));
    s.end('hi');
    await once(s, 'end');
    assert.equal(text, 'echo hi');
    assert.deepEqual(dialled, ['203.0.113.7:443']);
    // A mesh address with no peer: left to the engine, counted as unrouted as before.
    const noRoute = dev.stats.noRoute;
    const m = dialTcp(host, '100.64.0.9', 80);
    m.on('error', () => {});
    for (let i = 0; i < 100 && dev.stats.noRoute === noRoute; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(dev.stats.noRoute > noRoute);
    m.destroy();
    const u = new UdpSocket(host);
    u.send(Buffer.from('q'), 53, '198.51.100.53');
    for (let i = 0; i < 100 && ct.status().nonTcpDropped === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ct.status().nonTcpDropped, 1);
    assert.equal(ct.status().accepted, 1);
    assert.ok(ct.status().toHost > 0 && ct.status().toHostFailed === 0, JSON.stringify(ct.status()));
    assert.deepEqual(dialled, ['203.0.113.7:443'], 'nothing else reached the dialler');
    u.close();
  } finally {
    await ct.close();
    assert.equal(dev.onUnroutedPacket, undefined, 'close restores the hook');
    await host.stop();
    await dev.close();
    server.close();
  }
});
