import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { generatePrivateKey, publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../../src/crypto/keys.js';
import { RelayServer } from '../../src/relay/server.js';
import { RelayClient } from '../../src/relay/client.js';
import { once } from 'node:events';
import { weftRelayCli, relayRunning, stopChild } from '../helpers/relay-cli.js';
import { MAX_FRAME_SIZE, CLOSE_AUTH_FAILED, encodeFrame, parseFrame, relayAuthKey, relayProof, PEER_GONE_DISCONNECTED, PEER_GONE_NOT_HERE } from '../../src/wire/relay.js';

// Relay server and clients over 127.0.0.1 with real WebSockets.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPWrap' || r === 'TCPServerWrap').length;

interface Peer {
  key: PrivateKey;
  pub: PublicKey;
  client: RelayClient;
  got: Array<{ src: string; data: string }>;
  gone: Array<{ key: string; reason: number }>;
}

function peer(url: string, extra: { backoffMaxMs?: number } = {}): Peer {
  const key = generatePrivateKey();
  const p: Peer = { key, pub: publicKeyFromPrivate(key), got: [], gone: [], client: undefined as unknown as RelayClient };
  p.client = new RelayClient({
    url,
    privateKey: key,
    backoffInitialMs: 50,
    backoffMaxMs: extra.backoffMaxMs ?? 500,
    onPacket: (src, pkt) => p.got.push({ src: Buffer.from(src).toString('hex'), data: Buffer.from(pkt).toString() }),
    onPeerGone: (k, reason) => p.gone.push({ key: Buffer.from(k).toString('hex'), reason }),
  });
  return p;
}
const hexOf = (k: Uint8Array) => Buffer.from(k).toString('hex');

/** A hand-driven client that completes the handshake (or not) to poke at the server. */
async function rawClient(url: string, key: PrivateKey | null, wrongProof = false): Promise<{ ws: WebSocket; closed: Promise<number>; authed: Promise<void> }> {
  const ws = new WebSocket(url);
  const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)));
  let onAuthed = (): void => {};
  const authed = new Promise<void>((res, rej) => {
    onAuthed = res;
    ws.on('close', (code) => rej(new Error(`closed (${code}) before ServerInfo`)));
  });
  authed.catch(() => {}); // only some callers wait for it
  ws.on('error', () => {});
  ws.on('message', (d: Buffer) => {
    const f = parseFrame(d);
    if (f?.type === 'serverInfo') onAuthed();
    if (f?.type !== 'serverHello' || !key) return;
    const pub = publicKeyFromPrivate(key);
    const proof = relayProof(relayAuthKey(key, f.serverKey)!, f.challenge, f.serverKey, pub);
    if (wrongProof) proof[0] ^= 1;
    ws.send(encodeFrame({ type: 'clientAuth', clientKey: pub, proof }));
  });
  await new Promise((res) => ws.once('open', res));
  return { ws, closed, authed };
}

test('two clients exchange packets both ways; peer-gone on unknown and departed peers; ping measures latency', async (t) => {
  const before = tcpHandles();
  const server = new RelayServer();
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const a = peer(url);
  t.after(() => a.client.stop());
  const b = peer(url);
  t.after(() => b.client.stop());
  await Promise.all([a.client.connect(), b.client.connect()]);
  assert.equal(server.clientCount, 2);
  assert.deepEqual(a.client.serverKey, server.publicKey);

  assert.ok(a.client.send(b.pub, Buffer.from('hello b')));
  assert.ok(b.client.send(a.pub, Buffer.from('hello a')));
  await until(() => a.got.length === 1 && b.got.length === 1);
  assert.deepEqual(b.got[0], { src: hexOf(a.pub), data: 'hello b' });
  assert.deepEqual(a.got[0], { src: hexOf(b.pub), data: 'hello a' });
  assert.equal(server.stats.packetsForwarded, 2);

  const rtt = await a.client.ping();
  assert.ok(rtt >= 0 && rtt < 1000);
  assert.equal(a.client.latencyMs, rtt);

  const stranger = publicKeyFromPrivate(generatePrivateKey());
  a.client.send(stranger, Uint8Array.of(1));
  await until(() => a.gone.length === 1);
  assert.deepEqual(a.gone[0], { key: hexOf(stranger), reason: PEER_GONE_NOT_HERE });

  await b.client.stop();
  await until(() => a.gone.length === 2);
  assert.deepEqual(a.gone[1], { key: hexOf(b.pub), reason: PEER_GONE_DISCONNECTED });
  assert.equal(b.client.send(a.pub, Uint8Array.of(1)), false);

  await a.client.stop();
  await server.stop();
  await until(() => tcpHandles() === before, 1000);
});

test('unauthenticated clients are refused and counted: wrong proof, data before auth, silence', async (t) => {
  const server = new RelayServer({ authTimeoutMs: 200 });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;

  const wrong = await rawClient(url, generatePrivateKey(), true);
  assert.equal(await wrong.closed, CLOSE_AUTH_FAILED);

  const eager = await rawClient(url, null);
  eager.ws.send(encodeFrame({ type: 'sendPacket', key: new Uint8Array(32).fill(9), packet: Uint8Array.of(1) }));
  assert.equal(await eager.closed, CLOSE_AUTH_FAILED);

  const silent = await rawClient(url, null);
  assert.equal(await silent.closed, CLOSE_AUTH_FAILED);

  assert.equal(server.stats.refused, 3);
  assert.equal(server.stats.accepted, 0);
  await server.stop();
});

test('authorize hook refuses keys it does not know; the client counts auth failures and retries', async (t) => {
  const allowed = generatePrivateKey();
  const server = new RelayServer({ authorize: (k) => Buffer.from(k).equals(publicKeyFromPrivate(allowed)) });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const intruder = peer(url);
  t.after(() => intruder.client.stop());
  void intruder.client.connect().catch(() => {});
  await until(() => intruder.client.stats.authFailures >= 2);
  assert.equal(intruder.client.state, 'connecting');
  const ok = new RelayClient({ url, privateKey: allowed });
  t.after(() => ok.stop());
  await ok.connect();
  await Promise.all([intruder.client.stop(), ok.stop()]);
  assert.ok(server.stats.refused >= 2);
  await server.stop();
});

test('malformed frames from an authenticated client are dropped and counted; the connection survives', async (t) => {
  const server = new RelayServer();
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const raw = await rawClient(url, generatePrivateKey());
  await until(() => server.clientCount === 1);
  raw.ws.send(Buffer.from([0xff, 1, 2, 3]));
  raw.ws.send(Buffer.from([0x04, 1, 2]));
  raw.ws.send('text frames are not the protocol');
  raw.ws.send(encodeFrame({ type: 'recvPacket', key: new Uint8Array(32), packet: new Uint8Array(1) }));
  await until(() => server.stats.malformedFrames === 4);
  assert.equal(server.clientCount, 1);
  // Over the maximum frame size: the connection is closed (1009), counted.
  raw.ws.send(new Uint8Array(MAX_FRAME_SIZE + 1));
  assert.equal(await raw.closed, 1009);
  await until(() => server.stats.oversizeFrames === 1 && server.clientCount === 0);
  await server.stop();
});

test('relay restart: clients reconnect and traffic resumes within 5 s', async (t) => {
  const first = new RelayServer();
  t.after(() => first.stop());
  const port = await first.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const a = peer(url, { backoffMaxMs: 1000 });
  t.after(() => a.client.stop());
  const b = peer(url, { backoffMaxMs: 1000 });
  t.after(() => b.client.stop());
  await Promise.all([a.client.connect(), b.client.connect()]);
  await first.stop();
  await until(() => a.client.state === 'connecting' && b.client.state === 'connecting');
  const t0 = Date.now();
  const second = new RelayServer();
  t.after(() => second.stop());
  await second.listen('127.0.0.1', port);
  await until(() => {
    a.client.send(b.pub, Buffer.from('after restart'));
    return b.got.length > 0;
  }, 5000);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(b.got[0].data, 'after restart');
  assert.equal(a.client.stats.connects, 2);
  await Promise.all([a.client.stop(), b.client.stop()]);
  await second.stop();
});

test('bounded per-client queue: a receiver that does not read loses packets, counted as drops', async (t) => {
  const server = new RelayServer({ maxQueueBytes: 64 * 1024 });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const slowKey = generatePrivateKey();
  const slow = await rawClient(url, slowKey);
  await until(() => server.clientCount === 1);
  slow.ws.pause();
  const fast = peer(url);
  t.after(() => fast.client.stop());
  await fast.client.connect();
  const big = new Uint8Array(60 * 1024);
  // Bounded burst: 400 x 60 KiB = 24 MiB, well past loopback socket buffers.
  for (let i = 0; i < 400; i++) {
    fast.client.send(publicKeyFromPrivate(slowKey), big);
    if (i % 20 === 0) await sleep(5);
  }
  await until(() => server.stats.droppedQueueFull > 0, 5000);
  await fast.client.stop();
  slow.ws.terminate();
  await server.stop();
});

test('batched forwarding: bursts from two senders to one receiver arrive complete and in order per sender', async (t) => {
  const server = new RelayServer({ maxQueueBytes: 8 << 20 });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const [a, b, rx] = [peer(url), peer(url), peer(url)];
  t.after(() => Promise.all([a, b, rx].map((p) => p.client.stop())));
  await Promise.all([a, b, rx].map((p) => p.client.connect()));
  const N = 2000; // bounded: 2 x 2000 small packets, sent in one go so the relay reads many per turn
  for (let i = 0; i < N; i++) {
    a.client.send(rx.pub, Buffer.from(`a${i}`));
    b.client.send(rx.pub, Buffer.from(`b${i}`));
  }
  await until(() => rx.got.length === 2 * N, 10_000);
  for (const p of [a, b]) {
    const seqs = rx.got.filter((g) => g.src === hexOf(p.pub)).map((g) => Number(g.data.slice(1)));
    assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i));
  }
  assert.equal(server.stats.packetsForwarded, 2 * N);
  assert.equal(server.stats.droppedQueueFull, 0);
});

test('attach() serves the relay on an existing HTTP server (as under fastify) at /relay only', async (t) => {
  const httpServer = http.createServer((_req, res) => res.end('app'));
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const port = (httpServer.address() as { port: number }).port;
  const server = new RelayServer();
  t.after(() => server.stop());
  server.attach(httpServer);
  const a = peer(`ws://127.0.0.1:${port}/relay`);
  t.after(() => a.client.stop());
  await a.client.connect();
  assert.equal(server.clientCount, 1);
  await a.client.stop();
  await server.stop();
  httpServer.closeAllConnections();
  await new Promise((r) => httpServer.close(r));
});

test('TLS: the relay serves wss:// (for TCP 443) and clients trust a private CA', { skip: spawnSync('sh', ['-c', 'command -v openssl']).status === 0 || process.env.WEFT_E2E_REQUIRED === '1' ? false : 'openssl not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-relay-tls-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    assert.equal(r.status, 0, String(r.stderr));
    const cert = readFileSync(join(dir, 'cert.pem'));
    const server = new RelayServer();
    t.after(() => server.stop());
    const port = await server.listen('127.0.0.1', 0, { cert, key: readFileSync(join(dir, 'key.pem')) });
    const key = generatePrivateKey();
    const client = new RelayClient({ url: `wss://127.0.0.1:${port}/relay`, privateKey: key, ca: cert });
    t.after(() => client.stop());
    await client.connect(AbortSignal.timeout(5000));
    assert.equal(server.clientCount, 1);
    await client.stop();
    await server.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('half-open path: no pong within pingTimeoutMs -> the client drops the connection and reconnects', async (t) => {
  const server = new RelayServer();
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  // A TCP proxy that can silently swallow everything on the connections open so far.
  const conns = new Set<net.Socket>();
  const dead = new Set<net.Socket>();
  const proxy = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    conns.add(c).add(up);
    c.on('data', (d) => !dead.has(c) && up.write(d));
    up.on('data', (d) => !dead.has(up) && c.write(d));
    for (const [a, b] of [[c, up], [up, c]]) {
      a.on('close', () => b.destroy());
      a.on('error', () => b.destroy());
    }
  });
  t.after(() => {
    for (const c of conns) c.destroy();
    proxy.close();
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const key = generatePrivateKey();
  const client = new RelayClient({ url: `ws://127.0.0.1:${(proxy.address() as net.AddressInfo).port}/relay`, privateKey: key, pingIntervalMs: 100, pingTimeoutMs: 200, backoffInitialMs: 20 });
  t.after(() => client.stop());
  await client.connect();
  for (const c of conns) dead.add(c);
  await until(() => client.state === 'connecting');
  assert.equal(client.stats.disconnects, 1);
  await until(() => client.state === 'connected');
  assert.equal(client.stats.connects, 2);
});

/** Resolves on 'drain' or after `ms`, whichever comes first, leaving no listener behind. */
function drainOr(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('drain', done);
  });
}

/** Resident set of a process, from /proc (Linux). */
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test('a client that never reads and floods pings leaves the relay (`weft relay`, its own process) under 200 MB RSS', { timeout: 60_000 }, async (t) => {
  const relay = weftRelayCli(['relay', '--listen', '127.0.0.1:0', '--no-stun', '--allow-any-key']);
  t.after(() => stopChild(relay));
  const { url } = await relayRunning(relay);
  const flooder = await rawClient(url, generatePrivateKey());
  await flooder.authed;
  flooder.ws.pause(); // never reads a pong again
  // Ping frames written straight to the socket (masked with a zero key, as a client must):
  // 0x82 binary+FIN, 0x89 masked+len 9, mask 0000, then Ping (0x08) | 8 bytes of data.
  const frame = Buffer.from([0x82, 0x89, 0, 0, 0, 0, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]);
  const chunk = Buffer.concat(Array(70_000).fill(frame)); // ~1 MiB
  const socket = (flooder.ws as unknown as { _socket: net.Socket })._socket;
  const idle = rssMb(relay.pid!);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(relay.pid!))), 100);
  let sent = 0;
  const end = Date.now() + 10_000;
  // Bounded: at most 4M pings (60 MB) or 10 s.
  while (sent < 4_000_000 && Date.now() < end) {
    sent += 70_000;
    if (!socket.write(chunk)) await drainOr(socket, 200);
  }
  await sleep(500);
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(relay.pid!));
  t.diagnostic(`${sent} pings sent, relay RSS ${idle.toFixed(0)} MB idle, ${peak.toFixed(0)} MB peak`);
  assert.ok(sent >= 1_000_000, `flood too small to prove anything: ${sent}`);
  assert.ok(peak < 200, `relay RSS ${peak.toFixed(0)} MB`);
  // The relay still serves others.
  const other = peer(url);
  t.after(() => other.client.stop());
  await other.client.connect();
  assert.ok((await other.client.ping()) >= 0);
  flooder.ws.terminate();
});

test('unauthenticated sockets are capped (503 past maxPending) and closed after the auth timeout', { timeout: 30_000 }, async (t) => {
  const server = new RelayServer({ maxPending: 3, authTimeoutMs: 300 });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const url = `ws://127.0.0.1:${port}/relay`;
  const silent = await Promise.all([0, 1, 2].map(() => rawClient(url, null)));
  assert.equal(server.pendingCount, 3);
  const extra = new WebSocket(url);
  extra.on('error', () => {});
  const status = await new Promise<number>((res) => extra.on('unexpected-response', (_req, r) => res(r.statusCode ?? 0)));
  extra.terminate();
  assert.equal(status, 503);
  assert.equal(server.stats.refusedBusy, 1);
  for (const c of silent) assert.equal(await c.closed, CLOSE_AUTH_FAILED);
  await until(() => server.pendingCount === 0);
  // Room again; an authenticated client does not count as pending.
  const ok = await rawClient(url, generatePrivateKey());
  await ok.authed;
  assert.equal(server.pendingCount, 0);
  ok.ws.terminate();
});

test('standalone HTTP server: a slowloris client is closed within the header timeout; connections are capped', { timeout: 30_000 }, async (t) => {
  const server = new RelayServer({ httpLimits: { maxConnections: 4, headersTimeoutMs: 500, requestTimeoutMs: 1000, idleTimeoutMs: 700 } });
  t.after(() => server.stop());
  const port = await server.listen('127.0.0.1', 0);
  const slow = net.connect(port, '127.0.0.1');
  await once(slow, 'connect');
  const t0 = Date.now();
  slow.write('GET /relay HTTP/1.1\r\nHost: x\r\n'); // and never the rest
  const dripper = setInterval(() => slow.write('X-Slow: 1\r\n'), 100);
  slow.resume();
  await once(slow, 'close');
  clearInterval(dripper);
  const took = Date.now() - t0;
  assert.ok(took < 3000, `closed after ${took} ms`);

  // An upgraded (authenticated) socket outlives the idle timeout.
  const ok = await rawClient(`ws://127.0.0.1:${port}/relay`, generatePrivateKey());
  await ok.authed;
  await sleep(1200);
  assert.equal(ok.ws.readyState, WebSocket.OPEN);
  ok.ws.terminate();
  await until(() => server.clientCount === 0);

  const socks = await Promise.all([0, 1, 2, 3, 4, 5].map(async () => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    return s;
  }));
  const closed = await Promise.all(socks.map((s) => Promise.race([once(s, 'close').then(() => true), sleep(300).then(() => false)])));
  assert.equal(closed.filter(Boolean).length, 2, 'two over the cap of 4 are closed at once');
  for (const s of socks) s.destroy();
});
