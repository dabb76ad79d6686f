// A Weft mesh in network namespaces, driven only through the real `weft` CLI: a "LAN"
// namespace with a bridge where the coordinator (`weft server`) runs, and one namespace
// per node joined to the bridge by a veth. Shared by the demo and the e2e tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, Lab, runOk, sleep, type ExecResult } from './netns.js';
import { PACKAGE_ROOT } from './wg-pair.js';
import type { StatusJson } from '../agent/status.js';

export const WEFT_JS = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');
/** The `weft` command of this checkout; an installed one is `[PREFIX/bin/weft]`. */
export const WEFT_CLI: readonly string[] = [process.execPath, WEFT_JS];

/** Starts `weft server ARGS` inside `ns` and waits until `url` answers GET /api/v1/key. */
export async function startWeftServer(lab: Lab, ns: string, args: string[], url: string, env: NodeJS.ProcessEnv, cli = WEFT_CLI): Promise<Child> {
  const server = lab.spawn(ns, [...cli, 'server', ...args], { env });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await lab.exec(ns, ['node', '-e', `fetch('${url}/api/v1/key').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`], { timeoutMs: 5000, env });
    if (r.code === 0) return server;
    if (!server.running || Date.now() > deadline) throw new Error(`weft server did not come up: ${server.stderr.slice(-2000)}`);
    await sleep(150);
  }
}
const LAN_PREFIX = '10.99.0';
const SERVER_PORT = 8080;

export interface MeshNode {
  name: string;
  ns: string;
  lanIp: string;
  stateDir: string;
  agent: Child | null;
  /** Filled from `weft status` once up. */
  ipv4: string;
  ipv6: string;
}

export class NetnsMesh {
  readonly lab = new Lab();
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-mesh-'));
  readonly nodes: MeshNode[] = [];
  lanNs = '';
  server: Child | null = null;
  readonly serverUrl = `http://${LAN_PREFIX}.1:${SERVER_PORT}`;
  readonly serverStateDir = join(this.dir, 'server');
  authKey = '';
  /** Every long-lived weft process gets this environment (e.g. LOG_LEVEL). */
  env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.WEFT_MESH_LOG ?? 'warn' };
  /**
   * When set, each node namespace gets its own /etc/netns/<ns>/resolv.conf with this
   * content before `weft up`, and the agents point it at MagicDNS. Unset, agents run with
   * --no-accept-dns: a namespace without its own resolv.conf sees the host's file.
   */
  resolvConf: string | null = null;
  private readonly etcDirs: string[] = [];
  private hosts = 0;

  /** `cli` runs every weft command (e.g. the `weft` bin of an installed package). */
  constructor(readonly cli: readonly string[] = WEFT_CLI) {}

  /** Namespaces and links for the LAN and `names.length` nodes. */
  async build(names: string[]): Promise<void> {
    this.lanNs = await this.lab.addNs();
    await runOk(['ip', '-n', this.lanNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', this.lanNs, 'addr', 'add', `${LAN_PREFIX}.1/24`, 'dev', 'br0']);
    await runOk(['ip', '-n', this.lanNs, 'link', 'set', 'br0', 'up']);
    for (const [i, name] of names.entries()) {
      const ns = await this.lab.addNs();
      const lanIp = `${LAN_PREFIX}.${11 + i}`;
      const link = await this.lab.veth(ns, { v4: `${lanIp}/24` }, this.lanNs, {}, { a: 'eth0', b: `p${i}` });
      await runOk(['ip', '-n', this.lanNs, 'link', 'set', link.ifB, 'master', 'br0']);
      this.nodes.push({ name, ns, lanIp, stateDir: join(this.dir, name), agent: null, ipv4: '', ipv6: '' });
    }
  }

  /**
   * A host with no agent in its own namespace, linked only to `behind`'s namespace
   * (`<v4>.1/24` + `<v6>::1/64` there, `<v4>.2` + `<v6>::2` on the host). The host has no
   * default route: it can answer only the router's own address, so a reply proves the
   * router masqueraded. Used for the "internet" behind an exit node and a LAN behind a
   * subnet router (routes branch).
   */
  async addHostBehind(behind: string, v4: string, v6: string): Promise<{ ns: string; ipv4: string; ipv6: string; routerIpv4: string; routerIpv6: string }> {
    const ns = await this.lab.addNs();
    const router = this.node(behind);
    await this.lab.veth(router.ns, { v4: `${v4}.1/24`, v6: `${v6}::1/64` }, ns, { v4: `${v4}.2/24`, v6: `${v6}::2/64` }, { a: `h${this.hosts++}`, b: 'eth0' });
    return { ns, ipv4: `${v4}.2`, ipv6: `${v6}::2`, routerIpv4: `${v4}.1`, routerIpv6: `${v6}::1` };
  }

  /** An HTTP server in `ns` on `port` answering every request with the client's address. */
  serveRemoteAddress(ns: string, port: number): void {
    const js = `require('http').createServer((q,s)=>s.end(q.socket.remoteAddress.replace(/^::ffff:/,''))).listen(${port},'::')`;
    this.lab.spawn(ns, [process.execPath, '-e', js], { env: this.env });
  }

  /** curl in `ns`: the body, or null when it failed (timeout, refused, unreachable). */
  async fetchText(ns: string, url: string, timeoutS = 3): Promise<string | null> {
    const r = await this.lab.exec(ns, ['curl', '-sS', '-g', '-m', String(timeoutS), url], { timeoutMs: (timeoutS + 5) * 1000 });
    return r.code === 0 ? r.stdout : null;
  }

  node(name: string): MeshNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  weft(ns: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
    return this.lab.exec(ns, [...this.cli, ...args], { timeoutMs, env: this.env });
  }

  async startServer(): Promise<void> {
    this.server = await startWeftServer(this.lab, this.lanNs, ['--listen', `${LAN_PREFIX}.1:${SERVER_PORT}`, '--state-dir', this.serverStateDir], this.serverUrl, this.env, this.cli);
  }

  async stopServer(): Promise<void> {
    await this.server?.kill('SIGTERM', 3000);
    this.server = null;
  }

  async createAuthKey(extra: string[] = []): Promise<string> {
    const r = await this.weft(this.lanNs, ['keys', 'create', '--reusable', '--state-dir', this.serverStateDir, ...extra]);
    if (r.code !== 0) throw new Error(`weft keys create failed: ${r.stderr}`);
    const key = r.stdout.trim().split(/\s+/).pop() ?? '';
    if (!extra.length) this.authKey = key;
    return key;
  }

  /** `weft up` in the node's namespace (`env` on top of this.env); resolves once it reports being up. */
  async up(name: string, extra: string[] = [], authKey = this.authKey, env: NodeJS.ProcessEnv = {}): Promise<MeshNode> {
    const n = this.node(name);
    // The lab coordinator speaks plain HTTP on namespace addresses (not loopback).
    const args = ['up', '--state-dir', n.stateDir, '--hostname', name, '--server', this.serverUrl, '--insecure-http', ...extra];
    if (this.resolvConf === null) args.push('--no-accept-dns');
    else this.nsResolvConf(n);
    return this.startAgent(n, [...this.cli, ...args], { ...this.env, ...env, WEFT_AUTH_KEY: authKey });
  }

  /** Runs an agent command line (`weft up ...`, maybe wrapped) in `n`'s namespace; resolves once it reports being up. */
  async startAgent(n: MeshNode, argv: string[], env: NodeJS.ProcessEnv): Promise<MeshNode> {
    n.agent = this.lab.spawn(n.ns, argv, { env });
    const m = await n.agent.waitFor(/weft: up as (\S+) \((\S+), (\S+)\)/, 20_000);
    n.ipv4 = m[2];
    n.ipv6 = m[3];
    return n;
  }

  /** Gives `n`'s namespace its own resolv.conf (this.resolvConf) before its agent starts. */
  nsResolvConf(n: MeshNode): void {
    const dir = `/etc/netns/${n.ns}`;
    if (this.resolvConf === null || this.etcDirs.includes(dir)) return;
    // Before the agent starts: `ip netns exec` bind-mounts it over /etc/resolv.conf.
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/resolv.conf`, this.resolvConf);
    this.etcDirs.push(dir);
  }

  async status(name: string): Promise<StatusJson> {
    const n = this.node(name);
    const r = await this.weft(n.ns, ['status', '--json', '--state-dir', n.stateDir]);
    if (r.code !== 0) throw new Error(`weft status failed on ${name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** Waits until `name` sees exactly `peers` (by name) in its netmap. */
  async waitPeers(name: string, peers: string[], timeoutMs = 10_000): Promise<StatusJson> {
    const want = [...peers].sort().join(',');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(name);
      const got = s.peers.map((p) => p.name).sort().join(',');
      if (got === want) return s;
      if (Date.now() > deadline) throw new Error(`${name} sees peers [${got}], expected [${want}]`);
      await sleep(100);
    }
  }

  /**
   * System ping inside `from`'s namespace; returns the number of replies. By default
   * `count` probes 0.2 s apart, each waiting 2 s; with `deadlineS`, probes go on until
   * `count` replies came or the deadline passed (how long a user would keep trying).
   */
  async ping(from: string, ip: string, count = 2, deadlineS?: number): Promise<{ received: number; output: string }> {
    const wait = deadlineS === undefined ? ['-W', '2'] : ['-w', String(deadlineS)];
    const r = await this.lab.exec(this.node(from).ns, ['ping', '-n', '-q', '-c', String(count), '-i', '0.2', ...wait, ip], { timeoutMs: 15_000 + (deadlineS ?? 0) * 1000 });
    const m = /(\d+) received/.exec(r.stdout);
    return { received: m ? Number(m[1]) : 0, output: r.stdout + r.stderr };
  }

  async down(name: string, logout = false): Promise<ExecResult> {
    const n = this.node(name);
    const r = await this.weft(n.ns, ['down', '--state-dir', n.stateDir, ...(logout ? ['--logout'] : [])]);
    await n.agent?.wait(10_000);
    n.agent = null;
    return r;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    for (const d of this.etcDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
