// Idle cost and configuration scale (issue 19), Weft and wireguard-go interleaved where
// the comparison applies.
//
//   node dist/bench/idle.js [--rounds N] [--seconds S] [--peers N] [--idle-peers N] [--agent-only]
//
// 1. A large configuration: an engine (weft-wg or wireguard-go, fresh per round, in its
//    own namespace) takes --peers peers (10,000 by default, an allowed /32 each, no
//    endpoints) from one file with `wg setconf`. Reported: the time `wg setconf` takes,
//    the engine's RSS afterwards, and a check that `wg show` lists every peer.
// 2. An idle engine: the same engines with --idle-peers peers (20) and no traffic, over
//    --seconds (60): CPU as a percentage of one core, wakeups per second (voluntary and
//    involuntary context switches of every thread, from /proc), RSS.
// 3. An idle agent: `weft up` on a real TUN in a namespace, and again with
//    `--tun=userspace` (lwIP in the process), with --idle-peers simulated peers
//    registered at a coordinator (no traffic to them), measured the same way. There
//    is no agent to compare it with here (wireguard-go has no control plane); the issue's
//    goals are printed beside it: < 0.5 % of a core, < 5 wakeups/s, RSS <= 64 MB.
// Root, `ip`, `wg` and wireguard-go are needed; every loop is bounded in count and time.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../src/crypto/keys.js';
import { acquireLock } from '../src/lab/lock.js';
import { ACTIVE_MS } from '../src/nat/heartbeat.js';
import { REKEY_ATTEMPT_TIME } from '../src/wireguard/constants.js';
import { NetnsMesh } from '../src/lab/mesh.js';
import { Lab, execOk, sleep, sweepStale } from '../src/lab/netns.js';
import { e2eRequired, missingTools, rootReason } from '../src/lab/require.js';
import { implUnavailable, PACKAGE_ROOT, randomIfname, startEngine, WEFT, WIREGUARD_GO, type WgImpl } from '../src/lab/wg-pair.js';
import { cpuSeconds, fmt, markdownTable, median, processTree, runBench } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '60' },
    peers: { type: 'string', default: '10000' },
    'idle-peers': { type: 'string', default: '20' },
    // Part 3 only (the agent), e.g. to compare two builds of the agent quickly.
    'agent-only': { type: 'boolean', default: false },
  },
});
const ROUNDS = Math.max(1, Math.min(10, Number(args.rounds)));
const SECONDS = Math.max(5, Math.min(300, Number(args.seconds)));
const PEERS = Math.max(1, Math.min(20_000, Number(args.peers)));
const IDLE_PEERS = Math.max(1, Math.min(250, Number(args['idle-peers'])));
const log = (s: string): void => void process.stderr.write(s + '\n');

interface Usage {
  cpuPct: number;
  wakeupsPerS: number;
  rssMiB: number;
  /** Wakeups per second by thread name, busiest first. */
  byThread: string;
}

/**
 * Context switches (voluntary + involuntary) of every thread of `pid` and its
 * descendants, by thread name (/proc/.../comm: node, libuv-worker, V8 workers...).
 */
function switches(pid: number): Map<string, number> {
  const by = new Map<string, number>();
  for (const p of processTree(pid)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const st = readFileSync(`/proc/${p}/task/${tid}/status`, 'utf8');
        const name = tid === String(p) ? 'main' : (/Name:\s+(.*)/.exec(st)?.[1]?.trim() ?? '?');
        const n = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
        by.set(name, (by.get(name) ?? 0) + n);
      } catch {
        /* thread gone */
      }
    }
  }
  return by;
}

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

function rssMiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return sum;
    }
  }, 0);
}

/** CPU, wakeups and RSS of `pid` over `seconds` of doing nothing. */
async function idleUsage(pid: number, seconds: number): Promise<Usage> {
  const [cpu0, sw0, t0] = [cpuSeconds(pid), switches(pid), performance.now()];
  await sleep(seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  const sw1 = switches(pid);
  // A thread that ended in the window counts as 0 (its switches are gone with it).
  const rate = [...sw1].map(([name, n]) => [name, Math.max(0, n - (sw0.get(name) ?? 0)) / s] as const).filter(([, r]) => r > 0);
  const byThread = rate.sort((a, b) => b[1] - a[1]).map(([name, r]) => `${name} ${fmt(r)}`).join(', ');
  return { cpuPct: ((cpuSeconds(pid) - cpu0) / s) * 100, wakeupsPerS: Math.max(0, total(sw1) - total(sw0)) / s, rssMiB: rssMiB(pid), byThread };
}

/** `strace -f -tt -C` on `pid` into `file` (every call, then a summary) until the returned function is called. */
function spawnStrace(pid: number, file: string): () => Promise<void> {
  const child = spawn('strace', ['-f', '-tt', '-C', '-o', file, '-p', String(pid)], { stdio: 'ignore' });
  return () =>
    new Promise((resolve) => {
      child.once('close', () => resolve());
      child.kill('SIGINT');
    });
}

/** A `wg setconf` file: a private key and `n` peers with an allowed /32 each. */
function configFile(dir: string, n: number): string {
  const lines = ['[Interface]', `PrivateKey = ${keyToBase64(generatePrivateKey())}`, ''];
  for (let i = 0; i < n; i++) {
    lines.push('[Peer]', `PublicKey = ${keyToBase64(publicKeyFromPrivate(generatePrivateKey()))}`, `AllowedIPs = 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, '');
  }
  const p = join(dir, `peers-${n}.conf`);
  writeFileSync(p, lines.join('\n'), { mode: 0o600 });
  return p;
}

interface EngineRound {
  impl: string;
  applyMs: number;
  rssMiB: number;
  idle: Usage;
}

async function engineRound(impl: WgImpl, bigConf: string, idleConf: string): Promise<EngineRound> {
  const lab = new Lab();
  try {
    const ns = await lab.addNs();
    // Idle first, on a fresh engine with the small configuration.
    const small = await startEngine(lab, ns, impl, randomIfname());
    await execOk(ns, ['wg', 'setconf', small.ifname, idleConf], { timeoutMs: 30_000 });
    await execOk(ns, ['ip', 'link', 'set', small.ifname, 'up']);
    await sleep(2_000);
    const idle = await idleUsage(small.child.pid, SECONDS);
    await small.child.kill('SIGTERM', 5_000);

    const big = await startEngine(lab, ns, impl, randomIfname());
    const t0 = performance.now();
    await execOk(ns, ['wg', 'setconf', big.ifname, bigConf], { timeoutMs: 120_000 });
    const applyMs = performance.now() - t0;
    const shown = (await execOk(ns, ['wg', 'show', big.ifname, 'peers'], { timeoutMs: 60_000 })).split('\n').filter(Boolean).length;
    if (shown !== PEERS) throw new Error(`${impl.name}: ${shown} peers configured, wanted ${PEERS}`);
    await sleep(1_000);
    return { impl: impl.name, applyMs, rssMiB: rssMiB(big.child.pid), idle };
  } finally {
    await lab.destroy().catch(() => {});
  }
}

type AgentTun = 'tun' | 'userspace';
const AGENT_TUNS: AgentTun[] = ['tun', 'userspace'];

/** `weft up` (a TUN or the userspace stack) with IDLE_PEERS simulated peers registered (they never send). */
async function agentIdle(tun: AgentTun): Promise<Usage> {
  const mesh = new NetnsMesh();
  try {
    await mesh.build(['idle']);
    await mesh.startServer();
    await mesh.createAuthKey();
    // Registered from the LAN namespace (the coordinator listens there): signed like agents.
    const control = join(PACKAGE_ROOT, 'dist', 'test', 'helpers', 'control.js');
    const js = `
      const { http, SimNode } = await import(${JSON.stringify(control)});
      const url = ${JSON.stringify(mesh.serverUrl)};
      const serverKey = (await http(url + '/api/v1/key', 'GET')).json.publicKey;
      for (let i = 0; i < ${IDLE_PEERS}; i++) {
        const r = await new SimNode(url, serverKey).register({ hostname: 'sim' + i, authKey: ${JSON.stringify(mesh.authKey)}, endpoints: ['192.0.2.' + (i + 1) + ':41641'] });
        if (r.status !== 200) throw new Error('register: ' + r.status);
      }`;
    await execOk(mesh.lanNs, [process.execPath, '--input-type=module', '-e', js], { timeoutMs: 60_000 });
    const n = await mesh.up('idle', ['--no-accept-dns', ...(tun === 'userspace' ? ['--tun=userspace'] : [])]);
    const status = await mesh.weft(n.ns, ['status', '--json', '--state-dir', n.stateDir]);
    const peers = (JSON.parse(status.stdout) as { peers: unknown[] }).peers.length;
    if (peers !== IDLE_PEERS) throw new Error(`agent: ${peers} peers in weft status, wanted ${IDLE_PEERS}`);
    // Start-up work settles: STUN, endpoint reports, and the handshakes the agent starts
    // to every online peer. The simulated ones never answer: WireGuard gives up after
    // REKEY_ATTEMPT_TIME (90 s), and each peer stays active (probed) for ACTIVE_MS (45 s)
    // after its last initiation (src/nat/heartbeat.ts).
    await sleep(REKEY_ATTEMPT_TIME + ACTIVE_MS + 5_000);
    const pid = n.agent!.pid;
    // WEFT_IDLE_STRACE=FILE: the system calls of the idle window (where wakeups come from;
    // strace itself adds many) and the agent's log.
    const file = process.env.WEFT_IDLE_STRACE;
    const trace = file ? spawnStrace(pid, file) : null;
    const usage = await idleUsage(pid, SECONDS);
    if (trace) {
      await trace();
      log(`strace in ${file}; the agent's log:\n${n.agent!.stdout.slice(-4000)}\n${n.agent!.stderr.slice(-4000)}`);
    }
    return usage;
  } finally {
    await mesh.destroy().catch(() => {});
  }
}

async function main(): Promise<number> {
  const pre = [rootReason(), ...missingTools(['ip', 'wg'])].filter((x): x is string => !!x);
  for (const i of [WEFT, WIREGUARD_GO]) {
    const why = implUnavailable(i);
    if (why) pre.push(`${i.name}: ${why}`);
  }
  if (pre.length) {
    log(`idle bench skipped: ${pre.join('; ')}`);
    return e2eRequired() ? 1 : 0;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'weft-idle-'));
  const rounds: EngineRound[] = [];
  const agents: Record<AgentTun, Usage[]> = { tun: [], userspace: [] };
  const failures: string[] = [];
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the e2e lock (pid ${pid})`) });
  try {
    await sweepStale();
    const bigConf = configFile(tmp, PEERS);
    const idleConf = configFile(tmp, IDLE_PEERS);
    for (let r = 0; r < ROUNDS; r++) {
      for (const impl of args['agent-only'] ? [] : [WEFT, WIREGUARD_GO]) {
        log(`round ${r + 1}/${ROUNDS}: ${impl.name}`);
        try {
          const x = await engineRound(impl, bigConf, idleConf);
          rounds.push(x);
          log(`    ${PEERS} peers applied in ${x.applyMs.toFixed(0)} ms, RSS ${x.rssMiB.toFixed(0)} MiB; idle with ${IDLE_PEERS}: ${fmt(x.idle.cpuPct)} % CPU, ${fmt(x.idle.wakeupsPerS)} wakeups/s, ${x.idle.rssMiB.toFixed(0)} MiB`);
        } catch (err) {
          failures.push(`${impl.name} round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
      for (const tun of AGENT_TUNS) {
        log(`round ${r + 1}/${ROUNDS}: weft agent (${tun})`);
        try {
          const a = await agentIdle(tun);
          agents[tun].push(a);
          log(`    agent (${tun}) idle with ${IDLE_PEERS} peers: ${fmt(a.cpuPct)} % CPU, ${fmt(a.wakeupsPerS)} wakeups/s (${a.byThread}), ${a.rssMiB.toFixed(0)} MiB`);
        } catch (err) {
          failures.push(`agent (${tun}) round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    lock.release();
    rmSync(tmp, { recursive: true, force: true });
  }
  const med = (name: string, f: (x: EngineRound) => number) => median(rounds.filter((x) => x.impl === name).map(f));
  const ratio = (f: (x: EngineRound) => number) => fmt(med(WEFT.name, f) / med(WIREGUARD_GO.name, f));
  const row = (label: string, f: (x: EngineRound) => number, unit: string) => [label, `${fmt(med(WEFT.name, f))} ${unit}`, `${fmt(med(WIREGUARD_GO.name, f))} ${unit}`, `${ratio(f)}x`];
  const table = markdownTable(
    ['medians', 'weft', 'wireguard-go', 'ratio'],
    [
      row(`\`wg setconf\` of ${PEERS} peers`, (x) => x.applyMs, 'ms'),
      row(`RSS with ${PEERS} peers`, (x) => x.rssMiB, 'MiB'),
      row(`engine idle, ${IDLE_PEERS} peers: CPU`, (x) => x.idle.cpuPct, '%'),
      row(`engine idle, ${IDLE_PEERS} peers: wakeups`, (x) => x.idle.wakeupsPerS, '/s'),
      row(`engine idle, ${IDLE_PEERS} peers: RSS`, (x) => x.idle.rssMiB, 'MiB'),
    ],
  );
  const agentRow = (label: string, f: (a: Usage) => number, goal: string) => [label, ...AGENT_TUNS.map((t) => fmt(median(agents[t].map(f)))), goal];
  const agentTable = markdownTable(
    [`weft agent, ${IDLE_PEERS} peers, no traffic (medians)`, 'TUN', 'userspace', 'goal'],
    [
      agentRow('CPU, % of one core', (a) => a.cpuPct, '< 0.5'),
      agentRow('wakeups per second', (a) => a.wakeupsPerS, '< 5 beyond keepalives'),
      agentRow('RSS, MiB', (a) => a.rssMiB, '<= 64'),
    ],
  );
  const engines = args['agent-only'] ? [] : [...table, ''];
  process.stdout.write([`Idle and scale, ${ROUNDS} interleaved round(s), idle windows of ${SECONDS} s:`, '', ...engines, ...agentTable, ''].join('\n'));
  if (failures.length) {
    log(`could not measure:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

runBench('idle bench', main);
