// No C addon at all: `WEFT_NATIVE=0 weft up --tun=userspace` (engine on dgram, the
// WebAssembly lwIP as its stack) reaches a peer over TCP on loopback, through `weft curl`
// and its SOCKS5 proxy. The peer is the embedding example, also with WEFT_NATIVE=0,
// serving HTTP on the mesh. Neither process maps weft_native.node or weft_lwip.node.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AdminClient } from '../../src/control/admin-client.js';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { socksConnect } from '../../src/netstack/socks5-client.js';
import { socksSocketPath } from '../../src/netstack/front-doors.js';
import { exited, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { freePort } from '../helpers/haproxy.js';
import { waitFor } from '../helpers/wait.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/embedded.mjs', import.meta.url));
const NO_ADDON = { ...process.env, WEFT_NATIVE: '0', LOG_LEVEL: 'warn' };

let dir: string;
let server: ServerProcess;
let key: string;
const procs: ChildProcess[] = [];
const logs = new Map<ChildProcess, string>();

function start(argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  logs.set(p, '');
  const add = (d: Buffer) => logs.set(p, logs.get(p)! + d.toString());
  p.stdout!.on('data', add);
  p.stderr!.on('data', add);
  procs.push(p);
  return p;
}

function addonsMapped(p: ChildProcess): string[] {
  const maps = readFileSync(`/proc/${p.pid}/maps`, 'utf8');
  return ['weft_native.node', 'weft_lwip.node'].filter((a) => maps.includes(a));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-noaddon-'));
  server = await startServerProcess(['--state-dir', join(dir, 'server'), '--stun-port', '0']);
  const admin = new AdminClient({ socketPath: join(dir, 'server', 'admin.sock') });
  ({ key } = await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true }));
});

after(async () => {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map(exited));
  server.proc.kill('SIGTERM');
  await exited(server.proc);
  rmSync(dir, { recursive: true, force: true });
});

test('WEFT_NATIVE=0 weft up --tun=userspace reaches a peer over TCP (weft curl, SOCKS5) with the wasm stack', { timeout: 90_000 }, async () => {
  const peerEnv = { ...NO_ADDON, WEFT_SERVER: server.url, WEFT_AUTH_KEY: key, WEFT_STATE_DIR: join(dir, 'peer'), WEFT_INSECURE_HTTP: '1', WEFT_HOSTNAME: 'peer' };
  const peer = start([EXAMPLE], peerEnv);
  assert.ok(await waitFor(() => /serving http:\/\/\S+:8080\/ as peer/.test(logs.get(peer)!), 30_000, 100), `the peer serves\n${logs.get(peer)}`);

  const state = join(dir, 'user');
  const socksPort = await freePort();
  const node = start(
    [WEFT_JS, 'up', '--tun=userspace', '--socks5', `127.0.0.1:${socksPort}`, '--server', server.url, '--auth-key', key, '--state-dir', state, '--hostname', 'user', '--insecure-http'],
    NO_ADDON,
  );
  const curl = () => spawnSync(process.execPath, [WEFT_JS, 'curl', 'http://peer:8080/', '--state-dir', state], { env: NO_ADDON, encoding: 'utf8', timeout: 15_000 });
  let last: ReturnType<typeof curl> | undefined;
  const reached = await waitFor(() => (last = curl()).stdout === 'hello from peer\n', 45_000, 500);
  assert.ok(reached, `weft curl: ${last?.status} ${last?.stdout} ${last?.stderr}\n--- node:\n${logs.get(node)}\n--- peer:\n${logs.get(peer)}`);

  // The same peer through the SOCKS5 proxy (the state-dir socket `weft nc` uses), by
  // name, with a request of our own; then curl through the --socks5 TCP port.
  const s = await socksConnect(socksSocketPath(state), 'peer', 8080);
  s.end('GET /x HTTP/1.0\r\n\r\n');
  let got = '';
  for await (const d of s) got += d;
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello from peer\n$/);
  const viaCurl = spawnSync('curl', ['-sS', '-m', '10', '--socks5-hostname', `127.0.0.1:${socksPort}`, 'http://peer:8080/'], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(viaCurl.stdout, 'hello from peer\n', viaCurl.stderr);

  assert.deepEqual(addonsMapped(node), [], 'the agent runs without any C addon');
  assert.deepEqual(addonsMapped(peer), [], 'the embedded peer runs without any C addon');
});
