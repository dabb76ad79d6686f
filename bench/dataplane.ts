// Data-plane benchmark: weft <-> weft against wireguard-go <-> wireguard-go, two
// namespaces joined by a veth, interleaved rounds, medians and the weft/wireguard-go
// ratio per metric.
//
//   node dist/bench/dataplane.js [--rounds N] [--duration S] [--udp-duration S] [--only weft|wireguard-go]
//                                [--tests all|udp] [--no-veth] [--gen-rates KPPS,...] [--json FILE]
//
// UDP is measured twice: with iperf3 (one sendto() per datagram, which caps it at
// 41-210 kpps over a bare veth here, by load) and with the batched generator of bench/udpgen.ts (sendmmsg + UDP GSO
// sender, recvmmsg receiver). Each round also runs TCP and both UDP loads over a bare veth
// (no tunnel): the machine's ceiling for each, and "weft/veth" the share weft reaches.
// TCP 1 stream also records how busy the machine's CPUs were (a free core or not).
// `--tests udp` skips TCP and ping.
// Every measure is bounded in time (iperf3 -t plus a hard kill, ping -c/-w, the
// generator's own bounds). Exit code 1 when something could not be measured (including
// weft unavailable, unless --only wireguard-go). With --gen-rates the generator also runs
// paced at each of those rates through the tunnels, and "peak" is the most any of its
// runs (paced or not) got through: an engine whose rate collapses when flooded is not
// judged by the flood alone.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { sleep, sweepStale, type Lab } from '../src/lab/netns.js';
import { missingTools, rootReason } from '../src/lab/require.js';
import { createPair, implUnavailable, WEFT, WIREGUARD_GO, type WgImpl, type WgPair } from '../src/lab/wg-pair.js';
import { acquireLock } from '../src/lab/lock.js';
import { bareVeth, describeRun, udpgen, VETH, type UdpgenRun } from './udpgen.js';
import { busyPct, cpuSeconds, fmt, iperfClient, machineCpu, markdownTable, median, pingRtts, processTree, quantile, runBench, startIperfServer, type IperfJson, udpStats } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    'udp-duration': { type: 'string', default: '5' },
    only: { type: 'string' },
    tests: { type: 'string', default: 'all' },
    'no-veth': { type: 'boolean', default: false },
    'gen-rates': { type: 'string', default: '' },
    json: { type: 'string' },
  },
});
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds)));
const DUR = Math.max(2, Math.min(60, Number(args.duration)));
const UDP_DUR = Math.max(2, Math.min(60, Number(args['udp-duration'])));
const UDP_ONLY = args.tests === 'udp';
const GEN_RATES = args['gen-rates'].split(',').filter(Boolean).map((x) => Math.max(1, Math.min(10_000, Number(x))));
if (GEN_RATES.some((r) => !Number.isFinite(r))) throw new Error(`--gen-rates: numbers (kpps) separated by commas, not ${args['gen-rates']}`);
if (!UDP_ONLY && args.tests !== 'all') throw new Error(`--tests must be all or udp, not ${args.tests}`);

type Metric =
  | 'tcp1_mbps'
  | 'tcp4_mbps'
  | 'udp64_kpps'
  | 'udp64_loss_pct'
  | 'udp1400_kpps'
  | 'udp1400_mbps'
  | 'udp1400_loss_pct'
  | 'gen64_kpps'
  | 'gen64_sent_kpps'
  | 'gen64_loss_pct'
  | 'gen64_peak_kpps'
  | 'gen1400_kpps'
  | 'gen1400_sent_kpps'
  | 'gen1400_mbps'
  | 'gen1400_loss_pct'
  | 'gen1400_peak_kpps'
  | 'rtt_idle_p50_ms'
  | 'rtt_idle_p99_ms'
  | 'rtt_load_p50_ms'
  | 'rtt_load_p99_ms'
  | 'cpu_s_per_gb'
  | 'busy_tcp1_pct'
  | 'vmhwm_a_mb'
  | 'vmhwm_b_mb'
  | 'load1';

const METRICS: Array<{ key: Metric; label: string; better: 'higher' | 'lower' }> = [
  { key: 'tcp1_mbps', label: `TCP 1 stream (Mbit/s, ${DUR} s)`, better: 'higher' },
  { key: 'tcp4_mbps', label: `TCP 4 streams (Mbit/s, ${DUR} s)`, better: 'higher' },
  { key: 'udp64_kpps', label: 'UDP 64 B packets (kpps received)', better: 'higher' },
  { key: 'udp64_loss_pct', label: 'UDP 64 B loss (%)', better: 'lower' },
  { key: 'udp1400_kpps', label: 'UDP 1400 B packets (kpps received)', better: 'higher' },
  { key: 'udp1400_mbps', label: 'UDP 1400 B goodput (Mbit/s)', better: 'higher' },
  { key: 'udp1400_loss_pct', label: 'UDP 1400 B loss (%)', better: 'lower' },
  { key: 'gen64_kpps', label: 'udpgen 64 B (kpps received)', better: 'higher' },
  { key: 'gen64_sent_kpps', label: 'udpgen 64 B (kpps sent)', better: 'higher' },
  { key: 'gen64_loss_pct', label: 'udpgen 64 B loss (%)', better: 'lower' },
  { key: 'gen64_peak_kpps', label: 'udpgen 64 B peak over --gen-rates (kpps received)', better: 'higher' },
  { key: 'gen1400_kpps', label: 'udpgen 1400 B (kpps received)', better: 'higher' },
  { key: 'gen1400_sent_kpps', label: 'udpgen 1400 B (kpps sent)', better: 'higher' },
  { key: 'gen1400_mbps', label: 'udpgen 1400 B goodput (Mbit/s)', better: 'higher' },
  { key: 'gen1400_loss_pct', label: 'udpgen 1400 B loss (%)', better: 'lower' },
  { key: 'gen1400_peak_kpps', label: 'udpgen 1400 B peak over --gen-rates (kpps received)', better: 'higher' },
  { key: 'rtt_idle_p50_ms', label: 'ping RTT idle p50 (ms)', better: 'lower' },
  { key: 'rtt_idle_p99_ms', label: 'ping RTT idle p99 (ms)', better: 'lower' },
  { key: 'rtt_load_p50_ms', label: 'ping RTT under TCP load p50 (ms)', better: 'lower' },
  { key: 'rtt_load_p99_ms', label: 'ping RTT under TCP load p99 (ms)', better: 'lower' },
  { key: 'cpu_s_per_gb', label: 'engine CPU s per GB (both sides, TCP 1)', better: 'lower' },
  // Whether a core was free for more work (a crypto thread) while TCP 1 ran.
  { key: 'busy_tcp1_pct', label: 'machine CPU busy during TCP 1 (% of all cores)', better: 'lower' },
  { key: 'vmhwm_a_mb', label: 'engine A VmHWM (MB)', better: 'lower' },
  { key: 'vmhwm_b_mb', label: 'engine B VmHWM (MB)', better: 'lower' },
  { key: 'load1', label: 'load average (1 min) after the round', better: 'lower' },
];

type Sample = Partial<Record<Metric, number>>;

/** Peak RSS (VmHWM) of an engine, summed over its process tree. */
function vmHwmMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  if (!kb) throw new Error(`no VmHWM for ${pid}`);
  return kb / 1024;
}

function iperf(p: WgPair, argv: string[], seconds: number, port = 5201): Promise<IperfJson> {
  return iperfClient(p.a.ns, p.b.tun4, argv, seconds, port);
}

/**
 * UDP 64 B and 1400 B (inner IP sizes; payload = size - 28) from `fromNs` to `target`
 * in `toNs`, where an iperf3 server listens on `target`:5201: iperf3 `-b 0`, then the
 * batched generator (also at each of --gen-rates when `paced`).
 */
async function measureUdp(lab: Lab, fromNs: string, toNs: string, target: string, name: string, log: (s: string) => void, paced = false): Promise<Sample> {
  const out: Sample = {};
  const u64 = udpStats(await iperfClient(fromNs, target, ['-u', '-b', '0', '-l', '36'], UDP_DUR));
  out.udp64_kpps = u64.kpps;
  out.udp64_loss_pct = u64.lossPct;
  const u1400 = udpStats(await iperfClient(fromNs, target, ['-u', '-b', '0', '-l', '1372'], UDP_DUR));
  out.udp1400_kpps = u1400.kpps;
  out.udp1400_loss_pct = u1400.lossPct;
  out.udp1400_mbps = (u1400.kpps * 1000 * 1372 * 8) / 1e6;
  log(`    ${name}: iperf3 UDP64 ${u64.kpps.toFixed(1)} kpps (${u64.lossPct.toFixed(1)}% loss), UDP1400 ${u1400.kpps.toFixed(1)} kpps (${u1400.lossPct.toFixed(1)}% loss)`);
  for (const ipBytes of [64, 1400] as const) {
    const g = await udpgen(lab, { fromNs, toNs, target, ipBytes, seconds: UDP_DUR });
    Object.assign(out, genSample(ipBytes, g));
    log(`    ${name}: ${describeRun(`udpgen ${ipBytes} B`, g)}`);
    if (!paced) continue;
    let peak = g.kpps;
    for (const kpps of GEN_RATES) {
      const r = await udpgen(lab, { fromNs, toNs, target, ipBytes, seconds: UDP_DUR, rate: kpps * 1000 });
      log(`    ${name}: ${describeRun(`udpgen ${ipBytes} B paced at ${kpps} kpps`, r)}`);
      peak = Math.max(peak, r.kpps);
    }
    out[ipBytes === 64 ? 'gen64_peak_kpps' : 'gen1400_peak_kpps'] = peak;
  }
  return out;
}

/**
 * TCP and UDP over a bare veth between two fresh namespaces: the machine's own ceiling
 * for each measure (TCP: the issue's "fraction of raw veth"), each load generator's
 * ceiling; then the generator once more with a receiver without UDP_GRO. Over a bare veth
 * a GSO send crosses as one buffer up to a GRO socket, so the first figure is the
 * generator's own limit; without GRO the receiver reads every datagram, as it does behind
 * a tunnel.
 */
async function measureVeth(log: (s: string) => void): Promise<{ veth: Sample; vethNoGro: Sample }> {
  const { lab, a, b } = await bareVeth();
  try {
    await startIperfServer(lab, b, VETH.b4, 5201);
    const tcp = UDP_ONLY ? {} : await tcpStreams(a, VETH.b4, 'bare veth', log);
    const veth = { ...tcp, ...(await measureUdp(lab, a, b, VETH.b4, 'bare veth', log)), load1: loadavg()[0] };
    const vethNoGro: Sample = {};
    for (const ipBytes of [64, 1400] as const) {
      const g = await udpgen(lab, { fromNs: a, toNs: b, target: VETH.b4, ipBytes, seconds: UDP_DUR, noGro: true });
      log(`    bare veth: ${describeRun(`udpgen ${ipBytes} B, receiver without GRO`, g)}`);
      Object.assign(vethNoGro, genSample(ipBytes, g));
    }
    return { veth, vethNoGro: { ...vethNoGro, load1: loadavg()[0] } };
  } finally {
    await lab.destroy();
  }
}

/** The udpgen metrics of one run. */
function genSample(ipBytes: 64 | 1400, g: UdpgenRun): Sample {
  return ipBytes === 64
    ? { gen64_kpps: g.kpps, gen64_sent_kpps: g.sentKpps, gen64_loss_pct: g.lossPct }
    : { gen1400_kpps: g.kpps, gen1400_sent_kpps: g.sentKpps, gen1400_mbps: g.mbps, gen1400_loss_pct: g.lossPct };
}

async function measure(impl: WgImpl, log: (s: string) => void): Promise<Sample> {
  const p = await createPair({ a: impl, b: impl, endpoints: 'both' });
  let out: Sample = {};
  try {
    const warm = await p.ping('a', 4, 3);
    if (warm.received < 2) throw new Error(`tunnel not up: ${warm.output}`);
    const pids = [p.a.engine.child.pid, p.b.engine.child.pid];
    await startIperfServer(p.lab, p.b.ns, p.b.tun4, 5201);
    await startIperfServer(p.lab, p.b.ns, p.b.tun4, 5202);

    if (!UDP_ONLY) out = await measureTcp(p, pids, log);
    Object.assign(out, await measureUdp(p.lab, p.a.ns, p.b.ns, p.b.tun4, impl.name, log, GEN_RATES.length > 0));

    if (!UDP_ONLY) {
      // RTT under load: a TCP stream on the second server while pinging.
      const load = iperf(p, [], DUR, 5202);
      await sleep(1000);
      const rttLoad = await pingRtts(p.a.ns, p.b.tun4, Math.max(100, (DUR - 3) * 100));
      await load;
      out.rtt_load_p50_ms = quantile(rttLoad, 0.5);
      out.rtt_load_p99_ms = quantile(rttLoad, 0.99);
    }

    out.vmhwm_a_mb = vmHwmMb(pids[0]);
    out.vmhwm_b_mb = vmHwmMb(pids[1]);
    out.load1 = loadavg()[0];
    const probs = p.engineProblems();
    if (probs.length) throw new Error(probs.join('; '));
    return out;
  } finally {
    await p.stop();
  }
}

/** Idle ping, TCP 1 stream (with the engines' CPU per GB) and TCP 4 streams. */
async function measureTcp(p: WgPair, pids: number[], log: (s: string) => void): Promise<Sample> {
  const out: Sample = {};
  const rttIdle = await pingRtts(p.a.ns, p.b.tun4, 200);
  out.rtt_idle_p50_ms = quantile(rttIdle, 0.5);
  out.rtt_idle_p99_ms = quantile(rttIdle, 0.99);

  const cpu0 = pids.map(cpuSeconds);
  Object.assign(out, await tcpStreams(p.a.ns, p.b.tun4, p.a.impl.name, log, (bytes) => {
    const cpu1 = pids.map(cpuSeconds);
    const cpu = cpu1[0] - cpu0[0] + (cpu1[1] - cpu0[1]);
    out.cpu_s_per_gb = cpu / (bytes / 1e9);
    return `CPU ${cpu.toFixed(1)} s`;
  }));
  return out;
}

/**
 * TCP 1 stream then 4 streams from `fromNs` to an iperf3 server on `target`:5201, with
 * the machine's busy share during the first; `afterOne` adds to its log line.
 */
async function tcpStreams(fromNs: string, target: string, name: string, log: (s: string) => void, afterOne: (bytes: number) => string = () => ''): Promise<Sample> {
  const out: Sample = {};
  const m0 = machineCpu();
  const t1 = await iperfClient(fromNs, target, [], DUR);
  out.busy_tcp1_pct = busyPct(m0, machineCpu());
  const recv = t1.end?.sum_received;
  if (!recv) throw new Error('iperf3 TCP: no sum_received');
  out.tcp1_mbps = recv.bits_per_second / 1e6;
  log(`    ${name}: TCP1 ${out.tcp1_mbps.toFixed(0)} Mbit/s, machine ${out.busy_tcp1_pct.toFixed(0)}% busy ${afterOne(recv.bytes)}`);

  const t4 = await iperfClient(fromNs, target, ['-P', '4'], DUR);
  out.tcp4_mbps = (t4.end?.sum_received?.bits_per_second ?? NaN) / 1e6;
  log(`    ${name}: TCP4 ${out.tcp4_mbps.toFixed(0)} Mbit/s`);
  return out;
}

async function main(): Promise<number> {
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };
  const pre = [rootReason(), ...missingTools(['ip', 'wg', 'iperf3', 'ping'])].filter(Boolean);
  if (pre.length) {
    log(`cannot run: ${pre.join('; ')}`);
    return 1;
  }
  const impls: WgImpl[] = [];
  const unavailable: Record<string, string> = {};
  for (const impl of [WEFT, WIREGUARD_GO]) {
    if (args.only && args.only !== impl.name) continue;
    const why = implUnavailable(impl);
    if (why) unavailable[impl.name] = why;
    else impls.push(impl);
  }
  for (const [n, why] of Object.entries(unavailable)) log(`${n}: unavailable (${why})`);

  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the e2e lock (pid ${pid})`) });
  const samples: Record<string, Sample[]> = { weft: [], 'wireguard-go': [], veth: [], 'veth-nogro': [] };
  const rounds: Array<Record<string, Sample>> = [];
  const failures: string[] = [];
  try {
    await sweepStale();
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? impls : [...impls].reverse();
      const round: Record<string, Sample> = {};
      rounds.push(round);
      for (const impl of order) {
        log(`round ${r + 1}/${ROUNDS}: ${impl.name} <-> ${impl.name} (load ${loadavg()[0].toFixed(1)})`);
        try {
          samples[impl.name].push((round[impl.name] = await measure(impl, log)));
        } catch (err) {
          failures.push(`${impl.name} round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
      if (args['no-veth']) continue;
      log(`round ${r + 1}/${ROUNDS}: bare veth, no tunnel (load ${loadavg()[0].toFixed(1)})`);
      try {
        const v = await measureVeth(log);
        samples.veth.push(v.veth);
        samples['veth-nogro'].push(v.vethNoGro);
      } catch (err) {
        failures.push(`bare veth round ${r + 1}: ${(err as Error).message}`);
        log(`  FAILED: ${(err as Error).message}`);
      }
    }
  } finally {
    lock.release();
  }

  const med = (name: string, k: Metric): number => median(samples[name].map((s) => s[k] ?? NaN));
  // The ratio within each round (its two runs were back to back), then the median of those.
  const perRound = (k: Metric): number => median(rounds.map((r) => (r.weft?.[k] ?? NaN) / (r['wireguard-go']?.[k] ?? NaN)));
  const rows = METRICS.map((m) => {
    const w = med('weft', m.key);
    const g = med('wireguard-go', m.key);
    return { metric: m.label, key: m.key, better: m.better, weft: w, wireguardGo: g, ratio: w / g, perRoundRatio: perRound(m.key), veth: med('veth', m.key), vethNoGro: med('veth-nogro', m.key) };
  }).filter((r) => [r.weft, r.wireguardGo, r.veth].some(Number.isFinite)); // --tests udp: no TCP rows
  const header = ['metric', 'weft', 'wireguard-go', 'weft/wg-go', 'per round', 'bare veth', 'weft/veth', 'veth, no GRO'];
  const cell = (name: string, v: number): string =>
    unavailable[name] ? 'unavailable' : impls.some((i) => i.name === name) ? fmt(v) : 'not run';
  // A ratio of loss percentages means nothing (and the bare veth's is often 0).
  const share = (r: (typeof rows)[number]): string => (r.key.endsWith('_loss_pct') ? '–' : fmt(r.weft / r.veth));
  const table = rows.map((r) => [r.metric, cell('weft', r.weft), cell('wireguard-go', r.wireguardGo), fmt(r.ratio), fmt(r.perRoundRatio), fmt(r.veth), share(r), fmt(r.vethNoGro)]);
  const outLines = [
    `Data plane, medians of ${ROUNDS} interleaved rounds (samples: weft ${samples.weft.length}, wireguard-go ${samples['wireguard-go'].length}, bare veth ${samples.veth.length}); ` +
      `TCP ${DUR} s, UDP ${UDP_DUR} s; UDP sizes are inner IP packet sizes; "per round" is the median of the rounds' weft/wg-go ratios; "bare veth" is the same load without a tunnel (weft/veth: the share of it weft reaches, or for times the multiple; none for loss), "veth, no GRO" the generator with a receiver reading every datagram.`,
    ...markdownTable(header, table),
  ];
  process.stdout.write(outLines.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ rounds: ROUNDS, duration: DUR, udpDuration: UDP_DUR, samples, perRound: rounds, rows, unavailable, failures }, null, 2));

  let code = 0;
  if (failures.length) {
    log(`could not measure:\n  ${failures.join('\n  ')}`);
    code = 1;
  }
  if (Object.keys(unavailable).length) code = 1;
  for (const impl of impls) {
    if (samples[impl.name].length === 0) code = 1;
  }
  return code;
}

runBench('dataplane bench', main);
