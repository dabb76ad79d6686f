// End to end: `weft up --tun=userspace` as an unprivileged user (nobody: no TUN, no
// root, no routes) reaches a kernel-TUN node through its SOCKS5 proxy, by mesh name and
// by address; the TUN node pings the userspace stack (ICMP echo answered by lwIP).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_CLI, WEFT_JS } from '../../src/lab/mesh.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'curl', 'setpriv'];
const SOCKS = '127.0.0.1:1080';
const HTTP_PORT = 8081;
/** uid/gid of nobody/nogroup on Debian. */
const NOBODY = 65534;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all'];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('a root-less userspace node reaches a TUN node', { timeout: 180_000 }, () => {
  const fx = suiteMesh();

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    await mesh.build(['tunnode', 'rootless']);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('tunnode');
    // nobody's state dir: its own, outside the root-only mesh directory.
    const n = mesh.node('rootless');
    const home = mkdtempSync(join(tmpdir(), 'weft-userspace-'));
    chmodSync(home, 0o755);
    chownSync(home, NOBODY, NOBODY);
    n.stateDir = join(home, 'state');
    const argv = [...AS_NOBODY, ...WEFT_CLI, 'up', '--tun=userspace', '--socks5', SOCKS, '--state-dir', n.stateDir, '--hostname', 'rootless', '--server', mesh.serverUrl, '--insecure-http'];
    await mesh.startAgent(n, argv, { ...mesh.env, WEFT_AUTH_KEY: mesh.authKey });
    await mesh.waitPeers('tunnode', ['rootless']);
    mesh.serveRemoteAddress(mesh.node('tunnode').ns, HTTP_PORT);
    for (let i = 0; i < 50 && (await mesh.fetchText(mesh.node('tunnode').ns, `http://127.0.0.1:${HTTP_PORT}/`)) === null; i++) await sleep(100);
    fx.ready();
  });

  test('the agent runs as nobody without capabilities and creates no interface', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node('rootless');
    const status = await mesh.lab.exec(n.ns, ['grep', '-E', '^(Uid|CapEff):', `/proc/${n.agent!.pid}/status`]);
    // The agent is setpriv's exec'd image: same pid.
    assert.match(status.stdout, new RegExp(`Uid:\\s+${NOBODY}\\s`));
    assert.match(status.stdout, /CapEff:\s+0+\n/);
    const links = await mesh.lab.exec(n.ns, ['ip', '-o', 'link']);
    assert.deepEqual(links.stdout.trim().split('\n').map((l) => l.split(': ')[1].split('@')[0]).sort(), ['eth0', 'lo']);
  });

  test('curl through SOCKS5 reaches the TUN node by mesh name and by address', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node('rootless');
    const tunnode = mesh.node('tunnode');
    for (const host of ['tunnode', tunnode.ipv4, `[${tunnode.ipv6}]`]) {
      const r = await mesh.lab.exec(n.ns, [...AS_NOBODY, 'curl', '-sS', '-g', '-m', '10', '--socks5-hostname', SOCKS, `http://${host}:${HTTP_PORT}/`], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, `${host}: ${r.stderr}`);
      // The TUN node sees the userspace node's mesh address as the source.
      assert.equal(r.stdout, host.startsWith('[') ? n.ipv6 : n.ipv4, host);
    }
    const refused = await mesh.lab.exec(n.ns, ['curl', '-sS', '-m', '10', '--socks5-hostname', SOCKS, `http://tunnode:${HTTP_PORT + 1}/`], { timeoutMs: 20_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /refused|SOCKS5/i);
    const unknown = await mesh.lab.exec(n.ns, ['curl', '-sS', '-m', '10', '--socks5-hostname', SOCKS, `http://nosuchpeer:${HTTP_PORT}/`], { timeoutMs: 20_000 });
    assert.notEqual(unknown.code, 0);
  });

  test('the TUN node pings the userspace node (lwIP answers ICMP echo, IPv4 and IPv6)', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    for (const ip of [mesh.node('rootless').ipv4, mesh.node('rootless').ipv6]) {
      const r = await mesh.ping('tunnode', ip, 2);
      assert.ok(r.received >= 1, `${ip}: ${r.output}`);
    }
  });
});
