// Protocol v8 resume against a real coordinator on 127.0.0.1: a stream that reconnects
// naming the last change it saw gets one delta with only what it missed; a policy edit
// in the gap, another epoch or a first connect get a full netmap; a malformed resume
// point is refused naming the header. The agent's ControlClient resumes by itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlClient } from '../../src/agent/control-client.js';
import { systemClock } from '../../src/clock.js';
import { generatePrivateKey } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import type { NetMap, ServerMessage } from '../../src/wire/control.js';
import { RESUME_HEADER } from '../../src/wire/version.js';
import { isUpsertOf, SimNode } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { waitFor } from '../helpers/wait.js';

type Delta = Extract<ServerMessage, { type: 'delta' }>;
const fullOf = (m: ServerMessage): NetMap => (m as Extract<ServerMessage, { type: 'full' }>).netmap;
const lastSeq = (msgs: ServerMessage[]): number => Math.max(...msgs.map((m) => (m.type === 'full' ? m.netmap.seq : m.type === 'delta' ? m.seq : -1)));

describe('map stream resume (v8)', () => {
  let t: TestCoordinator;
  let key: string;
  before(async () => {
    t = await startTestCoordinator({ ephemeralTimeoutMs: 600_000 });
    key = await t.authKey({ reusable: true });
  });
  after(() => t.stop());

  test('a short break resumes with only the missed changes', async () => {
    const a = await joined(t, key, 'ra');
    const b = await joined(t, key, 'rb');
    const c = await joined(t, key, 'rc');
    const still = await joined(t, key, 'rstill');
    await a.map.waitFor(isUpsertOf(still.node.publicKey));
    await t.c.registry.settled();
    const epoch = fullOf(a.map.messages[0]).epoch!;
    const seq = lastSeq(a.map.messages);
    await a.map.close();

    // The gap: an endpoint change, a removal and a join.
    b.map.send({ type: 'endpoints', endpoints: ['203.0.113.44:41641'] });
    await b.map.waitFor((m) => m.type === 'delta' && m.self?.endpoints[0] === '203.0.113.44:41641');
    await t.admin.request('DELETE', '/api/v1/admin/nodes/rc');
    const d = await joined(t, key, 'rd');
    await t.c.registry.settled();

    const resumed = t.c.hub.stats.resumed;
    const again = await a.node.openMap(undefined, `${epoch}.${seq}`);
    const first = (await again.waitFor(() => true)) as Delta;
    assert.equal(first.type, 'delta', 'no full netmap');
    assert.equal(t.c.hub.stats.resumed, resumed + 1);
    const up = new Map(first.upserts.map((u) => [u.publicKey, u]));
    assert.equal(up.get(b.node.publicKey)?.endpoints[0], '203.0.113.44:41641');
    assert.ok(up.has(d.node.publicKey), 'the node that joined');
    assert.ok(!up.has(still.node.publicKey), 'an unchanged peer is not resent');
    assert.deepEqual(first.removals, [c.node.publicKey]);
    assert.equal(first.self?.name, 'ra');
    assert.ok(Array.isArray(first.packetFilter));
    for (const m of [again, b.map, c.map, still.map, d.map]) await m.close();
    await t.c.registry.settled();
  });

  test('a policy edit in the gap, another epoch or a first connect get a full netmap', async () => {
    const a = await joined(t, key, 'fa');
    await t.c.registry.settled();
    const nm = fullOf(a.map.messages[0]);
    await a.map.close();
    await t.c.registry.settled();
    const other = await a.node.openMap(undefined, `0123456789abcdef.${nm.seq}`);
    assert.equal((await other.waitFor(() => true)).type, 'full');
    await other.close();
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{"acls":[{"action":"accept","src":["*"],"dst":["*:22"]}]}' });
    const edited = await a.node.openMap(undefined, `${nm.epoch}.${lastSeq(a.map.messages)}`);
    assert.equal((await edited.waitFor(() => true)).type, 'full');
    await edited.close();
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}' });
    await t.c.registry.settled();
  });

  test('a malformed resume point is refused naming the header', async () => {
    const a = await joined(t, key, 'ma');
    await a.map.close();
    for (const bad of ['', 'zz.1', '0123456789abcdef', '0123456789abcdef.-1', `0123456789abcdef.${'9'.repeat(20)}`]) {
      await assert.rejects(a.node.openMap(undefined, bad), (err: { status: number; body: { error: { field: string } } }) => err.status === 400 && err.body.error.field === RESUME_HEADER);
    }
    await t.c.registry.settled();
  });

  test('the agent client resumes by itself after its stream breaks', async () => {
    const peer = await joined(t, key, 'apeer');
    const priv = generatePrivateKey();
    const client = new ControlClient({ serverUrl: t.url, serverPublicKey: t.c.publicKey, privateKey: priv, clock: systemClock, logger: silentLogger, random: Math.random });
    const reg = await client.register({ hostname: 'agent', authKey: key });
    const got: ServerMessage[] = [];
    client.start({ onUpdate: (m) => got.push(m), onConnectedChange: () => {}, onError: () => {} });
    const extra: Awaited<ReturnType<SimNode['openMap']>>[] = [];
    try {
      assert.ok(await waitFor(() => got.some((m) => m.type === 'full'), 5000));
      const resumed = t.c.hub.stats.resumed;
      const before = got.length;
      // Break the agent's stream: four more streams of the same node evict its oldest.
      const twin = new SimNode(t.url, t.c.publicKey, Date.now, priv);
      for (let i = 0; i < 4; i++) extra.push(await twin.openMap());
      peer.map.send({ type: 'endpoints', endpoints: ['203.0.113.77:41641'] });
      assert.ok(await waitFor(() => t.c.hub.stats.resumed > resumed, 10_000), 'the client reconnected with a resume point');
      assert.ok(await waitFor(() => got.slice(before).some((m) => m.type === 'delta' && m.upserts.some((u) => u.publicKey === peer.node.publicKey && u.endpoints[0] === '203.0.113.77:41641')), 5000));
      assert.ok(!got.slice(before).some((m) => m.type === 'full'), 'no second full netmap');
      assert.equal(reg.node.name, 'agent');
    } finally {
      await client.stop();
      for (const m of [...extra, peer.map]) await m.close();
      await t.c.registry.settled();
    }
  });
});
