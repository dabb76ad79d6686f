// Network-namespace lab: namespaces, veth links, commands and long-lived children
// inside namespaces, and cleanup that also runs on failure. Shared by the e2e tests,
// the demo and the benchmarks.
//
// Safety: everything here only ever creates namespaces named `weft-<pid>-<n>` and
// links inside them; nothing touches the host's own interfaces or routes.
import { spawn as nodeSpawn, spawnSync, type ChildProcess } from 'node:child_process';
import { pidAlive } from '../file-lock.js';

export interface ExecOptions {
  /** Kill the command (SIGKILL to its process group) after this many ms. Default 30 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Throw when the exit code is not 0 (or the command timed out). */
  check?: boolean;
}

export interface ExecResult {
  argv: string[];
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export class ExecError extends Error {
  constructor(readonly result: ExecResult) {
    super(
      `command failed (${result.timedOut ? 'timed out' : `code ${result.code}${result.signal ? ` signal ${result.signal}` : ''}`}): ` +
        `${result.argv.join(' ')}\n${result.stderr.trim().slice(-2000)}`,
    );
    this.name = 'ExecError';
  }
}

/** Runs a host command with a timeout; output is collected in full. */
export function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = nodeSpawn(argv[0], argv.slice(1), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        detached: true,
      });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => errb.push(d));
    child.stdin!.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        argv,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errb).toString('utf8'),
        code,
        signal,
        timedOut,
      };
      if (opts.check && (code !== 0 || timedOut)) reject(new ExecError(result));
      else resolve(result);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** Runs a command inside namespace `ns` (`ip netns exec`). */
export function exec(ns: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

/** Like exec but throws on failure and returns stdout. */
export async function execOk(ns: string, argv: string[], opts: ExecOptions = {}): Promise<string> {
  return (await exec(ns, argv, { ...opts, check: true })).stdout;
}

export async function runOk(argv: string[], opts: ExecOptions = {}): Promise<string> {
  return (await run(argv, { ...opts, check: true })).stdout;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export { pidAlive };

const TAIL = 64 * 1024;

/** A long-lived process (usually inside a namespace) that the lab kills on cleanup. */
export class Child {
  readonly pid: number;
  private out = '';
  private err = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private lineWaiters: Array<() => void> = [];

  constructor(
    readonly argv: string[],
    readonly proc: ChildProcess,
  ) {
    if (!proc.pid) throw new Error(`could not start ${argv.join(' ')}`);
    this.pid = proc.pid;
    proc.stdout?.on('data', (d: Buffer) => {
      this.out = (this.out + d.toString('utf8')).slice(-TAIL);
      this.notify();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.err = (this.err + d.toString('utf8')).slice(-TAIL);
      this.notify();
    });
    proc.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
      proc.on('error', () => {
        if (!this.exitInfo) {
          this.exitInfo = { code: null, signal: null };
          this.notify();
          resolve(this.exitInfo);
        }
      });
    });
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  get running(): boolean {
    return this.exitInfo === null;
  }
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exitInfo;
  }

  private notify(): void {
    const w = this.lineWaiters;
    this.lineWaiters = [];
    for (const f of w) f();
  }

  /** Waits until stdout matches `re`; rejects on exit or timeout. */
  async waitFor(re: RegExp, timeoutMs = 10_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = (stream === 'stdout' ? this.out : this.err).match(re);
      if (m) return m;
      if (!this.running) throw new Error(`${this.argv.join(' ')} exited (${JSON.stringify(this.exitInfo)}) before ${re}: ${this.err.slice(-1000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${re} from ${this.argv.join(' ')}; stderr: ${this.err.slice(-1000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.lineWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends `signal` to the process group, then SIGKILL after graceMs; waits for exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
    if (!this.running) return;
    killGroup(this.pid, signal);
    const t = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
    try {
      await Promise.race([this.exited, sleep(graceMs + 2000)]);
    } finally {
      clearTimeout(t);
    }
  }

  /** Waits for the process to exit by itself, up to timeoutMs; then kills it. */
  async wait(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
    const r = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)]);
    if (r) return { ...r, timedOut: false };
    await this.kill('SIGKILL', 1000);
    return { ...(this.exitInfo ?? { code: null, signal: null }), timedOut: true };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Keep stdin open as a pipe (default: ignored). */
  stdin?: boolean;
}

/** Starts a long-lived child; prefer Lab.spawn, which also kills it on cleanup. */
export function spawnHost(argv: string[], opts: SpawnOptions = {}): Child {
  const proc = nodeSpawn(argv[0], argv.slice(1), {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    detached: true,
  });
  return new Child(argv, proc);
}

const looseChildren = new Set<Child>();

/**
 * Starts a long-lived child inside `ns` (own process group). Kill it with
 * `child.kill()` (TERM, then KILL, then waits); any still running when the process
 * exits are SIGKILLed. Inside a Lab prefer `lab.spawn`, which destroy() cleans up.
 */
export function spawn(ns: string, argv: string[], opts: SpawnOptions = {}): Child {
  installExitHook();
  const c = spawnHost(['ip', 'netns', 'exec', ns, ...argv], opts);
  looseChildren.add(c);
  void c.exited.then(() => looseChildren.delete(c));
  return c;
}

export const NS_PREFIX = 'weft-';
let nsCounter = 0;
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test process ends without running its after hooks.
  process.once('exit', () => {
    for (const c of looseChildren) killGroup(c.pid, 'SIGKILL');
    for (const lab of liveLabs) lab.destroySync();
  });
  // Ctrl-C / kill during a test or benchmark: clean up, then die as we would have.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of looseChildren) killGroup(c.pid, 'SIGKILL');
      for (const lab of liveLabs) lab.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

export interface AddrSpec {
  /** CIDR, e.g. 192.0.2.1/24 */
  v4?: string;
  /** CIDR, e.g. 2001:db8::1/64 */
  v6?: string;
}

export interface VethLink {
  nsA: string;
  ifA: string;
  nsB: string;
  ifB: string;
}

/** Tracks namespaces and children so that destroy() removes everything. */
export class Lab {
  readonly namespaces: string[] = [];
  readonly children = new Set<Child>();
  private vethCounter = 0;

  constructor() {
    liveLabs.add(this);
    installExitHook();
  }

  /** Creates `weft-<pid>-<n>` with lo up, IPv6 DAD off, forwarding off. */
  async addNs(): Promise<string> {
    const name = `${NS_PREFIX}${process.pid}-${nsCounter++}`;
    await runOk(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await runOk(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    await execOk(name, [
      'sysctl', '-qw',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv4.conf.all.promote_secondaries=1',
      'net.ipv4.conf.default.promote_secondaries=1',
    ]);
    return name;
  }

  /** A veth pair between two namespaces, both ends up, with the given addresses. */
  async veth(nsA: string, a: AddrSpec, nsB: string, b: AddrSpec, names?: { a?: string; b?: string }): Promise<VethLink> {
    const n = this.vethCounter++;
    const ifA = names?.a ?? `veth${n}a`;
    const ifB = names?.b ?? `veth${n}b`;
    await runOk(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    for (const [ns, ifn, spec] of [[nsA, ifA, a], [nsB, ifB, b]] as const) {
      await addAddr(ns, ifn, spec);
      await runOk(['ip', '-n', ns, 'link', 'set', ifn, 'up']);
    }
    return { nsA, ifA, nsB, ifB };
  }

  /** Starts a long-lived child inside `ns` (own process group), killed on destroy(). */
  spawn(ns: string, argv: string[], opts: SpawnOptions = {}): Child {
    const c = spawnHost(['ip', 'netns', 'exec', ns, ...argv], opts);
    this.children.add(c);
    void c.exited.then(() => this.children.delete(c));
    return c;
  }

  exec(ns: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return exec(ns, argv, opts);
  }

  /** Kills every child (TERM, then KILL), then every process left in the namespaces, then deletes them. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map((c) => c.kill('SIGTERM', 2000).catch(() => {})));
    for (const ns of this.namespaces.splice(0).reverse()) await deleteNs(ns);
    liveLabs.delete(this);
  }

  /** Synchronous variant for process 'exit'. */
  destroySync(): void {
    for (const c of this.children) killGroup(c.pid, 'SIGKILL');
    for (const ns of this.namespaces.splice(0)) deleteNsSync(ns);
    liveLabs.delete(this);
  }
}

export async function addAddr(ns: string, ifname: string, spec: AddrSpec): Promise<void> {
  if (spec.v4) await runOk(['ip', '-n', ns, 'addr', 'add', spec.v4, 'dev', ifname]);
  if (spec.v6) await runOk(['ip', '-n', ns, '-6', 'addr', 'add', spec.v6, 'dev', ifname, 'nodad']);
}

async function nsPids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 1 && p !== process.pid);
}

export async function deleteNs(ns: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const pids = await nsPids(ns);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, i === 0 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(i === 0 ? 500 : 200);
  }
  await run(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 });
}

function deleteNsSync(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
  for (const p of (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
    if (p > 1 && p !== process.pid) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
}

/** Lists namespaces as `ip netns list` reports them (names only). */
export async function listNs(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { timeoutMs: 5000 });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((s): s is string => !!s);
}

/** Removes `weft-<pid>-*` namespaces whose creating process is dead. Returns their names. */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNs()) {
    const m = /^weft-(\d+)-\d+$/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await deleteNs(ns);
    removed.push(ns);
  }
  return removed;
}
