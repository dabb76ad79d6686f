import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import type { DnsConfig, FilterRule, NetMap, NodeView } from '../../src/wire/control.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { Device } from '../../src/wireguard/device.js';
import { NetmapBackend, type BackendChange, type EngineConfigInput } from '../../src/agent/backend.js';
import { chooseEndpoint } from '../../src/agent/netmap.js';
import { MemoryNetmapSource } from '../../src/agent/netmap-source-memory.js';
import { udp4 } from '../helpers/packets.js';

// The backend driven by the in-memory NetmapSource: netmap in, engine / filter / DNS
// config out; deltas; and the engine config applied to a real Device keeps unchanged
// peers' sessions.

interface Keyed {
  key: PrivateKey;
  view: NodeView;
}

function node(i: number, over: Partial<NodeView> = {}): Keyed {
  const key = generatePrivateKey();
  return {
    key,
    view: {
      id: i, name: `n${i}`, fqdn: `n${i}.mesh.test`, ipv4: `100.64.0.${i}`, ipv6: `fd7a:115c:a1e0::${i}`,
      publicKey: keyToBase64(publicKeyFromPrivate(key)), endpoints: [`192.0.2.${i}:51820`],
      online: true, lastSeen: null, createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, ephemeral: false, tags: [], user: null, ...over,
    },
  };
}

const DNS: DnsConfig = { magicDns: true, resolverIPv4: '100.100.100.100', routes: {} };
const RULES: FilterRule[] = [{ srcs: ['100.64.0.2/32'], ports: [[22, 22]] }];

function netmap(self: Keyed, peers: NodeView[], over: Partial<NetMap> = {}): NetMap {
  return { version: 5, seq: 10, domain: 'mesh.test', ipv4Range: '100.64.0.0/10', ipv6Range: 'fd7a:115c:a1e0::/48', self: self.view, peers, packetFilter: RULES, dns: DNS, ...over };
}

/** A backend fed by a MemoryNetmapSource, recording the changes it reports. */
function harness(self: Keyed) {
  const backend = new NetmapBackend(self.view.publicKey);
  const source = new MemoryNetmapSource();
  const changes: Array<BackendChange | null> = [];
  source.start({ onUpdate: (u) => changes.push(backend.apply(u)), onConnectedChange: () => {}, onError: () => {} });
  return { backend, source, changes };
}

const input = (self: Keyed, over: Partial<EngineConfigInput> = {}): EngineConfigInput => ({
  privateKey: self.key,
  routesFor: (v) => v.approvedRoutes ?? [],
  endpoint: (v) => v.endpoints[0] ?? null,
  ...over,
});

test('a full netmap becomes the engine, filter and DNS config (self, duplicates and expired peers left out)', () => {
  const [a, b, c, d] = [node(1), node(2, { approvedRoutes: ['10.1.0.0/24'] }), node(3, { online: false }), node(4, { expired: true } as Partial<NodeView>)];
  const { backend, source, changes } = harness(a);
  source.pushFull(netmap(a, [a.view, b.view, c.view, d.view, { ...b.view, name: 'dup' }]));
  assert.deepEqual(changes[0], { full: true, peers: true, self: true, filter: true, dns: true, relays: undefined });
  const cfg = backend.engineConfig(input(a));
  assert.equal(cfg.privateKey, a.key);
  assert.deepEqual(
    cfg.peers.map((p) => [keyToBase64(p.publicKey), p.allowedIps, p.endpoint, p.initiate]),
    [
      [b.view.publicKey, ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128', '10.1.0.0/24'], '192.0.2.2:51820', true],
      [c.view.publicKey, ['100.64.0.3/32', 'fd7a:115c:a1e0::3/128'], '192.0.2.3:51820', false],
    ],
  );
  assert.deepEqual(backend.filterConfig(), { rules: RULES, localAddresses: ['100.64.0.1', 'fd7a:115c:a1e0::1'] });
  const dns = backend.dnsConfig()!;
  assert.deepEqual([dns.domain, dns.self.name, dns.peers.map((p) => p.name), dns.dns], ['mesh.test', 'n1', ['n2', 'n3'], DNS]);
  assert.equal(backend.findPeer('N2.mesh.test.')?.publicKey, b.view.publicKey);
  assert.equal(backend.findPeer('fd7a:115c:a1e0:0::3')?.name, 'n3');
  // The cache holds what came in, and reads back into the same state.
  const again = harness(a);
  again.source.pushFull(backend.netmap()!);
  assert.deepEqual(again.backend.engineConfig(input(a)), backend.engineConfig(input(a)));
});

test('older coordinators: no filter means allow all; before v5 forwarding stays open', () => {
  const [a, b] = [node(1), node(2)];
  const { backend, source } = harness(a);
  source.pushFull(netmap(a, [b.view], { version: 4, packetFilter: undefined }));
  const { rules } = backend.filterConfig();
  assert.deepEqual(rules, [
    { srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] },
    { srcs: ['0.0.0.0/0', '::/0'], dsts: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] },
  ]);
});

test('deltas: stale ones are ignored; upserts, expiry, removals, self, filter and DNS', () => {
  const [a, b, c] = [node(1), node(2), node(3)];
  const { backend, source, changes } = harness(a);
  source.pushFull(netmap(a, [b.view, c.view]));
  source.pushDelta({ seq: 10, upserts: [{ ...b.view, endpoints: [] }], removals: [] });
  assert.equal(changes[1], null, 'a delta already in the full netmap');
  source.pushDelta({ seq: 11, upserts: [{ ...b.view, lastSeen: '2026-01-02T00:00:00.000Z' }, a.view], removals: [] });
  assert.deepEqual(changes[2], { full: false, peers: true, self: false, filter: false, dns: false, relays: undefined });
  source.pushDelta({ seq: 12, upserts: [b.view], removals: ['not-a-peer'] });
  source.pushDelta({ seq: 13, upserts: [], removals: [] });
  assert.equal(changes[4]!.peers, false, 'an empty delta changes no peer');
  source.pushDelta({ seq: 14, upserts: [{ ...c.view, expired: true } as NodeView], removals: [b.view.publicKey], self: { ...a.view, ipv4: '100.64.0.99' }, packetFilter: [], dns: { ...DNS, magicDns: false } });
  assert.deepEqual(changes[5], { full: false, peers: true, self: true, filter: true, dns: true, relays: undefined });
  assert.deepEqual([...backend.peers.keys()], []);
  assert.deepEqual(backend.filterConfig(), { rules: [], localAddresses: ['100.64.0.99', 'fd7a:115c:a1e0::1'] });
  assert.equal(backend.dnsConfig()!.dns.magicDns, false);
  assert.equal(backend.netmap()!.seq, 14);
});

test('the engine config applied with Device.reconfigure: a delta touches only the peer it names', async () => {
  const clock = new FakeClock();
  const net = new FakeNetwork();
  const [a, b, c] = [node(1), node(2), node(3)];
  const devs = new Map<string, { dev: Device; tun: FakeTun }>();
  for (const n of [a, b, c]) {
    const tun = new FakeTun({ name: n.view.name });
    const dev = new Device({ tun, bind: net.bind(n.view.endpoints[0].split(':')[0]), clock, random: () => 0.5 });
    await dev.reconfigure({ privateKey: n.key, listenPort: 51820, peers: [] });
    await dev.start();
    devs.set(n.view.name, { dev, tun });
  }
  const A = devs.get('n1')!.dev;
  // b and c know a statically; a is configured from its netmap.
  for (const n of [b, c]) await devs.get(n.view.name)!.dev.reconfigure({ privateKey: n.key, peers: [{ publicKey: publicKeyFromPrivate(a.key), endpoint: '192.0.2.1:51820', allowedIps: ['100.64.0.1/32'] }] });
  const { backend, source } = harness(a);
  const apply = () => A.reconfigure(backend.engineConfig(input(a, { endpoint: (v, prev) => chooseEndpoint(v, prev, A.peerStatus(Buffer.from(v.publicKey, 'base64')), clock.now(), []) })));
  source.pushFull(netmap(a, [b.view, c.view].map((v) => ({ ...v, online: false }))));
  await apply();
  devs.get('n1')!.tun.inject(udp4('100.64.0.1', 1000, '100.64.0.2', 2000, Buffer.from('hi')));
  for (let i = 0; i < 10; i++) await net.flush();
  assert.equal(devs.get('n2')!.tun.written.length, 1, 'a reached b');
  const bKey = publicKeyFromPrivate(b.key);
  const session = A.peerStatus(bKey)!.sessionCreatedMs;
  assert.notEqual(session, null);

  clock.advance(5_000);
  source.pushDelta({ seq: 11, upserts: [{ ...c.view, online: false, approvedRoutes: ['10.3.0.0/24'], endpoints: ['192.0.2.33:51820'] }], removals: [] });
  await apply();
  assert.equal(A.peerStatus(bKey)!.sessionCreatedMs, session, "b's session survives a change to c");
  const cSnap = A.snapshot().peers.find((p) => keyToBase64(p.publicKey) === c.view.publicKey)!;
  assert.deepEqual([cSnap.endpoint, [...cSnap.allowedIps].sort()], ['192.0.2.33:51820', ['10.3.0.0/24', '100.64.0.3/32', 'fd7a:115c:a1e0::3/128']]);

  source.pushDelta({ seq: 12, upserts: [], removals: [c.view.publicKey] });
  await apply();
  assert.equal(A.peerStatus(publicKeyFromPrivate(c.key)), undefined, 'c torn down');
  assert.equal(A.peerStatus(bKey)!.sessionCreatedMs, session);
  for (const { dev } of devs.values()) await dev.close();
});

test('the in-memory source delivers what was pushed before start and reports only while connected', () => {
  const [a, b] = [node(1), node(2)];
  const source = new MemoryNetmapSource();
  source.pushFull(netmap(a, [b.view]));
  const backend = new NetmapBackend(a.view.publicKey);
  const seen: boolean[] = [];
  source.start({ onUpdate: (u) => void backend.apply(u), onConnectedChange: (c) => seen.push(c), onError: () => {} });
  assert.equal(backend.peers.size, 1);
  assert.equal(source.reportEndpoints(['192.0.2.1:51820']), true);
  source.setConnected(false);
  assert.equal(source.reportRoutes(['10.0.0.0/24']), false);
  assert.deepEqual([seen, source.endpointReports, source.routeReports], [[true, false], [['192.0.2.1:51820']], []]);
});
