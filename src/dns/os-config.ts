import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, lstat, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DnsError } from './errors.js';
import { parseResolvConf, renderResolvConf, WEFT_MARKER } from './resolv-conf.js';

// Points the OS resolver at MagicDNS and puts the previous setting back on `weft down`.
// - systemd-resolved running: per-link config on the mesh interface (`resolvectl dns`,
//   `resolvectl domain`), undone by `resolvectl revert`; other links keep their DNS.
// - otherwise: /etc/resolv.conf is replaced. The original is moved aside (a rename, so a
//   symlink stays a symlink) and moved back by restore(). Where /etc/resolv.conf is a
//   mount point — `ip netns exec NS` bind-mounts /etc/netns/NS/resolv.conf over it —
//   rename fails with EBUSY and we copy and rewrite in place instead.
// A crash leaves our file plus the backup; the next apply() recognises our marker and
// keeps the original backup rather than backing up our own file.

export interface DnsOsSettings {
  /** The mesh interface (systemd-resolved configures DNS per link). */
  iface: string;
  /** Where MagicDNS listens, e.g. 100.100.100.100. */
  nameserver: string;
  /** The mesh domain: a search domain (short names) and routed to MagicDNS. */
  domain: string;
  /** Split-DNS suffixes the OS should also send to MagicDNS. */
  routeDomains?: string[];
}

export interface DnsOsConfigurator {
  readonly kind: 'systemd-resolved' | 'resolv.conf';
  /** Configures the OS; returns the resolvers the system used before, for forwarding. */
  apply(s: DnsOsSettings): Promise<{ upstreams: string[] }>;
  /** Puts the previous configuration back; never throws. */
  restore(): Promise<void>;
}

export type CommandRunner = (argv: string[]) => Promise<string>;

export const runCommand: CommandRunner = (argv) =>
  new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new DnsError('ERR_DNS_OS_CONFIG', `${argv.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve(String(stdout));
    });
  });

export class ResolvedConfigurator implements DnsOsConfigurator {
  readonly kind = 'systemd-resolved';
  private iface: string | null = null;

  constructor(
    private readonly run: CommandRunner = runCommand,
    /** resolved's list of real upstreams (not its 127.0.0.53 stub). */
    private readonly upstreamsFile = '/run/systemd/resolve/resolv.conf',
  ) {}

  async apply(s: DnsOsSettings): Promise<{ upstreams: string[] }> {
    this.iface = s.iface;
    await this.run(['resolvectl', 'dns', s.iface, s.nameserver]);
    await this.run(['resolvectl', 'domain', s.iface, s.domain, `~${s.domain}`, ...(s.routeDomains ?? []).map((d) => `~${d}`)]);
    const text = await readFile(this.upstreamsFile, 'utf8').catch(() => '');
    return { upstreams: parseResolvConf(text).nameservers.filter((n) => n !== s.nameserver) };
  }

  async restore(): Promise<void> {
    const iface = this.iface;
    this.iface = null;
    if (iface) await this.run(['resolvectl', 'revert', iface]).catch(() => {});
  }
}

const mountPoint = (err: unknown): boolean => ['EBUSY', 'EXDEV'].includes((err as NodeJS.ErrnoException).code ?? '');
const missing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

export interface ResolvConfPaths {
  path?: string;
  /** Where the original goes while Weft is up (same filesystem as `path`, for rename). */
  backupPath?: string;
}

export class ResolvConfConfigurator implements DnsOsConfigurator {
  readonly kind = 'resolv.conf';
  readonly path: string;
  readonly backupPath: string;

  constructor(paths: ResolvConfPaths = {}) {
    this.path = paths.path ?? '/etc/resolv.conf';
    this.backupPath = paths.backupPath ?? join(dirname(this.path), 'resolv.pre-weft-backup.conf');
  }

  async apply(s: DnsOsSettings): Promise<{ upstreams: string[] }> {
    const current = await readFile(this.path, 'utf8').catch((err) => {
      if (missing(err)) return null;
      throw err;
    });
    if (current !== null && !current.startsWith(WEFT_MARKER)) await this.backup();
    const previous = parseResolvConf((await readFile(this.backupPath, 'utf8').catch(() => null)) ?? '');
    const text = renderResolvConf(
      {
        nameservers: [s.nameserver],
        search: [s.domain, ...previous.search.filter((d) => d !== s.domain)],
        options: previous.options,
      },
      `MagicDNS; the previous file is ${this.backupPath} and comes back on weft down`,
    );
    await this.write(text);
    return { upstreams: previous.nameservers.filter((n) => n !== s.nameserver) };
  }

  async restore(): Promise<void> {
    try {
      await rename(this.backupPath, this.path);
      return;
    } catch (err) {
      if (!mountPoint(err)) {
        // No backup: there was no file before us; remove ours.
        if (missing(err)) await this.removeOurs();
        return;
      }
    }
    try {
      await writeFile(this.path, await readFile(this.backupPath));
      await unlink(this.backupPath);
    } catch {
      // Never throws: the backup stays for the admin.
    }
  }

  private async backup(): Promise<void> {
    try {
      await rename(this.path, this.backupPath);
    } catch (err) {
      if (!mountPoint(err)) throw err;
      await copyFile(this.path, this.backupPath);
    }
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.path}.weft-tmp`;
    await writeFile(tmp, text, { mode: 0o644 });
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      if (!mountPoint(err)) throw err;
      await writeFile(this.path, text);
    }
  }

  private async removeOurs(): Promise<void> {
    try {
      if ((await lstat(this.path)).isFile() && (await readFile(this.path, 'utf8')).startsWith(WEFT_MARKER)) await unlink(this.path);
    } catch {
      // Nothing there.
    }
  }
}

export interface DetectOptions extends ResolvConfPaths {
  run?: CommandRunner;
  /** Default: resolved's varlink socket exists and resolvectl is installed. */
  resolvedRunning?: () => boolean;
}

const RESOLVED_SOCKET = '/run/systemd/resolve/io.systemd.Resolve';

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, cmd)));
}

/** systemd-resolved where it runs, otherwise resolv.conf. */
export function detectDnsConfigurator(opts: DetectOptions = {}): DnsOsConfigurator {
  const resolved = opts.resolvedRunning ?? (() => existsSync(RESOLVED_SOCKET) && onPath('resolvectl'));
  return resolved() ? new ResolvedConfigurator(opts.run) : new ResolvConfConfigurator(opts);
}
