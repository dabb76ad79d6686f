// End to end: `weft up --tun=userspace` as an unprivileged user (nobody: no TUN, no
// root, no routes) reaches a kernel-TUN node through its SOCKS5 proxy, by mesh name and
// by address; the TUN node pings the userspace stack (ICMP echo answered by lwIP). The
// embedding example (examples/embedded.mjs, as nobody) serves HTTP to the TUN node and
// fetches from it with no C addon (WEFT_NATIVE=0: dgram, sodium AEAD and the WebAssembly
// lwIP), so both engine I/O paths and both lwIP builds carry the userspace stack.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_CLI, WEFT_JS } from '../../src/lab/mesh.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'curl', 'setpriv'];
const SOCKS = '127.0.0.1:1080';
const HTTP_PROXY = '127.0.0.1:3128';
const EXAMPLE = join(PACKAGE_ROOT, 'examples', 'embedded.mjs');
const HTTP_PORT = 8081;
/** uid/gid of nobody/nogroup on Debian. */
const NOBODY = 65534;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all'];

/** The README's userspace commands, with the lab's coordinator, key, peer and port. */
function readmeCommands(serverUrl: string, authKey: string): string[][] {
  const md = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const block = /<!-- userspace-commands[^]*?```sh\n([^]*?)```/.exec(md);
  assert.ok(block, 'README userspace block');
  return block[1]
    .trim()
    .split('\n')
    .map((l) => l.replace(/\b8080\b/g, String(HTTP_PORT)).replace('https://weft.example.com', serverUrl).replace(' KEY', ` ${authKey}`).replace(/\bnas\b/g, 'tunnode').split(' '));
}

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('a root-less userspace node reaches a TUN node', { timeout: 180_000 }, () => {
  const fx = suiteMesh();
  let readme: string[][] = [];
  /** A README line as nobody in the userspace node's namespace (`weft` -> this build, plus its state dir). */
  const runReadme = (i: number, input?: string) => {
    const mesh = fx.get();
    const n = mesh.node('rootless');
    const argv = readme[i][0] === 'weft' ? [...WEFT_CLI, ...readme[i].slice(1), '--state-dir', n.stateDir] : [...readme[i].slice(0, 1), '-sS', '-m', '10', ...readme[i].slice(1)];
    return mesh.lab.exec(n.ns, [...AS_NOBODY, ...argv], { timeoutMs: 20_000, env: mesh.env, input });
  };

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    await mesh.build(['tunnode', 'rootless', 'embedded']);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('tunnode');
    // nobody's state dirs: their own, outside the root-only mesh directory.
    const home = mkdtempSync(join(tmpdir(), 'weft-userspace-'));
    chmodSync(home, 0o755);
    chownSync(home, NOBODY, NOBODY);
    const n = mesh.node('rootless');
    n.stateDir = join(home, 'rootless');
    mesh.node('embedded').stateDir = join(home, 'embedded');
    readme = readmeCommands(mesh.serverUrl, mesh.authKey);
    const up = readme[0];
    assert.deepEqual(up.slice(0, 7), ['weft', 'up', '--tun=userspace', '--socks5', SOCKS, '--http-proxy', HTTP_PROXY]);
    const argv = [...AS_NOBODY, ...WEFT_CLI, ...up.slice(1), '--state-dir', n.stateDir, '--hostname', 'rootless', '--insecure-http'];
    await mesh.startAgent(n, argv, mesh.env);
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
    const viaReadme = await runReadme(1);
    assert.equal(viaReadme.code, 0, viaReadme.stderr);
    assert.equal(viaReadme.stdout, n.ipv4);
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

  test('the HTTP proxy: plain requests and CONNECT tunnels', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node('rootless');
    const plain = await runReadme(2);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, n.ipv4);
    for (const tunnel of [[], ['--proxytunnel']]) {
      const r = await mesh.lab.exec(n.ns, [...AS_NOBODY, 'curl', '-sS', '-m', '10', ...tunnel, '-x', `http://${HTTP_PROXY}`, `http://tunnode:${HTTP_PORT}/`], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, `${tunnel.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, n.ipv4);
    }
    const bad = await mesh.lab.exec(n.ns, ['curl', '-sS', '-m', '10', '-x', `http://${HTTP_PROXY}`, `http://nosuchpeer:${HTTP_PORT}/`], { timeoutMs: 20_000 });
    assert.match(bad.stdout, /"code":"ERR_BAD_GATEWAY","field":"host"/);
  });

  test('weft curl and weft nc reach the TUN node by name, as nobody', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node('rootless');
    const curl = await runReadme(3);
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(curl.stdout, n.ipv4);
    const nc = await runReadme(4, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(nc.code, 0, nc.stderr);
    assert.match(nc.stdout, new RegExp(`^HTTP/1.1 200 OK[^]*\r\n\r\n${n.ipv4.replace(/\./g, '\\.')}$`));
  });

  test('the embedding example (as nobody, WEFT_NATIVE=0) serves HTTP to the TUN node and fetches from it', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const e = mesh.node('embedded');
    const tunnode = mesh.node('tunnode');
    const env = { ...mesh.env, WEFT_SERVER: mesh.serverUrl, WEFT_AUTH_KEY: mesh.authKey, WEFT_STATE_DIR: e.stateDir, WEFT_INSECURE_HTTP: '1', PEER_URL: `http://tunnode:${HTTP_PORT}/`, WEFT_NATIVE: '0' };
    e.agent = mesh.lab.spawn(e.ns, [...AS_NOBODY, process.execPath, EXAMPLE], { env });
    const m = await e.agent.waitFor(/serving http:\/\/(\S+):8080\/ as embedded/, 20_000);
    const fetched = await e.agent.waitFor(/fetched (\d+): (\S+)/, 20_000);
    assert.deepEqual([fetched[1], fetched[2]], ['200', m[1]]);
    const maps = readFileSync(`/proc/${e.agent.pid}/maps`, 'utf8');
    assert.ok(!maps.includes('weft_native.node'), 'WEFT_NATIVE=0: the I/O addon is not loaded');
    assert.ok(!maps.includes('weft_lwip.node'), 'WEFT_NATIVE=0: nor the lwIP addon (the wasm build runs the stack)');
    await mesh.waitPeers('tunnode', ['rootless', 'embedded']);
    assert.equal(await mesh.fetchText(tunnode.ns, `http://${m[1]}:8080/`, 10), 'hello from embedded\n');
    await e.agent.kill('SIGTERM', 5000);
    assert.equal(e.agent.exit?.code, 0, e.agent.stderr);
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
