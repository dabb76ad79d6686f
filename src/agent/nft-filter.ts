import type { Logger } from '../log.js';
import type { FilterRule } from '../wire/control.js';
import { DEFAULT_PROTOS, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../policy/types.js';
import { nftApply } from './forwarding.js';
import { runCommand, type CommandRunner } from './os-config.js';

// The netmap's packet filter for external engines (wireguard-go, kernel): their
// decrypted packets reach the OS without passing through Weft, so the same rules the
// builtin PacketFilter judges (policy/filter.ts) become an nftables table hooked on
// input and forward for the mesh interface. Differences from the builtin filter: flow
// state is the kernel's conntrack (established/related replies pass, ICMP errors
// included), and TCP segments of unknown connections are dropped rather than left to
// the TCP stack. The whole table is replaced in one `nft -f` transaction per netmap
// change and deleted on down.

export const NFT_FILTER_TABLE = 'weft-filter';

const PORT_PROTOS = new Set([PROTO_TCP, PROTO_UDP, PROTO_SCTP]);
const FULL_RANGE = (r: [number, number]) => r[0] === 0 && r[1] === 65535;

export interface NftFilterState {
  iface: string;
  rules: readonly FilterRule[];
  /** This node's mesh addresses: inbound rules admit only packets to them. */
  localAddresses: readonly string[];
}

const isV6 = (c: string): boolean => c.includes(':');
const set = (xs: readonly (string | number)[]): string => `{ ${xs.join(', ')} }`;

/** The accept lines of one rule for one family (inbound: to `local`; forward: to its dsts). */
function ruleLines(r: FilterRule, fam: 4 | 6, dst: string[]): string[] {
  if (r.family && r.family !== fam) return [];
  const srcs = r.srcs.filter((c) => isV6(c) === (fam === 6));
  if (!srcs.length || !dst.length) return [];
  const f = fam === 4 ? 'ip' : 'ip6';
  const head = `${f} saddr ${set(srcs)} ${f} daddr ${set(dst)}`;
  const protos = r.protos ?? DEFAULT_PROTOS;
  const withPorts = protos.filter((p) => PORT_PROTOS.has(p));
  const others = protos.filter((p) => !PORT_PROTOS.has(p));
  const out: string[] = [];
  if (withPorts.length && r.ports.length) {
    const all = r.ports.some(FULL_RANGE);
    const ports = r.ports.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    out.push(`${head} meta l4proto ${set(withPorts)}${all ? '' : ` th dport ${set(ports)}`} accept`);
  }
  if (others.length) out.push(`${head} meta l4proto ${set(others)} accept`);
  // As the builtin filter: echo requests pass when any rule admits the source.
  out.push(`${head} ${fam === 4 ? 'icmp' : 'icmpv6'} type echo-request accept`);
  return out;
}

function chain(name: string, hook: string, iface: string, accepts: string[]): string[] {
  const q = JSON.stringify(iface);
  return [
    `  chain ${name} {`,
    `    type filter hook ${hook} priority filter; policy accept;`,
    `    iifname != ${q} accept`,
    '    ct state established,related accept',
    ...[...new Set(accepts)].map((l) => `    ${l}`),
    '    counter drop',
    '  }',
  ];
}

/** The nftables table for `s` (exported for unit tests). */
export function nftFilterRuleset(s: NftFilterState): string {
  const inbound: string[] = [];
  const forward: string[] = [];
  for (const fam of [4, 6] as const) {
    const local = s.localAddresses.filter((a) => isV6(a) === (fam === 6));
    for (const r of s.rules) {
      if (r.dsts) forward.push(...ruleLines(r, fam, r.dsts.filter((c) => isV6(c) === (fam === 6))));
      else inbound.push(...ruleLines(r, fam, local));
    }
  }
  return [`table inet ${NFT_FILTER_TABLE} {`, ...chain('input', 'input', s.iface, inbound), ...chain('forward', 'forward', s.iface, forward), '}', ''].join('\n');
}

export class NftFilter {
  private installed = false;
  /** Rules as last applied, so an unchanged netmap costs no nft call. */
  private text = '';

  constructor(
    private readonly logger: Logger,
    private readonly load: (text: string) => Promise<void> = nftApply,
    private readonly run: CommandRunner = runCommand,
  ) {}

  /** Replaces the table atomically (add + delete + define in one transaction). */
  async apply(s: NftFilterState): Promise<void> {
    const text = nftFilterRuleset(s);
    if (text === this.text) return;
    await this.load(`add table inet ${NFT_FILTER_TABLE}\ndelete table inet ${NFT_FILTER_TABLE}\n${text}`);
    this.text = text;
    this.installed = true;
    this.logger.debug({ rules: s.rules.length }, 'nftables packet filter updated');
  }

  /** Deletes the table (also one left by a crashed run); never throws. */
  async down(): Promise<void> {
    await this.run(['nft', 'delete', 'table', 'inet', NFT_FILTER_TABLE]).catch(() => {});
    if (this.installed) this.logger.debug({}, 'nftables packet filter removed');
    this.installed = false;
    this.text = '';
  }
}
