import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { DnsConfig as WireDnsConfig, NodeView } from '../wire/control.js';
import { MagicDnsResolver, type DnsConfig } from '../dns/resolver.js';
import { DnsServer } from '../dns/server.js';
import { detectDnsConfigurator, type DnsOsConfigurator } from '../dns/os-config.js';
import { runCommand, type CommandRunner } from './os-config.js';

// MagicDNS in the agent (Tailscale's 100.100.100.100): a resolver for the mesh names
// answering on a mesh address of its own, added to the TUN, with the OS pointed at it
// (systemd-resolved or resolv.conf) and the previous setting restored on stop.

export interface MagicDnsOptions {
  stateDir: string;
  logger: Logger;
  /** Point the OS resolver at MagicDNS (Tailscale's --accept-dns). Default true. */
  acceptDns?: boolean;
  configurator?: DnsOsConfigurator;
  run?: CommandRunner;
}

export interface MeshView {
  domain: string;
  ipv4Range: string;
  ipv6Range: string;
  self: NodeView;
  peers: readonly NodeView[];
  dns: WireDnsConfig;
}

export class MagicDns {
  private readonly resolver = new MagicDnsResolver({ domain: 'invalid', hosts: [], meshRanges: [], routes: {}, upstreams: [] });
  private readonly servers: DnsServer[] = [];
  private readonly undo: string[][] = [];
  private os: DnsOsConfigurator | null = null;
  private upstreams: string[] = [];
  private last: MeshView | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly o: MagicDnsOptions) {}

  get stats(): unknown {
    return this.resolver.stats;
  }

  /** Every netmap change; the first one (with dns.magicDns) starts the server. */
  update(iface: string, v: MeshView): void {
    this.last = v;
    this.resolver.setConfig(this.config(v));
    if (!this.starting && v.dns.magicDns && !this.stopped) {
      this.starting = this.start(iface, v).catch((err: Error) => this.o.logger.error({ err: err.message }, 'MagicDNS could not start'));
    }
  }

  private config(v: MeshView): DnsConfig {
    return {
      domain: v.domain,
      hosts: [v.self, ...v.peers].map((n) => ({ name: n.name, ipv4: n.ipv4, ipv6: n.ipv6 })),
      meshRanges: [v.ipv4Range, v.ipv6Range],
      routes: v.dns.routes ?? {},
      upstreams: this.upstreams,
      records: Array.isArray(v.dns.records) ? v.dns.records : [],
    };
  }

  private async start(iface: string, v: MeshView): Promise<void> {
    const run = this.o.run ?? runCommand;
    const addrs = [v.dns.resolverIPv4, ...(v.dns.resolverIPv6 ? [v.dns.resolverIPv6] : [])];
    for (const a of addrs) {
      const fam = a.includes(':') ? '-6' : '-4';
      const plen = a.includes(':') ? 128 : 32;
      await run(['ip', fam, 'addr', 'replace', `${a}/${plen}`, 'dev', iface, ...(fam === '-6' ? ['nodad'] : [])]);
      this.undo.push(['ip', fam, 'addr', 'del', `${a}/${plen}`, 'dev', iface]);
      const server = new DnsServer(this.resolver, { host: a, port: 53 });
      await server.start();
      this.servers.push(server);
    }
    if (this.o.acceptDns ?? true) {
      this.os = this.o.configurator ?? detectDnsConfigurator({ backupPath: join(this.o.stateDir, 'resolv.pre-weft-backup.conf') });
      const { upstreams } = await this.os.apply({ iface, nameserver: v.dns.resolverIPv4, domain: v.domain, routeDomains: Object.keys(v.dns.routes ?? {}) });
      this.upstreams = upstreams;
      if (this.last) this.resolver.setConfig(this.config(this.last));
    }
    this.o.logger.info({ addrs, upstreams: this.upstreams, os: this.os?.kind ?? 'untouched' }, 'MagicDNS up');
  }

  /** Restores the OS setting, stops the server, removes its addresses; never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting;
    await this.os?.restore().catch(() => {});
    for (const s of this.servers.splice(0)) await s.stop().catch(() => {});
    const run = this.o.run ?? runCommand;
    for (const argv of this.undo.splice(0).reverse()) await run(argv).catch(() => {});
  }
}
