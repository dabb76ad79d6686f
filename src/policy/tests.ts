import { parsePrefix, type Prefix } from '../net/prefix.js';
import { compilePolicy } from './compile.js';
import { PolicyError } from './errors.js';
import { PacketFilter } from './filter.js';
import { buildProbe } from './probe.js';
import type { Policy, PolicyNode, PolicyTest, PolicyTestCase, Selector } from './types.js';

// Runs the policy's own `tests` through compile + the real packet filter, so a test
// passes exactly when the engines would deliver the packet. Each side of a test is a
// probe node: a real node when the test names one (by name or address), otherwise a
// synthetic node with that identity. A selector's meaning for a node depends only on
// that node, so compiling against just the two probes gives the same verdict as
// compiling against the whole network.

// Reserved (240.0.0.0/4, 100::/64 discard) so probes never collide with mesh addresses.
const PROBE_ADDRS = [
  { ipv4: '240.0.0.1', ipv6: '100::1' },
  { ipv4: '240.0.0.2', ipv6: '100::2' },
];

export interface PolicyTestFailure {
  line: number;
  src: string;
  dst: string;
  expected: 'accept' | 'deny';
  reason: string;
}

type Probe = { node: PolicyNode } | { error: string };

function probes(sel: Selector, text: string, policy: Policy, nodes: readonly PolicyNode[], slot: 0 | 1): Probe[] {
  const id = `~probe-${slot}`;
  const synthetic = (extra: Partial<PolicyNode>): Probe => ({ node: { id, name: id, user: null, tags: [], ...PROBE_ADDRS[slot], ...extra } });
  switch (sel.kind) {
    case 'user':
      return [synthetic({ user: sel.user })];
    case 'group': {
      const members = policy.groups.get(sel.group) ?? [];
      if (!members.length) return [{ error: `${text} has no members` }];
      return members.map((user) => synthetic({ user }));
    }
    case 'tag':
      return [synthetic({ tags: [sel.tag] })];
    case 'node': {
      const n = nodes.find((x) => x.name.toLowerCase() === sel.name);
      return [n ? { node: n } : { error: `unknown node ${JSON.stringify(text)}` }];
    }
    case 'prefix': {
      // By address, so host aliases and any spelling of a node's address find the node.
      const n = nodes.find((x) => sameAddress(x.ipv4, sel.prefix) || sameAddress(x.ipv6, sel.prefix));
      if (n) return [{ node: n }];
      return [synthetic(sel.prefix.family === 4 ? { ipv4: addrOf(sel) } : { ipv6: addrOf(sel) })];
    }
    case 'all':
      return [{ error: '* is not one identity' }];
    case 'internet':
      return [{ error: 'autogroup:internet is not one identity' }];
  }
}

function sameAddress(ip: string, p: Prefix): boolean {
  const a = parsePrefix(ip);
  return a.family === p.family && a.bytes.every((b, i) => b === p.bytes[i]);
}

function addrOf(sel: Extract<Selector, { kind: 'prefix' }>): string {
  const b = sel.prefix.bytes;
  if (b.length === 4) return b.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}

/** Whether a packet of `proto` from src to dst:port would be delivered (either family). */
function delivered(policy: Policy, src: PolicyNode, dst: PolicyNode, proto: number, port: number): boolean {
  const nodes = src.id === dst.id ? [src] : [src, dst];
  const compiled = compilePolicy(policy, nodes);
  const filter = new PacketFilter({ localAddresses: [dst.ipv4, dst.ipv6], rules: compiled.filter(dst.id) });
  return [
    [src.ipv4, dst.ipv4],
    [src.ipv6, dst.ipv6],
  ].some(([s, d]) => filter.allowInbound(buildProbe({ src: s, dst: d, proto, dstPort: port })));
}

function runCase(policy: Policy, nodes: readonly PolicyNode[], t: PolicyTest, c: PolicyTestCase): string | null {
  for (const s of probes(t.src, t.srcText, policy, nodes, 0)) {
    if ('error' in s) return s.error;
    for (const d of probes(c.host, c.text.slice(0, c.text.lastIndexOf(':')), policy, nodes, 1)) {
      if ('error' in d) return d.error;
      const ok = delivered(policy, s.node, d.node, t.proto, c.port);
      if (ok !== (c.expect === 'accept')) {
        return `${t.srcText} -> ${c.text} is ${ok ? 'accepted' : 'denied'}${s.node.user && t.src.kind === 'group' ? ` for ${s.node.user}` : ''}, expected ${c.expect}`;
      }
    }
  }
  return null;
}

/** Every failing test case, in source order. */
export function runPolicyTests(policy: Policy, nodes: readonly PolicyNode[] = []): PolicyTestFailure[] {
  const out: PolicyTestFailure[] = [];
  for (const t of policy.tests) {
    for (const c of t.cases) {
      const reason = runCase(policy, nodes, t, c);
      if (reason) out.push({ line: c.line, src: t.srcText, dst: c.text, expected: c.expect, reason });
    }
  }
  return out;
}

/** Throws ERR_POLICY_TEST_FAILED for the first failing test case. */
export function assertPolicyTests(policy: Policy, nodes: readonly PolicyNode[] = []): void {
  const f = runPolicyTests(policy, nodes)[0];
  if (f) throw new PolicyError('ERR_POLICY_TEST_FAILED', f.line, 1, `test failed: ${f.reason}`);
}
