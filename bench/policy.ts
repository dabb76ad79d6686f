// Policy engine costs: compile time and netmap filter size at 1k and 10k nodes with 100
// rules, and the packet filter's cost per packet (allow-all vs the 100-rule filter of a
// 10k-node network). Deterministic inputs (seeded PRNG); prints medians of 5 runs.
//
// Then, as root with ip, iperf3 and ping, the same on the data plane: two real agents
// (TUN devices in namespaces, `weft server` as coordinator), TCP and ping from alice's
// node to a tag:server node under allow-all and under a 100-rule policy whose last rule
// admits the flow, interleaved rounds, medians and the 100-rule / allow-all ratio.
//
//   node dist/bench/policy.js [--rounds N] [--duration S] [--udp-duration S] [--no-dataplane]
//
// Exit code 1 only when the data-plane part could run and failed; without root or the
// tools it prints why and is skipped.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compilePolicy, DEFAULT_POLICY_TEXT, PacketFilter, parsePolicy, type FilterStats, type PolicyNode, type WireFilterRule } from '../src/policy/index.js';
import { buildProbe } from '../src/policy/probe.js';
import { acquireLock } from '../src/lab/lock.js';
import { NetnsMesh } from '../src/lab/mesh.js';
import { sleep, sweepStale } from '../src/lab/netns.js';
import { missingTools, rootReason } from '../src/lab/require.js';
import { cpuSeconds, fmt, iperfClient, markdownTable, median, pingRtts, quantile, runBench, startIperfServer, udpStats } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    'udp-duration': { type: 'string', default: '5' },
    'no-dataplane': { type: 'boolean', default: false },
  },
});
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds)));
const DUR = Math.max(2, Math.min(60, Number(args.duration)));
const UDP_DUR = Math.max(2, Math.min(60, Number(args['udp-duration'])));
const RUNS = 5;

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

function network(n: number): PolicyNode[] {
  const r = prng(n);
  return Array.from({ length: n }, (_, i) => {
    const tagged = r() < 0.2;
    return {
      id: `node${i}`,
      name: `node${i}`,
      user: tagged ? null : `user${Math.floor(r() * 50)}`,
      tags: tagged ? [`tag:t${Math.floor(r() * 10)}`] : [],
      ipv4: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      ipv6: `fd7a:115c:a1e0::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`,
    };
  });
}

/** What the data-plane part needs from the policy: every rule to `dst`, the last one admitting `last`. */
interface MeshShape {
  /** The receiving node's tag, e.g. tag:server; every rule's destination. */
  tag: string;
  /** The sending node's user, who owns `tag`. */
  owner: string;
  /** The final rule, the only one admitting the measured flow. */
  last: { src: string[]; dst: string[]; proto?: string };
}

/**
 * 100 rules: groups, users and tags to tags, groups and users on ports. With `mesh`,
 * rules 1-99 all go to `mesh.tag` (so the receiving node's filter holds every rule),
 * half their sources are IP networks outside the mesh's ranges (so the filter's source
 * index is populated), none of them covers the sender, and rule 100 is `mesh.last`.
 */
function policyText(mesh?: MeshShape): string {
  const r = prng(7);
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < 10; g++) groups[`group:g${g}`] = Array.from({ length: 5 }, () => `user${Math.floor(r() * 50)}@`);
  const tagOwners: Record<string, string[]> = {};
  for (let t = 0; t < 10; t++) tagOwners[`tag:t${t}`] = ['group:g0'];
  if (mesh) tagOwners[mesh.tag] = [mesh.owner];
  const net = (): string => {
    const k = r();
    const b = (): number => Math.floor(r() * 256);
    return k < 0.4 ? `10.${b()}.${b()}.0/24` : k < 0.8 ? `172.${16 + Math.floor(r() * 16)}.${b()}.${b()}/32` : `fd00:${b().toString(16)}:${b().toString(16)}::/64`;
  };
  const sel = (): string => {
    if (mesh && r() < 0.5) return net();
    const k = r();
    return k < 0.4 ? `group:g${Math.floor(r() * 10)}` : k < 0.7 ? `tag:t${Math.floor(r() * 10)}` : `user${Math.floor(r() * 50)}@`;
  };
  const ports = (): string => pick(r, ['22', '80,443', '5432', '8000-8100', '*', '53']);
  const acls: Array<Record<string, unknown>> = Array.from({ length: mesh ? 99 : 100 }, () => ({
    action: 'accept',
    src: [sel(), sel()],
    dst: [`${mesh ? mesh.tag : sel()}:${ports()}`],
    ...(r() < 0.3 ? { proto: pick(r, ['tcp', 'udp']) } : {}),
  }));
  if (mesh) acls.push({ action: 'accept', ...mesh.last });
  return JSON.stringify({ groups, tagOwners, acls }, null, 2);
}

function time<T>(f: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
}

function benchCompile(n: number): void {
  const nodes = network(n);
  const text = policyText();
  const parseMs: number[] = [];
  const compileMs: number[] = [];
  const filtersMs: number[] = [];
  const peersMs: number[] = [];
  let bytes = 0;
  let maxBytes = 0;
  let peerCount = 0;
  for (let run = 0; run < RUNS; run++) {
    const p = time(() => parsePolicy(text));
    parseMs.push(p.ms);
    const c = time(() => compilePolicy(p.value, nodes));
    compileMs.push(c.ms);
    const f = time(() => {
      let total = 0;
      let max = 0;
      for (const node of nodes) {
        const size = JSON.stringify(c.value.filter(node.id)).length;
        total += size;
        max = Math.max(max, size);
      }
      return { total, max };
    });
    filtersMs.push(f.ms);
    bytes = f.value.total;
    maxBytes = f.value.max;
    const pr = time(() => nodes.reduce((acc, node) => acc + c.value.peers(node.id).length, 0));
    peersMs.push(pr.ms);
    peerCount = pr.value;
  }
  console.log(
    `${n} nodes, 100 rules: parse ${median(parseMs).toFixed(1)} ms, compile ${median(compileMs).toFixed(1)} ms, ` +
      `all filters ${median(filtersMs).toFixed(1)} ms (incl. JSON), filter size mean ${(bytes / n).toFixed(0)} B max ${maxBytes} B ` +
      `(total ${(bytes / 1e6).toFixed(1)} MB), all peer lists ${median(peersMs).toFixed(1)} ms (mean ${(peerCount / n).toFixed(0)} peers/node)`,
  );
}

function benchFilter(label: string, rules: WireFilterRule[], self: PolicyNode, nodes: PolicyNode[]): number {
  const f = new PacketFilter({ localAddresses: [self.ipv4, self.ipv6], rules });
  const r = prng(3);
  const pkts = Array.from({ length: 4096 }, () => {
    const src = pick(r, nodes);
    const v6 = r() < 0.3;
    const proto = pick(r, [6, 6, 6, 17, 17, 1]);
    return buildProbe({ src: v6 ? src.ipv6 : src.ipv4, dst: v6 ? self.ipv6 : self.ipv4, proto, dstPort: pick(r, [22, 80, 443, 5432, 8050, 53, 9999]) });
  });
  const ITER = 2_000_000;
  const results: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = process.hrtime.bigint();
    let ok = 0;
    for (let i = 0; i < ITER; i++) if (f.allowInbound(pkts[i & 4095])) ok++;
    results.push(Number(process.hrtime.bigint() - t0) / ITER);
    if (run === 0) console.log(`  ${label}: ${((ok / ITER) * 100).toFixed(0)}% accepted`);
  }
  const ns = median(results);
  console.log(`filter ${label}: ${ns.toFixed(0)} ns/packet`);
  return ns;
}

function micro(): void {
  benchCompile(1_000);
  benchCompile(10_000);

  const nodes = network(10_000);
  const compiled = compilePolicy(parsePolicy(policyText()), nodes);
  // The node with the most rules is the worst case for the filter.
  const self = nodes.reduce((a, b) => (compiled.filter(b.id).length > compiled.filter(a.id).length ? b : a));
  const rules = compiled.filter(self.id);
  console.log(`filter for ${self.name}: ${rules.length} rules, ${rules.reduce((s, x) => s + x.srcs.length, 0)} source prefixes`);
  const allow = benchFilter('allow-all', [{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] }], self, nodes);
  const hundred = benchFilter('100-rule policy, 10k nodes', rules, self, nodes);
  console.log(`ratio 100-rule / allow-all: ${(hundred / allow).toFixed(2)}`);

  // The receiver's filter in the data-plane part below, judging packets from the sender.
  const lab: PolicyNode[] = [
    { id: SENDER, name: SENDER, user: 'alice', tags: [], ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' },
    { id: RECEIVER, name: RECEIVER, user: 'alice', tags: [MESH_SHAPE.tag], ipv4: '100.64.0.2', ipv6: 'fd7a:115c:a1e0::2' },
  ];
  const meshRules = compilePolicy(parsePolicy(policyText(MESH_SHAPE)), lab).filter(RECEIVER);
  const prefixes = meshRules.reduce((s, x) => s + x.srcs.length, 0);
  benchFilter(`data-plane 100-rule policy on ${RECEIVER} (${meshRules.length} rules, ${prefixes} source prefixes), from ${SENDER}`, meshRules, lab[1], lab.slice(0, 1));
}

// ---- Data plane: two agents, allow-all vs the 100-rule policy ----

const SENDER = 'alice1';
const RECEIVER = 'srv1';
const PORT = 5201;
/** A port no rule admits from the sender: a SYN to it proves the 100-rule filter is installed. */
const DENIED_PORT = 5202;
const MESH_SHAPE: MeshShape = {
  tag: 'tag:server',
  owner: 'alice@',
  last: { src: ['alice@'], dst: [`tag:server:${PORT}`] },
};

type PolicyKind = 'allow-all' | '100-rule';
type DpMetric = 'tcp1_mbps' | 'udp1400_kpps' | 'rtt_p50_ms' | 'rtt_p99_ms' | 'cpu_s_per_gb';
type DpSample = Record<DpMetric, number>;

const DP_METRICS: Array<{ key: DpMetric; label: string }> = [
  { key: 'tcp1_mbps', label: `TCP 1 stream (Mbit/s, ${DUR} s)` },
  { key: 'udp1400_kpps', label: `UDP 1400 B, -b 0 (kpps received, ${UDP_DUR} s)` },
  { key: 'rtt_p50_ms', label: 'ping RTT p50 (ms, 200 x 10 ms)' },
  { key: 'rtt_p99_ms', label: 'ping RTT p99 (ms)' },
  { key: 'cpu_s_per_gb', label: 'agents CPU s per GB (both, TCP 1)' },
];

const DROPPED: Array<keyof FilterStats> = ['droppedNoRule', 'droppedNotLocal', 'droppedMalformed'];

async function filterStats(mesh: NetnsMesh, name: string): Promise<FilterStats & { rules: number }> {
  const f = (await mesh.status(name)).filter;
  if (!f) throw new Error(`${name}: weft status --json has no filter counters`);
  return f;
}

class PolicyDataPlane {
  readonly mesh = new NetnsMesh();
  private current: PolicyKind | null = null;
  /** Rules in the receiver's filter under each policy, as its agent reported them. */
  readonly rules: Partial<Record<PolicyKind, number>> = {};

  constructor(private readonly log: (s: string) => void) {}

  private texts: Record<PolicyKind, string> = { 'allow-all': DEFAULT_POLICY_TEXT, '100-rule': policyText(MESH_SHAPE) };

  async setUp(): Promise<void> {
    const mesh = this.mesh;
    await mesh.build([SENDER, RECEIVER]);
    await mesh.startServer();
    // tag:server's owner is in the 100-rule policy: set it before making the tagged key.
    await this.setPolicy('100-rule', false);
    const alice = await mesh.createAuthKey(['--user', 'alice']);
    const srv = await mesh.createAuthKey(['--user', 'alice', '--tag', 'server']);
    await mesh.up(SENDER, [], alice);
    await mesh.up(RECEIVER, [], srv);
    await mesh.waitPeers(SENDER, [RECEIVER], 15_000);
    await mesh.waitPeers(RECEIVER, [SENDER], 15_000);
    await startIperfServer(mesh.lab, mesh.node(RECEIVER).ns, mesh.node(RECEIVER).ipv4, PORT);
    const warm = await mesh.ping(SENDER, mesh.node(RECEIVER).ipv4, 3);
    if (warm.received < 2) throw new Error(`tunnel not up: ${warm.output}`);
  }

  /** Replaces the policy and waits until the receiver's agent installed its filter. */
  async setPolicy(kind: PolicyKind, wait = true): Promise<void> {
    if (this.current === kind) return;
    const mesh = this.mesh;
    const file = join(mesh.dir, `${kind}.hujson`);
    writeFileSync(file, this.texts[kind]);
    const r = await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir]);
    if (r.code !== 0) throw new Error(`weft policy set ${kind}: ${r.stderr}`);
    this.current = kind;
    if (!wait) return;
    const ok = (n: number): boolean => (kind === 'allow-all' ? n === 1 : n >= 100);
    const deadline = Date.now() + 10_000;
    let n = (await filterStats(mesh, RECEIVER)).rules;
    while (!ok(n)) {
      if (Date.now() > deadline) throw new Error(`${RECEIVER} did not install the ${kind} filter (last: ${n} rules)`);
      await sleep(100);
      n = (await filterStats(mesh, RECEIVER)).rules;
    }
    this.rules[kind] = n;
    if (kind === '100-rule') await this.checkDenies();
  }

  /** A SYN to a port no rule admits must be dropped (and counted) by the receiver. */
  private async checkDenies(): Promise<void> {
    const mesh = this.mesh;
    const before = await filterStats(mesh, RECEIVER);
    const js = `const s=require('net').connect(${DENIED_PORT},'${mesh.node(RECEIVER).ipv4}');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(2));setTimeout(()=>process.exit(1),1500)`;
    const r = await mesh.lab.exec(mesh.node(SENDER).ns, [process.execPath, '-e', js], { timeoutMs: 10_000 });
    const after = await filterStats(mesh, RECEIVER);
    if (r.code !== 1 || after.droppedNoRule <= before.droppedNoRule) {
      throw new Error(`100-rule filter not in force: SYN to ${DENIED_PORT} exit ${r.code}, droppedNoRule ${before.droppedNoRule} -> ${after.droppedNoRule}`);
    }
  }

  /** Ping, one TCP stream, then UDP sender -> receiver; fails when either filter dropped anything meanwhile. */
  async measure(kind: PolicyKind): Promise<DpSample> {
    await this.setPolicy(kind);
    const mesh = this.mesh;
    const names = [SENDER, RECEIVER];
    const dst = mesh.node(RECEIVER).ipv4;
    const before = await Promise.all(names.map((n) => filterStats(mesh, n)));
    const rtts = await pingRtts(mesh.node(SENDER).ns, dst, 200);
    const pids = names.map((n) => {
      const pid = mesh.node(n).agent?.pid;
      if (!pid) throw new Error(`${n}: no agent`);
      return pid;
    });
    const cpu0 = pids.map(cpuSeconds);
    const j = await iperfClient(mesh.node(SENDER).ns, dst, [], DUR, PORT);
    const cpu = pids.map(cpuSeconds).reduce((s, c, i) => s + c - cpu0[i], 0);
    const recv = j.end?.sum_received;
    if (!recv) throw new Error('iperf3 TCP: no sum_received');
    // Every UDP datagram goes through the rule lookup (TCP segments other than SYNs do not).
    const udp = udpStats(await iperfClient(mesh.node(SENDER).ns, dst, ['-u', '-b', '0', '-l', '1372'], UDP_DUR, PORT));
    const after = await Promise.all(names.map((n) => filterStats(mesh, n)));
    for (const [i, n] of names.entries()) {
      const grew = DROPPED.filter((k) => after[i][k] !== before[i][k]).map((k) => `${k} ${before[i][k]} -> ${after[i][k]}`);
      if (grew.length) throw new Error(`${n} dropped packets of the measured flow under ${kind}: ${grew.join(', ')}`);
    }
    const judged = after[1].accepted - before[1].accepted;
    const s: DpSample = {
      tcp1_mbps: recv.bits_per_second / 1e6,
      udp1400_kpps: udp.kpps,
      rtt_p50_ms: quantile(rtts, 0.5),
      rtt_p99_ms: quantile(rtts, 0.99),
      cpu_s_per_gb: cpu / (recv.bytes / 1e9),
    };
    this.log(
      `    ${kind} (filter on ${RECEIVER}: ${this.rules[kind]} rule(s)): TCP1 ${fmt(s.tcp1_mbps)} Mbit/s, UDP1400 ${fmt(s.udp1400_kpps)} kpps (${fmt(udp.lossPct)}% loss), RTT p50 ${fmt(s.rtt_p50_ms)} ms, ` +
        `CPU ${cpu.toFixed(1)} s (${fmt(s.cpu_s_per_gb)} s/GB), ${judged} packets accepted by ${RECEIVER}'s filter, none dropped`,
    );
    return s;
  }
}

/** 'skipped' when the machine cannot run it; otherwise whether every round was measured. */
async function dataPlane(log: (s: string) => void): Promise<'skipped' | boolean> {
  const pre = [rootReason(), ...missingTools(['ip', 'iperf3', 'ping'])].filter(Boolean);
  if (pre.length) {
    log(`data plane skipped: ${pre.join('; ')}`);
    return 'skipped';
  }
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => log(`waiting for the e2e lock (pid ${pid})`) });
  const samples: Record<PolicyKind, DpSample[]> = { 'allow-all': [], '100-rule': [] };
  const failures: string[] = [];
  const dp = new PolicyDataPlane(log);
  try {
    await sweepStale();
    await dp.setUp();
    const kinds: PolicyKind[] = ['allow-all', '100-rule'];
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
        log(`round ${r + 1}/${ROUNDS}: ${kind}`);
        try {
          samples[kind].push(await dp.measure(kind));
        } catch (err) {
          failures.push(`${kind} round ${r + 1}: ${(err as Error).message}`);
          log(`  FAILED: ${(err as Error).message}`);
        }
      }
    }
  } catch (err) {
    failures.push(`set-up: ${(err as Error).message}`);
  } finally {
    await dp.mesh.destroy();
    lock.release();
  }
  const med = (kind: PolicyKind, k: DpMetric): number => median(samples[kind].map((s) => s[k]));
  const table = DP_METRICS.map((m) => {
    const a = med('allow-all', m.key);
    const h = med('100-rule', m.key);
    return [m.label, fmt(a), fmt(h), fmt(h / a)];
  });
  console.log(
    `\nData plane through two agents (${SENDER} -> ${RECEIVER}, TUN in namespaces), medians of ${ROUNDS} interleaved rounds ` +
      `(samples: allow-all ${samples['allow-all'].length}, 100-rule ${samples['100-rule'].length}); filter on ${RECEIVER}: ` +
      `allow-all ${dp.rules['allow-all'] ?? '?'} rule, 100-rule policy ${dp.rules['100-rule'] ?? '?'} rules.`,
  );
  console.log(markdownTable(['metric', 'allow-all', '100-rule', '100-rule/allow-all'], table).join('\n'));
  console.log(`per-round TCP 1 stream (Mbit/s): ${(['allow-all', '100-rule'] as const).map((k) => `${k} ${samples[k].map((s) => fmt(s.tcp1_mbps)).join(', ')}`).join('; ')}`);
  if (failures.length) log(`could not measure:\n  ${failures.join('\n  ')}`);
  return failures.length === 0 && samples['allow-all'].length > 0 && samples['100-rule'].length > 0;
}

async function main(): Promise<number> {
  micro();
  if (args['no-dataplane']) return 0;
  const ok = await dataPlane((s) => process.stderr.write(s + '\n'));
  return ok === false ? 1 : 0;
}

runBench('policy bench', main);
