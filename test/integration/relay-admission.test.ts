import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keyToBase64, publicKeyFromPrivate, generatePrivateKey, type PrivateKey, type PublicKey } from '../../src/crypto/keys.js';
import { RelayClient } from '../../src/relay/client.js';
import { RelayServer } from '../../src/relay/server.js';
import { CoordinatorAdmission, type CoordinatorAdmissionOptions } from '../../src/relay/admission.js';
import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_RELAY_CHECK_KEYS, RELAY_CHECK_PATH } from '../../src/wire/relay-check.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { http } from '../helpers/control.js';
import { waitFor } from '../helpers/wait.js';
import { relayRunning, stopChild, weftRelayCli } from '../helpers/relay-cli.js';

// Issue 10: a relay admits only keys the coordinator vouches for and drops a node's
// connection when the node is deleted or expires. A real coordinator on 127.0.0.1 (fake
// clock for expiry), the standalone relay asking it over HTTP, and the embedded relay.

const SECRET = randomBytes(32).toString('hex');
const HOUR = 3_600_000;

async function registered(t: TestCoordinator, hostname: string): Promise<{ priv: PrivateKey; name: string }> {
  const node = t.node();
  const r = await node.register({ hostname, authKey: await t.authKey() });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return { priv: node.priv, name: r.json.node.name };
}

function client(url: string, priv: PrivateKey, ctx: { after(fn: () => unknown): void }): RelayClient {
  const c = new RelayClient({ url, privateKey: priv, backoffInitialMs: 50, backoffMaxMs: 200 });
  ctx.after(() => c.stop());
  return c;
}

/** A standalone relay on 127.0.0.1 that asks `coord`; returns its URL. */
async function standaloneRelay(coord: TestCoordinator, ctx: { after(fn: () => unknown): void }, o: Partial<CoordinatorAdmissionOptions>): Promise<{ url: string; relay: RelayServer; admission: CoordinatorAdmission }> {
  const admission = new CoordinatorAdmission({ coordinator: coord.url, secret: SECRET, recheckMs: 100, ...o });
  const relay = new RelayServer({ authorize: admission.authorize });
  admission.start(relay);
  ctx.after(async () => {
    admission.stop();
    await relay.stop();
  });
  return { url: `ws://127.0.0.1:${await relay.listen('127.0.0.1', 0)}/relay`, relay, admission };
}

async function refusedOnce(url: string, priv: PrivateKey): Promise<boolean> {
  const c = new RelayClient({ url, privateKey: priv, backoffInitialMs: 50, backoffMaxMs: 200 });
  void c.connect().catch(() => {});
  const refused = await waitFor(() => c.stats.authFailures >= 1, 3000);
  const connected = c.state === 'connected';
  await c.stop();
  return refused && !connected;
}

test('standalone relay: only keys the coordinator vouches for; deleted and expired nodes lose their connection', async (t) => {
  const coord = await startTestCoordinator({ relaySecret: SECRET, nodeExpiryMs: HOUR, sweepIntervalMs: 1000 });
  t.after(() => coord.stop());
  const { url, relay, admission } = await standaloneRelay(coord, t, { cacheMs: 60_000 });

  const a = await registered(coord, 'alpha');
  const b = await registered(coord, 'beta');
  const ca = client(url, a.priv, t);
  const cb = client(url, b.priv, t);
  await Promise.all([ca.connect(), cb.connect()]);
  assert.equal(relay.clientCount, 2);

  assert.ok(await refusedOnce(url, generatePrivateKey()), 'an unknown key is refused');
  assert.equal(relay.clientCount, 2);

  // Deleted: the re-check notices within recheckMs and closes the connection; the
  // client's reconnects are refused from then on.
  const del = await coord.admin.request('DELETE', `/api/v1/admin/nodes/${a.name}`);
  assert.ok(del);
  assert.ok(await waitFor(() => relay.stats.revoked === 1 && relay.clientCount === 1, 3000), JSON.stringify(relay.stats));
  assert.ok(await waitFor(() => ca.stats.revoked === 1 && ca.stats.authFailures >= 1, 3000), 'told it was revoked; reconnect refused');
  assert.notEqual(ca.state, 'connected');

  // Expired: the coordinator's clock moves past the node's expiry.
  coord.clock.advance(HOUR + 1000);
  assert.ok(await waitFor(() => relay.stats.revoked === 2 && relay.clientCount === 0, 3000), JSON.stringify(relay.stats));
  assert.ok(admission.stats.queries > 0);
});

test('standalone relay: a coordinator that is down keeps connected nodes and refuses strangers', async (t) => {
  const coord = await startTestCoordinator({ relaySecret: SECRET });
  const { url, relay, admission } = await standaloneRelay(coord, t, { cacheMs: 50, timeoutMs: 500 });
  const a = await registered(coord, 'alpha');
  const ca = client(url, a.priv, t);
  await ca.connect();
  await coord.stop();
  const errors = admission.stats.queryErrors;
  assert.ok(await waitFor(() => admission.stats.queryErrors > errors + 2, 3000), 're-checks fail');
  assert.equal(relay.clientCount, 1, 'still connected');
  assert.equal(relay.stats.revoked, 0);
  assert.ok(await refusedOnce(url, generatePrivateKey()), 'an unknown key is refused');
});

test('embedded relay (weft server): deleting a node or its expiry closes its relay connection at once', async (t) => {
  const coord = await startTestCoordinator({ nodeExpiryMs: HOUR, sweepIntervalMs: 1000 });
  t.after(() => coord.stop());
  const url = `${coord.url.replace(/^http/, 'ws')}/relay`;
  const a = await registered(coord, 'alpha');
  const b = await registered(coord, 'beta');
  const ca = client(url, a.priv, t);
  const cb = client(url, b.priv, t);
  await Promise.all([ca.connect(), cb.connect()]);
  assert.ok(await refusedOnce(url, generatePrivateKey()), 'an unknown key is refused');

  await coord.admin.request('DELETE', `/api/v1/admin/nodes/${a.name}`);
  assert.ok(await waitFor(() => ca.stats.revoked === 1 && ca.stats.authFailures >= 1, 3000), `deleted node disconnected: ${ca.state}`);
  assert.equal(cb.state, 'connected');

  coord.clock.advance(HOUR + 1000);
  assert.ok(await waitFor(() => cb.stats.revoked === 1 && cb.stats.authFailures >= 1, 3000), `expired node disconnected: ${cb.state}`);
});

test('relay check endpoint: the relay secret is required, bad input is a 400 naming the field, no secret = no route', async (t) => {
  const coord = await startTestCoordinator({ relaySecret: SECRET });
  t.after(() => coord.stop());
  const a = await registered(coord, 'alpha');
  const stranger = keyToBase64(publicKeyFromPrivate(generatePrivateKey()));
  const known = keyToBase64(publicKeyFromPrivate(a.priv));
  const url = coord.url + RELAY_CHECK_PATH;
  const auth = { authorization: `Bearer ${SECRET}` };

  const ok = await http(url, 'POST', { keys: [known, stranger] }, auth);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { active: [known] });

  for (const headers of [{}, { authorization: `Bearer ${SECRET.slice(1)}x` }, { authorization: SECRET }] as Record<string, string>[]) {
    const r = await http(url, 'POST', { keys: [known] }, headers);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'ERR_RELAY_SECRET_INVALID');
    assert.equal(r.json.error.field, 'authorization');
  }
  for (const body of [{}, { keys: [] }, { keys: ['nope'] }, { keys: Array(1025).fill(known) }, { keys: [known], extra: 1 }]) {
    const r = await http(url, 'POST', body, auth);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.error.field, /^keys|extra/);
  }

  const plain = await startTestCoordinator();
  t.after(() => plain.stop());
  assert.equal((await http(plain.url + RELAY_CHECK_PATH, 'POST', { keys: [known] }, auth)).status, 404);
  assert.throws(() => new CoordinatorAdmission({ coordinator: plain.url, secret: 'short' }), { code: 'ERR_RELAY_SECRET' });
});

test('revoke() closes the client with CLOSE_REVOKED, which the client counts', async (t) => {
  const relay = new RelayServer();
  t.after(() => relay.stop());
  const url = `ws://127.0.0.1:${await relay.listen('127.0.0.1', 0)}/relay`;
  const priv = generatePrivateKey();
  const c = new RelayClient({ url, privateKey: priv, backoffInitialMs: 5000 });
  t.after(() => c.stop());
  await c.connect();
  assert.equal(relay.revoke(publicKeyFromPrivate(priv)), true);
  assert.equal(relay.revoke(publicKeyFromPrivate(priv)), false, 'once');
  assert.ok(await waitFor(() => c.stats.revoked === 1, 2000));
  assert.equal(c.stats.authFailures, 0);
});

test('`weft relay --coordinator URL` with WEFT_RELAY_SECRET admits the coordinator\'s nodes only', async (t) => {
  const coord = await startTestCoordinator({ relaySecret: SECRET });
  t.after(() => coord.stop());
  const relay = weftRelayCli(['relay', '--listen', '127.0.0.1:0', '--no-stun', '--coordinator', coord.url], { ...process.env, WEFT_RELAY_SECRET: SECRET });
  t.after(() => stopChild(relay));
  const { url } = await relayRunning(relay);
  const a = await registered(coord, 'alpha');
  await client(url, a.priv, t).connect();
  assert.ok(await refusedOnce(url, generatePrivateKey()), 'an unknown key is refused');
});

/** A stub coordinator: every key is active except `inactive`; records each request's key count. */
async function stubCoordinator(ctx: { after(fn: () => unknown): void }, inactive: string, delayMs = 0): Promise<{ url: string; sizes: number[] }> {
  const sizes: number[] = [];
  const server = nodeHttp.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      const { keys } = JSON.parse(body) as { keys: string[] };
      sizes.push(keys.length);
      setTimeout(() => res.setHeader('content-type', 'application/json').end(JSON.stringify({ active: keys.filter((k) => k !== inactive) })), delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctx.after(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sizes };
}

const randomKey = () => randomBytes(32) as unknown as PublicKey;

test('admission lookups are coalesced: keys that arrive while requests are out go together in one; a full batch refuses (counted)', async (t) => {
  const inactive = randomKey();
  const stub = await stubCoordinator(t, keyToBase64(inactive), 100);
  const admission = new CoordinatorAdmission({ coordinator: stub.url, secret: SECRET, maxInflight: 1 });
  const first = admission.authorize(randomKey());
  await new Promise((r) => setImmediate(r)); // the first key's request is out: the one slot is taken
  const burst = [inactive, ...Array.from({ length: 199 }, randomKey)];
  const answers = await Promise.all([first, ...burst.map((k) => admission.authorize(k))]);
  assert.deepEqual(stub.sizes, [1, 200], 'the 200 keys waited for the slot and went in one request');
  assert.deepEqual(answers, [true, false, ...Array<boolean>(199).fill(true)]);
  assert.equal(admission.stats.refusedBusy, 0);

  // Bounded: at most MAX_RELAY_CHECK_KEYS keys wait; the rest are refused and counted.
  const many = Array.from({ length: MAX_RELAY_CHECK_KEYS + 51 }, randomKey);
  const got = await Promise.all(many.map((k) => admission.authorize(k)));
  assert.equal(admission.stats.refusedBusy, 51);
  assert.equal(got.filter(Boolean).length, MAX_RELAY_CHECK_KEYS);
  assert.deepEqual(stub.sizes, [1, 200, MAX_RELAY_CHECK_KEYS]);
});
