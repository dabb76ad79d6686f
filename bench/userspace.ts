// Userspace stack benchmark (issue 15): in one netns mesh with a coordinator, an origin
// node (TUN) and four clients: one with a TUN and three `weft up --tun=userspace --socks5`,
// on the lwIP addon, on the WebAssembly lwIP (WEFT_NETSTACK=wasm), and with no C addon at
// all (WEFT_NATIVE=0: the wasm lwIP, dgram and sodium AEAD):
//  - TCP download throughput of each (curl, through SOCKS5 for the userspace ones), interleaved;
//  - memory per open connection of the userspace stack, addon and wasm (embedding API, after GC);
//  - cold start of examples/embedded.mjs to the first fetched byte (fresh state dir:
//    registration included), with and without the addons.
//
//   node dist/bench/userspace.js [--rounds N] [--mb MB] [--conns N] [--json FILE]
//
// Every load is bounded (curl -m, a fixed size, a fixed connection count).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { NetnsMesh } from '../src/lab/mesh.js';
import { sweepStale } from '../src/lab/netns.js';
import { missingTools, rootReason } from '../src/lab/require.js';
import { acquireLock } from '../src/lab/lock.js';
import { PACKAGE_ROOT } from '../src/lab/wg-pair.js';
import { fmt, markdownTable, median, runBench } from './common.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, mb: { type: 'string', default: '100' }, conns: { type: 'string', default: '1000' }, json: { type: 'string' } } });
const ROUNDS = Math.max(1, Math.min(10, Number(args.rounds)));
const MB = Math.max(1, Math.min(1000, Number(args.mb)));
const CONNS = Math.max(10, Math.min(5000, Number(args.conns)));
const HTTP_PORT = 9000;
const HOLD_PORT = 9001;
const SOCKS = '127.0.0.1:1080';
const AGENTS = join(PACKAGE_ROOT, 'dist', 'src', 'lab', 'agents');
const EXAMPLE = join(PACKAGE_ROOT, 'examples', 'embedded.mjs');

// Serves MB megabytes of random bytes on /big, a short text elsewhere; holds connections on HOLD_PORT.
const SERVER_JS = `
const buf = require('crypto').randomBytes(1 << 20);
require('http').createServer((q, s) => {
  if (q.url !== '/big') return s.end('ok\\n');
  s.writeHead(200, { 'content-length': ${MB} * buf.length });
  let left = ${MB};
  const pump = () => { while (left > 0) { left--; if (!s.write(buf)) return void s.once('drain', pump); } s.end(); };
  pump();
}).listen(${HTTP_PORT}, '::');
require('net').createServer((c) => c.on('error', () => {})).listen(${HOLD_PORT}, '::');
`;

const log = (m: string): void => void process.stderr.write(`# ${m}\n`);

async function curlMbps(mesh: NetnsMesh, client: string, url: string, socks: boolean): Promise<number> {
  const argv = ['curl', '-sS', '-g', '-m', '120', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...(socks ? ['--socks5-hostname', SOCKS] : []), url];
  const r = await mesh.lab.exec(mesh.node(client).ns, argv, { timeoutMs: 130_000 });
  const [speed, size] = r.stdout.trim().split(' ').map(Number);
  if (r.code !== 0 || size !== MB * (1 << 20)) throw new Error(`curl ${url}: code ${r.code}, ${size} bytes: ${r.stderr}`);
  return (speed * 8) / 1e6;
}

type Conns = { rssPerConn: number; heapPerConn: number; externalPerConn: number; wasmPerConn?: number };
/** The userspace clients: the lwIP build each runs (src/netstack/select.ts). */
const STACKS = { addon: { WEFT_NETSTACK: 'addon' }, wasm: { WEFT_NETSTACK: 'wasm' }, noaddon: { WEFT_NATIVE: '0' } } as const;
type Stack = keyof typeof STACKS;

async function memoryPerConn(mesh: NetnsMesh, stack: Stack): Promise<Conns> {
  const connsJs = join(AGENTS, 'weft-conns.js');
  const argv = [process.execPath, '--expose-gc', connsJs, mesh.serverUrl, mesh.authKey, join(mesh.dir, `conns-${stack}`), 'origin', String(HOLD_PORT), String(CONNS)];
  const cr = await mesh.lab.exec(mesh.node('embed').ns, argv, { timeoutMs: 300_000, env: { ...mesh.env, ...STACKS[stack] } });
  if (cr.code !== 0) throw new Error(`weft-conns (${stack}): ${cr.stderr}`);
  return JSON.parse(cr.stdout.trim().split('\n').pop()!) as Conns;
}

async function coldStart(mesh: NetnsMesh, stack: Stack, r: number): Promise<number> {
  const stateDir = mkdtempSync(join(tmpdir(), 'weft-cold-'));
  const t0 = performance.now();
  const env = { ...mesh.env, ...STACKS[stack], WEFT_SERVER: mesh.serverUrl, WEFT_AUTH_KEY: mesh.authKey, WEFT_STATE_DIR: stateDir, WEFT_INSECURE_HTTP: '1', WEFT_HOSTNAME: `cold-${stack}-${r}`, PEER_URL: `http://origin:${HTTP_PORT}/` };
  const c = mesh.lab.spawn(mesh.node('embed').ns, [process.execPath, EXAMPLE], { env });
  await c.waitFor(/fetched 200: ok/, 30_000);
  const ms = performance.now() - t0;
  await c.kill('SIGTERM', 3000);
  rmSync(stateDir, { recursive: true, force: true });
  return ms;
}

async function main(): Promise<number> {
  const reasons = [rootReason(), ...missingTools(['ip', 'curl'])].filter(Boolean);
  if (reasons.length) throw new Error(`cannot run: ${reasons.join('; ')}`);
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the lab lock held by pid ${pid}`) });
  const mesh = new NetnsMesh();
  const tun: number[] = [];
  const user: Record<Stack, number[]> = { addon: [], wasm: [], noaddon: [] };
  const cold: Record<Stack, number[]> = { addon: [], wasm: [], noaddon: [] };
  const conns = {} as Record<Stack, Conns>;
  const stacks = Object.keys(STACKS) as Stack[];
  try {
    await sweepStale();
    await mesh.build(['origin', 'tunclient', ...stacks.map((s) => `user-${s}`), 'embed']);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('origin');
    await mesh.up('tunclient');
    for (const s of stacks) await mesh.up(`user-${s}`, ['--tun=userspace', '--socks5', SOCKS], mesh.authKey, STACKS[s]);
    await mesh.waitPeers('origin', ['tunclient', ...stacks.map((s) => `user-${s}`)]);
    mesh.lab.spawn(mesh.node('origin').ns, [process.execPath, '-e', SERVER_JS]);
    const big = `http://${mesh.node('origin').ipv4}:${HTTP_PORT}/big`;
    for (let i = 0; i < 50 && (await mesh.fetchText(mesh.node('origin').ns, `http://127.0.0.1:${HTTP_PORT}/`)) === null; i++) await new Promise((r) => setTimeout(r, 100));
    for (let r = 0; r < ROUNDS; r++) {
      tun.push(await curlMbps(mesh, 'tunclient', big, false));
      for (const s of stacks) user[s].push(await curlMbps(mesh, `user-${s}`, big, true));
      log(`round ${r + 1}: TUN ${fmt(tun[r])} Mbit/s, ${stacks.map((s) => `${s} ${fmt(user[s][r])}`).join(', ')} Mbit/s`);
    }
    for (const s of ['addon', 'wasm'] as const) {
      conns[s] = await memoryPerConn(mesh, s);
      log(`memory per connection (${s}): ${JSON.stringify(conns[s])}`);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of ['addon', 'noaddon'] as const) cold[s].push(await coldStart(mesh, s, r));
      log(`cold start ${r + 1}: addon ${fmt(cold.addon[r])} ms, no addon ${fmt(cold.noaddon[r])} ms`);
    }
  } finally {
    await mesh.destroy();
    lock.release();
  }
  const m = (s: Stack) => median(user[s]);
  const kib = (c: Conns) => fmt((c.heapPerConn + c.externalPerConn) / 1024);
  const rows = [
    [`TCP download ${MB} MB through the mesh (Mbit/s)`, fmt(median(tun)), fmt(m('addon')), fmt(m('wasm')), fmt(m('noaddon')), fmt(m('addon') / median(tun)), fmt(m('wasm') / m('addon'))],
    [`memory per open connection, RSS (KiB, ${CONNS} conns)`, 'n/a (kernel)', fmt(conns.addon.rssPerConn / 1024), fmt(conns.wasm.rssPerConn / 1024), '', '', fmt(conns.wasm.rssPerConn / conns.addon.rssPerConn)],
    ['memory per open connection, JS heap + external (KiB)', 'n/a (kernel)', kib(conns.addon), kib(conns.wasm), '', '', ''],
    ['memory per open connection, lwIP heap in wasm memory (KiB)', 'n/a (kernel)', 'n/a (malloc)', fmt((conns.wasm.wasmPerConn ?? NaN) / 1024), '', '', ''],
    ['embedded example: process start to first fetched byte (ms)', '', fmt(median(cold.addon)), '', fmt(median(cold.noaddon)), '', ''],
  ];
  const head = ['metric', 'TUN', 'userspace (addon)', 'userspace (wasm)', 'no addon (WEFT_NATIVE=0)', 'addon/TUN', 'wasm/addon'];
  const out = [`Userspace stack (lwIP addon, lwIP wasm) vs TUN, medians of ${ROUNDS} interleaved rounds:`, ...markdownTable(head, rows)];
  process.stdout.write(out.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ rounds: ROUNDS, mb: MB, tun, user, conns, cold }, null, 2));
  return 0;
}

runBench('userspace bench', main);
