import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, link, lstat, open, readFile, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { acquireFileLock, pidAlive } from '../file-lock.js';
import { DnsError } from './errors.js';
import { parseResolvConf, renderResolvConf, WEFT_MARKER, type ResolvConf } from './resolv-conf.js';

// Points the OS resolver at MagicDNS and puts the previous setting back on `weft down`.
// - systemd-resolved running: per-link config on the mesh interface (`resolvectl dns`,
//   `resolvectl domain`), undone by `resolvectl revert`; other links keep their DNS.
// - otherwise: /etc/resolv.conf is replaced. The original is kept aside (a hard link or
//   rename, so a symlink stays a symlink) and put back by restore(). Where
//   /etc/resolv.conf is a mount point — `ip netns exec NS` bind-mounts
//   /etc/netns/NS/resolv.conf over it — rename fails with EBUSY and we write in place.
// Several agents may share one file (namespaces without their own resolv.conf see the
// host's). Our file records where the original is and who uses it (pid + interface);
// every read-modify-write happens under a lock file next to it; the original comes back
// when the last holder goes, and holders whose pid is dead (crashed) are dropped. The
// file is only ever unlinked when it is ours and there was none before.

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
  /** How long apply() waits for another agent's update of the same file (default 5 s). */
  lockWaitMs?: number;
}

/** An agent using the file, as recorded in it: `# weft-holder PID IFACE NAMESERVER DOMAIN BACKUP`. */
interface Holder {
  pid: number;
  iface: string;
  nameserver: string;
  domain: string;
  /** That agent's own backup location: where the original goes when its owner leaves. */
  backupPath: string;
}

/** What the generated file records for all agents sharing it. */
interface Shared {
  /** Where the original is; null: there was no file. */
  backup: string | null;
  /** Most recent first. */
  holders: Holder[];
}

const LOCK_STALE_MS = 10_000;
const NO_FILE = 'weft-no-previous-file';
const sameHolder = (a: Holder, b: Holder): boolean => a.pid === b.pid && a.iface === b.iface;

/** Atomically puts the file `tmp` (next to `dst`) at `dst`; onto a mount point, its content in place. */
async function install(tmp: string, dst: string): Promise<void> {
  try {
    await rename(tmp, dst);
    return;
  } catch (err) {
    if (!mountPoint(err)) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
  try {
    const data = await readFile(tmp);
    // Overwrite, then cut: a crash in between leaves the new head, never an empty file.
    const fh = await open(dst, 'r+');
    try {
      await fh.write(data, 0, data.length, 0);
      await fh.truncate(data.length);
    } finally {
      await fh.close();
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Puts a copy of `src` at `dst`, keeping `src`: a hard link where possible, a symlink
 * stays a symlink. (A mount point never gets hard-linked — link(2) fails with EXDEV across
 * mounts — so writing one in place never changes a backup sharing its inode.)
 */
async function copyOver(src: string, dst: string): Promise<void> {
  const tmp = `${dst}.weft-tmp`;
  await rm(tmp, { force: true });
  try {
    await link(src, tmp);
  } catch {
    if ((await lstat(src)).isSymbolicLink()) await symlink(await readlink(src), tmp);
    else await copyFile(src, tmp);
  }
  await install(tmp, dst);
}

export class ResolvConfConfigurator implements DnsOsConfigurator {
  readonly kind = 'resolv.conf';
  readonly path: string;
  readonly backupPath: string;
  /** Serialises every agent's read-modify-write of `path`. */
  readonly lockPath: string;
  private readonly lockWaitMs: number;
  private applied: Holder | null = null;

  constructor(paths: ResolvConfPaths = {}) {
    this.path = paths.path ?? '/etc/resolv.conf';
    this.backupPath = paths.backupPath ?? join(dirname(this.path), 'resolv.pre-weft-backup.conf');
    this.lockPath = `${this.path}.weft-lock`;
    this.lockWaitMs = paths.lockWaitMs ?? 5_000;
  }

  async apply(s: DnsOsSettings): Promise<{ upstreams: string[] }> {
    const me: Holder = { pid: process.pid, iface: s.iface, nameserver: s.nameserver, domain: s.domain, backupPath: this.backupPath };
    const lock = await acquireFileLock(this.lockPath, { timeoutMs: this.lockWaitMs, staleMs: LOCK_STALE_MS, pollMs: 10 }).catch((err: unknown) => {
      throw new DnsError('ERR_DNS_OS_CONFIG', `${this.path} is being updated by another agent: ${(err as Error).message}`, { cause: err });
    });
    try {
      const current = await readFile(this.path, 'utf8').catch((err) => {
        if (missing(err)) return null;
        throw err;
      });
      let shared: Shared;
      if (current?.startsWith(WEFT_MARKER)) {
        // Other agents (or a crashed one) already point it at MagicDNS: join them.
        shared = this.shared(current);
        shared.holders = shared.holders.filter((h) => !sameHolder(h, me) && pidAlive(h.pid));
      } else {
        if (current !== null) await copyOver(this.path, this.backupPath);
        shared = { backup: current === null ? null : this.backupPath, holders: [] };
      }
      shared.holders.unshift(me);
      const previous = await this.settle(shared);
      this.applied = me;
      const mesh = new Set(shared.holders.map((h) => h.nameserver));
      return { upstreams: previous.nameservers.filter((n) => !mesh.has(n)) };
    } finally {
      lock.release();
    }
  }

  async restore(): Promise<void> {
    const me = this.applied;
    this.applied = null;
    // Not getting the lock leaves the file to the others: our entry goes once our pid is gone.
    const lock = await acquireFileLock(this.lockPath, { timeoutMs: this.lockWaitMs, staleMs: LOCK_STALE_MS, pollMs: 10 }).catch(() => null);
    if (!lock) return;
    try {
      const current = await readFile(this.path, 'utf8').catch(() => null);
      if (!current?.startsWith(WEFT_MARKER)) return; // already restored, or replaced by someone else
      const shared = this.shared(current);
      shared.holders = shared.holders.filter((h) => !(me && sameHolder(h, me)) && pidAlive(h.pid));
      if (shared.holders.length) {
        await this.settle(shared);
      } else if (shared.backup !== null && (await lstat(shared.backup).then(() => true, () => false))) {
        await copyOver(shared.backup, this.path);
        await unlink(shared.backup).catch(() => {});
      } else {
        // The only unlink of resolv.conf: it is ours (checked under the lock) and there
        // was nothing before it, or nothing left to put back.
        await unlink(this.path);
      }
    } catch {
      // Never throws: the backup stays where the file says.
    } finally {
      lock.release();
    }
  }

  /** The shared state recorded in our generated file. */
  private shared(text: string): Shared {
    const holders: Holder[] = [];
    let backup: string | null | undefined;
    for (const line of text.split('\n')) {
      const h = /^# weft-holder (\d+) (\S+) (\S+) (\S+) (.+)$/.exec(line);
      if (h) holders.push({ pid: Number(h[1]), iface: h[2], nameserver: h[3], domain: h[4], backupPath: h[5] });
      else if (line.startsWith('# weft-backup ')) backup = line.slice('# weft-backup '.length);
      else if (line === `# ${NO_FILE}`) backup = null;
    }
    // A file from an older Weft names its backup only in the marker line.
    backup ??= /the previous file is (.+) and comes back on weft down$/m.exec(text)?.[1] ?? this.backupPath;
    return { backup, holders };
  }

  /**
   * Writes our file for `shared.holders` (at least one). The original must outlive any
   * one agent: if no remaining holder has it in its own backup location (its owner went
   * down or crashed, and its state dir may go), it moves to the first holder's first.
   * Returns the original's settings.
   */
  private async settle(shared: Shared): Promise<ResolvConf> {
    const old = shared.backup;
    if (old !== null && !shared.holders.some((h) => h.backupPath === old)) {
      await copyOver(old, shared.holders[0].backupPath).then(
        () => (shared.backup = shared.holders[0].backupPath),
        () => {}, // gone or unreadable: keep the record as it is
      );
    }
    const previous = parseResolvConf(shared.backup === null ? '' : await this.readBackup(shared.backup));
    const where = shared.backup === null ? 'there was no file before; removed' : `the previous file is ${shared.backup}; it comes back`;
    const text = renderResolvConf(
      {
        nameservers: [...new Set(shared.holders.map((h) => h.nameserver))],
        search: [...new Set([...shared.holders.map((h) => h.domain), ...previous.search])],
        options: previous.options,
      },
      `MagicDNS for ${shared.holders.length} agent(s); ${where} when the last one goes down`,
      [
        shared.backup === null ? NO_FILE : `weft-backup ${shared.backup}`,
        ...shared.holders.map((h) => `weft-holder ${h.pid} ${h.iface} ${h.nameserver} ${h.domain} ${h.backupPath}`),
      ],
    );
    const tmp = `${this.path}.weft-tmp`;
    await rm(tmp, { force: true });
    await writeFile(tmp, text, { mode: 0o644 });
    await install(tmp, this.path);
    if (old !== null && shared.backup !== old) await unlink(old).catch(() => {});
    return previous;
  }

  /** The original's text; a symlinked original resolves from where it will go back to. */
  private async readBackup(backup: string): Promise<string> {
    try {
      const st = await lstat(backup);
      const real = st.isSymbolicLink() ? resolve(dirname(this.path), await readlink(backup)) : backup;
      return await readFile(real, 'utf8');
    } catch {
      return '';
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
