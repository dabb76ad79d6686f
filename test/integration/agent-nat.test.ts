import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { fakeStunServer, FakeNatSite, installNat } from '../../src/nat/fake-nat.js';
import { waitFor } from '../helpers/wait.js';
import { formatStatus } from '../../src/agent/status.js';

// Agents with NAT traversal against the real coordinator (embedded relay on loopback,
// relay map in the netmap) over the in-memory network with simulated NATs and two
// STUN servers: the path each pair settles on, `status`/`ping` reporting, traffic on all.


describe('agents behind simulated NATs with the coordinator relay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-nat-'));
  const net = new FakeNetwork();
  const sites = [
    new FakeNatSite(net, 'eim', '10.1.0.', '198.51.100.1'),
    new FakeNatSite(net, 'eim', '10.2.0.', '198.51.100.2'),
    new FakeNatSite(net, 'edm', '10.3.0.', '198.51.100.3'),
    new FakeNatSite(net, 'edm', '10.4.0.', '198.51.100.4'),
    new FakeNatSite(net, 'blocked', '10.5.0.', '198.51.100.5'),
  ];
  installNat(net, sites);
  let coord: Coordinator;
  const nodes = new Map<string, InProcessNode>();

  before(async () => {
    for (const ip of ['192.0.2.1', '192.0.2.2']) await fakeStunServer(net, ip, 3478);
    mkdirSync(join(dir, 'server'), { recursive: true, mode: 0o700 });
    coord = createCoordinator({ stateDir: join(dir, 'server'), listen: '127.0.0.1:0', adminSocket: false, nat: { stunAdvertise: ['192.0.2.1:3478', '192.0.2.2:3478'] } });
    await coord.start();
    const authKey = (await createAuthKey(coord.store, { reusable: true, expirySeconds: 3600 }, Date.now())).key!;
    const spec: [string, string][] = [['eim1', '10.1.0.2'], ['eim2', '10.2.0.2'], ['edm1', '10.3.0.2'], ['edm2', '10.4.0.2'], ['blocked', '10.5.0.2']];
    for (const [name, ip] of spec) {
      const n = createInProcessNode(net, ip, {
        stateDir: join(dir, name), serverUrl: coord.url, authKey, hostname: name, localApi: false, endpointPollMs: 300,
        nat: { heartbeatMs: 300, trustMs: 1000, retryMs: 3000, netcheckIntervalMs: 60_000 },
      });
      await n.agent.start();
      nodes.set(name, n);
    }
    await waitFor(() => [...nodes.values()].every((n) => n.agent.peers.size === spec.length - 1), 3000);
  });

  after(async () => {
    for (const n of nodes.values()) await n.agent.stop();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('netcheck sees the NAT types; endpoints include the mapped address and the home relay', async () => {
    const n = (k: string) => nodes.get(k)!.agent;
    assert.ok(await waitFor(() => [...nodes.values()].every((x) => x.agent.nat?.report !== null), 8000), 'netcheck ran');
    assert.equal(n('eim1').nat!.report!.udp, true);
    assert.equal(n('eim1').nat!.report!.mappingVariesByDestIP, false);
    assert.equal(n('edm1').nat!.report!.mappingVariesByDestIP, true);
    assert.equal(n('blocked').nat!.report!.udp, false);
    assert.ok(await waitFor(() => n('eim2').peers.get(n('eim1').publicKey)?.endpoints.includes('relay:default') === true, 3000));
    assert.ok(n('eim2').peers.get(n('eim1').publicKey)!.endpoints.some((e) => e.startsWith('198.51.100.1:')));
  });

  test('every pair pings; EIM<->EIM goes direct, EDM<->EDM and UDP-blocked stay relayed with a reason', async () => {
    const all = [...nodes.entries()];
    for (const [an, a] of all)
      for (const [bn] of all) {
        if (an === bn) continue;
        let ok = false;
        for (let i = 0; i < 6 && !ok; i++) ok = await a.agent.ping(bn, 1500).then(() => true, () => false);
        assert.ok(ok, `${an} -> ${bn}`);
      }
    const path = (a: string, b: string) => nodes.get(a)!.agent.status().peers.find((p) => p.name === b)!;
    assert.ok(await waitFor(() => path('eim1', 'eim2').path === 'direct', 5000), JSON.stringify(path('eim1', 'eim2')));
    const r = await nodes.get('eim1')!.agent.ping('eim2', 2000);
    assert.equal(r.path, 'direct');
    assert.match(r.endpoint!, /^198\.51\.100\.2:/);
    for (const [a, b] of [['edm1', 'edm2'], ['blocked', 'eim1'], ['eim2', 'blocked']]) {
      const p = path(a, b);
      assert.equal(p.path, 'relay', `${a}->${b} ${JSON.stringify(p)}`);
      assert.equal(p.relay, 'default');
      assert.ok(p.pathReason, 'a reason is given');
    }
    assert.match(path('blocked', 'eim1').pathReason!, /UDP blocked/);
    const rr = await nodes.get('edm1')!.agent.ping('edm2', 2000);
    assert.equal(rr.path, 'relay');
    const table = formatStatus(nodes.get('edm1')!.agent.status());
    assert.match(table, /relay default \(/);
    assert.match(formatStatus(nodes.get('eim1')!.agent.status()), /direct 198\.51\.100\.2:/);
  });

  test('unauthenticated relay clients are refused', async () => {
    const { RelayClient } = await import('../../src/relay/client.js');
    const { generatePrivateKey } = await import('../../src/crypto/keys.js');
    const c = new RelayClient({ url: `${coord.url.replace('http', 'ws')}/relay`, privateKey: generatePrivateKey(), backoffInitialMs: 5000 });
    let failures = 0;
    const done = c.connect().catch(() => {});
    await waitFor(() => (failures = c.stats.authFailures) > 0 || c.state === 'connected', 3000);
    assert.notEqual(c.state, 'connected');
    assert.ok(failures > 0);
    await c.stop();
    await done;
  });
});
