import ipaddr from 'ipaddr.js';
import type { NodeView } from '../wire/control.js';
import type { Logger } from '../log.js';
import { parsePrefix } from '../net/prefix.js';
import { PrefixTrie } from '../net/prefix-trie.js';
import { AgentError } from './errors.js';
import type { ExitPolicy, ForwardingConfigurator } from './forwarding.js';
import type { RoutingConfigurator } from './routing.js';

// Subnet routes and exit nodes on the agent, both sides:
// - as a router / exit node: what we advertise, and (once the coordinator approved it)
//   forwarding + NAT through the ForwardingConfigurator, and which forwarded packets the
//   engine lets out of the tunnel (destinations in our approved routes; for an exit node
//   anything outside the mesh ranges);
// - as a client: which routes each peer serves (its allowed IPs beyond /32 and /128),
//   the selected exit node and what happens when it goes away (kill switch by default:
//   the default route into the interface stays and traffic is dropped in the engine).

export const EXIT_ROUTES = ['0.0.0.0/0', '::/0'];
const isExit = (r: string): boolean => r === '0.0.0.0/0' || r === '::/0';

export type ExitFallback = 'block' | 'direct';

export interface ExitPrefs {
  /** Peer name, fqdn or mesh IP; null = no exit node. */
  exitNode: string | null;
  allowLanAccess: boolean;
  fallback: ExitFallback;
  /** `--exit-circuit`: outside traffic goes into the interface for the onion circuit (no exit peer). */
  circuit?: boolean;
}

export interface AdvertisePrefs {
  routes: string[];
  exitNode: boolean;
  snatSubnetRoutes: boolean;
  exitPolicy: ExitPolicy;
}

export interface ExitNodeStatus {
  /** What the user selected. */
  selected: string;
  name: string | null;
  ipv4: string | null;
  /** active: traffic goes through it; the rest say why not. */
  state: 'active' | 'offline' | 'not-found' | 'not-approved';
  /** When not active: `blocked` (kill switch) or `direct`. */
  fallback: ExitFallback;
  allowLanAccess: boolean;
}

export interface RoutesContext {
  iface: () => string;
  meshRanges: () => string[];
  bypass: () => string[];
  findPeer: (target: string) => NodeView | undefined;
  logger: Logger;
}

export class RouteController {
  exit: ExitPrefs;
  private exitPeerKey: string | null = null;
  private exitState: ExitNodeStatus['state'] = 'not-found';
  private forward = new PrefixTrie<true>();
  private forwardExit = false;
  private meshTrie = new PrefixTrie<true>();
  private selfView: NodeView | null = null;

  constructor(
    readonly advertise: AdvertisePrefs,
    exit: ExitPrefs,
    private readonly routing: RoutingConfigurator,
    private readonly forwarding: ForwardingConfigurator,
    private readonly ctx: RoutesContext,
  ) {
    this.exit = { ...exit };
  }

  /** The routes message for the coordinator. */
  advertisedRoutes(): string[] {
    return [...new Set([...this.advertise.routes, ...(this.advertise.exitNode ? EXIT_ROUTES : [])])].sort();
  }

  /** The extra allowed IPs of `peer` for our engine. */
  routesFor(peer: NodeView): string[] {
    const approved = peer.approvedRoutes ?? [];
    const subnets = approved.filter((r) => !isExit(r));
    if (peer.publicKey === this.exitPeerKey && EXIT_ROUTES.every((r) => approved.includes(r))) return [...subnets, ...EXIT_ROUTES];
    return subnets;
  }

  /** Whether the engine may hand a decrypted packet addressed elsewhere to the OS (we forward it). */
  mayForward(buf: Uint8Array, off = 0, len = buf.length - off): boolean {
    if (this.forward.lookupPacket(buf, off, len, 'dst') !== true) return false;
    // Exit traffic never targets the mesh itself through us.
    return !(this.forwardExit && this.meshTrie.lookupPacket(buf, off, len, 'dst') === true);
  }

  /** Picks the exit peer among `peers`; returns the public keys whose allowed IPs may change. */
  private selectExit(peers: Iterable<NodeView>): Set<string> {
    const before = this.exitPeerKey;
    let peer: NodeView | undefined;
    if (this.exit.exitNode) peer = this.ctx.findPeer(this.exit.exitNode);
    const approved = peer ? EXIT_ROUTES.every((r) => (peer!.approvedRoutes ?? []).includes(r)) : false;
    this.exitPeerKey = peer && approved ? peer.publicKey : null;
    this.exitState = !this.exit.exitNode || !peer ? 'not-found' : !approved ? 'not-approved' : !peer.online ? 'offline' : 'active';
    void peers;
    const changed = new Set<string>();
    if (before !== this.exitPeerKey) for (const k of [before, this.exitPeerKey]) if (k) changed.add(k);
    return changed;
  }

  /**
   * Re-derives everything from our own node and the peers. Returns the peers whose
   * allowed IPs must be recomputed (exit selection moved).
   */
  async refresh(self: NodeView, peers: ReadonlyMap<string, NodeView>): Promise<Set<string>> {
    this.selfView = self;
    const changed = this.selectExit(peers.values());
    // Router / exit side.
    const mine = (self.approvedRoutes ?? []).filter((r) => this.advertisedRoutes().includes(r));
    const exitApproved = EXIT_ROUTES.every((r) => mine.includes(r));
    const subnets = mine.filter((r) => !isExit(r));
    const fwd = new PrefixTrie<true>();
    for (const r of subnets) fwd.insert(parsePrefix(r), true);
    if (exitApproved) for (const r of EXIT_ROUTES) fwd.insert(parsePrefix(r), true);
    const mesh = new PrefixTrie<true>();
    for (const r of this.ctx.meshRanges()) mesh.insert(parsePrefix(r), true);
    this.forward = fwd;
    this.forwardExit = exitApproved;
    this.meshTrie = mesh;
    try {
      await this.forwarding.apply(
        subnets.length || exitApproved
          ? { iface: this.ctx.iface(), meshRanges: this.ctx.meshRanges(), subnetRoutes: subnets, exit: exitApproved, snatSubnetRoutes: this.advertise.snatSubnetRoutes, policy: this.advertise.exitPolicy }
          : null,
      );
    } catch (err) {
      this.ctx.logger.error({ err: (err as Error).message }, 'configuring forwarding failed');
    }
    // Client side: subnet routes of peers, and the exit default route.
    const subnetRoutes = new Set<string>();
    for (const p of peers.values()) for (const r of p.approvedRoutes ?? []) if (!isExit(r)) subnetRoutes.add(r);
    // Our own advertised subnets stay on our LAN.
    for (const r of self.advertisedRoutes ?? []) subnetRoutes.delete(r);
    const wantExit = (this.exit.exitNode !== null && (this.exitState === 'active' || this.exit.fallback === 'block')) || this.exit.circuit === true;
    try {
      await this.routing.apply({ iface: this.ctx.iface(), subnetRoutes: [...subnetRoutes].sort(), exit: wantExit, allowLan: this.exit.allowLanAccess, bypass: wantExit ? this.ctx.bypass() : [], src4: self.ipv4, src6: self.ipv6 });
    } catch (err) {
      this.ctx.logger.error({ err: (err as Error).message }, 'configuring routes failed');
    }
    return changed;
  }

  setExitPrefs(p: Partial<ExitPrefs>): void {
    if (p.exitNode !== undefined) {
      const v = p.exitNode === '' ? null : p.exitNode;
      if (v !== null && !this.ctx.findPeer(v)) throw new AgentError('ERR_PEER_NOT_FOUND', `no peer named ${JSON.stringify(v)} to use as exit node`);
      this.exit.exitNode = v;
    }
    if (p.allowLanAccess !== undefined) this.exit.allowLanAccess = p.allowLanAccess;
    if (p.fallback !== undefined) this.exit.fallback = p.fallback;
  }

  status(): ExitNodeStatus | null {
    if (!this.exit.exitNode) return null;
    const peer = this.ctx.findPeer(this.exit.exitNode);
    return {
      selected: this.exit.exitNode,
      name: peer?.name ?? null,
      ipv4: peer?.ipv4 ?? null,
      state: this.exitState,
      fallback: this.exit.fallback,
      allowLanAccess: this.exit.allowLanAccess,
    };
  }

  /** For status: what we advertise and what of it is approved. */
  selfRoutes(): { advertised: string[]; approved: string[] } {
    return { advertised: this.advertisedRoutes(), approved: (this.selfView?.approvedRoutes ?? []).slice() };
  }

  async down(): Promise<void> {
    await this.routing.down();
    await this.forwarding.down();
  }
}

/** `NAME|IP` validation for --exit-node (the peer itself is looked up at runtime). */
export function validExitNodeArg(s: string): boolean {
  return s === '' || /^[A-Za-z0-9.-]{1,253}$/.test(s) || ipaddr.isValid(s);
}
