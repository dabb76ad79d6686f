import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';
import { AgentError } from './errors.js';

// Host network configuration for the mesh interface, done with iproute2 like
// wg-quick: our /32 and /128, and routes for the mesh ranges through the interface.
// Everything added is recorded and removed again by down(), newest first.

export interface InterfaceConfig {
  iface: string;
  ipv4: string;
  ipv6: string;
  /** CIDRs routed into the mesh (the coordinator's ranges). */
  routes: string[];
}

export interface OsConfigurator {
  up(cfg: InterfaceConfig): Promise<void>;
  /** Undoes everything up() did; never throws. */
  down(): Promise<void>;
}

export type CommandRunner = (argv: string[]) => Promise<void>;

export const runCommand: CommandRunner = (argv) =>
  new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new AgentError('ERR_OS_CONFIG', `${argv.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });

/** The `ip` commands that configure `cfg`, each with the command that undoes it. */
export function ipCommands(cfg: InterfaceConfig): Array<{ add: string[]; del: string[] }> {
  const { iface } = cfg;
  const cmds = [
    { add: ['ip', '-4', 'addr', 'replace', `${cfg.ipv4}/32`, 'dev', iface], del: ['ip', '-4', 'addr', 'del', `${cfg.ipv4}/32`, 'dev', iface] },
    // nodad: the address is ours alone; DAD would only delay its use by a second.
    { add: ['ip', '-6', 'addr', 'replace', `${cfg.ipv6}/128`, 'dev', iface, 'nodad'], del: ['ip', '-6', 'addr', 'del', `${cfg.ipv6}/128`, 'dev', iface] },
    { add: ['ip', 'link', 'set', 'dev', iface, 'up'], del: [] },
  ];
  for (const r of cfg.routes) {
    const fam = r.includes(':') ? '-6' : '-4';
    cmds.push({ add: ['ip', fam, 'route', 'replace', r, 'dev', iface], del: ['ip', fam, 'route', 'del', r, 'dev', iface] });
  }
  return cmds;
}

export class IpRouteConfigurator implements OsConfigurator {
  private undo: string[][] = [];

  constructor(
    private readonly logger: Logger,
    private readonly run: CommandRunner = runCommand,
  ) {}

  async up(cfg: InterfaceConfig): Promise<void> {
    await this.down();
    for (const c of ipCommands(cfg)) {
      await this.run(c.add);
      if (c.del.length) this.undo.push(c.del);
    }
    this.logger.info({ iface: cfg.iface, ipv4: cfg.ipv4, ipv6: cfg.ipv6, routes: cfg.routes }, 'interface configured');
  }

  async down(): Promise<void> {
    for (const argv of this.undo.splice(0).reverse()) {
      await this.run(argv).catch((err: Error) => this.logger.debug({ err: err.message }, 'undo failed (interface already gone?)'));
    }
  }
}

/** For in-memory TUNs: nothing to configure. */
export const noOsConfig: OsConfigurator = { up: async () => {}, down: async () => {} };
