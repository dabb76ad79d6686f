import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, Lab } from './netns.js';

// Debian's miniupnpd (UPnP IGD, NAT-PMP and PCP; the nftables build, `miniupnpd
// --version`) as the port-mapping service of a NAT lab router. Debian's nft_init.sh sets
// a forward policy of drop, so the lab makes the table and chains miniupnpd fills itself
// (its defaults: table inet filter; chains miniupnpd, prerouting_miniupnpd,
// postrouting_miniupnpd) with accepting policies, and writes the config file.
//
// miniupnpd 2.3.1 refuses to map when the WAN address is reserved ("Port forwarding is
// impossible"), which every documentation range is; a lab with port mapping therefore
// puts its internet bridge on a non-reserved prefix (NatLab's `inet` option). Nothing
// leaves the namespaces: the internet namespace has no uplink.

const TABLE = `table inet filter {
  chain miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting_miniupnpd {
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
  }
}
`;

export interface MiniupnpdSpec {
  ns: string;
  wanIf: string;
  lanIf: string;
  /** The LAN clients may map ports for themselves only (secure_mode) and only from here. */
  lanCidr: string;
  dir: string;
}

export async function startMiniupnpd(lab: Lab, s: MiniupnpdSpec): Promise<Child> {
  const nft = join(s.dir, `miniupnpd-${s.ns}.nft`);
  writeFileSync(nft, TABLE);
  await lab.exec(s.ns, ['nft', '-f', nft], { timeoutMs: 10_000, check: true });
  const conf = join(s.dir, `miniupnpd-${s.ns}.conf`);
  writeFileSync(
    conf,
    [
      `ext_ifname=${s.wanIf}`,
      `listening_ip=${s.lanIf}`,
      'port=5000',
      'enable_natpmp=yes',
      'enable_upnp=yes',
      'secure_mode=yes',
      'system_uptime=no', // the PCP/NAT-PMP epoch is the daemon's uptime: a restart resets it, as it loses the mappings
      'clean_ruleset_interval=0',
      'uuid=3b0c5d0e-8f5e-4c2a-9a52-7765ef7a1b01',
      `allow 1024-65535 ${s.lanCidr} 1024-65535`,
      'deny 0-65535 0.0.0.0/0 0-65535',
      '',
    ].join('\n'),
  );
  // -d: stay in the foreground and log to stderr, which the lab keeps
  const child = lab.spawn(s.ns, ['miniupnpd', '-d', '-f', conf, '-P', pidFile(s)]);
  await child.waitFor(/Listening for NAT-PMP\/PCP traffic/, 10_000, 'stderr');
  return child;
}

const pidFile = (s: MiniupnpdSpec): string => join(s.dir, `miniupnpd-${s.ns}.pid`);

/**
 * A router reboot: stops the miniupnpd of `s` (SIGTERM by its pid file), empties its
 * table (the daemon leaves its rules behind) and starts it again.
 */
export async function restartMiniupnpd(lab: Lab, s: MiniupnpdSpec): Promise<Child> {
  process.kill(Number(readFileSync(pidFile(s), 'utf8').trim()), 'SIGTERM');
  for (let i = 0; i < 50 && existsSync(pidFile(s)); i++) await new Promise((r) => setTimeout(r, 100));
  await lab.exec(s.ns, ['nft', 'flush', 'table', 'inet', 'filter'], { timeoutMs: 10_000, check: true });
  return startMiniupnpd(lab, s);
}

/** The port-forwarding (DNAT) rules miniupnpd holds now, as nft prints them. */
export async function miniupnpdMappings(lab: Lab, ns: string): Promise<string[]> {
  const r = await lab.exec(ns, ['nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd'], { timeoutMs: 10_000, check: true });
  return r.stdout.split('\n').filter((l) => /\bdnat\b/.test(l)).map((l) => l.trim());
}
