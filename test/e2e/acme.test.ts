// End to end: `weft server --acme-domain` gets its certificate from pebble (Let's
// Encrypt's test CA) and an agent joins over HTTPS trusting only pebble's root.
// Namespaces: ca (pebble + its DNS) — srv (weft server, routes) — dev (weft up).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_CLI } from '../../src/lab/mesh.js';
import { Lab, runOk, type Child } from '../../src/lab/netns.js';
import { PEBBLE_TOOLS, startPebble } from '../../src/lab/pebble.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';

e2eFile();

const DOMAIN = 'coord.weft.test';
const SRV = '10.98.0.2';
const TOOLS = ['ip', ...PEBBLE_TOOLS];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS)]);
}

describe('weft server --acme-domain against pebble', { timeout: 180_000 }, () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'weft-acme-e2e-'));
  const rootFile = join(dir, 'pebble-root.pem');
  let ca = '';
  let srv = '';
  let dev = '';
  let server: Child | null = null;
  let etc = '';

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    [ca, srv, dev] = [await lab.addNs(), await lab.addNs(), await lab.addNs()];
    await lab.veth(ca, { v4: '10.98.0.1/24' }, srv, { v4: `${SRV}/24` });
    await lab.veth(dev, { v4: '10.98.1.2/24' }, srv, { v4: '10.98.1.1/24' });
    await runOk(['ip', '-n', dev, 'route', 'add', 'default', 'via', '10.98.1.1']);
    await runOk(['ip', 'netns', 'exec', srv, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // Before any `ip netns exec` in dev: it bind-mounts this over /etc/hosts.
    etc = `/etc/netns/${dev}`;
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), `127.0.0.1 localhost\n${SRV} ${DOMAIN}\n`);
  });

  after(async () => {
    await lab.destroy();
    if (etc) rmSync(etc, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test('obtains a certificate by HTTP-01 on port 80 and serves the API with it', async (t) => {
    if (!pre(t)) return;
    const pebble = await startPebble({
      dir: join(dir, 'pebble'),
      ip: '10.98.0.1',
      targetIp: SRV,
      httpPort: 80,
      spawn: (argv, env) => lab.spawn(ca, argv, { env }),
      exec: (argv) => lab.exec(ca, argv),
    });
    writeFileSync(rootFile, await pebble.rootPem());
    const stateDir = join(dir, 'server');
    server = lab.spawn(srv, [...WEFT_CLI, 'server', '--listen', `${SRV}:443`, '--state-dir', stateDir, '--stun-port', '0',
      '--acme-domain', DOMAIN, '--acme-email', 'ops@weft.test', '--acme-directory', pebble.directoryUrl],
    // Pebble's API has a throw-away certificate; a real CA's is in Node's store already.
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: pebble.apiCertFile } });
    const m = await server.waitFor(/"msg":"listening","url":"([^"]+)"/, 60_000);
    assert.equal(m[1], `https://${DOMAIN}:443`);
    const r = await lab.exec(ca, ['curl', '-sS', '--cacert', rootFile, '--resolve', `${DOMAIN}:443:${SRV}`, `https://${DOMAIN}/api/v1/key`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).publicKey, /^[A-Za-z0-9+/]{43}=$/);
  });

  test('an agent joins over HTTPS trusting only the CA root', async (t) => {
    if (!pre(t)) return;
    assert.ok(server?.running, 'server up');
    const keys = await lab.exec(srv, [...WEFT_CLI, 'keys', 'create', '--state-dir', join(dir, 'server')], { check: true });
    const key = keys.stdout.trim().split(/\s+/).pop()!;
    const agent = lab.spawn(dev, [...WEFT_CLI, 'up', '--server', `https://${DOMAIN}`, '--state-dir', join(dir, 'dev'), '--hostname', 'dev', '--no-accept-dns'], {
      env: { ...process.env, WEFT_AUTH_KEY: key, NODE_EXTRA_CA_CERTS: rootFile, LOG_LEVEL: 'warn' },
    });
    await agent.waitFor(/weft: up as dev \(100\./, 30_000);
  });
});
