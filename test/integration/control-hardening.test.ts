// Issue 10, findings 5, 6 and 7 (control side), against a real coordinator on 127.0.0.1:
// slow clients are cut at the HTTP timeouts, one node cannot hold unbounded streams or
// write endpoints at its own pace, and v7 answers and streams are authenticated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/clock.js';
import { keyFromBase64, generatePrivateKey } from '../../src/crypto/keys.js';
import { ControlClient } from '../../src/agent/control-client.js';
import { LocalApi } from '../../src/agent/local-api.js';
import { createAgent } from '../../src/agent/agent.js';
import { nodeAuthKey, sealFrame, sessionKeys, signNodeRequest } from '../../src/wire/node-auth.js';
import { SEALED_VERSION } from '../../src/wire/version.js';
import { MAX_STREAMS_PER_NODE } from '../../src/control/stream.js';
import { UPDATE_BURST } from '../../src/control/coalesce.js';
import type { ServerMessage } from '../../src/wire/control.js';
import { RelayServer } from '../../src/relay/server.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode } from '../../src/lab/in-process.js';
import { isUpsertOf, type MapClient } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { StubCoordinator } from '../helpers/stub-coordinator.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LIMITS = { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, idleTimeoutMs: 5_000, maxConnections: 64 };

/**
 * A slowloris client: sends `head` then one more byte every 200 ms (so no idle timeout
 * fires) and resolves with how long the server kept the connection open. With `head`
 * null it connects and stays silent.
 */
function slowloris(target: { port: number } | { path: string }, head: string | null, capMs: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect('port' in target ? { host: '127.0.0.1', port: target.port } : { path: target.path }, () => head !== null && s.write(head));
    const drip = setInterval(() => head !== null && s.write('x'), 200);
    const cap = setTimeout(() => s.destroy(), capMs);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(drip);
      clearTimeout(cap);
      resolve(Date.now() - t0);
    });
  });
}

const HALF_HEADERS = 'GET /api/v1/key HTTP/1.1\r\nHost: x\r\nX-Slow: ';
const HALF_BODY = 'POST /api/v1/admin/authkeys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"';

describe('finding 5: slow clients', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator({ httpLimits: LIMITS });
  });
  after(() => t.stop());

  test('silent connections, half-sent headers and half-sent bodies are closed at the header and request timeouts', async () => {
    const port = Number(new URL(t.url).port);
    const [silent, headers, body] = await Promise.all([
      slowloris({ port }, null, 10_000),
      slowloris({ port }, HALF_HEADERS, 10_000),
      slowloris({ port }, HALF_BODY, 10_000),
    ]);
    // The check runs every 250 ms; allow that and a loaded machine's scheduling.
    assert.ok(silent < LIMITS.headersTimeoutMs + 1_500, `silent: closed after ${silent} ms`);
    assert.ok(headers >= LIMITS.headersTimeoutMs && headers < LIMITS.headersTimeoutMs + 1_500, `headers: closed after ${headers} ms`);
    assert.ok(body >= LIMITS.requestTimeoutMs && body < LIMITS.requestTimeoutMs + 1_500, `body: closed after ${body} ms`);
    const admin = await slowloris({ path: t.c.adminSocketPath! }, HALF_HEADERS, 10_000);
    assert.ok(admin < LIMITS.headersTimeoutMs + 1_500, `admin socket: closed after ${admin} ms`);
  });

  test('an idle connection is closed; a map stream outlives the request timeout', async () => {
    const port = Number(new URL(t.url).port);
    const a = await joined(t, await t.authKey(), 'streamer');
    // One request, then silence on the kept-alive connection.
    const idle = await new Promise<number>((resolve) => {
      let t0 = 0;
      const s = connect({ host: '127.0.0.1', port }, () => s.write('GET /api/v1/key HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.once('data', () => (t0 = Date.now()));
      s.on('close', () => resolve(Date.now() - t0));
    });
    assert.ok(idle >= LIMITS.idleTimeoutMs - 100 && idle < LIMITS.idleTimeoutMs + 1_500, `idle: closed after ${idle} ms`);
    assert.equal(a.map.ws.readyState, WebSocket.OPEN, 'the stream is past every timeout and still open');
    a.map.send({ type: 'ping', id: 1 });
    await a.map.waitFor((m) => m.type === 'pong' && m.id === 1);
    await a.map.close();
  });

  test('connections beyond the cap are refused at accept', async () => {
    const port = Number(new URL(t.url).port);
    const held = await Promise.all(
      Array.from({ length: LIMITS.maxConnections }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
        const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
      })),
    );
    await sleep(100);
    const extra = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.on('close', () => resolve(Date.now() - t0));
    });
    assert.ok(extra < 1_000, `the connection over the cap was closed after ${extra} ms`);
    for (const s of held) s.destroy();
    await sleep(100);
    const ok = await fetch(`${t.url}/api/v1/key`);
    assert.equal(ok.status, 200, 'served again once connections are released');
  });

  test('the standalone relay and the agent local API cut slow clients at the default 10 s', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-slow-'));
    const relay = new RelayServer();
    const port = await relay.listen('127.0.0.1', 0);
    const api = new LocalApi(join(dir, 'weft.sock'), { status: () => { throw new Error('not reached'); }, ping: async () => { throw new Error('not reached'); }, down: async () => {}, setPrefs: async () => { throw new Error('not reached'); }, setTunnel: async () => { throw new Error('not reached'); } }, silentLogger);
    await api.start();
    try {
      const [r, l] = await Promise.all([slowloris({ port }, HALF_HEADERS, 20_000), slowloris({ path: join(dir, 'weft.sock') }, HALF_HEADERS, 20_000)]);
      assert.ok(r >= 10_000 && r < 12_000, `relay: closed after ${r} ms`);
      assert.ok(l >= 10_000 && l < 12_000, `local API: closed after ${l} ms`);
    } finally {
      await api.stop();
      await relay.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('finding 6: insider floods; finding 7: authenticated answers and streams', () => {
  let t: TestCoordinator;
  let key: string;
  before(async () => {
    t = await startTestCoordinator();
    key = await t.authKey();
  });
  after(() => t.stop());

  test(`a node holds at most ${MAX_STREAMS_PER_NODE} map streams: a new one closes the oldest, counted`, async () => {
    const a = await joined(t, key, 'greedy');
    const extra: MapClient[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_NODE + 2; i++) {
      const m = await a.node.openMap();
      await m.waitFor((x) => x.type === 'full');
      extra.push(m);
    }
    const all = [a.map, ...extra];
    const closed = all.slice(0, 3);
    for (const m of closed) {
      await m.waitFor((x) => x.type === 'error' && x.code === 'ERR_TOO_MANY_STREAMS');
      assert.ok(await waitFor(() => m.ws.readyState === WebSocket.CLOSED, 2000));
    }
    assert.ok(all.slice(3).every((m) => m.ws.readyState === WebSocket.OPEN));
    assert.equal(t.c.hub.stats.evicted, 3);
    for (const m of all) await m.close();
    await t.c.registry.settled();
  });

  test(`endpoint updates are coalesced: a burst of ${UPDATE_BURST} is written at once, then the latest once per interval`, async () => {
    const a = await joined(t, key, 'chatty');
    const b = await joined(t, key, 'watcher');
    const ep = (i: number): string => `198.51.100.${1 + (i % 200)}:${1000 + i}`;
    const flood = 2_000;
    const endpointsOf = async (): Promise<string> => (await t.admin.request<{ endpoints: string[] }>('GET', '/api/v1/admin/nodes/chatty')).endpoints[0];
    for (let i = 0; i < flood; i++) a.map.send({ type: 'endpoints', endpoints: [ep(i)] });
    a.map.send({ type: 'ping', id: 9 });
    await a.map.waitFor((m) => m.type === 'pong' && m.id === 9);
    await b.map.waitFor(isUpsertOf(a.node.publicKey, (v) => v.endpoints[0] === ep(UPDATE_BURST - 1)));
    await t.c.registry.settled();
    const upsertsOfA = (): number => b.map.messages.filter(isUpsertOf(a.node.publicKey, (v) => v.endpoints[0]?.startsWith('198.51.100.'))).length;
    // Writes acknowledged in one turn reach a stream as one folded delta (stream-outbox.ts).
    const burst = upsertsOfA();
    assert.ok(burst >= 1 && burst <= UPDATE_BURST, `the burst was written and fanned out, nothing more (${burst} deltas)`);
    assert.equal(t.c.hub.stats.coalesced, flood - UPDATE_BURST - 1, 'the rest waited and were replaced');
    assert.equal(await endpointsOf(), ep(UPDATE_BURST - 1), 'nothing more written before the interval');
    t.clock.advance(1_000);
    await b.map.waitFor(isUpsertOf(a.node.publicKey, (v) => v.endpoints[0] === ep(flood - 1)));
    await t.c.registry.settled();
    assert.equal(upsertsOfA(), burst + 1, 'one more write and fan-out for the whole rest of the flood');
    assert.equal(await endpointsOf(), ep(flood - 1), 'the latest won');
    await a.map.close();
    await b.map.close();
    await t.c.registry.settled();
  });

  // Finding 7: v7 answers and streams are authenticated.
  test('the agent client registers and streams sealed frames with the real coordinator', async () => {
    const peer = await joined(t, key, 'peer');
    const client = new ControlClient({ serverUrl: t.url, serverPublicKey: t.c.publicKey, privateKey: generatePrivateKey(), clock: systemClock, logger: silentLogger, random: Math.random });
    const reg = await client.register({ hostname: 'sealed', authKey: key });
    assert.equal(reg.node.name, 'sealed');
    const got: ServerMessage[] = [];
    client.start({ onUpdate: (m) => got.push(m), onConnectedChange: () => {}, onError: () => {} });
    try {
      assert.ok(await waitFor(() => got.some((m) => m.type === 'full'), 5000), 'full netmap over the sealed stream');
      assert.ok(client.reportEndpoints(['203.0.113.9:41641']));
      await peer.map.waitFor(isUpsertOf(reg.node.publicKey, (v) => v.endpoints[0] === '203.0.113.9:41641'));
    } finally {
      await client.stop();
      await peer.map.close();
      await t.c.registry.settled();
    }
  });

  test('a v7 stream closes on a frame that fails its MAC (4401), and the version header cannot override the signed one', async () => {
    const n = t.node();
    await n.register({ hostname: 'framed', authKey: key });
    const nonce = 'AAAAAAAAAAAAAAAA';
    const k = nodeAuthKey(n.priv, keyFromBase64(t.c.publicKey))!;
    const auth = signNodeRequest(k, keyFromBase64(n.publicKey), 'GET', '/api/v1/map', new Uint8Array(0), Math.floor(t.clock.wallNow() / 1000), { nonce, version: SEALED_VERSION });
    // An on-path rewrite of the unsigned header to an old version is ignored.
    const ws = new WebSocket(t.url.replace('http', 'ws') + '/api/v1/map', { headers: { authorization: auth, 'weft-protocol-version': '4' } });
    const frames: Buffer[] = [];
    ws.on('message', (d, isBinary) => {
      assert.ok(isBinary, 'v7 frames are binary');
      frames.push(d as Buffer);
    });
    await new Promise((r) => ws.once('open', r));
    const keys = sessionKeys(k, nonce);
    ws.send(sealFrame(keys.up, 0, JSON.stringify({ type: 'ping', id: 1 })));
    assert.ok(await waitFor(() => frames.length >= 2, 3000), 'full and pong');
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(sealFrame(keys.up, 0, JSON.stringify({ type: 'ping', id: 2 }))); // replayed counter
    assert.equal(await closed, 4401);
    assert.equal(t.c.hub.stats.badFrames, 1);
    await t.c.registry.settled();
  });
});

describe('finding 7: the agent side', () => {
  test('a changed server key is refused at registration until re-pinned; plain http off loopback is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-pin-'));
    const first = new StubCoordinator();
    await first.start();
    const port = Number(new URL(first.url).port);
    const net = new FakeNetwork();
    const opts = { stateDir: join(dir, 'a'), serverUrl: first.url, authKey: 'k', hostname: 'a', localApi: false };
    try {
      const a = createInProcessNode(net, '10.8.3.1', opts);
      await a.agent.start();
      await a.agent.stop();
      await first.stop();
      // The coordinator comes back at the same address with another key (reinstalled, or an impostor).
      const second = new StubCoordinator();
      await second.start('127.0.0.1', port);
      try {
        const moved = createInProcessNode(net, '10.8.3.1', { ...opts, resetServerKey: false });
        rmSync(join(dir, 'a', 'state.json'));
        await assert.rejects(moved.agent.start(), { code: 'ERR_SERVER_KEY_CHANGED' });
        const repinned = createInProcessNode(net, '10.8.3.1', { ...opts, resetServerKey: true });
        await repinned.agent.start();
        assert.equal(second.registrations, 1);
        await repinned.agent.stop();
      } finally {
        await second.stop();
      }
      const insecure = createAgent({ stateDir: join(dir, 'b'), serverUrl: 'http://192.0.2.1:8080', authKey: 'k' });
      await assert.rejects(insecure.start(), { code: 'ERR_INSECURE_SERVER_URL' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the admin socket, database and server key are created 0600 whatever the umask', async () => {
    const old = process.umask(0);
    try {
      const t = await startTestCoordinator();
      try {
        assert.equal(statSync(t.c.adminSocketPath!).mode & 0o777, 0o600);
        assert.equal(statSync(join(t.dir, 'state', 'weft.db')).mode & 0o777, 0o600);
        assert.equal(statSync(join(t.dir, 'state', 'server.key')).mode & 0o777, 0o600);
      } finally {
        await t.stop();
      }
    } finally {
      process.umask(old);
    }
  });
});
