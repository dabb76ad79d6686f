// Two WireGuard peers, each run by a pluggable userspace implementation
// (`<argv> -f IFNAME`, the wireguard-go command line), in two namespaces joined by a
// veth. Configured only through `wg` and `ip`, exactly as a user would.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Child, Lab, exec, execOk, runOk, sleep, type AddrSpec } from './netns.js';
import { which } from './require.js';

export interface WgImpl {
  name: string;
  /** Command that takes `[-f] IFNAME`, like wireguard-go. */
  argv: string[];
}

/** Package root (dist/src/lab/ -> ../../..). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WEFT_WG_JS = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'weft-wg.js');

export const WIREGUARD_GO: WgImpl = { name: 'wireguard-go', argv: ['wireguard-go'] };
export const WEFT: WgImpl = { name: 'weft', argv: [process.execPath, WEFT_WG_JS] };

/** Null when the implementation can be started, else why not. */
export function implUnavailable(impl: WgImpl): string | null {
  if (impl === WEFT || impl.argv[1] === WEFT_WG_JS) {
    return existsSync(WEFT_WG_JS) ? null : `weft-wg not built (${WEFT_WG_JS} missing)`;
  }
  if (impl.argv[0] === process.execPath && impl.argv[1]) return existsSync(impl.argv[1]) ? null : `${impl.name}: ${impl.argv[1]} missing`;
  return which(impl.argv[0]) ? null : `missing tool: ${impl.argv[0]}`;
}

export const UAPI_DIR = '/var/run/wireguard';

/** Interface names must be unique host-wide: the UAPI socket directory is not per-netns. */
export function randomIfname(prefix = 'wg'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

export interface Engine {
  impl: WgImpl;
  ns: string;
  ifname: string;
  child: Child;
}

/**
 * Starts `impl` in the foreground inside `ns` and waits until `wg show IF` answers
 * through the UAPI socket.
 */
export async function startEngine(lab: Lab, ns: string, impl: WgImpl, ifname: string, timeoutMs = 15_000): Promise<Engine> {
  const env = { ...process.env, LOG_LEVEL: process.env.WEFT_E2E_ENGINE_LOG ?? 'error' };
  const child = lab.spawn(ns, [...impl.argv, '-f', ifname], { env });
  const sock = join(UAPI_DIR, `${ifname}.sock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) {
      throw new Error(`${impl.name} exited early (${JSON.stringify(child.exit)}): ${(child.stderr + child.stdout).slice(-2000)}`);
    }
    if (existsSync(sock)) {
      const r = await exec(ns, ['wg', 'show', ifname], { timeoutMs: 5000 });
      if (r.code === 0) break;
    }
    if (Date.now() > deadline) {
      await child.kill();
      throw new Error(`${impl.name}: UAPI socket ${sock} not answering after ${timeoutMs} ms: ${(child.stderr + child.stdout).slice(-2000)}`);
    }
    await sleep(50);
  }
  return { impl, ns, ifname, child };
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export async function genKeyPair(): Promise<KeyPair> {
  const privateKey = (await runOk(['wg', 'genkey'])).trim();
  const publicKey = (await runOk(['wg', 'pubkey'], { input: privateKey + '\n' })).trim();
  return { privateKey, publicKey };
}

export async function genPsk(): Promise<string> {
  return (await runOk(['wg', 'genpsk'])).trim();
}

export interface WgPeerDump {
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number | null;
}

export interface WgDump {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: string;
  peers: WgPeerDump[];
}

/** Parses `wg show IF dump`. */
export function parseWgDump(text: string): WgDump {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (!lines.length) throw new Error('empty wg dump');
  const [privateKey, publicKey, listenPort, fwmark] = lines[0].split('\t');
  const peers = lines.slice(1).map((l): WgPeerDump => {
    const f = l.split('\t');
    return {
      publicKey: f[0],
      presharedKey: f[1] === '(none)' ? null : f[1],
      endpoint: f[2] === '(none)' ? null : f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === 'off' ? null : Number(f[7]),
    };
  });
  return { privateKey, publicKey, listenPort: Number(listenPort), fwmark, peers };
}

export type SideName = 'a' | 'b';
export type Family = 4 | 6;

export interface Side {
  name: SideName;
  impl: WgImpl;
  ns: string;
  ifname: string;
  engine: Engine;
  keys: KeyPair;
  port: number;
  /** Underlay interface (veth end) and addresses (without prefix length). */
  underIf: string;
  under4: string;
  under6: string;
  tun4: string;
  tun6: string;
}

export interface PairOptions {
  a: WgImpl;
  b: WgImpl;
  /** Which side(s) get the other's endpoint. 'a' = only A knows B (A must initiate). */
  endpoints?: 'both' | 'a' | 'b';
  psk?: boolean;
  /** Persistent keepalive (s) set on side A's peer and/or B's. */
  keepaliveA?: number;
  keepaliveB?: number;
  /** Reuse a lab (the caller destroys it); by default the pair owns its own. */
  lab?: Lab;
  port?: number;
  /** Underlay family used for the configured endpoints (default 4). */
  underlay?: Family;
}

export const UNDERLAY = {
  a4: '192.0.2.1',
  b4: '192.0.2.2',
  a6: '2001:db8:77::1',
  b6: '2001:db8:77::2',
  prefix4: 24,
  prefix6: 64,
};
export const TUNNEL = { a4: '10.77.0.1', b4: '10.77.0.2', a6: 'fd77::1', b6: 'fd77::2' };

export interface PingResult {
  transmitted: number;
  received: number;
  rttsMs: number[];
  output: string;
}

export function parsePing(out: string): PingResult {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  const rttsMs = [...out.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]));
  return { transmitted: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, rttsMs, output: out };
}

/** `IP:port` or `[IPv6]:port`, as `wg show` prints endpoints. */
export function endpointOf(side: Side, family: Family = 4): string {
  return family === 6 ? `[${side.under6}]:${side.port}` : `${side.under4}:${side.port}`;
}

export class WgPair {
  private tmp: string;
  constructor(
    readonly lab: Lab,
    readonly a: Side,
    readonly b: Side,
    private ownsLab: boolean,
    tmp: string,
  ) {
    this.tmp = tmp;
  }

  side(s: SideName): Side {
    return s === 'a' ? this.a : this.b;
  }
  other(s: SideName): Side {
    return s === 'a' ? this.b : this.a;
  }

  /** `ping` from one side to the other's tunnel address. */
  async ping(from: SideName, family: Family, count = 3, opts: { intervalS?: number; size?: number; deadlineS?: number } = {}): Promise<PingResult> {
    const dst = family === 4 ? this.other(from).tun4 : this.other(from).tun6;
    const interval = opts.intervalS ?? 0.2;
    const deadline = opts.deadlineS ?? Math.ceil(count * interval + 5);
    const argv = ['ping', `-${family}`, '-n', '-c', String(count), '-i', String(interval), '-W', '2', '-w', String(deadline)];
    if (opts.size !== undefined) argv.push('-s', String(opts.size));
    argv.push(dst);
    const r = await exec(this.side(from).ns, argv, { timeoutMs: (deadline + 5) * 1000 });
    return parsePing(r.stdout + r.stderr);
  }

  async wgShow(s: SideName): Promise<WgDump> {
    const side = this.side(s);
    return parseWgDump(await execOk(side.ns, ['wg', 'show', side.ifname, 'dump'], { timeoutMs: 5000 }));
  }

  /** The single peer in side `s`'s dump. */
  async peer(s: SideName): Promise<WgPeerDump> {
    const d = await this.wgShow(s);
    const p = d.peers.find((x) => x.publicKey === this.other(s).keys.publicKey);
    if (!p) throw new Error(`side ${s}: peer missing from wg show: ${JSON.stringify(d.peers)}`);
    return p;
  }

  /** Polls until `pred(peer)` holds; returns the last peer dump. */
  async waitPeer(s: SideName, pred: (p: WgPeerDump) => boolean, timeoutMs = 10_000): Promise<WgPeerDump> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.peer(s);
      if (pred(p)) return p;
      if (Date.now() > deadline) throw new Error(`side ${s}: condition not met within ${timeoutMs} ms; peer: ${JSON.stringify(p)}`);
      await sleep(200);
    }
  }

  /** Engines still running? Returns problems (empty when fine). */
  engineProblems(): string[] {
    const out: string[] = [];
    for (const s of [this.a, this.b]) {
      if (!s.engine.child.running) out.push(`${s.name} (${s.impl.name}) exited: ${JSON.stringify(s.engine.child.exit)} ${s.engine.child.stderr.slice(-500)}`);
    }
    return out;
  }

  async stop(): Promise<void> {
    try {
      for (const s of [this.a, this.b]) await s.engine.child.kill('SIGTERM', 3000).catch(() => {});
      if (this.ownsLab) await this.lab.destroy();
    } finally {
      rmSync(this.tmp, { recursive: true, force: true });
    }
  }
}

/** Writes `value` to DIR/NAME, mode 0600 (keys go to `wg` as files, never argv). */
export function writeSecret(dir: string, name: string, value: string): string {
  const p = join(dir, name);
  writeFileSync(p, value + '\n', { mode: 0o600 });
  return p;
}

/** Brings up A and B; on any failure everything started so far is torn down. */
export async function createPair(opts: PairOptions): Promise<WgPair> {
  const ownsLab = !opts.lab;
  const lab = opts.lab ?? new Lab();
  const tmp = mkdtempSync(join(tmpdir(), 'weft-wgpair-'));
  try {
    const nsA = await lab.addNs();
    const nsB = await lab.addNs();
    const link = await lab.veth(
      nsA,
      { v4: `${UNDERLAY.a4}/${UNDERLAY.prefix4}`, v6: `${UNDERLAY.a6}/${UNDERLAY.prefix6}` } satisfies AddrSpec,
      nsB,
      { v4: `${UNDERLAY.b4}/${UNDERLAY.prefix4}`, v6: `${UNDERLAY.b6}/${UNDERLAY.prefix6}` },
      { a: 'ula', b: 'ulb' },
    );
    const port = opts.port ?? 51820;
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const psk = opts.psk ? await genPsk() : null;
    const ifA = randomIfname();
    const ifB = randomIfname();
    const engA = await startEngine(lab, nsA, opts.a, ifA);
    const engB = await startEngine(lab, nsB, opts.b, ifB);
    const a: Side = {
      name: 'a', impl: opts.a, ns: nsA, ifname: ifA, engine: engA, keys: ka, port,
      underIf: link.ifA, under4: UNDERLAY.a4, under6: UNDERLAY.a6, tun4: TUNNEL.a4, tun6: TUNNEL.a6,
    };
    const b: Side = {
      name: 'b', impl: opts.b, ns: nsB, ifname: ifB, engine: engB, keys: kb, port,
      underIf: link.ifB, under4: UNDERLAY.b4, under6: UNDERLAY.b6, tun4: TUNNEL.b4, tun6: TUNNEL.b6,
    };
    const endpoints = opts.endpoints ?? 'both';
    const pskFile = psk ? writeSecret(tmp, 'psk', psk) : null;
    for (const [me, peer, knows, keepalive] of [
      [a, b, endpoints === 'both' || endpoints === 'a', opts.keepaliveA],
      [b, a, endpoints === 'both' || endpoints === 'b', opts.keepaliveB],
    ] as const) {
      const keyFile = writeSecret(tmp, `${me.name}.key`, me.keys.privateKey);
      const argv = ['wg', 'set', me.ifname, 'listen-port', String(me.port), 'private-key', keyFile, 'peer', peer.keys.publicKey];
      if (pskFile) argv.push('preshared-key', pskFile);
      if (knows) argv.push('endpoint', endpointOf(peer, opts.underlay ?? 4));
      argv.push('allowed-ips', `${peer.tun4}/32,${peer.tun6}/128`);
      if (keepalive) argv.push('persistent-keepalive', String(keepalive));
      await execOk(me.ns, argv, { timeoutMs: 10_000 });
      await runOk(['ip', '-n', me.ns, 'addr', 'add', `${me.tun4}/24`, 'dev', me.ifname]);
      await runOk(['ip', '-n', me.ns, '-6', 'addr', 'add', `${me.tun6}/64`, 'dev', me.ifname, 'nodad']);
      await runOk(['ip', '-n', me.ns, 'link', 'set', me.ifname, 'up']);
    }
    return new WgPair(lab, a, b, ownsLab, tmp);
  } catch (err) {
    if (ownsLab) await lab.destroy().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
