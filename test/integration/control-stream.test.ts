import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, before, describe, test } from 'node:test';
import { createCoordinator } from '../../src/control/server.js';
import type { NetMap, ServerMessage } from '../../src/wire/control.js';
import { isRemovalOf, isUpsertOf, SimNode, type MapClient } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fullOf = (m: MapClient): NetMap => (m.messages[0] as Extract<ServerMessage, { type: 'full' }>).netmap;
const isError = (code: string) => (m: ServerMessage): boolean => m.type === 'error' && m.code === code;

describe('netmap stream', () => {
  let t: TestCoordinator;
  let key: string;
  before(async () => {
    t = await startTestCoordinator({ ephemeralTimeoutMs: 600_000 });
    key = await t.authKey({ reusable: true });
  });
  after(() => t.stop());

  test('full map first, then deltas for registration, endpoints, disconnect, removal', async () => {
    const a = await joined(t, key, 'alpha');
    const b = await joined(t, key, 'beta');
    assert.equal(fullOf(a.map).self.name, 'alpha');
    assert.equal(fullOf(a.map).domain, 'weft.internal');
    assert.ok(fullOf(b.map).peers.some((p) => p.publicKey === a.node.publicKey && p.online));
    // a learns about b (registration, then b's stream coming up).
    await a.map.waitFor(isUpsertOf(b.node.publicKey), 5000);

    const c = t.node();
    await c.register({ hostname: 'gamma', authKey: key, endpoints: ['198.51.100.7:41641'] });
    for (const m of [a.map, b.map]) await m.waitFor(isUpsertOf(c.publicKey, (v) => v.name === 'gamma'), 5000);

    a.map.send({ type: 'endpoints', endpoints: ['203.0.113.5:41641', '[2001:db8::5]:41641'] });
    const seen = await b.map.waitFor(isUpsertOf(a.node.publicKey, (v) => v.endpoints.length === 2), 5000);
    assert.deepEqual((seen as Extract<ServerMessage, { type: 'delta' }>).upserts[0].endpoints, ['203.0.113.5:41641', '[2001:db8::5]:41641']);
    await a.map.waitFor((m) => m.type === 'delta' && m.self?.endpoints.length === 2, 5000);

    const before = b.map.messages.length;
    await a.map.close();
    await b.map.waitFor((m) => b.map.messages.indexOf(m) >= before && isUpsertOf(a.node.publicKey)(m), 5000);

    await t.admin.request('DELETE', '/api/v1/admin/nodes/gamma');
    await b.map.waitFor(isRemovalOf(c.publicKey), 5000);
    const seqs = b.map.messages.filter((m) => m.type === 'delta').map((m) => (m as { seq: number }).seq);
    assert.deepEqual([...seqs].sort((x, y) => x - y), seqs, 'seq increases');
    await b.map.close();
    await t.c.registry.settled();
  });

  test('invalid client messages get an error message and the stream keeps working', async () => {
    const a = await joined(t, key, 'fuzzy');
    const bad: (string | Buffer)[] = [
      'not json', '[]', 'null', '42', '{"type":"nope"}', '{"type":"ping"}', '{"type":"ping","id":"x"}', '{"type":"ping","id":1,"x":2}',
      '{"type":"endpoints"}', '{"type":"endpoints","endpoints":"x"}', '{"type":"endpoints","endpoints":["bad"]}',
      JSON.stringify({ type: 'endpoints', endpoints: Array(40).fill('1.2.3.4:5') }), Buffer.from([0xff, 0x00]),
    ];
    for (const msg of bad) a.map.ws.send(msg, { binary: Buffer.isBuffer(msg) });
    a.map.send({ type: 'ping', id: 7 });
    await a.map.waitFor((m) => m.type === 'pong' && m.id === 7);
    const errors = a.map.messages.filter((m) => m.type === 'error');
    assert.equal(errors.length, bad.length);
    assert.ok(errors.every((e) => e.type === 'error' && /^ERR_/.test(e.code)));
    assert.ok(errors.some(isError('ERR_INVALID_ENDPOINT')));
    // Oversized frames close the stream (ws maxPayload) without touching the server.
    const closed = new Promise<number>((resolve) => a.map.ws.once('close', (code) => resolve(code)));
    a.map.ws.send('x'.repeat(70 * 1024));
    assert.equal(await closed, 1009);
    assert.equal((await a.node.register({})).status, 200, 'server still serves');
    await t.c.registry.settled();
  });

  test('fuzz: arbitrary client messages never break the stream or the server', async () => {
    const a = await joined(t, key, 'fuzzed');
    let id = 1000;
    const anyMessage = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ type: fc.constantFrom('ping', 'endpoints', 'full', 'delta'), id: fc.anything(), endpoints: fc.anything() }, { requiredKeys: ['type'] }).map((m) => JSON.stringify(m)),
      fc.record({ type: fc.constant('endpoints'), endpoints: fc.array(fc.oneof(fc.string(), fc.ipV4().map((ip) => `${ip}:1`), fc.ipV6().map((ip) => `[${ip}]:2`)), { maxLength: 40 }) }).map((m) => JSON.stringify(m)),
    );
    await fc.assert(
      fc.asyncProperty(anyMessage, async (msg) => {
        a.map.ws.send(msg);
        const pingId = ++id;
        a.map.send({ type: 'ping', id: pingId });
        await a.map.waitFor((m) => m.type === 'pong' && m.id === pingId, 2000);
      }),
      { numRuns: 150 },
    );
    assert.equal(a.map.ws.readyState, a.map.ws.OPEN);
    await a.map.close();
    await t.c.registry.settled();
  });

  test('online/offline flips with the clock; ephemeral nodes are deleted when offline too long', async () => {
    const watcher = await joined(t, key, 'watcher');
    const ephKey = await t.authKey({ reusable: true, ephemeral: true });
    const eph = await joined(t, ephKey, 'temp');
    await watcher.map.waitFor(isUpsertOf(eph.node.publicKey, (v) => v.online && v.ephemeral));
    await eph.map.close();
    await t.c.registry.settled();

    t.clock.advance(125_000);
    await watcher.map.waitFor(isUpsertOf(eph.node.publicKey, (v) => !v.online), 5000);
    assert.equal((await t.admin.request<{ online: boolean }>('GET', '/api/v1/admin/nodes/temp')).online, false);

    t.clock.advance(600_000);
    await watcher.map.waitFor(isRemovalOf(eph.node.publicKey), 5000);
    await t.c.registry.settled();
    await assert.rejects(t.admin.request('GET', '/api/v1/admin/nodes/temp'), (e: { code: string }) => e.code === 'ERR_NODE_NOT_FOUND');
    // The watcher keeps its stream, so stays online however long the clock runs.
    assert.equal((await t.admin.request<{ online: boolean }>('GET', '/api/v1/admin/nodes/watcher')).online, true);
    await watcher.map.close();
    await t.c.registry.settled();
  });

  test('logout and admin removal end the node\'s own stream and tell every peer', async () => {
    const a = await joined(t, key, 'stayer');
    const b = await joined(t, key, 'goer');
    const c = await joined(t, key, 'kicked');
    const closedB = new Promise((r) => b.map.ws.once('close', r));
    assert.equal((await b.node.logout()).status, 200);
    await a.map.waitFor(isRemovalOf(b.node.publicKey), 5000);
    await b.map.waitFor(isError('ERR_NODE_REMOVED'));
    await closedB;
    await t.admin.request('DELETE', '/api/v1/admin/nodes/kicked');
    await a.map.waitFor(isRemovalOf(c.node.publicKey), 5000);
    await c.map.waitFor(isError('ERR_NODE_REMOVED'));
    await a.map.close();
    await t.c.registry.settled();
  });

  test('node expiry ends the stream and shows the node expired to peers', async () => {
    const t2 = await startTestCoordinator({ nodeExpiryMs: 3_600_000 });
    try {
      const k = await t2.authKey({ reusable: true });
      const a = await joined(t2, k, 'a');
      const b = await joined(t2, k, 'b');
      t2.clock.advance(3_600_000 + 10_000);
      await b.map.waitFor(isError('ERR_NODE_EXPIRED'), 5000);
      await a.map.waitFor(isError('ERR_NODE_EXPIRED'), 5000);
      await t2.c.registry.settled();
    } finally {
      await t2.stop();
    }
  });
});

test('stop() leaves no handles behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-handles-'));
  const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const c = createCoordinator({ stateDir: dir, listen: '127.0.0.1:0', sweepIntervalMs: 50 });
  await c.start();
  const { AdminClient } = await import('../../src/control/admin-client.js');
  const admin = new AdminClient({ socketPath: c.adminSocketPath! });
  const { key } = await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true });
  const n = new SimNode(c.url, c.publicKey);
  await n.register({ authKey: key });
  const map = await n.openMap();
  await map.waitFor((m) => m.type === 'full');
  await c.stop();
  const deadline = Date.now() + 3000;
  let now = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  while (now.length > baseline && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  }
  assert.ok(now.length <= baseline, `left behind: ${now.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
});
