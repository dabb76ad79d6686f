// ACME against a real CA: Let's Encrypt's test server pebble (Debian package) on
// loopback, validating HTTP-01 against the AcmeManager, with a fake clock for renewal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, createServer as createHttpsServer, get as httpsGet } from 'node:https';
import { get as httpGet } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import acme from 'acme-client';
import { FakeClock } from '../../src/clock.js';
import { AcmeManager, checkAcmeDomain, renewAt, type TlsPair } from '../../src/control/acme.js';
import { createCoordinator } from '../../src/control/server.js';
import { silentLogger } from '../../src/log.js';
import { run, spawnHost, type Child } from '../../src/lab/netns.js';
import { PEBBLE_TOOLS, startPebble, type Pebble } from '../../src/lab/pebble.js';
import { missingTools, requireOrSkip, type SkipContext } from '../../src/lab/require.js';
import { waitFor } from '../helpers/wait.js';

const DOMAIN = 'coord.weft.test';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, missingTools(PEBBLE_TOOLS));
}

/** GET https://DOMAIN:port`path` at 127.0.0.1 trusting only `root`: the status and the peer certificate's serial. */
function fetchSerial(port: number, root: string, path = '/'): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, servername: DOMAIN, ca: root, path, agent: false }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
    }).on('error', reject);
  });
}

/** fetchSerial against a server using `pair`. */
async function serveAndFetch(pair: TlsPair, root: string): Promise<string> {
  const server = createHttpsServer(pair, (_q, s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return (await fetchSerial((server.address() as AddressInfo).port, root)).serial;
  } finally {
    server.close();
  }
}

function serial(pair: TlsPair): string {
  return new X509Certificate(pair.cert).serialNumber;
}

describe('ACME (RFC 8555) against pebble', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-acme-'));
  const stateDir = join(dir, 'state');
  const children: Child[] = [];
  let pebble: Pebble;
  let root = '';
  let httpPort = 0;
  const clock = new FakeClock(1_000_000, Date.now());
  let manager: AcmeManager | null = null;

  before(async () => {
    if (missingTools(PEBBLE_TOOLS).length) return;
    httpPort = await freePort();
    const ports = { acme: await freePort(), management: await freePort(), dns: await freePort() };
    pebble = await startPebble({
      dir: join(dir, 'pebble'),
      ip: '127.0.0.1',
      targetIp: '127.0.0.1',
      httpPort,
      ports,
      spawn: (argv, env) => {
        const c = spawnHost(argv, { env });
        children.push(c);
        return c;
      },
      exec: (argv) => run(argv),
    });
    root = await pebble.rootPem();
    // In this process only: trust pebble's own HTTPS API. `weft server` uses NODE_EXTRA_CA_CERTS (e2e).
    acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(pebble.apiCertFile) });
  });

  after(async () => {
    await manager?.stop();
    await Promise.all(children.map((c) => c.kill('SIGTERM', 2000)));
    rmSync(dir, { recursive: true, force: true });
  });

  const newManager = (directoryUrl = pebble.directoryUrl, c = clock): AcmeManager =>
    (manager = new AcmeManager({ domain: DOMAIN, email: 'ops@weft.test', directoryUrl, http: { host: '127.0.0.1', port: httpPort } }, stateDir, c, silentLogger));

  test('obtains a certificate by HTTP-01 that clients trusting the CA accept; secrets are 0600', async (t) => {
    if (!pre(t)) return;
    const pair = await newManager().start();
    const cert = new X509Certificate(pair.cert);
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${DOMAIN.replace(/\./g, '\\.')}`));
    assert.equal(await serveAndFetch(pair, root), cert.serialNumber);
    assert.equal(statSync(join(stateDir, 'acme')).mode & 0o777, 0o700);
    for (const f of ['account.key', `${DOMAIN}.key`, `${DOMAIN}.crt`]) assert.equal(statSync(join(stateDir, 'acme', f)).mode & 0o777, 0o600, f);
    // The HTTP-01 responder answers only pending tokens of ours.
    const status = await new Promise<number>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port: httpPort, path: '/.well-known/acme-challenge/nope' }, (r) => resolve(r.resume().statusCode ?? 0)).on('error', reject);
    });
    assert.equal(status, 404);
  });

  test('renews once less than a third of the lifetime is left, not before', async (t) => {
    if (!pre(t)) return;
    const m = manager!;
    const first = m.certificate!;
    const renewed: TlsPair[] = [];
    m.onRenew = (p) => renewed.push(p);
    clock.advance(renewAt(first.cert) - clock.wallNow() - 60_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(renewed.length, 0, 'not renewed two thirds minus a minute into the lifetime');
    clock.advance(120_000);
    assert.ok(await waitFor(() => renewed.length === 1, 30_000), 'renewed after two thirds of the lifetime');
    assert.notEqual(serial(renewed[0]), serial(first));
    assert.equal(serial(m.certificate!), serial(renewed[0]));
    assert.equal(await serveAndFetch(renewed[0], root), serial(renewed[0]));
    await m.stop();
  });

  test('a restart reuses the stored certificate instead of ordering a new one', async (t) => {
    if (!pre(t)) return;
    const before = manager!.certificate!;
    // Today again (the renewal test moved its clock years ahead).
    const pair = await newManager(pebble.directoryUrl, new FakeClock(1_000_000, Date.now())).start();
    assert.equal(serial(pair), serial(before));
    await manager!.stop();
  });

  test('a due but valid stored certificate serves at once, renewal runs in the background', async (t) => {
    if (!pre(t)) return;
    const stored = manager!.certificate!;
    const late = new FakeClock(1_000_000, renewAt(stored.cert) + 60_000);
    const m = newManager(pebble.directoryUrl, late);
    const renewed: TlsPair[] = [];
    m.onRenew = (p) => renewed.push(p);
    assert.equal(serial(await m.start()), serial(stored));
    late.advance(0);
    assert.ok(await waitFor(() => renewed.length === 1, 30_000), 'renewed');
    assert.notEqual(serial(renewed[0]), serial(stored));
    await m.stop();
  });

  test('an unreachable CA and no usable certificate: start fails with ERR_ACME and frees the HTTP-01 port', async (t) => {
    if (!pre(t)) return;
    rmSync(join(stateDir, 'acme', `${DOMAIN}.crt`));
    // acme-client retries a refused connection five times over 75 s; not needed to see the error.
    // (acmeSettings: acme-client's own axios defaults, untyped.)
    const settings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings;
    const attempts = settings.retryMaxAttempts;
    settings.retryMaxAttempts = 0;
    try {
      await assert.rejects(newManager(`https://127.0.0.1:${await freePort()}/dir`).start(), { code: 'ERR_ACME' });
    } finally {
      settings.retryMaxAttempts = attempts;
    }
    const again = createNetServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(httpPort, '127.0.0.1', resolve));
    // And a taken HTTP-01 port is a clear ERR_ACME too.
    await assert.rejects(newManager().start(), (err: Error & { code?: string }) => err.code === 'ERR_ACME' && /HTTP-01 on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/.test(err.message));
    again.close();
  });

  test('the coordinator serves its API with the ACME certificate and swaps in the renewed one', async (t) => {
    if (!pre(t)) return;
    const c = new FakeClock(1_000_000, Date.now());
    const coord = createCoordinator({
      stateDir: join(dir, 'coordinator'),
      listen: '127.0.0.1:0',
      adminSocket: false,
      nat: { relay: false, stunPort: 0 },
      acme: { domain: DOMAIN, directoryUrl: pebble.directoryUrl, http: { host: '127.0.0.1', port: httpPort } },
      clock: c,
    });
    await coord.start();
    try {
      const url = new URL(coord.url);
      assert.equal(url.hostname, DOMAIN, 'the announced URL names the domain of the certificate');
      const first = await fetchSerial(Number(url.port), root, '/api/v1/key');
      assert.equal(first.status, 200);
      const crt = join(dir, 'coordinator', 'acme', `${DOMAIN}.crt`);
      c.advance(renewAt(readFileSync(crt)) - c.wallNow() + 1000);
      assert.ok(await waitFor(() => new X509Certificate(readFileSync(crt)).serialNumber !== first.serial, 30_000), 'renewed');
      // The file is written before the server swaps contexts; poll the served certificate, not once.
      const stored = new X509Certificate(readFileSync(crt)).serialNumber;
      let served = '';
      const swapped = await waitFor(async () => (served = (await fetchSerial(Number(url.port), root, '/api/v1/key')).serial) === stored, 10_000);
      assert.ok(swapped, `the running server uses the renewed certificate (serves ${served}, stored ${stored})`);
    } finally {
      await coord.stop();
    }
  });
});

test('--acme-domain must be a DNS name a CA can issue for', () => {
  assert.equal(checkAcmeDomain('Weft.Example.com.'), 'weft.example.com');
  for (const bad of ['192.0.2.1', 'localhost', '*.example.com', 'a..b', '-x.example.com', '']) {
    assert.throws(() => checkAcmeDomain(bad), { code: 'ERR_INVALID_ARGUMENT' }, bad);
  }
});
