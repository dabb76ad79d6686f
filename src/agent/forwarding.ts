import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { runCommand, type CommandRunner } from './os-config.js';

// Router / exit-node side: IP forwarding and NAT for mesh clients only.
// - sysctl net.ipv4.ip_forward and net.ipv6.conf.all.forwarding are set to 1; the values
//   found are saved in <state-dir>/forwarding.json first, so a restart after a crash
//   still restores the originals, and `weft down` puts them back.
// - nftables table `inet weft-exit` (or, without nft, iptables/ip6tables chains
//   WEFT-FORWARD / WEFT-POSTROUTING in filter/nat, jumped to from FORWARD/POSTROUTING
//   with the comment `weft`): masquerade of mesh sources leaving by any other interface
//   (subnet routes only with snat), and the exit policy on traffic forwarded out of the
//   mesh interface: destinations in `block` are rejected; with `allowPorts`, TCP/UDP to
//   other ports are rejected.
// The table/chains are deleted whole on stop and, stale from a crash, at start.

export const NFT_TABLE = 'weft-exit';

export interface ExitPolicy {
  /** TCP/UDP destination ports (ranges "a-b") allowed out; empty = all. */
  allowPorts: string[];
  /** Destination CIDRs never forwarded. */
  block: string[];
}

export interface ForwardingState {
  iface: string;
  /** The mesh ranges (only these sources are forwarded and masqueraded). */
  meshRanges: string[];
  /** Approved subnet routes of this node (not exit routes). */
  subnetRoutes: string[];
  /** Approved as exit node. */
  exit: boolean;
  /** Masquerade traffic to subnet routes (exit traffic is always masqueraded). */
  snatSubnetRoutes: boolean;
  policy: ExitPolicy;
}

export interface ForwardingConfigurator {
  /** null: forwarding off (nothing approved). */
  apply(s: ForwardingState | null): Promise<void>;
  down(): Promise<void>;
}

const v6 = (c: string): boolean => c.includes(':');
const nftPorts = (ports: string[]): string => `{ ${ports.join(', ')} }`;

/** The nftables ruleset text for `s` (exported for unit tests). */
export function nftRuleset(s: ForwardingState): string {
  const lines: string[] = [`table inet ${NFT_TABLE} {`];
  lines.push('  chain forward {', '    type filter hook forward priority filter - 5; policy accept;');
  const q = JSON.stringify(s.iface);
  const b4 = s.policy.block.filter((c) => !v6(c));
  const b6 = s.policy.block.filter(v6);
  if (b4.length) lines.push(`    iifname ${q} ip daddr { ${b4.join(', ')} } counter reject`);
  if (b6.length) lines.push(`    iifname ${q} ip6 daddr { ${b6.join(', ')} } counter reject`);
  if (s.policy.allowPorts.length) {
    lines.push(`    iifname ${q} meta l4proto { tcp, udp } th dport != ${nftPorts(s.policy.allowPorts)} counter reject`);
  }
  lines.push('  }');
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  const sub4 = s.subnetRoutes.filter((c) => !v6(c));
  const sub6 = s.subnetRoutes.filter(v6);
  for (const r of s.meshRanges) {
    const f = v6(r) ? 'ip6' : 'ip';
    const subs = v6(r) ? sub6 : sub4;
    if (!s.snatSubnetRoutes && subs.length) lines.push(`    ${f} saddr ${r} ${f} daddr { ${subs.join(', ')} } return`);
    if (!s.exit && !s.snatSubnetRoutes) continue;
    if (!s.exit) {
      if (subs.length) lines.push(`    oifname != ${q} ${f} saddr ${r} ${f} daddr { ${subs.join(', ')} } counter masquerade`);
      continue;
    }
    lines.push(`    oifname != ${q} ${f} saddr ${r} counter masquerade`);
  }
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}

/** iptables commands (family, args) for `s`, chains created first. */
export function iptablesCommands(s: ForwardingState): Array<[4 | 6, string[]]> {
  const out: Array<[4 | 6, string[]]> = [];
  for (const f of [4, 6] as const) {
    const pick = (c: string): boolean => (f === 6) === v6(c);
    out.push([f, ['-N', 'WEFT-FORWARD']], [f, ['-t', 'nat', '-N', 'WEFT-POSTROUTING']]);
    out.push([f, ['-I', 'FORWARD', '-j', 'WEFT-FORWARD', '-m', 'comment', '--comment', 'weft']]);
    out.push([f, ['-t', 'nat', '-I', 'POSTROUTING', '-j', 'WEFT-POSTROUTING', '-m', 'comment', '--comment', 'weft']]);
    const reject = f === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
    for (const c of s.policy.block.filter(pick)) out.push([f, ['-A', 'WEFT-FORWARD', '-i', s.iface, '-d', c, '-j', 'REJECT', '--reject-with', reject]]);
    if (s.policy.allowPorts.length) {
      const ports = s.policy.allowPorts.map((p) => p.replace('-', ':')).join(',');
      for (const proto of ['tcp', 'udp']) out.push([f, ['-A', 'WEFT-FORWARD', '-i', s.iface, '-p', proto, '-m', 'multiport', '!', '--dports', ports, '-j', 'REJECT', '--reject-with', reject]]);
    }
    for (const r of s.meshRanges.filter(pick)) {
      const subs = s.subnetRoutes.filter(pick);
      if (!s.snatSubnetRoutes) for (const d of subs) out.push([f, ['-t', 'nat', '-A', 'WEFT-POSTROUTING', '-s', r, '-d', d, '-j', 'RETURN']]);
      if (s.exit) out.push([f, ['-t', 'nat', '-A', 'WEFT-POSTROUTING', '!', '-o', s.iface, '-s', r, '-j', 'MASQUERADE']]);
      else if (s.snatSubnetRoutes) for (const d of subs) out.push([f, ['-t', 'nat', '-A', 'WEFT-POSTROUTING', '!', '-o', s.iface, '-s', r, '-d', d, '-j', 'MASQUERADE']]);
    }
  }
  return out;
}

function iptablesCleanup(): Array<[4 | 6, string[]]> {
  const out: Array<[4 | 6, string[]]> = [];
  for (const f of [4, 6] as const) {
    out.push([f, ['-D', 'FORWARD', '-j', 'WEFT-FORWARD', '-m', 'comment', '--comment', 'weft']]);
    out.push([f, ['-t', 'nat', '-D', 'POSTROUTING', '-j', 'WEFT-POSTROUTING', '-m', 'comment', '--comment', 'weft']]);
    out.push([f, ['-F', 'WEFT-FORWARD']], [f, ['-X', 'WEFT-FORWARD']]);
    out.push([f, ['-t', 'nat', '-F', 'WEFT-POSTROUTING']], [f, ['-t', 'nat', '-X', 'WEFT-POSTROUTING']]);
  }
  return out;
}

/** Loads `text` with `nft -f -` (one atomic transaction; also the packet filter for external engines, nft-filter.ts). */
export function nftApply(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], { timeout: 10_000 }, (err, _o, stderr) => (err ? reject(new Error(`nft -f: ${stderr.trim() || err.message}`)) : resolve()));
    child.stdin?.end(text);
  });
}

const SYSCTLS = { ipv4: '/proc/sys/net/ipv4/ip_forward', ipv6: '/proc/sys/net/ipv6/conf/all/forwarding' } as const;

export class NetfilterForwarding implements ForwardingConfigurator {
  private active = false;
  private last = '';
  private backend: 'nft' | 'iptables' | null = null;

  constructor(
    private readonly stateDir: string,
    private readonly logger: Logger,
    private readonly run: CommandRunner = runCommand,
  ) {}

  private get savedPath(): string {
    return join(this.stateDir, 'forwarding.json');
  }

  private async pickBackend(): Promise<'nft' | 'iptables'> {
    if (this.backend) return this.backend;
    const forced = process.env.WEFT_FIREWALL;
    if (forced === 'nft' || forced === 'iptables') return (this.backend = forced);
    this.backend = await this.run(['nft', '--version']).then(
      () => 'nft' as const,
      () => 'iptables' as const,
    );
    return this.backend;
  }

  /** Removes what a previous run (possibly crashed) left: our table/chains, and restores sysctls. */
  async cleanupStale(): Promise<void> {
    await this.removeRules();
    await this.restoreSysctls();
  }

  private async removeRules(): Promise<void> {
    await this.run(['nft', 'delete', 'table', 'inet', NFT_TABLE]).catch(() => {});
    // Both backends: a previous run may have used the other one.
    for (const [f, args] of iptablesCleanup()) await this.run([f === 4 ? 'iptables' : 'ip6tables', '-w', ...args]).catch(() => {});
  }

  private async restoreSysctls(): Promise<void> {
    let saved: { ipv4?: string; ipv6?: string } | null = null;
    try {
      saved = JSON.parse(await readFile(this.savedPath, 'utf8')) as { ipv4?: string; ipv6?: string };
    } catch {
      return;
    }
    for (const k of ['ipv4', 'ipv6'] as const) {
      const v = saved[k];
      if (v === '0' || v === '1') await writeFile(SYSCTLS[k], v).catch((err: Error) => this.logger.warn({ err: err.message }, 'restoring sysctl failed'));
    }
    await rm(this.savedPath, { force: true });
  }

  private async enableSysctls(): Promise<void> {
    let saved = true;
    try {
      await readFile(this.savedPath, 'utf8');
    } catch {
      saved = false;
    }
    if (!saved) {
      const cur: Record<string, string> = {};
      for (const k of ['ipv4', 'ipv6'] as const) cur[k] = (await readFile(SYSCTLS[k], 'utf8').catch(() => '')).trim();
      await writeFile(this.savedPath, JSON.stringify(cur), { mode: 0o600 });
    }
    for (const k of ['ipv4', 'ipv6'] as const) await writeFile(SYSCTLS[k], '1').catch((err: Error) => this.logger.warn({ err: err.message, k }, 'enabling forwarding failed'));
  }

  async apply(s: ForwardingState | null): Promise<void> {
    const key = JSON.stringify(s);
    if (key === this.last) return;
    this.last = key;
    if (s === null) {
      if (this.active) await this.down();
      this.last = key;
      return;
    }
    await this.enableSysctls();
    await this.removeRules();
    const backend = await this.pickBackend();
    if (backend === 'nft') await nftApply(nftRuleset(s));
    else for (const [f, args] of iptablesCommands(s)) await this.run([f === 4 ? 'iptables' : 'ip6tables', '-w', ...args]);
    this.active = true;
    this.logger.info({ backend, exit: s.exit, subnetRoutes: s.subnetRoutes, snat: s.snatSubnetRoutes, policy: s.policy }, 'forwarding and NAT configured');
  }

  async down(): Promise<void> {
    await this.removeRules();
    await this.restoreSysctls();
    this.active = false;
    this.last = '';
  }
}

export const noForwarding: ForwardingConfigurator = { apply: async () => {}, down: async () => {} };
