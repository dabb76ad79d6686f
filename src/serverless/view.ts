import { EventEmitter } from 'node:events';
import { keyFromBase64 } from '../crypto/keys.js';
import { planAddresses, type AddressPlan, type Collision } from './addresses.js';
import type { Member, MemberEventType, MemberState } from './members.js';
import type { SwimNode } from './swim.js';
import { defaultName } from './trust-store.js';
import type { TrustSet } from './trust.js';

// What the agent needs from serverless mode, in one place: the current trusted members
// (key, name, derived addresses, endpoints, relay capability, liveness) and a change
// event per membership change. An adapter turns this into the agent's NetmapSource
// (peers, MagicDNS names, routes); `revoked` tells it to tear a tunnel down now.

export interface ServerlessMember {
  publicKey: string;
  name: string;
  ipv4: string | null;
  ipv6: string | null;
  endpoints: string[];
  relay: boolean;
  /** Where it answers us: where its gossip was last heard from, else its first endpoint. */
  reachAt: string | null;
  state: MemberState;
  /** Dead because it left (`weft down`), not because it stopped answering. */
  left: boolean;
  incarnation: number;
  self: boolean;
}

export interface ServerlessChange {
  type: MemberEventType;
  member: ServerlessMember;
}

export interface AddressOptions {
  ipv4Range?: string;
  ula48?: string;
}

/** The address plan every member computes: the whole trust set plus ourselves. */
export function planFor(self: Uint8Array, trust: TrustSet, addresses: AddressOptions = {}): AddressPlan {
  return planAddresses([self, ...trust.nodes().map((e) => e.key)], addresses.ipv4Range, addresses.ula48);
}

export class ServerlessView extends EventEmitter<{ change: [ServerlessChange] }> {
  plan: AddressPlan;

  constructor(
    private readonly node: SwimNode,
    private readonly trust: TrustSet,
    private readonly addresses: AddressOptions = {},
  ) {
    super();
    this.plan = this.computePlan();
    node.on('member', (e) => {
      const m = node.membership.members.get(e.id);
      const member = m ? this.describe(m) : this.describe({ key: keyFromBase64(e.id), id: e.id, incarnation: 0, state: 'dead', endpoints: [], relay: false, addr: null, heardAt: 0, stateChangeAt: 0 });
      this.emit('change', { type: e.type, member });
    });
  }

  members(): ServerlessMember[] {
    return [...this.node.membership.members.values()].filter((m) => m === this.node.membership.self || this.trust.isMember(m.id)).map((m) => this.describe(m));
  }

  /** Recomputes the addresses after the trust set changed (the folder was edited). */
  replan(): void {
    this.plan = this.computePlan();
  }

  private computePlan(): AddressPlan {
    return planFor(this.node.membership.self.key, this.trust, this.addresses);
  }

  /** Address collisions in the trust set and how they were resolved (lower key kept it). */
  collisions(): Collision[] {
    return this.plan.collisions;
  }

  private describe(m: Member): ServerlessMember {
    const a = this.plan.byKey.get(m.id);
    return {
      publicKey: m.id,
      name: this.trust.name(m.id) ?? defaultName(m.key),
      ipv4: a?.ipv4 ?? null,
      ipv6: a?.ipv6 ?? null,
      // Advertised first, then where it was heard from when that differs (behind NAT).
      endpoints: [...m.endpoints, ...(m.addr && m !== this.node.membership.self && !m.endpoints.some((e) => e.equals(m.addr!)) ? [m.addr] : [])].map((e) => e.key),
      relay: m.relay,
      reachAt: ((m === this.node.membership.self ? null : m.addr) ?? m.endpoints[0] ?? null)?.key ?? null,
      state: m.state,
      left: m.left === true,
      incarnation: m.incarnation,
      self: m === this.node.membership.self,
    };
  }
}
