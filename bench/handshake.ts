// Handshake benchmark, two parts.
//
//   node dist/bench/handshake.js [--rounds N] [--duration S] [--peers N] [--window N] [--interval MS] [--impl weft|wireguard-go|both]
//                              [--baseline DIR] [--json FILE]
//
//   --baseline DIR: also runs the weft-wg of another build (DIR/dist/src/cli/weft-wg.js, e.g. a
//   worktree of main), interleaved with the others, as `weft-baseline`: before/after in one run.
//
// 1. Weft-only CPU cost per handshake, in process: a full Noise_IKpsk2 exchange
//    (initiation with MACs, responder checks mac1, consumes and answers, both derive
//    session keys) on one core, bounded in time and count; median of several rounds.
//    No network, no wireguard-go: it prices Weft's Noise code alone.
// 2. End to end, responder throughput, Weft and wireguard-go interleaved (root, `wg`,
//    `ip` and `wireguard-go` needed; otherwise skipped, or a failure under
//    WEFT_E2E_REQUIRED=1). Namespace B runs the engine under test (fresh per round),
//    configured with `wg set` and N peers (no endpoints: the responder learns them from
//    the initiations); namespace C, on its own veth to B, runs the handshake-load agent,
//    one source address per peer. The agent precomputes valid initiations (Weft's
//    Noise code, increasing timestamps per peer) and sends them in a closed loop with a
//    bounded window, each peer at most once per --interval ms. Per round: responses per
//    second, send-to-response latency, the engine's CPU (utime + stime from /proc) per
//    1000 handshakes, the generator's own CPU, cookie replies (the engine thought it was
//    under load), and ping p99 through an established session (namespace A) before and
//    during the storm, with B's share of each ping (tcpdump on B's veth to A: request in
//    to answer out, so the engine under test without the ping peer). Prints medians and
//    the Weft / wireguard-go ratio. Exit code 1 when something could not be measured.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeClock } from '../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../src/crypto/keys.js';
import { CookieChecker, CookieGenerator } from '../src/wireguard/cookie.js';
import {
  Handshake,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
} from '../src/wireguard/noise-protocol.js';
import { tai64n } from '../src/wireguard/tai64n.js';
import { Lab, execOk, sweepStale } from '../src/lab/netns.js';
import { addLoadNamespace } from '../src/lab/load-ns.js';
import { e2eRequired, missingTools, rootReason } from '../src/lab/require.js';
import { genKeyPair, implUnavailable, randomIfname, startEngine, writeSecret, WEFT, WIREGUARD_GO, type WgImpl } from '../src/lab/wg-pair.js';
import { acquireLock } from '../src/lab/lock.js';
import { captureResidences } from '../src/lab/residence.js';
import type { HandshakeLoadResult, HandshakeLoadSpec } from '../src/lab/agents/handshake-load.js';
import { cpuSeconds, fmt, markdownTable, median, pingRtts, quantile, runBench } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    peers: { type: 'string', default: '1024' },
    window: { type: 'string', default: '32' },
    interval: { type: 'string', default: '55' },
    impl: { type: 'string', default: 'both' },
    baseline: { type: 'string' },
    json: { type: 'string' },
  },
});
const E2E_ROUNDS = Math.max(1, Math.min(10, Number(args.rounds)));
const DUR_S = Math.max(1, Math.min(60, Number(args.duration)));
const WARMUP_S = Math.max(0, Math.min(10, Number(args.warmup)));
const PEERS = Math.max(1, Math.min(4096, Number(args.peers)));
const WINDOW = Math.max(1, Math.min(1024, Number(args.window)));
const INTERVAL_MS = Math.max(21, Math.min(10_000, Number(args.interval)));
const IMPLS = [WEFT, WIREGUARD_GO].filter((i) => args.impl === 'both' || args.impl === i.name);
if (IMPLS.length === 0) throw new Error(`--impl: weft, wireguard-go or both, not ${args.impl}`);
const BASELINE: WgImpl | null = args.baseline ? { name: 'weft-baseline', argv: [process.execPath, join(resolve(args.baseline), 'dist', 'src', 'cli', 'weft-wg.js')] } : null;
if (BASELINE) IMPLS.splice(1, 0, BASELINE);
const PORT = 51820;
const AGENTS = fileURLToPath(new URL('../src/lab/agents/', import.meta.url));
const log = (s: string): void => void process.stderr.write(s + '\n');

// ---- Part 1: Weft-only, in process ----

const ROUNDS = 5;
const ROUND_MS = 1_500;
const MAX_PER_ROUND = 100_000;

function inProcess(): { median: number; rates: number[] } {
  const clock = new FakeClock();
  const iPriv = generatePrivateKey();
  const rPriv = generatePrivateKey();
  const initiator = { privateKey: iPriv, publicKey: publicKeyFromPrivate(iPriv) };
  const responder = { privateKey: rPriv, publicKey: publicKeyFromPrivate(rPriv) };
  const iHs = new Handshake(responder.publicKey);
  iHs.setIdentity(initiator);
  const rHs = new Handshake(initiator.publicKey);
  rHs.setIdentity(responder);
  const gen = new CookieGenerator(responder.publicKey, clock);
  const rGen = new CookieGenerator(initiator.publicKey, clock);
  const checkerR = new CookieChecker(responder.publicKey, clock);
  const checkerI = new CookieChecker(initiator.publicKey, clock);

  const one = (n: number): void => {
    iHs.localIndex = n;
    const init = createInitiation(initiator, iHs, n, tai64n(clock.wallNow()))!;
    gen.addMacs(init);
    if (!checkerR.checkMAC1(init)) throw new Error('mac1');
    const hs = consumeInitiation(responder, init, () => rHs, clock.now());
    if (!hs) throw new Error('consume initiation');
    hs.localIndex = n + 1;
    const resp = createResponse(responder, hs, n + 1)!;
    rGen.addMacs(resp);
    if (!deriveSessionKeys(hs)) throw new Error('responder keys');
    if (!checkerI.checkMAC1(resp)) throw new Error('mac1 response');
    const ih = consumeResponse(initiator, resp, () => iHs);
    if (!ih || !deriveSessionKeys(ih)) throw new Error('initiator keys');
    clock.advance(21); // the responder accepts at most one initiation per 20 ms per peer
  };

  const rates: number[] = [];
  let n = 2;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    let count = 0;
    while (performance.now() - t0 < ROUND_MS && count < MAX_PER_ROUND) {
      one(n);
      n += 2;
      count++;
    }
    rates.push(count / ((performance.now() - t0) / 1000));
  }
  return { median: median(rates), rates };
}

// ---- Part 2: end to end, responder ----

interface Round {
  impl: string;
  hsPerS: number;
  latP50Ms: number;
  latP99Ms: number;
  engineCpuPer1k: number;
  engineCores: number;
  genCorePct: number;
  cookieReplies: number;
  timeouts: number;
  /** Ping p99 through an established tunnel to the engine, before and during the storm. */
  pingIdleP99Ms: number;
  pingStormP99Ms: number;
  pingStormP50Ms: number;
  pingStormP90Ms: number;
  /** The same, outside the tunnel (A to B's veth address): the machine's own floor. */
  underIdleP99Ms: number;
  underStormP99Ms: number;
  /** B's share of a ping (request in on its veth to answer out), p99; NaN without tcpdump. */
  inBIdleP99Ms: number;
  inBStormP99Ms: number;
  load: HandshakeLoadResult;
}

// An established session beside the storm: namespace A (wireguard-go, the same in every
// round) on its own veth to B, one more peer of B's, pinged at B's tunnel address
// before and during the storm; a storm must not stall sessions that already exist.
const PING_PEER = { underA: '10.203.0.2', underB: '10.203.0.1', tunA: '10.204.0.2', tunB: '10.204.0.1', port: PORT + 1 };
// As many pings idle as in the storm: a p99 from fewer samples is a different statistic.
const PING_COUNT = Math.max(50, (DUR_S - 1) * 100);
// B's share of each ping needs tcpdump; without it those columns say n/a.
const CAPTURE = missingTools(['tcpdump']).length === 0;

/** Namespace A and B's end of the veth between them. */
async function addPingPeer(lab: Lab, nsB: string, ifB: string, setup: Setup): Promise<{ nsA: string; vethB: string }> {
  const nsA = await lab.addNs();
  const link = await lab.veth(nsA, { v4: `${PING_PEER.underA}/24` }, nsB, { v4: `${PING_PEER.underB}/24` });
  const ifA = randomIfname();
  await startEngine(lab, nsA, WIREGUARD_GO, ifA);
  const a = await genKeyPair();
  const keyA = writeSecret(setup.tmp, 'ping-peer.key', a.privateKey);
  await execOk(nsA, ['wg', 'set', ifA, 'listen-port', String(PING_PEER.port), 'private-key', keyA, 'peer', setup.responderPublic, 'endpoint', `${PING_PEER.underB}:${PORT}`, 'allowed-ips', `${PING_PEER.tunB}/32`], { timeoutMs: 10_000 });
  await execOk(nsB, ['wg', 'set', ifB, 'peer', a.publicKey, 'endpoint', `${PING_PEER.underA}:${PING_PEER.port}`, 'allowed-ips', `${PING_PEER.tunA}/32`], { timeoutMs: 10_000 });
  for (const [ns, ifname, addr] of [[nsA, ifA, PING_PEER.tunA], [nsB, ifB, PING_PEER.tunB]]) {
    await execOk(ns, ['ip', 'addr', 'add', `${addr}/24`, 'dev', ifname], { timeoutMs: 10_000 });
    await execOk(ns, ['ip', 'link', 'set', ifname, 'up'], { timeoutMs: 10_000 });
  }
  return { nsA, vethB: link.ifB };
}

interface Setup {
  tmp: string;
  responderPrivate: string;
  responderPublic: string;
  peers: Array<{ privateKey: string; publicKey: string }>;
  cache: string;
}

function makeSetup(): Setup {
  const tmp = mkdtempSync(join(tmpdir(), 'weft-hsbench-'));
  const key = (): { privateKey: string; publicKey: string } => {
    const k = generatePrivateKey();
    return { privateKey: keyToBase64(k), publicKey: keyToBase64(publicKeyFromPrivate(k)) };
  };
  const r = key();
  const peers = Array.from({ length: PEERS }, key);
  return { tmp, responderPrivate: r.privateKey, responderPublic: r.publicKey, peers, cache: join(tmp, 'initiations.bin') };
}

async function round(impl: WgImpl, setup: Setup, n: number): Promise<Round> {
  const lab = new Lab();
  try {
    const nsB = await lab.addNs();
    const load = await addLoadNamespace(lab, nsB, PEERS);
    const ifname = randomIfname();
    const engine = await startEngine(lab, nsB, impl, ifname);
    const keyFile = writeSecret(setup.tmp, 'responder.key', setup.responderPrivate);
    const peerArgs = setup.peers.flatMap((p, i) => ['peer', p.publicKey, 'allowed-ips', `10.202.${i >> 8}.${i & 255}/32`]);
    await execOk(nsB, ['wg', 'set', ifname, 'listen-port', String(PORT), 'private-key', keyFile, ...peerArgs], { timeoutMs: 60_000 });
    const { nsA, vethB } = await addPingPeer(lab, nsB, ifname, setup);
    const shown = (await execOk(nsB, ['wg', 'show', ifname, 'peers'], { timeoutMs: 30_000 })).split('\n').filter(Boolean).length;
    if (shown !== PEERS + 1) throw new Error(`${impl.name}: ${shown} peers configured, wanted ${PEERS + 1}`);
    // The first ping makes the session; the idle figure is taken once it exists.
    await pingRtts(nsA, PING_PEER.tunB, 5);
    // B's share of each ping (its engine and kernel), from a capture on B's veth to A.
    const capture = CAPTURE ? await captureResidences(lab, nsB, vethB, PING_PEER.underB, PING_PEER.underA, join(setup.tmp, `ping-${n}.pcap`)) : null;
    // The same pings outside the tunnel (A to B's veth address), at the same time: the
    // floor this machine sets, which no engine can beat.
    const idleFrom = Date.now() / 1000;
    const [pingIdle, underIdle] = await Promise.all([pingRtts(nsA, PING_PEER.tunB, PING_COUNT), pingRtts(nsA, PING_PEER.underB, PING_COUNT)]);
    const idleTo = Date.now() / 1000;

    const spec: HandshakeLoadSpec = {
      target: load.target,
      port: PORT,
      responderPublicKey: setup.responderPublic,
      peers: setup.peers.map((p, i) => ({ privateKey: p.privateKey, source: load.sources[i] })),
      perPeer: Math.ceil(((WARMUP_S + DUR_S) * 1000) / INTERVAL_MS) + 2,
      window: WINDOW,
      intervalMs: INTERVAL_MS,
      timeoutMs: 250,
      warmupMs: WARMUP_S * 1000,
      durationMs: DUR_S * 1000,
      cache: setup.cache,
    };
    const specFile = join(setup.tmp, `spec-${n}.json`);
    writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
    const agent = lab.spawn(load.ns, [process.execPath, join(AGENTS, 'handshake-load.js'), specFile]);
    const fail = (what: string): Error => new Error(`${what}: agent ${JSON.stringify(agent.exit)} ${agent.stderr.slice(-800)}`);
    try {
      const ready = await agent.waitFor(/^ready (\d+)$/m, 300_000).catch(() => Promise.reject(fail('agent not ready')));
      rmSync(specFile, { force: true }); // the private keys are in memory now
      if (Number(ready[1]) > 1000) log(`    precomputed the initiations in ${(Number(ready[1]) / 1000).toFixed(1)} s`);
      await agent.waitFor(/^measure$/m, WARMUP_S * 1000 + 10_000).catch(() => Promise.reject(fail('no measure phase')));
      const cpu0 = cpuSeconds(engine.child.pid);
      const stormFrom = Date.now() / 1000;
      const stormPings = Promise.all([pingRtts(nsA, PING_PEER.tunB, PING_COUNT), pingRtts(nsA, PING_PEER.underB, PING_COUNT)]);
      const line = await agent.waitFor(/^(\{.*\})$/m, DUR_S * 1000 + 10_000).catch(() => Promise.reject(fail('no result')));
      const cpu1 = cpuSeconds(engine.child.pid);
      const [pingStorm, underStorm] = await stormPings;
      const stormTo = Date.now() / 1000;
      const inB = (await capture?.stop()) ?? [];
      const inBP99 = (from: number, to: number): number => quantile(inB.filter((x) => x.at >= from && x.at <= to).map((x) => x.ms), 0.99);
      if (!engine.child.running) throw new Error(`${impl.name} exited: ${JSON.stringify(engine.child.exit)} ${engine.child.stderr.slice(-500)}`);
      const r = JSON.parse(line[1]) as HandshakeLoadResult;
      if (!r.responses) throw new Error(`${impl.name}: no handshake responses (sent ${r.sent}, cookie replies ${r.cookieReplies}, timeouts ${r.timeouts})`);
      const s = r.measureMs / 1000;
      return {
        impl: impl.name,
        hsPerS: r.responses / s,
        latP50Ms: r.latencyP50Ms,
        latP99Ms: r.latencyP99Ms,
        engineCpuPer1k: ((cpu1 - cpu0) / r.responses) * 1000,
        engineCores: (cpu1 - cpu0) / s,
        genCorePct: (r.genCpuS / s) * 100,
        cookieReplies: r.cookieReplies,
        timeouts: r.timeouts,
        pingIdleP99Ms: quantile(pingIdle, 0.99),
        pingStormP99Ms: quantile(pingStorm, 0.99),
        pingStormP50Ms: quantile(pingStorm, 0.5),
        pingStormP90Ms: quantile(pingStorm, 0.9),
        underIdleP99Ms: quantile(underIdle, 0.99),
        underStormP99Ms: quantile(underStorm, 0.99),
        inBIdleP99Ms: inBP99(idleFrom, idleTo),
        inBStormP99Ms: inBP99(stormFrom, stormTo),
        load: r,
      };
    } finally {
      rmSync(specFile, { force: true });
    }
  } finally {
    await lab.destroy().catch(() => {});
  }
}

async function endToEnd(): Promise<{ rounds: Round[]; failures: string[]; skipped?: string }> {
  const pre = [rootReason(), ...missingTools(['ip', 'wg'])].filter((x): x is string => !!x);
  for (const i of IMPLS) {
    const why = implUnavailable(i);
    if (why) pre.push(`${i.name}: ${why}`);
  }
  if (pre.length) return { rounds: [], failures: [], skipped: pre.join('; ') };
  const setup = makeSetup();
  const rounds: Round[] = [];
  const failures: string[] = [];
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the e2e lock (pid ${pid})`) });
  try {
    await sweepStale();
    for (let r = 0; r < E2E_ROUNDS; r++) {
      for (const impl of IMPLS) {
        log(`round ${r + 1}/${E2E_ROUNDS}: ${impl.name}, ${PEERS} peers, window ${WINDOW}`);
        try {
          const x = await round(impl, setup, r);
          rounds.push(x);
          log(
            `    ${impl.name}: ${x.hsPerS.toFixed(0)} handshakes/s, p50 ${fmt(x.latP50Ms)} ms, engine ${fmt(x.engineCpuPer1k)} CPU s/1000 (${fmt(x.engineCores)} cores), ` +
              `generator ${x.genCorePct.toFixed(0)}% of a core, ${x.cookieReplies} cookie replies, ${x.timeouts} timeouts (${x.load.timeoutsMeasured} in the measured window), ` +
              `ping p99 ${fmt(x.pingIdleP99Ms)} ms idle, ${fmt(x.pingStormP99Ms)} ms in the storm (p50 ${fmt(x.pingStormP50Ms)}, p90 ${fmt(x.pingStormP90Ms)}); outside the tunnel ${fmt(x.underIdleP99Ms)} and ${fmt(x.underStormP99Ms)} ms; ` +
              `B's share p99 ${fmt(x.inBIdleP99Ms)} ms idle, ${fmt(x.inBStormP99Ms)} ms in the storm`,
          );
        } catch (err) {
          failures.push(`${impl.name} round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    lock.release();
    rmSync(setup.tmp, { recursive: true, force: true });
  }
  return { rounds, failures };
}

function e2eTable(rounds: Round[]): string[] {
  const by = (name: string): Round[] => rounds.filter((x) => x.impl === name);
  const m = (rs: Round[], f: (x: Round) => number): number => median(rs.map(f));
  const int = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
  const cols: Array<[string, (x: Round) => number, ((x: number) => string)?]> = [
    ['handshakes/s', (x) => x.hsPerS, int],
    ['response p50 (ms)', (x) => x.latP50Ms],
    ['response p99 (ms)', (x) => x.latP99Ms],
    ['engine CPU s / 1000 hs', (x) => x.engineCpuPer1k],
    ['engine CPU (cores)', (x) => x.engineCores],
    ['generator CPU (% core)', (x) => x.genCorePct],
    ['cookie replies', (x) => x.cookieReplies, int],
    ['timeouts', (x) => x.timeouts, int],
    ['ping p99 idle (ms)', (x) => x.pingIdleP99Ms],
    ['ping p99 storm (ms)', (x) => x.pingStormP99Ms],
    // The issue's goal (storm within 2x of idle), per round: rounds differ in machine load.
    ['ping p99 storm / idle', (x) => x.pingStormP99Ms / x.pingIdleP99Ms],
    // The machine's floor: the same pings beside the tunnel, not through it.
    ['veth ping p99 idle (ms)', (x) => x.underIdleP99Ms],
    ['veth ping p99 storm (ms)', (x) => x.underStormP99Ms],
    // How much of the storm's tail is the engine's own (B's share of each ping, from a capture).
    ['in B p99 idle (ms)', (x) => x.inBIdleP99Ms],
    ['in B p99 storm (ms)', (x) => x.inBStormP99Ms],
    ['in B storm / idle', (x) => x.inBStormP99Ms / x.inBIdleP99Ms],
  ];
  const names = IMPLS.map((i) => i.name);
  const rows = names.map((name) => [`${name} (${by(name).length})`, ...cols.map(([, f, show]) => (show ?? fmt)(m(by(name), f)))]);
  const ratio = (i: number, other: string): string => {
    const w = m(by(WEFT.name), cols[i][1]);
    const g = m(by(other), cols[i][1]);
    return Number.isFinite(w / g) ? `${(w / g).toFixed(2)}x` : 'n/a';
  };
  for (const other of names.filter((n) => n !== WEFT.name)) {
    rows.push([`weft / ${other}`, ...cols.map((_, i) => ([5, 6, 7].includes(i) ? '' : ratio(i, other)))]);
  }
  return markdownTable(['engine (rounds)', ...cols.map(([h]) => h)], rows);
}

async function main(): Promise<number> {
  const ip = inProcess();
  const out: string[] = [
    `Weft-only CPU cost per handshake (in process, one core, full exchange, both sides, no wireguard-go): ` +
      `median ${ip.median.toFixed(0)} handshakes/s = ${(1000 / ip.median).toFixed(3)} ms CPU each over ${ROUNDS} rounds [${ip.rates.map((x) => x.toFixed(0)).join(', ')}]`,
  ];
  process.stdout.write(out[0] + '\n');
  const e = await endToEnd();
  if (e.skipped) {
    log(`end-to-end responder benchmark skipped: ${e.skipped}`);
    return e2eRequired() ? 1 : 0;
  }
  const cap = (PEERS * 1000) / INTERVAL_MS;
  const lines = [
    '',
    `End to end, responder: ${PEERS} peers (one source address each), window ${WINDOW}, each peer at most every ${INTERVAL_MS} ms ` +
      `(cap ${cap.toFixed(0)} handshakes/s), ${DUR_S} s measured after ${WARMUP_S} s warm-up, medians of ${E2E_ROUNDS} interleaved round(s):`,
    ...e2eTable(e.rounds),
  ];
  const notes: string[] = [];
  for (const name of IMPLS.map((i) => i.name)) {
    const rs = e.rounds.filter((x) => x.impl === name);
    if (!rs.length) continue;
    const hs = median(rs.map((x) => x.hsPerS));
    const gen = median(rs.map((x) => x.genCorePct));
    const cookies = median(rs.map((x) => x.cookieReplies));
    if (cookies > 0) notes.push(`${name} sent cookie replies (it considered itself under load); the agent answered them with mac2, as a real initiator does.`);
    if (hs > 0.9 * cap) notes.push(`${name} reached ${((hs / cap) * 100).toFixed(0)}% of the pacing cap: the cap, not the engine, may be the limit.`);
    if (gen > 85) notes.push(`the generator used ${gen.toFixed(0)}% of a core against ${name}: it may be the bottleneck.`);
  }
  lines.push(...notes.map((n) => `Note: ${n}`));
  process.stdout.write(lines.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ inProcess: ip, rounds: e.rounds, failures: e.failures }, null, 2));
  const missing = IMPLS.map((i) => i.name).filter((n) => !e.rounds.some((x) => x.impl === n));
  if (e.failures.length || missing.length) {
    log(`could not measure:\n  ${[...e.failures, ...missing.map((n) => `${n}: no successful round`)].join('\n  ')}`);
    return 1;
  }
  return 0;
}

runBench('handshake bench', main);
