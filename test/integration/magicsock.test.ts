import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { FakeNetwork, type FakeBind } from '../../src/io/bind-fake.js';
import { ENGINE_FWMARK as ENGINE_MARK } from '../../src/agent/routing.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { PacketBatch } from '../../src/io/batch.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { Device } from '../../src/wireguard/device.js';
import { parsePrefix } from '../../src/net/prefix.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { DISCO_MAGIC } from '../../src/nat/disco.js';
import { fakeStunServer, FakeNatSite, installNat, type FakeNatKind } from '../../src/nat/fake-nat.js';
import { RelayServer } from '../../src/relay/server.js';
import { udp4 } from '../helpers/packets.js';
import { FakeClock } from '../../src/clock.js';
import { run, until } from '../helpers/fake-time.js';

// MagicBind over the in-memory network with simulated NATs (src/nat/fake-nat.ts) and a
// real relay on loopback: the path each pair reaches, traffic on every pair, the
// fallback to the relay when the direct path dies and the return to direct. The nodes
// run on a fake clock (helpers/fake-time.ts): a loaded machine slows the test, it does
// not change what happens within the protocol's deadlines.

const STUN = Endpoint.of('192.0.2.1', 3478);
const TIMING = { heartbeatMs: 200, trustMs: 700, retryMs: 1500 };

interface Node {
  name: string;
  key: PrivateKey;
  pub: string;
  magic: MagicBind;
  dev: Device;
  tun: FakeTun;
  ip: string;
  mesh: string;
  mapped: Endpoint | null;
  /** Birthday-method sockets opened so far. */
  extras: FakeBind[];
}


async function world(t: { after(fn: () => unknown): void }, spec: { name: string; site: string }[], sites: { id: string; kind: FakeNatKind; prefix: string; pub: string }[]) {
  const net = new FakeNetwork();
  const clock = new FakeClock();
  const natSites = new Map(sites.map((s) => [s.id, new FakeNatSite(net, s.kind, s.prefix, s.pub)]));
  installNat(net, [...natSites.values()]);
  await fakeStunServer(net, STUN.ip, STUN.port);
  const relay = new RelayServer();
  const port = await relay.listen('127.0.0.1', 0);
  const relays = [{ id: 'r1', url: `ws://127.0.0.1:${port}/relay` }];
  const nodes: Node[] = [];
  let hostNo = 2;
  for (const [i, s] of spec.entries()) {
    const site = sites.find((x) => x.id === s.site)!;
    const ip = `${site.prefix}${hostNo++}`;
    const key = generatePrivateKey();
    const tun = new FakeTun({ name: `wgt${i}` });
    const natKind = site.kind;
    const magic = new MagicBind({
      inner: net.bind(ip),
      privateKey: key,
      clock,
      ...TIMING,
      createExtraBind: () => {
        const b = net.bind(ip);
        n.extras.push(b);
        return b;
      },
      natInfo: () => ({ udp: natKind !== 'blocked', hard: natKind === 'edm' }),
      ownEndpoints: () => [Endpoint.of(ip, 51820), ...(n.mapped ? [n.mapped] : [])] });
    const dev = new Device({ tun, bind: magic, clock });
    dev.setPrivateKey(key);
    await dev.setListenPort(51820);
    await dev.start();
    dev.setFwmark(ENGINE_MARK);
    const n: Node = { name: s.name, key, pub: keyToBase64(publicKeyFromPrivate(key)), magic, dev, tun, ip, mesh: `100.64.0.${i + 1}`, mapped: null, extras: [] };
    magic.setRelays(relays, 'r1');
    let mapped: Endpoint | null | undefined;
    void magic.stun.binding(STUN, { rtoMs: 50, rc: 2, rm: 2 }).then(
      (r) => (mapped = r.mapped),
      () => (mapped = null), // UDP blocked
    );
    await run(clock, net, 5000, () => mapped !== undefined);
    n.mapped = mapped ?? null;
    nodes.push(n);
  }
  for (const a of nodes) {
    const synth = a.magic.setPeers(
      nodes.filter((b) => b !== a).map((b) => ({ publicKey: b.pub, endpoints: [`${b.ip}:51820`, ...(b.mapped ? [b.mapped.key] : [])], homeRelay: 'r1' })),
    );
    for (const b of nodes) {
      if (b === a) continue;
      const p = a.dev.addPeer(publicKeyFromPrivate(b.key));
      a.dev.allowedIps.insert(parsePrefix(`${b.mesh}/32`), p);
      p.endpoint = synth.get(b.pub)!;
    }
  }
  t.after(async () => {
    for (const n of nodes) {
      await n.dev.close().catch(() => {});
      await n.magic.shutdown();
    }
    await relay.stop();
  });
  return { net, clock, nodes, sites: natSites, relay };
}

function send(from: Node, to: Node, payload: string) {
  from.tun.inject(udp4(from.mesh, 1000, to.mesh, 2000, Buffer.from(payload)));
}

function got(n: Node, payload: string): boolean {
  return n.tun.written.some((p) => Buffer.from(p.subarray(28)).toString() === payload);
}

type World = Awaited<ReturnType<typeof world>>;

/** Sends a packet every 150 ms (fake) until one arrives or `ms` pass. */
async function traffic(w: World, a: Node, b: Node, tag: string, ms = 3000): Promise<boolean> {
  const start = w.clock.now();
  for (let i = 0; w.clock.now() - start < ms; i++) {
    send(a, b, `${tag}-${i}`);
    if (await until(w.clock, w.net, () => got(b, `${tag}-${i}`), 150)) return true;
  }
  return false;
}

test('path matrix over simulated NATs: direct where possible, relay otherwise, traffic on every pair', async (t) => {
  const w = await world(
    t,
    [
      { name: 'eim1', site: 's1' },
      { name: 'eim2', site: 's2' },
      { name: 'edm1', site: 's3' },
      { name: 'edm2', site: 's4' },
      { name: 'blocked', site: 's5' },
      { name: 'lan1', site: 's6' },
      { name: 'lan2', site: 's6' },
    ],
    [
      { id: 's1', kind: 'eim', prefix: '10.1.0.', pub: '198.51.100.1' },
      { id: 's2', kind: 'eim', prefix: '10.2.0.', pub: '198.51.100.2' },
      { id: 's3', kind: 'edm', prefix: '10.3.0.', pub: '198.51.100.3' },
      { id: 's4', kind: 'edm', prefix: '10.4.0.', pub: '198.51.100.4' },
      { id: 's5', kind: 'blocked', prefix: '10.5.0.', pub: '198.51.100.5' },
      { id: 's6', kind: 'eim', prefix: '10.6.0.', pub: '198.51.100.6' },
    ],
  );
  const { nodes } = w;
  const by = (n: string) => nodes.find((x) => x.name === n)!;
  assert.equal(by('blocked').mapped, null);
  assert.equal(by('eim1').mapped?.ip, '198.51.100.1');
  // every pair reachable (relay at once). A liveness check, not a latency one (that is
  // first-packet.test.ts, on a fake clock): the birthday sprays share this one event loop
  // with the real relay, so a loaded machine gets a generous deadline.
  for (const a of nodes)
    for (const b of nodes) {
      if (a === b) continue;
      assert.ok(await traffic(w, a, b, `${a.name}>${b.name}`, 10_000), `${a.name} -> ${b.name} delivers: ${JSON.stringify({ path: a.magic.path(b.pub), a: a.magic.stats, b: b.magic.stats })}`);
    }
  const expectDirect: [string, string][] = [
    ['eim1', 'eim2'],
    ['lan1', 'lan2'],
    ['eim1', 'lan1'],
  ];
  // EIM<->EDM: the birthday-paradox method (extra sockets on the EDM side, a spray of
  // random ports from the EIM side)
  expectDirect.push(['eim1', 'edm1'], ['edm2', 'lan2']);
  const expectRelay: [string, string][] = [
    ['edm1', 'edm2'],
    ['blocked', 'eim1'],
    ['blocked', 'edm1'],
  ];
  for (const [x, y] of expectDirect) {
    const a = by(x), b = by(y);
    assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct' && b.magic.path(a.pub).path === 'direct', 5000), `${x}<->${y} direct: ${JSON.stringify([a.magic.path(b.pub), a.magic.stats, b.magic.stats])}`);
  }
  const extras = by('edm1').extras;
  assert.ok(extras.length > 0 && extras.every((b) => b.mark === ENGINE_MARK), 'birthday sockets carry the engine mark (kept out of an exit-node tunnel)');
  // A hairpinned public path may confirm first; the LAN path must win soon after.
  const lanEp = `${by('lan2').ip}:51820`;
  assert.ok(await until(w.clock, w.net, () => by('lan1').magic.path(by('lan2').pub).endpoint === lanEp, 5000), `same LAN uses the LAN address: ${JSON.stringify(by('lan1').magic.path(by('lan2').pub))}`);
  await run(w.clock, w.net, 1500);
  for (const [x, y] of expectRelay) {
    const p = by(x).magic.path(by(y).pub);
    assert.equal(p.path, 'relay', `${x}->${y}: ${JSON.stringify(p)}`);
    assert.ok(p.reason && p.reason.length > 0);
  }
  assert.match(by('blocked').magic.path(by('eim1').pub).reason!, /UDP blocked|no reply/);
  for (const [x, y] of [...expectDirect, ...expectRelay]) assert.ok(await traffic(w, by(x), by(y), `again-${x}>${y}`), `${x} -> ${y} after paths settled`);
  const directTx = by('eim1').magic.stats.directTx;
  assert.ok(await traffic(w, by('eim1'), by('eim2'), 'count'));
  assert.ok(by('eim1').magic.stats.directTx > directTx, 'eim1 sends directly');
});

/** Nodes a and b, each behind its own endpoint-independent NAT. */
const twoEimSites = (t: { after(fn: () => unknown): void }) =>
  world(
    t,
    [
      { name: 'a', site: 's1' },
      { name: 'b', site: 's2' },
    ],
    [
      { id: 's1', kind: 'eim', prefix: '10.1.0.', pub: '198.51.100.1' },
      { id: 's2', kind: 'eim', prefix: '10.2.0.', pub: '198.51.100.2' },
    ],
  );

test('fallback: the direct path dies -> relay within 5 s, traffic continues, direct again later', async (t) => {
  const w = await twoEimSites(t);
  const { net, nodes } = w;
  const [a, b] = nodes;
  assert.ok(await traffic(w, a, b, 'first'), JSON.stringify({ a: a.magic.stats, b: b.magic.stats, pa: a.magic.path(b.pub), r: a.magic.relayState('r1') }));
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct', 5000));
  let cut = true;
  net.filter = (_pkt, from, to) => (cut && from.ip.startsWith('198.51.100.') && to.ip.startsWith('198.51.100.') ? 'drop' : 'pass');
  const t0 = w.clock.now();
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'relay', 5000), 'falls back to relay');
  const fallbackMs = w.clock.now() - t0;
  assert.ok(fallbackMs < 5000, `fell back in ${fallbackMs} ms`);
  assert.match(a.magic.path(b.pub).reason!, /stopped answering/);
  assert.ok(await traffic(w, a, b, 'during-cut'), 'traffic over the relay');
  cut = false;
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct', 8000), 'direct again after the retry');
  assert.ok(await traffic(w, a, b, 'after'));
});

test('roaming: a node whose address changes is reachable again within 5 s', async (t) => {
  const w = await twoEimSites(t);
  const { net, nodes } = w;
  const [a, b] = nodes;
  assert.ok(await traffic(w, a, b, 'before'));
  assert.ok(await traffic(w, b, a, 'beforeb'));
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct', 5000));
  // b moves from site s2's LAN to another host address of the same site (new NAT mapping)
  const inner = (b.magic as unknown as { opts: { inner: import('../../src/io/bind-fake.js').FakeBind } }).opts.inner;
  net.changeAddress(inner, '10.2.0.99');
  const t0 = w.clock.now();
  let ok = false;
  for (let i = 0; w.clock.now() - t0 < 5000 && !ok; i++) {
    send(a, b, `roam-${i}`);
    send(b, a, `roamb-${i}`);
    ok = await until(w.clock, w.net, () => got(b, `roam-${i}`) && got(a, `roamb-${i}`), 200);
  }
  assert.ok(ok, 'reachable again within 5 s ' + JSON.stringify({ a: a.magic.stats, b: b.magic.stats, pa: a.magic.path(b.pub), pb: b.magic.path(a.pub) }));
});

test('idle: no pings or relay traffic after 45 s without packets; the next packet arrives and restarts discovery', async (t) => {
  const w = await twoEimSites(t);
  const [a, b] = w.nodes;
  assert.ok(await traffic(w, a, b, 'warm'));
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct' && b.magic.path(a.pub).path === 'direct', 5000));
  // 45 s active window, plus WireGuard's passive keepalive (10 s after the last data).
  await run(w.clock, w.net, 70_000);
  const before = [a, b].map((n) => ({ ...n.magic.stats }));
  await run(w.clock, w.net, 60_000);
  for (const [i, n] of [a, b].entries()) {
    const s = n.magic.stats;
    assert.equal(s.discoTx - before[i].discoTx, 0, `${n.name}: no disco pings while idle`);
    assert.equal(s.relayTx - before[i].relayTx, 0, `${n.name}: no relay traffic while idle`);
    assert.equal(s.directTx - before[i].directTx, 0, `${n.name}: no WireGuard traffic while idle`);
  }
  assert.equal(a.magic.path(b.pub).path, 'direct', 'the last direct path is kept while idle');
  // The first packet: delivered at once (the last direct path and the relay), discovery starts.
  send(a, b, 'wake');
  const took = await run(w.clock, w.net, 2000, () => got(b, 'wake'));
  assert.ok(got(b, 'wake') && took <= 50, `arrived after ${took} ms`);
  assert.ok(a.magic.stats.discoTx > before[0].discoTx, 'discovery restarted');
  // Active again: 'direct' now means a pong since the wake, not the idle path kept.
  assert.ok(await until(w.clock, w.net, () => a.magic.path(b.pub).path === 'direct', 1000), 'direct path confirmed again');
});

test('disco from unknown or forged senders, junk and bad STUN on the port are dropped and counted', async (t) => {
  const w = await world(t, [{ name: 'a', site: 's1' }], [{ id: 's1', kind: 'eim', prefix: '10.1.0.', pub: '198.51.100.1' }]);
  const { net, nodes } = w;
  const [a] = nodes;
  const attacker = net.bind('10.1.0.66');
  await attacker.open(0, { onReceive() {} });
  const b = new PacketBatch(4, 2048);
  const before = { ...a.magic.stats };
  const forged = new Uint8Array(120);
  forged.set(DISCO_MAGIC);
  b.push(forged);
  b.push(Uint8Array.from([0x99, 1, 2, 3]));
  const wg = new Uint8Array(148);
  wg[0] = 1; // a WireGuard initiation from a source no probe confirmed
  b.push(wg);
  attacker.send(b, Endpoint.of(a.ip, 51820));
  await run(w.clock, net, 20);
  assert.equal(a.magic.stats.discoBad, before.discoBad + 1);
  assert.equal(a.magic.stats.malformed, before.malformed + 1);
  assert.equal(a.magic.stats.wgUnknownSource, before.wgUnknownSource + 1);
});
