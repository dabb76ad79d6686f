import type { PrivateKey } from '../crypto/keys.js';
import type { DhtStatus } from '../dht/discovery.js';
import type { MagicBind } from '../nat/magicsock.js';
import type { NetMap, ServerMessage } from '../wire/control.js';
import type { SelfInfo } from './backend.js';

// Where the agent learns its world from. The coordinator's map stream (control-client.ts)
// is one implementation; netmap-source-memory.ts is the fake that drives tests; a
// serverless mode or a DHT would be others. The agent sees only this interface: it
// feeds every update to the backend (backend.ts), which owns the netmap state and
// derives the engine, route, DNS and filter configuration from it.
//
// What an update carries (wire types in src/control/wire.ts):
//   full  - the whole netmap: this node's identity and addresses (`self`, `domain`,
//           ranges), its peers, packet filter, DNS config and relays. Replaces everything.
//   delta - peers upserted (whole NodeViews) or removed by public key, and when they
//           changed: `self`, the packet filter, the DNS config. `seq` orders updates:
//           a delta at or below the last full netmap's seq is already reflected there.

/** A full netmap or a delta (the two ServerMessage kinds that change the world). */
export type NetmapUpdate = Extract<ServerMessage, { type: 'full' | 'delta' }>;
export type NetmapDelta = Extract<ServerMessage, { type: 'delta' }>;
export type { NetMap };

export interface NetmapSink {
  /** Called in order; must not throw (the source logs and drops what does). */
  onUpdate(update: NetmapUpdate): void;
  /** The source is (no longer) live: updates flow / the agent runs on what it has. */
  onConnectedChange(connected: boolean): void;
  /** The source refused us or reported a problem; shown by `weft status` until it connects again. */
  onError(code: string, message: string): void;
}

export interface NetmapSource {
  /** Starts delivering updates to `sink`; a live source reconnects by itself until stop(). */
  start(sink: NetmapSink): void;
  /** Stops delivering and releases everything it holds; idempotent. */
  stop(): Promise<void>;
  readonly connected: boolean;
  /** Tells the world where this node can be reached; false when not delivered now (retried later by the caller). */
  reportEndpoints(endpoints: readonly string[]): boolean;
  /** Tells the world the subnet routes this node advertises (replaces the set). */
  reportRoutes(routes: readonly string[]): boolean;
}

/** A member of a mesh without a coordinator, as `weft status` lists it. */
export interface MeshMemberStatus {
  name: string;
  publicKey: string;
  ipv4: string | null;
  ipv6: string | null;
  state: 'alive' | 'suspect' | 'dead';
  /** Dead because it said goodbye (`weft down`), not because it stopped answering. */
  left?: boolean;
  incarnation: number;
  endpoints: string[];
  self: boolean;
}

/**
 * A source that needs no coordinator (serverless mode, src/serverless/mesh.ts): it knows
 * who we are from local state, before the interface exists, and then runs on the
 * agent's own UDP socket (its datagrams share the port with WireGuard, STUN and disco).
 */
export interface LocalNetmapSource extends NetmapSource {
  /** This node (name, addresses, ranges, domain) for the node key; nothing is persisted. */
  identify(key: PrivateKey): Promise<SelfInfo>;
  /** Starts on the agent's socket once the engine listens on `listenPort`. */
  attach(socket: MagicBind, listenPort: number): Promise<LocalNetmapSource>;
  /** Every member known, dead ones too (for `weft status`). */
  members(): MeshMemberStatus[];
  /** The DHT (`--discovery dht|both`) for `weft status`, else null. */
  dhtStatus(): DhtStatus | null;
}
