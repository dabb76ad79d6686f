// Issue 10 (control side), the pure parts: the node verifier's admission order and
// per-key replay state, the registration rate limit, update coalescing, v7 sealing,
// the agent's URL check and server-key pin, and concurrent first starts agreeing on
// one server.key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyFromBase64, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { checkServerUrl } from '../../src/agent/control-client.js';
import { pinServerKey, PIN_FILE } from '../../src/agent/state.js';
import { Coalescer } from '../../src/control/coalesce.js';
import { checkResponseMac, nodeAuthKey, NODE_AUTH_MAX_SKEW_SECONDS, openFrame, responseMac, sealFrame, sessionKeys, signNodeRequest } from '../../src/wire/node-auth.js';
import { MAX_REPLAY_PER_KEY, NodeVerifier } from '../../src/control/node-verifier.js';
import { SourceRateLimiter, sourceKey } from '../../src/control/rate-limit.js';
import { loadOrCreateServerKey } from '../../src/control/server-key.js';

function setup(known: Set<string>) {
  const clock = new FakeClock(1_000_000, Date.UTC(2026, 5, 1));
  const server = generatePrivateKey();
  const limiter = new SourceRateLimiter(clock, { perSecond: 1, burst: 3 }, { perSecond: 100, burst: 100 });
  const v = new NodeVerifier({ serverPrivate: server, clock, isKnown: (k) => known.has(k), registerLimiter: limiter });
  const node = () => {
    const priv = generatePrivateKey();
    const pub = publicKeyFromPrivate(priv);
    const k = nodeAuthKey(priv, publicKeyFromPrivate(server))!;
    return { b64: keyToBase64(pub), sign: (path: string, tsOffset = 0) => signNodeRequest(k, pub, 'POST', path, new Uint8Array(0), Math.floor(clock.wallNow() / 1000) + tsOffset) };
  };
  return { clock, v, limiter, node };
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

test('verifier: unknown keys are refused at admission, with no state and no MAC check', () => {
  const known = new Set<string>();
  const { v, node } = setup(known);
  for (let i = 0; i < 2_000; i++) {
    const n = node();
    // A bad MAC is not even looked at: the key alone decides.
    assert.equal(code(() => v.admit(n.sign('/api/v1/logout').replace(/mac=./, 'mac=A'))), 'ERR_NODE_NOT_REGISTERED');
  }
  assert.equal(v.trackedKeys, 0);
});

test('verifier: replay state is per key and capped; one key at its cap costs the others nothing', () => {
  const known = new Set<string>();
  const { v, node } = setup(known);
  const a = node(), b = node();
  known.add(a.b64).add(b.b64);
  for (let i = 0; i < MAX_REPLAY_PER_KEY; i++) v.check(a.sign('/x'), 'POST', '/x', new Uint8Array(0));
  assert.equal(code(() => v.check(a.sign('/x'), 'POST', '/x', new Uint8Array(0))), 'ERR_AUTH_BUSY');
  assert.equal(v.check(b.sign('/x'), 'POST', '/x', new Uint8Array(0)).publicKey, b.b64);
  const once = b.sign('/x');
  v.check(once, 'POST', '/x', new Uint8Array(0));
  assert.equal(code(() => v.check(once, 'POST', '/x', new Uint8Array(0))), 'ERR_AUTH_REPLAY');
});

test('verifier: replay state is pruned by expiry whatever the order of timestamps; far-future ones are refused', () => {
  const known = new Set<string>();
  const { v, node, clock } = setup(known);
  const a = node(), b = node();
  known.add(a.b64).add(b.b64);
  assert.equal(code(() => v.check(a.sign('/x', NODE_AUTH_MAX_SKEW_SECONDS + 5), 'POST', '/x', new Uint8Array(0))), 'ERR_AUTH_STALE');
  // The latest-expiring entries first (future-dated), then older ones: all must go.
  v.check(a.sign('/x', NODE_AUTH_MAX_SKEW_SECONDS), 'POST', '/x', new Uint8Array(0));
  for (let i = 0; i < 10; i++) v.check(b.sign('/x', -NODE_AUTH_MAX_SKEW_SECONDS), 'POST', '/x', new Uint8Array(0));
  assert.equal(v.trackedKeys, 2);
  const replayed = a.sign('/x');
  v.check(replayed, 'POST', '/x', new Uint8Array(0));
  // Two generations (2 x 2 x skew) later everything has expired and is gone, even untouched keys.
  clock.advance(4 * NODE_AUTH_MAX_SKEW_SECONDS * 1000 + 1000);
  v.check(a.sign('/x'), 'POST', '/x', new Uint8Array(0));
  assert.equal(v.trackedKeys, 1, 'only the key that just spoke');
  // A MAC from before is stale by now, so forgetting it cannot let it replay.
  assert.equal(code(() => v.check(replayed, 'POST', '/x', new Uint8Array(0))), 'ERR_AUTH_STALE');
});

test('verifier: a registration may bring a new key, within its source rate', () => {
  const { v, node, clock } = setup(new Set());
  const from = { source: '192.0.2.7' };
  for (let i = 0; i < 3; i++) v.verify(v.admit(node().sign('/api/v1/register'), from), 'POST', '/api/v1/register', new Uint8Array(0));
  assert.equal(code(() => v.admit(node().sign('/api/v1/register'), from)), 'ERR_RATE_LIMITED');
  assert.equal(v.admit(node().sign('/api/v1/register'), { source: '192.0.2.8' }).publicKeyB64.length, 44);
  clock.advance(1_000);
  assert.ok(v.admit(node().sign('/api/v1/register'), from));
});

test('rate limiter: IPv4 per address, IPv6 per /64, and a global bucket over all sources', () => {
  assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), sourceKey('2001:db8:1:2:bbbb::2'));
  assert.notEqual(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:3::1'));
  const clock = new FakeClock();
  const l = new SourceRateLimiter(clock, { perSecond: 10, burst: 2 }, { perSecond: 1, burst: 5 });
  assert.deepEqual([1, 2, 3].map(() => l.allow('2001:db8::1')), [true, true, false]);
  assert.deepEqual([1, 2, 3, 4].map((i) => l.allow(`198.51.100.${i}`)), [true, true, true, false], 'the global burst (5) is shared');
  assert.equal(l.refused, 2);
  clock.advance(1_000);
  assert.equal(l.allow('198.51.100.9'), true);
});

test('coalescer: a burst at once, then only the latest, at most once per interval', async () => {
  const clock = new FakeClock();
  const ran: number[] = [];
  const c = new Coalescer(clock, 1_000, (err) => assert.fail(String(err)), 3);
  for (let i = 0; i < 1_000; i++) c.submit('n1', async () => void ran.push(i));
  c.submit('n2', async () => void ran.push(-1));
  assert.deepEqual(ran, [0, 1, 2, -1]);
  assert.equal(c.coalesced, 996);
  clock.advance(999);
  assert.deepEqual(ran, [0, 1, 2, -1]);
  clock.advance(1);
  assert.deepEqual(ran, [0, 1, 2, -1, 999]);
  c.submit('n1', async () => void ran.push(1000));
  assert.equal(clock.pending, 1, 'the bucket is empty: waits a full interval');
  clock.advance(1_000);
  assert.deepEqual(ran.slice(-1), [1000]);
  clock.advance(10_000);
  for (let i = 0; i < 3; i++) c.submit('n1', async () => void ran.push(2000 + i));
  assert.deepEqual(ran.slice(-3), [2000, 2001, 2002], 'an idle key has its burst back');
  c.submit('n1', async () => {});
  c.stop();
  assert.equal(clock.pending, 0);
});

test('v7 sealing: frames bind direction, counter and bytes; answers bind status and body', () => {
  const k = new Uint8Array(32).fill(7);
  const keys = sessionKeys(k, 'AAAAAAAAAAAAAAAA');
  const other = sessionKeys(k, 'BBBBBBBBBBBBBBBB');
  const f = sealFrame(keys.down, 3, '{"type":"pong","id":1}');
  assert.equal(openFrame(keys.down, 3, f), '{"type":"pong","id":1}');
  assert.equal(openFrame(keys.down, 4, f), null, 'replayed or reordered');
  assert.equal(openFrame(keys.up, 3, f), null, 'reflected back');
  assert.equal(openFrame(other.down, 3, f), null, 'from another stream');
  const bad = Buffer.from(f);
  bad[bad.length - 2] ^= 1;
  assert.equal(openFrame(keys.down, 3, bad), null, 'tampered');
  assert.equal(openFrame(keys.down, 0, new Uint8Array(5)), null, 'short');
  const mac = responseMac(keys, 200, '{"ok":true}');
  assert.ok(checkResponseMac(keys, 200, '{"ok":true}', mac));
  assert.ok(!checkResponseMac(keys, 200, '{"ok":false}', mac));
  assert.ok(!checkResponseMac(keys, 201, '{"ok":true}', mac));
  assert.ok(!checkResponseMac(keys, 200, '{"ok":true}', null));
});

test('agents refuse plain http:// off loopback unless told otherwise', () => {
  for (const ok of ['https://c.example', 'http://127.0.0.1:8080', 'http://127.9.9.9', 'http://[::1]:80', 'http://localhost:8080']) checkServerUrl(ok, false);
  for (const bad of ['http://c.example', 'http://10.99.0.1:8080', 'http://[2001:db8::1]:80']) {
    assert.throws(() => checkServerUrl(bad, false), { code: 'ERR_INSECURE_SERVER_URL' }, bad);
    checkServerUrl(bad, true);
  }
});

test('the server key is pinned per coordinator origin; a change is refused until reset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pin-'));
  try {
    const [k1, k2] = [generatePrivateKey(), generatePrivateKey()].map((p) => keyToBase64(publicKeyFromPrivate(p)));
    await pinServerKey(dir, 'https://c.example/', k1);
    await pinServerKey(dir, 'https://c.example:443/x', k1);
    await pinServerKey(dir, 'https://other.example/', k2);
    await assert.rejects(pinServerKey(dir, 'https://c.example/', k2), { code: 'ERR_SERVER_KEY_CHANGED' });
    await pinServerKey(dir, 'https://c.example/', k2, true);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, PIN_FILE), 'utf8')), { 'https://c.example': k2, 'https://other.example': k2 });
    assert.equal(statSync(join(dir, PIN_FILE)).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent first starts agree on one server.key, in process and across processes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-skey-'));
  try {
    const inProcess = await Promise.all(Array.from({ length: 16 }, () => loadOrCreateServerKey(join(dir, 'a'))));
    assert.equal(new Set(inProcess.map((k) => keyToBase64(k))).size, 1);
    const mod = new URL('../../src/control/server-key.js', import.meta.url).href;
    const script = `const m = await import(${JSON.stringify(mod)}); const k = await m.loadOrCreateServerKey(process.argv[1]); console.log(Buffer.from(k).toString('base64'));`;
    const run = promisify(execFile);
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--input-type=module', '-e', script, join(dir, 'b')])));
    const keys = new Set(outs.map((o) => o.stdout.trim()));
    assert.equal(keys.size, 1, [...keys].join(' '));
    assert.equal(readFileSync(join(dir, 'b', 'server.key'), 'utf8').trim(), [...keys][0]);
    assert.deepEqual(readdirSync(join(dir, 'b')), ['server.key'], 'no temp file left behind');
    assert.equal(statSync(join(dir, 'b', 'server.key')).mode & 0o777, 0o600);
    keyFromBase64([...keys][0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
