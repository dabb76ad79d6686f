import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { PacketBatch } from '../../src/io/batch.js';
import type { BindEvents } from '../../src/io/bind.js';
import { StunClient, stunSendOverBind } from '../../src/nat/stun-client.js';
import { isStunPacket } from '../../src/nat/stun.js';
import { netcheck } from '../../src/nat/netcheck.js';
import { fakeStunServer } from '../../src/nat/fake-nat.js';

// STUN over the engine's Bind seam on the in-memory network, behind a simulated NAT:
// endpoint-independent mapping (one public port for every destination) and
// endpoint-dependent mapping (a new public port per destination). WireGuard datagrams
// arriving on the same port are left to the engine by the demux.

const PUBLIC_IP = '203.0.113.50';
const LAN_IP = '10.0.0.2';
const SERVERS = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((ip) => Endpoint.of(ip, 3478));

async function world(mapping: 'eim' | 'edm') {
  const net = new FakeNetwork();
  const node = net.bind(LAN_IP);
  const stun = new StunClient({ send: stunSendOverBind(node) });
  const wireguard: Uint8Array[] = [];
  const events: BindEvents = {
    onReceive(batch: PacketBatch) {
      for (let i = 0; i < batch.count; i++) {
        const pkt = batch.packet(i);
        if (isStunPacket(pkt)) stun.handlePacket(pkt);
        else wireguard.push(Uint8Array.from(pkt));
      }
    },
  };
  const nodePort = await node.open(51820, events);
  // The NAT: the public port per destination, and its reverse path (a bind on the public
  // address feeding the node's receive handler).
  const publicPort = new Map(SERVERS.map((s, i) => [s.key, mapping === 'eim' ? nodePort : 40000 + i]));
  for (const port of new Set(publicPort.values())) await net.bind(PUBLIC_IP).open(port, events);
  net.translate = (from, to) => (from.ip === LAN_IP ? Endpoint.of(PUBLIC_IP, publicPort.get(to.key) ?? from.port) : from);
  for (const s of SERVERS) await fakeStunServer(net, s.ip, s.port);
  return { net, stun, wireguard, nodePort };
}

const relays = [
  { id: 'r1', stun: [SERVERS[0]] },
  { id: 'r2', stun: [SERVERS[1]] },
];

test('endpoint-independent NAT: one public mapping for every server', async () => {
  const w = await world('eim');
  const r = await netcheck({ stun: w.stun, relays, stunServers: [SERVERS[2]], timeoutMs: 1000 });
  assert.equal(r.udp, true);
  assert.equal(r.globalV4, `${PUBLIC_IP}:${w.nodePort}`);
  assert.equal(r.mappingVariesByDestIP, false);
  assert.deepEqual(new Set(r.probes.map((p) => p.mapped)), new Set([`${PUBLIC_IP}:${w.nodePort}`]));
});

test('endpoint-dependent NAT: mappings differ per destination -> mappingVariesByDestIP', async () => {
  const w = await world('edm');
  const r = await netcheck({ stun: w.stun, relays, stunServers: [SERVERS[2]], timeoutMs: 1000 });
  assert.equal(r.mappingVariesByDestIP, true);
  assert.deepEqual(r.probes.map((p) => p.mapped), [`${PUBLIC_IP}:40000`, `${PUBLIC_IP}:40001`, `${PUBLIC_IP}:40002`]);
});

test('demux on the shared port: a WireGuard message goes to the engine, not to STUN', async () => {
  const w = await world('eim');
  const peer = w.net.bind('192.0.2.9');
  await peer.open(51820, { onReceive() {} });
  const wg = new PacketBatch(1, 256);
  const keepalive = new Uint8Array(32);
  keepalive.set([4, 0, 0, 0, 0x21, 0x12, 0xa4, 0x42]); // a receiver index equal to the cookie
  wg.push(keepalive);
  peer.send(wg, Endpoint.of(PUBLIC_IP, w.nodePort));
  await w.net.flush();
  assert.equal(w.wireguard.length, 1);
  assert.equal(w.stun.stats.malformed + w.stun.stats.unmatched, 0);
});
