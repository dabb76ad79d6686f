// The NAT lab: a Weft mesh where every site sits behind a Linux router namespace doing
// real NAT with iptables, driven only through the `weft` CLI (tests and benchmarks).
//
//   inet (203.0.113.0/24 bridge, or the `inet` option's /24): `weft server` on .1 (API
//   8080, embedded relay at /relay, STUN on 3478 and 3479)
//   site router rtr-<site>: wan 203.0.113.<10+i>, lan bridge 192.168.<i>.1/24, NAT:
//     eim      MASQUERADE (endpoint-independent mapping, port-restricted filtering)
//     edm      MASQUERADE --random-fully (a random port per destination)
//     blocked  MASQUERADE, and outbound UDP dropped (only TCP to the relay works)
//     web      MASQUERADE, and only TCP to port 443 forwarded (networks that pass web traffic only)
//     double   a CGNAT router (wan 203.0.113.<10+i>, inside 100.64.<i>.1/24, MASQUERADE) in
//              front of a home router (100.64.<i>.2, MASQUERADE)
//   any kind with `portMapping`: miniupnpd on the router (miniupnpd.ts; needs `inet`
//   set to a non-reserved prefix such as PORTMAP_INET)
//   node namespaces on a site's LAN bridge, 192.168.<i>.<10+n>, default route via the router.
//
// Safety: only namespaces created by Lab (weft-<pid>-<n>), documentation/test ranges
// inside them (PORTMAP_INET excepted: the inet namespace has no uplink); every wait is
// bounded; destroy() removes everything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusJson } from '../agent/status.js';
import { Child, Lab, runOk, sleep, type ExecResult } from './netns.js';
import { WEFT_JS, startWeftServer, type MeshNode } from './mesh.js';
import { startMiniupnpd } from './miniupnpd.js';

export type SiteKind = 'eim' | 'edm' | 'blocked' | 'double' | 'web';

export interface SiteSpec {
  name: string;
  kind: SiteKind;
  nodes: string[];
  /**
   * A plain Linux router (a Docker host, a VPS NAT gateway): MASQUERADE and no INPUT
   * rule, so unsolicited UDP to the router itself is delivered to it. Default: a home
   * router's firewall, which drops it.
   */
  open?: boolean;
  /** The router runs miniupnpd: UPnP IGD, NAT-PMP and PCP port mapping (needs a non-reserved `inet`). */
  portMapping?: boolean;
}

/** The lab the e2e test and `npm run bench:nat` use: every NAT kind, and two nodes on one LAN. */
export const NAT_LAB_SITES: SiteSpec[] = [
  { name: 'eimA', kind: 'eim', nodes: ['eim1'] },
  { name: 'eimB', kind: 'eim', nodes: ['eim2'] },
  { name: 'edmA', kind: 'edm', nodes: ['edm1'] },
  { name: 'edmB', kind: 'edm', nodes: ['edm2'] },
  { name: 'dbl', kind: 'double', nodes: ['dbl'] },
  { name: 'blk', kind: 'blocked', nodes: ['blk'] },
  { name: 'home', kind: 'eim', nodes: ['lan1', 'lan2'] },
];

export interface LabNode extends MeshNode {
  site: string;
  upAt: number;
}

interface Site {
  spec: SiteSpec;
  index: number;
  router: string;
  /** The CGNAT router of a double-NAT site. */
  cgnat: string | null;
  wanIp: string;
}

const INET = '203.0.113';
export const SERVER_IP = `${INET}.1`;
/** An internet prefix miniupnpd accepts as public (see miniupnpd.ts); only inside the lab's namespaces. */
export const PORTMAP_INET = '198.20.0';
const SERVER_PORT = 8080;

export class NatLab {
  readonly lab = new Lab();
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-natlab-'));
  readonly nodes: LabNode[] = [];
  readonly sites: Site[] = [];
  inet = '';
  server: Child | null = null;
  /** The internet bridge's /24: the server is .1, site routers .<10+i>. */
  readonly inetPrefix: string;
  readonly serverIp: string;
  /** Where agents find the coordinator; startServer may change it (e.g. to HTTPS on 443). */
  serverUrl: string;
  readonly serverStateDir = join(this.dir, 'server');
  authKey = '';
  env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.WEFT_LAB_LOG ?? 'warn' };

  constructor(opts: { inet?: string } = {}) {
    this.inetPrefix = opts.inet ?? INET;
    this.serverIp = `${this.inetPrefix}.1`;
    this.serverUrl = `http://${this.serverIp}:${SERVER_PORT}`;
  }

  private async sysctl(ns: string, kv: string): Promise<void> {
    await this.lab.exec(ns, ['sysctl', '-qw', kv], { timeoutMs: 5000, check: true });
  }

  private async ipt(ns: string, args: string[]): Promise<void> {
    await this.lab.exec(ns, ['iptables', ...args], { timeoutMs: 10_000, check: true });
  }

  async build(sites: SiteSpec[]): Promise<void> {
    this.inet = await this.lab.addNs();
    await runOk(['ip', '-n', this.inet, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', this.inet, 'addr', 'add', `${this.serverIp}/24`, 'dev', 'br0']);
    await runOk(['ip', '-n', this.inet, 'link', 'set', 'br0', 'up']);
    await runOk(['ip', '-n', this.inet, 'link', 'set', 'lo', 'up']);
    let port = 0;
    for (const [i, spec] of sites.entries()) {
      const index = i + 1;
      const wanIp = `${this.inetPrefix}.${10 + index}`;
      const router = await this.lab.addNs();
      await runOk(['ip', '-n', router, 'link', 'set', 'lo', 'up']);
      await this.sysctl(router, 'net.ipv4.ip_forward=1');
      let cgnat: string | null = null;
      if (spec.kind === 'double') {
        cgnat = await this.lab.addNs();
        await this.sysctl(cgnat, 'net.ipv4.ip_forward=1');
        const w = await this.lab.veth(cgnat, { v4: `${wanIp}/24` }, this.inet, {}, { a: 'wan', b: `w${port++}` });
        await runOk(['ip', '-n', this.inet, 'link', 'set', w.ifB, 'master', 'br0']);
        await this.lab.veth(router, { v4: `100.64.${index}.2/24` }, cgnat, { v4: `100.64.${index}.1/24` }, { a: 'wan', b: 'lan' });
        await runOk(['ip', '-n', router, 'route', 'add', 'default', 'via', `100.64.${index}.1`]);
        await this.ipt(cgnat, ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE']);
      } else {
        const w = await this.lab.veth(router, { v4: `${wanIp}/24` }, this.inet, {}, { a: 'wan', b: `w${port++}` });
        await runOk(['ip', '-n', this.inet, 'link', 'set', w.ifB, 'master', 'br0']);
      }
      await runOk(['ip', '-n', router, 'link', 'add', 'br-lan', 'type', 'bridge']);
      await runOk(['ip', '-n', router, 'addr', 'add', `192.168.${index}.1/24`, 'dev', 'br-lan']);
      await runOk(['ip', '-n', router, 'link', 'set', 'br-lan', 'up']);
      const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE'];
      await this.ipt(router, spec.kind === 'edm' ? [...masq, '--random-fully'] : masq);
      // Like a home router's firewall: unsolicited UDP to the router itself is dropped. It
      // also keeps such packets from leaving a confirmed conntrack entry that would clash
      // with the mapping the inside host is about to create (hole punching).
      if (!spec.open) for (const r of [router, ...(cgnat ? [cgnat] : [])]) await this.ipt(r, ['-A', 'INPUT', '-i', 'wan', '-p', 'udp', '-j', 'DROP']);
      if (spec.kind === 'blocked') await this.ipt(router, ['-A', 'FORWARD', '-i', 'br-lan', '-p', 'udp', '-j', 'DROP']);
      if (spec.kind === 'web') {
        await this.ipt(router, ['-A', 'FORWARD', '-i', 'br-lan', '-p', 'tcp', '--dport', '443', '-j', 'ACCEPT']);
        await this.ipt(router, ['-A', 'FORWARD', '-i', 'br-lan', '-j', 'DROP']);
      }
      if (spec.portMapping) await startMiniupnpd(this.lab, { ns: router, wanIf: 'wan', lanIf: 'br-lan', lanCidr: `192.168.${index}.0/24`, dir: this.dir });
      const site: Site = { spec, index, router, cgnat, wanIp };
      this.sites.push(site);
      for (const [n, name] of spec.nodes.entries()) {
        const ns = await this.lab.addNs();
        const lanIp = `192.168.${index}.${10 + n}`;
        const link = await this.lab.veth(ns, { v4: `${lanIp}/24` }, router, {}, { a: 'eth0', b: `l${n}` });
        await runOk(['ip', '-n', router, 'link', 'set', link.ifB, 'master', 'br-lan']);
        await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        await runOk(['ip', '-n', ns, 'route', 'add', 'default', 'via', `192.168.${index}.1`]);
        this.nodes.push({ name, site: spec.name, ns, lanIp, stateDir: join(this.dir, name), agent: null, ipv4: '', ipv6: '', upAt: 0 });
      }
    }
  }

  /** A node on the internet bridge itself (the `inet` namespace, the server's address): a public host. */
  addPublicNode(name: string): LabNode {
    const n: LabNode = { name, site: 'inet', ns: this.inet, lanIp: this.serverIp, stateDir: join(this.dir, name), agent: null, ipv4: '', ipv6: '', upAt: 0 };
    this.nodes.push(n);
    return n;
  }

  node(name: string): LabNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  site(name: string): Site {
    const s = this.sites.find((x) => x.spec.name === name);
    if (!s) throw new Error(`no site ${name}`);
    return s;
  }

  weft(ns: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
    return this.lab.exec(ns, [process.execPath, WEFT_JS, ...args], { timeoutMs, env: this.env });
  }

  /** `weft server`, by default on the lab's public address; `listen` replaces the --listen argument, `url` the URL agents dial. */
  async startServer(listen: string[] = ['--listen', `${this.serverIp}:${SERVER_PORT}`, '--stun-port', '3478'], url = this.serverUrl): Promise<void> {
    this.serverUrl = url;
    this.server = await startWeftServer(this.lab, this.inet, [...listen, '--state-dir', this.serverStateDir], this.serverUrl, this.env);
  }

  async stopServer(): Promise<void> {
    await this.server?.kill('SIGTERM', 3000);
    this.server = null;
  }

  async createAuthKey(): Promise<string> {
    const r = await this.weft(this.inet, ['keys', 'create', '--reusable', '--state-dir', this.serverStateDir]);
    if (r.code !== 0) throw new Error(`weft keys create failed: ${r.stderr}`);
    this.authKey = r.stdout.trim().split(/\s+/).pop() ?? '';
    return this.authKey;
  }

  /** `weft up` for `name` (first start or restart); `extra` arguments go after the lab's own. */
  async up(name: string, extra: string[] = []): Promise<LabNode> {
    const n = this.node(name);
    // --no-accept-dns: these namespaces have no /etc/netns/<ns>/resolv.conf, so the agent
    // would rewrite (and on exit restore) the host's own /etc/resolv.conf.
    // The lab coordinator speaks plain HTTP on namespace addresses (not loopback).
    return this.spawnAgent(name, ['up', '--state-dir', n.stateDir, '--hostname', name, '--server', this.serverUrl, '--insecure-http', '--no-accept-dns', ...extra]);
  }

  /** Runs `weft ARGS` (an `up` of any kind) as `name`'s agent; resolves once it says it is up. */
  async spawnAgent(name: string, args: string[]): Promise<LabNode> {
    const n = this.node(name);
    n.agent = this.lab.spawn(n.ns, [process.execPath, WEFT_JS, ...args], { env: this.authKey ? { ...this.env, WEFT_AUTH_KEY: this.authKey } : this.env });
    const m = await n.agent.waitFor(/weft: up as (\S+) \((\S+), (\S+)\)/, 20_000);
    n.ipv4 = m[2];
    n.ipv6 = m[3];
    n.upAt = Date.now();
    return n;
  }

  async down(name: string): Promise<void> {
    const n = this.node(name);
    await this.weft(n.ns, ['down', '--state-dir', n.stateDir], 10_000);
    await n.agent?.wait(10_000);
    n.agent = null;
  }

  async status(name: string): Promise<StatusJson> {
    const n = this.node(name);
    const r = await this.weft(n.ns, ['status', '--json', '--state-dir', n.stateDir], 10_000);
    if (r.code !== 0) throw new Error(`weft status failed on ${name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  async waitPeers(name: string, count: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(name);
      if (s.peers.length >= count) return;
      if (Date.now() > deadline) throw new Error(`${name} sees ${s.peers.length} peers, expected ${count}`);
      await sleep(200);
    }
  }

  /** `weft ping` (through the engine); null on failure. */
  async weftPing(from: string, to: string, timeoutMs = 2000): Promise<{ ms: number; via: string } | null> {
    const r = await this.weft(this.node(from).ns, ['ping', '-c', '1', '--state-dir', this.node(from).stateDir, '--timeout', String(timeoutMs), to], timeoutMs + 5000);
    const m = /via (.*) in ([\d.]+) ms/.exec(r.stdout);
    return r.code === 0 && m ? { ms: Number(m[2]), via: m[1] } : null;
  }

  /** System ping in `from`'s namespace; the number of replies. */
  async ping(from: string, ip: string, count = 2, intervalS = 0.2): Promise<{ received: number; output: string }> {
    const r = await this.lab.exec(this.node(from).ns, ['ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', '1', ip], { timeoutMs: 15_000 + count * 1000 });
    const m = /(\d+) received/.exec(r.stdout);
    return { received: m ? Number(m[1]) : 0, output: r.stdout + r.stderr };
  }

  /** Pings `b`'s mesh address from `a` until one reply or `ms` pass: the time it took, or null. */
  async reach(a: string, b: string, ms: number): Promise<number | null> {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      const r = await this.ping(a, this.node(b).ipv4, 1, 0.2);
      if (r.received > 0) return Date.now() - t0;
    }
    return null;
  }

  /** Sets the UDP conntrack timeouts on every router (mapping expiry). */
  async conntrackUdpTimeout(seconds: number): Promise<void> {
    for (const s of this.sites) {
      for (const ns of [s.router, ...(s.cgnat ? [s.cgnat] : [])]) {
        await this.sysctl(ns, `net.netfilter.nf_conntrack_udp_timeout=${seconds}`);
        await this.sysctl(ns, `net.netfilter.nf_conntrack_udp_timeout_stream=${seconds}`);
      }
    }
  }

  /** Moves a node to another address on its LAN (roaming). */
  async moveNode(name: string, newLast: number): Promise<string> {
    const n = this.node(name);
    const s = this.site(n.site);
    const ip = `192.168.${s.index}.${newLast}`;
    await runOk(['ip', '-n', n.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', n.ns, 'addr', 'del', `${n.lanIp}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', n.ns, 'route', 'replace', 'default', 'via', `192.168.${s.index}.1`, 'src', ip]);
    n.lanIp = ip;
    return ip;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
