// Policy engine costs: compile time and netmap filter size at 1k and 10k nodes with 100
// rules, and the packet filter's cost per packet (allow-all vs the 100-rule filter of a
// 10k-node network). Deterministic inputs (seeded PRNG); prints medians of 5 runs.
import { compilePolicy, PacketFilter, parsePolicy, type PolicyNode, type WireFilterRule } from '../src/policy/index.js';
import { buildProbe } from '../src/policy/probe.js';

const RUNS = 5;

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
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

/** 100 rules: groups, users and tags to tags, groups and users on ports. */
function policyText(): string {
  const r = prng(7);
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < 10; g++) groups[`group:g${g}`] = Array.from({ length: 5 }, () => `user${Math.floor(r() * 50)}@`);
  const tagOwners: Record<string, string[]> = {};
  for (let t = 0; t < 10; t++) tagOwners[`tag:t${t}`] = ['group:g0'];
  const sel = (): string => {
    const k = r();
    return k < 0.4 ? `group:g${Math.floor(r() * 10)}` : k < 0.7 ? `tag:t${Math.floor(r() * 10)}` : `user${Math.floor(r() * 50)}@`;
  };
  const ports = (): string => pick(r, ['22', '80,443', '5432', '8000-8100', '*', '53']);
  const acls = Array.from({ length: 100 }, () => ({
    action: 'accept',
    src: [sel(), sel()],
    dst: [`${sel()}:${ports()}`],
    ...(r() < 0.3 ? { proto: pick(r, ['tcp', 'udp']) } : {}),
  }));
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
