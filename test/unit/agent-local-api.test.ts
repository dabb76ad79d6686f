import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalApi, type LocalApiBackend, type PingReply } from '../../src/agent/local-api.js';
import { callAgent } from '../../src/agent/local-client.js';
import { AgentError } from '../../src/agent/errors.js';
import { WeftError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { StatusJson } from '../../src/agent/status.js';

// The agent's local API on node:http: routes, body checks and error codes as the CLI sees them.

const STATUS = { self: null, peers: [] } as unknown as StatusJson;

function backend(calls: unknown[]): LocalApiBackend {
  return {
    status: () => STATUS,
    ping: async (peer, timeoutMs) => {
      calls.push(['ping', peer, timeoutMs]);
      if (peer === 'ghost') throw new AgentError('ERR_PEER_NOT_FOUND', 'no peer ghost');
      if (peer === 'boom') throw new Error('kaput');
      return { name: peer, ip: '100.64.0.2', endpoint: null, ms: 1 } satisfies PingReply;
    },
    down: async (logout) => void calls.push(['down', logout]),
    setPrefs: async (p) => (calls.push(['prefs', p]), STATUS),
    setTunnel: async (up) => (calls.push(['tunnel', up]), STATUS),
  };
}

/** A raw request: status and parsed body (for what callAgent cannot send). */
function raw(socket: string, method: string, path: string, body: string, type = 'application/json'): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withApi(f: (socket: string, calls: unknown[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-api-'));
  const socket = join(dir, 'weft.sock');
  const calls: unknown[] = [];
  const api = new LocalApi(socket, backend(calls), silentLogger);
  await api.start();
  try {
    await f(socket, calls);
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: WeftError) => e.code);

test('local API: the routes answer the CLI, the socket is 0600 and removed on stop', async () => {
  let path = '';
  await withApi(async (socket, calls) => {
    path = socket;
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    assert.deepEqual(await callAgent(socket, 'GET', '/v1/status'), STATUS);
    assert.deepEqual(await callAgent(socket, 'POST', '/v1/ping', { peer: 'b' }), { name: 'b', ip: '100.64.0.2', endpoint: null, ms: 1 });
    await callAgent(socket, 'POST', '/v1/ping', { peer: 'b', timeoutMs: 500 });
    assert.deepEqual(await callAgent(socket, 'POST', '/v1/prefs', { exitNode: '', fallback: 'direct' }), STATUS);
    assert.deepEqual(await callAgent(socket, 'POST', '/v1/tunnel', { up: false }), STATUS);
    assert.deepEqual(await callAgent(socket, 'POST', '/v1/down', { logout: true }), { ok: true });
    assert.deepEqual(calls, [['ping', 'b', 2000], ['ping', 'b', 500], ['prefs', { exitNode: '', fallback: 'direct' }], ['tunnel', false], ['down', true]]);
  });
  assert.throws(() => statSync(path), { code: 'ENOENT' });
});

test('local API: backend errors keep their codes; unexpected ones are 500 ERR_INTERNAL', async () => {
  await withApi(async (socket) => {
    assert.equal(await code(callAgent(socket, 'POST', '/v1/ping', { peer: 'ghost' })), 'ERR_PEER_NOT_FOUND');
    const r = await raw(socket, 'POST', '/v1/ping', JSON.stringify({ peer: 'ghost' }));
    assert.equal(r.status, 404);
    const boom = await raw(socket, 'POST', '/v1/ping', JSON.stringify({ peer: 'boom' }));
    assert.deepEqual([boom.status, boom.json.error?.code], [500, 'ERR_INTERNAL']);
  });
});

test('local API: bodies outside the spec, bad JSON, other types and unknown routes are refused', async () => {
  await withApi(async (socket, calls) => {
    const cases: Array<[string, string, number, string]> = [
      ['/v1/ping', '{}', 400, 'ERR_VALIDATION'],
      ['/v1/ping', '{"peer":""}', 400, 'ERR_VALIDATION'],
      ['/v1/ping', `{"peer":"${'x'.repeat(256)}"}`, 400, 'ERR_VALIDATION'],
      ['/v1/ping', '{"peer":"b","timeoutMs":0}', 400, 'ERR_VALIDATION'],
      ['/v1/ping', '{"peer":"b","timeoutMs":1.5}', 400, 'ERR_VALIDATION'],
      ['/v1/ping', '{"peer":"b","extra":1}', 400, 'ERR_VALIDATION'],
      ['/v1/ping', '[]', 400, 'ERR_VALIDATION'],
      ['/v1/ping', '{"peer":', 400, 'ERR_BAD_JSON'],
      ['/v1/prefs', '{"fallback":"sideways"}', 400, 'ERR_VALIDATION'],
      ['/v1/prefs', '{"allowLanAccess":"yes"}', 400, 'ERR_VALIDATION'],
      ['/v1/tunnel', '', 400, 'ERR_VALIDATION'],
      ['/v1/down', `{"logout":"${'x'.repeat(20_000)}"}`, 413, 'ERR_BODY_TOO_LARGE'],
      ['/v1/nothing', '{}', 404, 'ERR_NOT_FOUND'],
    ];
    for (const [path, body, status, c] of cases) {
      const r = await raw(socket, 'POST', path, body);
      assert.deepEqual([r.status, r.json.error?.code], [status, c], `${path} ${body.slice(0, 40)}`);
    }
    const form = await raw(socket, 'POST', '/v1/down', 'logout=true', 'application/x-www-form-urlencoded');
    assert.deepEqual([form.status, form.json.error?.code], [415, 'ERR_UNSUPPORTED_MEDIA_TYPE']);
    assert.match((await raw(socket, 'POST', '/v1/ping', '{}')).json.error!.message, /required property 'peer'/);
    assert.deepEqual(calls, [], 'nothing refused reached the backend');
  });
});

test('local API: a second agent on the same socket is refused', async () => {
  await withApi(async (socket) => {
    const second = new LocalApi(socket, backend([]), silentLogger);
    assert.equal(await code(second.start()), 'ERR_ALREADY_RUNNING');
  });
});
