import { rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import ipaddr from 'ipaddr.js';
import { keyFromBase64, publicKeyFromBytes, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { WeftError } from '../errors.js';
import { applyHttpLimits, listenPrivateSocket } from '../listen.js';
import type { Logger } from '../log.js';
import type { PrefixTrie } from '../net/prefix-trie.js';
import { Socks5Server } from '../netstack/socks5.js';
import type { Circuit } from '../onion/circuit.js';
import type { OnionExitPolicy } from '../onion/exit.js';
import { parseAddress, type LinkTransport } from '../onion/link.js';
import { DEFAULT_CIRCUIT_PORT, OnionNode } from '../onion/node.js';
import { loadGuard, saveGuard, selectPath, type RelayCandidate } from '../onion/path.js';
import type { NodeView } from '../wire/control.js';
import { circuitSocketPath } from './state.js';
import type { Device } from '../wireguard/device.js';
import { CircuitTun, circuitKeep, type CircuitTunStatus } from './circuit-tun.js';

// Onion circuits on a running agent (`weft up --circuits`, `--circuit-exit`,
// `--exit-circuit N`; `weft circuit build`).
// - Every member with --circuits serves as a relay on <mesh IPv4>:7301, so hop-to-hop
//   links run inside the WireGuard tunnels; EXTEND may only name members' circuit ports.
// - With --circuit-exit it is also an onion exit: any destination outside the mesh
//   ranges, minus --exit-policy-block, on --exit-policy-allow-ports.
// - A client (--exit-circuit N, or `weft circuit build`) keeps one active circuit and
//   carries its TCP connections through it: a SOCKS5 proxy on circuit-socks5.sock in the
//   state dir (and optionally on a TCP address), the same entry the userspace stack's
//   front doors give. `weft nc`-style clients can use it. With the kernel TUN the host's
//   outside TCP enters the circuit too, like an exit node's traffic (circuit-tun.ts); on
//   the userspace stack the links run over it and its front doors send outside
//   destinations into the circuit (routeOutside).
// - Control: a local API on circuit.sock (0600, state dir 0700) that the CLI calls.

export const circuitSocksPath = (stateDir: string): string => join(stateDir, 'circuit-socks5.sock');

export interface CircuitAgentOptions {
  stateDir: string;
  privateKey: PrivateKey;
  /** This member's mesh IPv4: links listen here (inside the tunnels). */
  listenHost: string;
  port?: number;
  /** The members (the agent's netmap peers), read at each path selection. */
  peers: () => Iterable<NodeView>;
  /** Serve as an onion exit with this policy. */
  exitPolicy?: OnionExitPolicy;
  /** false: allow several hops in one /16 (labs on one LAN). */
  distinctNetworks?: boolean;
  /** Build a circuit of this many hops at start and keep one for the SOCKS5 entry. */
  exitCircuit?: { hops: number; exit?: string; socks5?: { host: string; port: number } };
  /** With exitCircuit: the builtin engine on the kernel TUN, whose outside traffic enters the circuit. */
  tun?: Device;
  /** Destinations that never enter the circuit (the exit refuses them anyway). */
  blocked?: readonly string[];
  /** Whether a name is a mesh peer's (the front doors dial those directly). */
  isMeshName?: (host: string) => boolean;
  /** What the links run on (default Node's TCP; the userspace stack's with --tun=userspace). */
  transport?: LinkTransport;
  logger: Logger;
}

/** `weft status` for a circuit client. */
export interface CircuitStatus {
  hops: number;
  /** The active circuit's members (null: none built or it died). */
  path: string[] | null;
  /** The host's outside traffic through the TUN (absent without it). */
  tun?: CircuitTunStatus;
}

export interface BuildReply {
  path: string[];
  buildMs: number;
}

export class CircuitAgent {
  readonly node: OnionNode;
  private api: FastifyInstance | null = null;
  private readonly socks: Socks5Server[] = [];
  private active: Circuit | null = null;
  private tun: CircuitTun | null = null;
  /** Never into the circuit: the blocked ranges, multicast and broadcast (one trie for the front doors and the TUN). */
  private readonly blocked: PrefixTrie<true>;
  private building: Promise<Circuit> | null = null;
  private readonly port: number;

  constructor(private readonly opts: CircuitAgentOptions) {
    this.port = opts.port ?? DEFAULT_CIRCUIT_PORT;
    const members = (): Set<string> => new Set([...opts.peers()].map((p) => `${p.ipv4}:${this.port}`));
    this.node = new OnionNode({
      staticPrivate: opts.privateKey,
      staticPublic: publicKeyFromPrivate(opts.privateKey),
      logger: opts.logger,
      exitPolicy: opts.exitPolicy,
      allowExtend: (a) => members().has(a),
      transport: opts.transport,
    });
    this.blocked = circuitKeep(opts.blocked ?? []);
  }

  async start(): Promise<void> {
    await this.node.listen(this.opts.listenHost, this.port);
    await this.startApi();
    const ec = this.opts.exitCircuit;
    if (!ec) return;
    const dial = (h: string, p: number): Promise<Duplex> => this.dial(h, p);
    const local = new Socks5Server(dial, this.opts.logger);
    await rm(circuitSocksPath(this.opts.stateDir), { force: true });
    await local.listenPath(circuitSocksPath(this.opts.stateDir));
    this.socks.push(local);
    if (ec.socks5) {
      const tcp = new Socks5Server(dial, this.opts.logger);
      await tcp.listen(ec.socks5.port, ec.socks5.host);
      this.socks.push(tcp);
    }
    if (this.opts.tun) this.tun = new CircuitTun(this.opts.tun, this.blocked, dial, this.opts.logger);
    // The first build may race the first netmap; later dials rebuild on demand.
    this.build(ec.hops, ec.exit).catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'first circuit build failed; retried on the next connection'));
  }

  /** Builds a circuit and makes it the active one (the previous one is torn down). */
  async build(hops: number, exit?: string): Promise<BuildReply> {
    const guard = await loadGuard(this.opts.stateDir);
    const sel = selectPath(this.candidates(exit), { hops, exitName: exit, guard, distinctNetworks: this.opts.distinctNetworks });
    if (sel.guard && (sel.guard.publicKey !== guard?.publicKey || sel.guard.chosenAt !== guard?.chosenAt)) await saveGuard(this.opts.stateDir, sel.guard);
    const t0 = process.hrtime.bigint();
    const c = await this.node.buildCircuit(sel.path);
    const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
    this.active?.destroy('replaced');
    this.active = c;
    this.opts.logger.info({ hops, buildMs: Math.round(buildMs) }, 'circuit built');
    return { path: sel.path.map((h) => h.name), buildMs };
  }

  status(): CircuitStatus | null {
    const ec = this.opts.exitCircuit;
    if (!ec) return null;
    const path = this.active?.isOpen ? this.active.path.map((h) => h.name) : null;
    return { hops: ec.hops, path, ...(this.tun ? { tun: this.tun.status() } : {}) };
  }

  async stop(): Promise<void> {
    await this.tun?.close();
    this.tun = null;
    await Promise.all(this.socks.splice(0).map((s) => s.close()));
    await this.api?.close();
    this.api = null;
    await rm(circuitSocketPath(this.opts.stateDir), { force: true });
    await this.node.close();
  }

  private async dial(host: string, port: number): Promise<Duplex> {
    const ec = this.opts.exitCircuit!;
    if (!this.active?.isOpen) {
      this.building ??= this.build(ec.hops, ec.exit)
        .then(() => this.active!)
        .finally(() => (this.building = null));
      await this.building;
    }
    return this.active!.openStream(host, port);
  }

  /**
   * The userspace stack's front doors: a connection to an outside destination (an IP
   * outside the blocked ranges, or a name that is no mesh peer's, resolved at the exit)
   * goes into the circuit; null for the mesh (dialled directly).
   */
  routeOutside(host: string, port: number): Promise<Duplex> | null {
    if (!this.opts.exitCircuit) return null;
    const h = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(h) ? this.blocked.lookup(Uint8Array.from(ipaddr.parse(h).toByteArray()), isIP(h) as 4 | 6) === true : (this.opts.isMeshName?.(h) ?? false)) return null;
    return this.dial(h, port);
  }

  private candidates(exit?: string): RelayCandidate[] {
    const out: RelayCandidate[] = [];
    for (const p of this.opts.peers()) {
      if (!p.online || p.expired) continue;
      let publicKey;
      try {
        publicKey = publicKeyFromBytes(keyFromBase64(p.publicKey));
      } catch {
        continue;
      }
      const underlay = p.endpoints.map(parseAddress).find((a) => a !== null)?.host ?? p.ipv4;
      const isExit = exit !== undefined ? p.name === exit : (p.approvedRoutes ?? []).includes('0.0.0.0/0');
      out.push({ name: p.name, address: `${p.ipv4}:${this.port}`, publicKey, underlayIp: underlay, exit: isExit });
    }
    return out;
  }

  private async startApi(): Promise<void> {
    const app = Fastify({ logger: false });
    app.setErrorHandler((err: Error & { code?: string }, _req, reply) => {
      const code = err instanceof WeftError ? err.code : (err.code ?? 'ERR_INTERNAL');
      void reply.code(code === 'ERR_ONION_PATH' ? 409 : code.startsWith('ERR_ONION') ? 502 : 400).send({ error: { code, message: err.message } });
    });
    app.post<{ Body: { hops: number; exit?: string } }>(
      '/v1/circuit',
      {
        schema: {
          body: {
            type: 'object',
            required: ['hops'],
            additionalProperties: false,
            properties: { hops: { type: 'integer', minimum: 1, maximum: 8 }, exit: { type: 'string', minLength: 1, maxLength: 255 } },
          },
        },
      },
      async (req) => this.build(req.body.hops, req.body.exit),
    );
    const path = circuitSocketPath(this.opts.stateDir);
    await rm(path, { force: true });
    applyHttpLimits(app.server, { idleTimeoutMs: 30_000 });
    await app.ready();
    await listenPrivateSocket(app.server, path);
    this.api = app;
  }
}
