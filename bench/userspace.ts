// Userspace stack benchmark (issue 15): in one netns mesh with a coordinator, an origin
// node (TUN) and two clients, one with a TUN and one `weft up --tun=userspace --socks5`:
//  - TCP download throughput, TUN client vs userspace client (curl through SOCKS5), interleaved;
//  - memory per open connection of the userspace stack (embedding API, after GC);
//  - cold start of examples/embedded.mjs to the first fetched byte (fresh state dir: registration included).
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

async function main(): Promise<number> {
  const reasons = [rootReason(), ...missingTools(['ip', 'curl'])].filter(Boolean);
  if (reasons.length) throw new Error(`cannot run: ${reasons.join('; ')}`);
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the lab lock held by pid ${pid}`) });
  const mesh = new NetnsMesh();
  const tun: number[] = [];
  const user: number[] = [];
  const cold: number[] = [];
  let conns: { rssPerConn: number; heapPerConn: number; externalPerConn: number } | null = null;
  try {
    await sweepStale();
    await mesh.build(['origin', 'tunclient', 'userclient', 'embed']);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('origin');
    await mesh.up('tunclient');
    await mesh.up('userclient', ['--tun=userspace', '--socks5', SOCKS]);
    await mesh.waitPeers('origin', ['tunclient', 'userclient']);
    mesh.lab.spawn(mesh.node('origin').ns, [process.execPath, '-e', SERVER_JS]);
    const big = `http://${mesh.node('origin').ipv4}:${HTTP_PORT}/big`;
    for (let i = 0; i < 50 && (await mesh.fetchText(mesh.node('origin').ns, `http://127.0.0.1:${HTTP_PORT}/`)) === null; i++) await new Promise((r) => setTimeout(r, 100));
    for (let r = 0; r < ROUNDS; r++) {
      tun.push(await curlMbps(mesh, 'tunclient', big, false));
      user.push(await curlMbps(mesh, 'userclient', big, true));
      log(`round ${r + 1}: TUN ${fmt(tun[r])} Mbit/s, userspace ${fmt(user[r])} Mbit/s`);
    }
    const e = mesh.node('embed');
    const connsJs = join(AGENTS, 'weft-conns.js');
    const cr = await mesh.lab.exec(e.ns, [process.execPath, '--expose-gc', connsJs, mesh.serverUrl, mesh.authKey, join(mesh.dir, 'conns'), 'origin', String(HOLD_PORT), String(CONNS)], { timeoutMs: 300_000, env: mesh.env });
    if (cr.code !== 0) throw new Error(`weft-conns: ${cr.stderr}`);
    conns = JSON.parse(cr.stdout.trim().split('\n').pop()!);
    log(`memory per connection: ${JSON.stringify(conns)}`);
    for (let r = 0; r < ROUNDS; r++) {
      const stateDir = mkdtempSync(join(tmpdir(), 'weft-cold-'));
      const t0 = performance.now();
      const env = { ...mesh.env, WEFT_SERVER: mesh.serverUrl, WEFT_AUTH_KEY: mesh.authKey, WEFT_STATE_DIR: stateDir, WEFT_INSECURE_HTTP: '1', WEFT_HOSTNAME: `cold${r}`, PEER_URL: `http://origin:${HTTP_PORT}/` };
      const c = mesh.lab.spawn(e.ns, [process.execPath, EXAMPLE], { env });
      await c.waitFor(/fetched 200: ok/, 30_000);
      cold.push(performance.now() - t0);
      await c.kill('SIGTERM', 3000);
      rmSync(stateDir, { recursive: true, force: true });
      log(`cold start ${r + 1}: ${fmt(cold[r])} ms`);
    }
  } finally {
    await mesh.destroy();
    lock.release();
  }
  const rows = [
    [`TCP download ${MB} MB through the mesh (Mbit/s)`, fmt(median(tun)), fmt(median(user)), fmt(median(user) / median(tun))],
    [`memory per open connection, RSS (KiB, ${CONNS} conns)`, 'n/a (kernel)', fmt(conns!.rssPerConn / 1024), ''],
    ['memory per open connection, JS heap + external (KiB)', 'n/a (kernel)', fmt((conns!.heapPerConn + conns!.externalPerConn) / 1024), ''],
    ['embedded example: process start to first fetched byte (ms)', '', fmt(median(cold)), ''],
  ];
  const out = [`Userspace stack (lwIP) vs TUN, medians of ${ROUNDS} interleaved rounds:`, ...markdownTable(['metric', 'TUN', 'userspace', 'userspace/TUN'], rows)];
  process.stdout.write(out.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ rounds: ROUNDS, mb: MB, tun, user, conns, cold }, null, 2));
  return 0;
}

runBench('userspace bench', main);
