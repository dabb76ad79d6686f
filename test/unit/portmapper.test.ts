// PortMapper: protocol order, renewal at half the granted lifetime, retry, delete on
// stop (fake clients, fake clock); the NAT-PMP/PCP clients against a fake gateway on
// loopback that also receives foreign and malformed datagrams; the PCP epoch check
// against a fake PCP gateway that restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { FakeClock } from '../../src/clock.js';
import { PortMapper } from '../../src/nat/portmap/portmapper.js';
import { NatPmpClient } from '../../src/nat/portmap/natpmp.js';
import { PcpClient } from '../../src/nat/portmap/pcp.js';
import { PcpEpoch } from '../../src/nat/portmap/pcp-epoch.js';
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

test('PcpEpoch (RFC 6887 8.5): steady time passes; backwards by more than 1 s or out of step with our clock does not', () => {
  const e = new PcpEpoch();
  assert.equal(e.observe(100, 0), true, 'first response');
  assert.equal(e.observe(130, 30_000), true, 'in step');
  assert.equal(e.observe(129, 30_500), true, 'back by one second is tolerated');
  assert.equal(e.observe(127, 31_000), false, 'back by two: restarted');
  assert.equal(e.observe(150, 54_000), true, 'in step again from the new reference');
  assert.equal(e.observe(300, 114_000), false, 'server 150 s in 60 s of ours');
  assert.equal(e.observe(310, 214_000), false, 'server 10 s in 100 s of ours');
  e.reset();
  assert.equal(e.observe(5, 300_000), true, 'forgotten after reset');
});

/** A PCP gateway on loopback: MAP (echoing the nonce) and ANNOUNCE, each answered with the epoch the test sets. */
async function fakePcpGateway(): Promise<{ sock: Socket; port: number; epoch: number; maps: number; deletes: number; announces: number }> {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const g = { sock, port: sock.address().port, epoch: 0, maps: 0, deletes: 0, announces: 0 };
  sock.on('message', (m, r) => {
    if (m[0] !== 2 || m.length < 24) return;
    const b = Buffer.alloc(m[1] === 1 ? 60 : 24);
    b[0] = 2;
    b[1] = 0x80 | m[1];
    b.writeUInt32BE(g.epoch, 8);
    if (m[1] === 0) g.announces++;
    else {
      const life = m.readUInt32BE(4);
      if (life === 0) g.deletes++;
      else g.maps++;
      b.writeUInt32BE(life, 4);
      m.copy(b, 24, 24, 42); // nonce, protocol, reserved, internal port
      b.writeUInt16BE(50000, 42);
      Buffer.from('00000000000000000000ffffc6140b0b', 'hex').copy(b, 44);
    }
    sock.send(b, r.port, r.address);
  });
  return g;
}

// Real UDP on loopback under a fake clock: generous in real time, since a loaded
// machine (the whole unit suite at once) can hold a datagram for a while.
const until = async (cond: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 15_000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), what);
};

test('PCP epoch: a gateway that restarted (epoch backwards or out of step) is mapped again at once, not at the renewal', async () => {
  const clock = new FakeClock();
  const g = await fakePcpGateway();
  const udp = new UdpExchange({ gatewayIp: '127.0.0.1', port: g.port, localIp: '127.0.0.1', stats: newPortMapStats(), clock });
  const m = new PortMapper({ clock, epochCheckMs: 30_000, gateway: async () => ({ ip: '127.0.0.1', localIp: '127.0.0.1' }), clients: () => [new PcpClient(udp, '127.0.0.1', clock)], onChange: () => {} });
  try {
    g.epoch = 1000;
    m.start(41641);
    // Idle = the mapper's one timer pending (an exchange in flight has its retransmit timer too).
    await until(() => m.mapping !== null && clock.pending === 1, 'mapped');
    assert.equal(m.mapping?.external, '198.20.11.11:50000');
    const step = async (epoch: number, want: { maps: number; announces: number }, why: string): Promise<void> => {
      g.epoch = epoch;
      clock.advance(30_000);
      // Idle = the counts reached, no attempt under way and only the mapper's timer left
      // (a MAP in flight has a retransmit timer that would also make `pending` 1).
      await until(() => g.announces === want.announces && g.maps === want.maps && !m.busy && clock.pending === 1, `${why}: ${JSON.stringify(want)}, got maps ${g.maps} announces ${g.announces}`);
    };
    await step(1030, { maps: 1, announces: 1 }, 'in step: no new mapping');
    await step(2, { maps: 2, announces: 2 }, 'restarted (epoch back to 2): mapped again');
    await step(5000, { maps: 3, announces: 3 }, 'epoch jumped ahead of our clock: mapped again');
    await step(5030, { maps: 3, announces: 4 }, 'in step again');
  } finally {
    await m.stop();
    g.sock.close();
  }
  assert.equal(g.deletes, 1, 'deleted on stop');
});
