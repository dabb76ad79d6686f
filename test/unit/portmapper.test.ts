// PortMapper: protocol order, renewal at half the granted lifetime, retry, delete on
// stop (fake clients, fake clock); and the NAT-PMP/PCP clients against a fake gateway
// on loopback that also receives foreign and malformed datagrams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { FakeClock } from '../../src/clock.js';
import { PortMapper } from '../../src/nat/portmap/portmapper.js';
import { NatPmpClient } from '../../src/nat/portmap/natpmp.js';
import { PcpClient } from '../../src/nat/portmap/pcp.js';
import { UdpExchange } from '../../src/nat/portmap/udp-exchange.js';
import { newPortMapStats, PortMapError, type PortMapClient, type PortMapProtocolName } from '../../src/nat/portmap/types.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

class FakeClient implements PortMapClient {
  maps = 0;
  unmaps = 0;
  works: boolean;
  constructor(readonly name: PortMapProtocolName, works: boolean, private readonly lifetimeS = 7200) {
    this.works = works;
  }
  async map(internalPort: number) {
    this.maps++;
    if (!this.works) throw new PortMapError('ERR_PORTMAP_UNSUPPORTED', 'no');
    return { protocol: this.name, external: `198.20.0.11:${internalPort + 1}`, internalPort, lifetimeS: this.lifetimeS };
  }
  async unmap() {
    this.unmaps++;
  }
}

test('PortMapper keeps the first protocol that maps, renews at half the lifetime, deletes on stop', async () => {
  const clock = new FakeClock();
  const pcp = new FakeClient('pcp', false), pmp = new FakeClient('natpmp', true, 600), upnp = new FakeClient('upnp', true);
  let changes = 0;
  const m = new PortMapper({ clock, gateway: async () => ({ ip: '192.168.1.1', localIp: '192.168.1.10' }), clients: () => [pcp, pmp, upnp], onChange: () => changes++ });
  m.start(41641);
  await settle();
  assert.equal(m.mapping?.external, '198.20.0.11:41642');
  assert.equal(m.mapping?.protocol, 'natpmp');
  assert.deepEqual([pcp.maps, pmp.maps, upnp.maps, changes], [1, 1, 0, 1]);
  clock.advance(299_000);
  await settle();
  assert.equal(pmp.maps, 1, 'not renewed before half the lifetime');
  clock.advance(1000);
  await settle();
  assert.deepEqual([pcp.maps, pmp.maps, changes], [1, 2, 1], 'renewed with the protocol in use; same mapping: no change');
  await m.stop();
  assert.deepEqual([pmp.unmaps, upnp.unmaps], [1, 0]);
  assert.equal(m.mapping, null);
});

test('PortMapper without a working protocol reports nothing and tries again after retryMs', async () => {
  const clock = new FakeClock();
  const pcp = new FakeClient('pcp', false);
  let changes = 0;
  const m = new PortMapper({ clock, retryMs: 60_000, gateway: async () => ({ ip: '192.168.1.1', localIp: '192.168.1.10' }), clients: () => [pcp], onChange: () => changes++ });
  m.start(41641);
  await settle();
  assert.deepEqual([m.mapping, changes, pcp.maps], [null, 0, 1]);
  pcp.works = true;
  clock.advance(60_000);
  await settle();
  assert.equal(m.mapping?.protocol, 'pcp');
  assert.equal(changes, 1);
  pcp.works = false; // the renewal fails: the mapping is gone
  clock.advance(3_600_000);
  await settle();
  assert.deepEqual([m.mapping, changes], [null, 2]);
  await m.stop();
});

test('PortMapper with no gateway maps nothing', async () => {
  const clock = new FakeClock();
  let asked = 0;
  const m = new PortMapper({ clock, gateway: async () => null, clients: () => (asked++, []), onChange: () => assert.fail('no change') });
  m.start(41641);
  await settle();
  assert.deepEqual([m.mapping, asked], [null, 0]);
  await m.stop();
});

/** A NAT-PMP-only gateway on loopback: answers PCP with "unsupported version". */
async function fakeNatPmpGateway(): Promise<{ sock: Socket; port: number; maps: number[]; deletes: number }> {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const g = { sock, port: sock.address().port, maps: [] as number[], deletes: 0 };
  sock.on('message', (m, r) => {
    const reply = (b: Buffer): void => void sock.send(b, r.port, r.address);
    if (m[0] === 2) return reply(Buffer.from('0081000100000005', 'hex'));
    // first a malformed answer from the right address, then the real one
    reply(Buffer.from('00ff', 'hex'));
    if (m[1] === 0) return reply(Buffer.from('0080000000000005c6140b0b', 'hex'));
    const b = Buffer.alloc(16);
    b[1] = 129;
    b.writeUInt32BE(5, 4);
    m.copy(b, 8, 4, 6); // internal port
    const life = m.readUInt32BE(8);
    if (life === 0) g.deletes++;
    else g.maps.push(m.readUInt16BE(6));
    b.writeUInt16BE(life === 0 ? 0 : 50000, 10);
    b.writeUInt32BE(life, 12);
    reply(b);
  });
  return g;
}

test('NAT-PMP client against a gateway: maps, drops malformed and foreign datagrams, deletes', async () => {
  const g = await fakeNatPmpGateway();
  const stats = newPortMapStats();
  const udp = new UdpExchange({ gatewayIp: '127.0.0.1', port: g.port, localIp: '127.0.0.1', stats });
  try {
    const pcp = new PcpClient(udp, '127.0.0.1');
    await assert.rejects(pcp.map(41641, 7200), { code: 'ERR_PORTMAP_UNSUPPORTED' });
    const pmp = new NatPmpClient(udp);
    const m = await pmp.map(41641, 7200);
    assert.deepEqual(m, { protocol: 'natpmp', external: '198.20.11.11:50000', internalPort: 41641, lifetimeS: 7200 });
    assert.ok(stats.malformed >= 2, `malformed counted: ${stats.malformed}`);
    await pmp.map(41641, 7200);
    assert.deepEqual(g.maps, [41641, 50000], 'a renewal suggests the port granted before');
    await pmp.unmap();
    assert.equal(g.deletes, 1);
  } finally {
    g.sock.close();
  }
});

test('UdpExchange: only the gateway address and port are heard; silence is a typed timeout', async () => {
  const stats = newPortMapStats();
  const silent = createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  const stranger = createSocket('udp4');
  silent.on('message', (_m, r) => stranger.send(Buffer.from('0080000000000005c6140b0b', 'hex'), r.port, r.address));
  try {
    const udp = new UdpExchange({ gatewayIp: '127.0.0.1', port: silent.address().port, localIp: '127.0.0.1', stats, tries: 2 });
    await assert.rejects(new NatPmpClient(udp).map(41641, 7200), { code: 'ERR_PORTMAP_TIMEOUT' });
    assert.ok(stats.foreign >= 1, `forged answers from another port counted: ${stats.foreign}`);
    assert.equal(stats.timeouts, 1);
  } finally {
    silent.close();
    stranger.close();
  }
});
