// Handshake-flood benchmark: does an established tunnel keep its throughput while a
// third namespace floods the responder with handshake initiations that carry a valid
// mac1 (the most expensive kind of junk: without cookies each costs a DH)?
//
//   node dist/bench/flood.js [--impl weft|wireguard-go|both] [--rounds N] [--duration S] [--sources N] [--json FILE]
//
// Topology: A <-veth-> B (the tunnel, iperf3 A -> B through it) and C <-veth-> B, the
// attacker, with N source addresses, sending initiations to B's UDP port as fast as
// the handshake-flood agent can (bounded by --duration + 2 s and 20 M packets). Per
// round: TCP throughput without flood, then with flood; the flood agent counts the
// cookie replies that came back (proof that B's cookie mechanism engaged). Exit code
// 1 when something could not be measured.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, exec, sleep, sweepStale } from '../src/lab/netns.js';
import { addLoadNamespace } from '../src/lab/load-ns.js';
import { missingTools, rootReason } from '../src/lab/require.js';
import { createPair, implUnavailable, WEFT, WIREGUARD_GO, type WgImpl, type WgPair } from '../src/lab/wg-pair.js';
import { acquireLock } from '../src/lab/lock.js';
import { runBench } from './common.js';

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string', default: 'weft' },
    rounds: { type: 'string', default: '1' },
    duration: { type: 'string', default: '10' },
    sources: { type: 'string', default: '16' },
    json: { type: 'string' },
  },
});
const ROUNDS = Math.max(1, Math.min(10, Number(args.rounds)));
const DUR = Math.max(3, Math.min(60, Number(args.duration)));
const SOURCES = Math.max(1, Math.min(200, Number(args.sources)));
const AGENTS = fileURLToPath(new URL('../src/lab/agents/', import.meta.url));

interface Round {
  impl: string;
  baselineMbps: number;
  floodMbps: number;
  ratio: number;
  floodSent: number;
  floodPps: number;
  cookieReplies: number;
}

async function iperfMbps(p: WgPair, seconds: number): Promise<number> {
  const r = await exec(p.a.ns, ['iperf3', '-c', p.b.tun4, '-p', '5201', '-J', '-t', String(seconds)], { timeoutMs: (seconds + 25) * 1000 });
  const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
  if (j.error || !j.end?.sum_received) throw new Error(`iperf3: ${j.error ?? 'no result'}`);
  return j.end.sum_received.bits_per_second / 1e6;
}

async function round(impl: WgImpl, log: (s: string) => void): Promise<Round> {
  const lab = new Lab();
  try {
    const p = await createPair({ a: impl, b: impl, endpoints: 'both', lab });
    try {
      const warm = await p.ping('a', 4, 3);
      if (warm.received < 2) throw new Error(`tunnel not up: ${warm.output}`);
      const load = await addLoadNamespace(lab, p.b.ns, SOURCES, { a: 'atk', b: 'atkb' });
      const srv = p.lab.spawn(p.b.ns, ['iperf3', '-s', '--forceflush', '-B', p.b.tun4, '-p', '5201']);
      await srv.waitFor(/Server listening/, 10_000);

      const baselineMbps = await iperfMbps(p, DUR);
      log(`    ${impl.name}: without flood ${baselineMbps.toFixed(0)} Mbit/s`);
      const floodMs = (DUR + 2) * 1000;
      const flood = exec(
        load.ns,
        [process.execPath, join(AGENTS, 'handshake-flood.js'), load.target, String(p.b.port), p.b.keys.publicKey, '20000000', String(floodMs), load.sources.join(',')],
        { timeoutMs: floodMs + 20_000 },
      );
      await sleep(1000);
      const floodMbps = await iperfMbps(p, DUR);
      const fr = await flood;
      let f: { sent: number; ms: number; cookieReplies: number };
      try {
        f = JSON.parse(fr.stdout.trim()) as typeof f;
      } catch {
        throw new Error(`flood agent failed (code ${fr.code}): ${fr.stderr.slice(-500)}`);
      }
      const after = await p.ping('a', 4, 3);
      if (after.received < 2) throw new Error(`tunnel down after the flood: ${after.output}`);
      const probs = p.engineProblems();
      if (probs.length) throw new Error(probs.join('; '));
      const r: Round = {
        impl: impl.name,
        baselineMbps,
        floodMbps,
        ratio: floodMbps / baselineMbps,
        floodSent: f.sent,
        floodPps: f.sent / (f.ms / 1000),
        cookieReplies: f.cookieReplies,
      };
      log(`    ${impl.name}: under flood ${floodMbps.toFixed(0)} Mbit/s (${(r.ratio * 100).toFixed(0)}%), flood ${(r.floodPps / 1000).toFixed(1)} kpps, ${r.cookieReplies} cookie replies`);
      return r;
    } finally {
      await p.stop();
    }
  } finally {
    await lab.destroy().catch(() => {});
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<number> {
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const pre = [rootReason(), ...missingTools(['ip', 'wg', 'iperf3', 'ping'])].filter(Boolean);
  if (pre.length) {
    log(`cannot run: ${pre.join('; ')}`);
    return 1;
  }
  const impls = [WEFT, WIREGUARD_GO].filter((i) => args.impl === 'both' || args.impl === i.name);
  if (!impls.length) {
    log(`unknown --impl ${args.impl}`);
    return 1;
  }
  for (const i of impls) {
    const why = implUnavailable(i);
    if (why) {
      log(`${i.name}: unavailable (${why})`);
      return 1;
    }
  }
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the e2e lock (pid ${pid})`) });
  const rounds: Round[] = [];
  const failures: string[] = [];
  try {
    await sweepStale();
    for (let r = 0; r < ROUNDS; r++) {
      for (const impl of r % 2 === 0 ? impls : [...impls].reverse()) {
        log(`round ${r + 1}/${ROUNDS}: ${impl.name}, ${SOURCES} flood sources`);
        try {
          rounds.push(await round(impl, log));
        } catch (err) {
          failures.push(`${impl.name} round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    lock.release();
  }
  const lines = [`Handshake flood (valid mac1, ${SOURCES} sources), TCP 1 stream ${DUR} s, medians of ${ROUNDS} round(s):`];
  lines.push('| engine | TCP without flood (Mbit/s) | TCP under flood (Mbit/s) | kept | flood sent (kpps) | cookie replies received |');
  lines.push('|---|--:|--:|--:|--:|--:|');
  for (const impl of impls) {
    const rs = rounds.filter((x) => x.impl === impl.name);
    if (!rs.length) continue;
    const m = (f: (x: Round) => number): number => median(rs.map(f));
    lines.push(`| ${impl.name} | ${m((x) => x.baselineMbps).toFixed(0)} | ${m((x) => x.floodMbps).toFixed(0)} | ${(m((x) => x.ratio) * 100).toFixed(0)}% | ${(m((x) => x.floodPps) / 1000).toFixed(1)} | ${m((x) => x.cookieReplies)} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ rounds, failures }, null, 2));
  if (failures.length) {
    log(`could not measure:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

runBench('flood bench', main);
