import type { Clock } from '../clock.js';
import { equalBytes } from '../crypto/constant-time.js';
import type { Endpoint } from '../io/endpoint.js';
import type { Awareness } from './awareness.js';
import type { BroadcastQueue } from './broadcast-queue.js';
import { suspicionTimeout, type SwimConfig } from './config.js';
import { Suspicion } from './suspicion.js';
import { keyId, type TrustSet } from './trust.js';
import { encodeMessage, type AliveMsg, type GossipMessage, type RevokeMsg } from './wire.js';

// The membership table and SWIM's merge rules (memberlist state.go aliveNode,
// suspectNode, deadNode): a higher incarnation wins; suspicion of ourselves is refuted by
// bumping our incarnation; a suspect becomes dead when its Lifeguard timer runs out.
// Every accepted change is queued for piggybacked dissemination and reported as an
// event. Only trust-set keys get in, so the table is bounded by the trust set.

export type MemberState = 'alive' | 'suspect' | 'dead';

export interface Member {
  key: Uint8Array;
  id: string;
  incarnation: number;
  state: MemberState;
  endpoints: Endpoint[];
  relay: boolean;
  /** Where we probe it: its first advertised endpoint, then where it was last heard from. */
  addr: Endpoint | null;
  /** When `addr` was last confirmed by an authenticated datagram from it (0: never). */
  heardAt: number;
  stateChangeAt: number;
  /** Dead by its own word (a graceful leave), not by failed probes. */
  left?: boolean;
}

export type MemberEventType = 'join' | 'update' | 'suspect' | 'dead' | 'revoked';
export interface MemberEvent {
  type: MemberEventType;
  id: string;
}

export interface MembershipCounters {
  untrustedMembers: number;
  refutations: number;
}

export interface MembershipDeps {
  self: { key: Uint8Array; endpoints: Endpoint[]; relay: boolean };
  trust: TrustSet;
  clock: Clock;
  config: SwimConfig;
  queue: BroadcastQueue;
  awareness: Awareness;
  emit: (e: MemberEvent) => void;
}

/**
 * An address a member was heard from this recently survives a change of its advertised
 * endpoints: behind a NAT that address is its mapping towards us, which the endpoints it
 * advertises (its LAN address first) may not reach.
 */
export const HEARD_FRESH_MS = 10_000;

const sameEndpoints = (a: readonly Endpoint[], b: readonly Endpoint[]): boolean => a.length === b.length && a.every((e, i) => e.equals(b[i]));

export class Membership {
  readonly members = new Map<string, Member>();
  /** Every member but us, as a list to draw probe and gossip targets from. */
  readonly others: Member[] = [];
  readonly self: Member;
  readonly counters: MembershipCounters = { untrustedMembers: 0, refutations: 0 };
  private readonly suspicions = new Map<string, Suspicion>();

  constructor(private readonly d: MembershipDeps) {
    const { key, endpoints, relay } = d.self;
    this.self = { key, id: keyId(key), incarnation: 0, state: 'alive', endpoints, relay, addr: endpoints[0] ?? null, heardAt: 0, stateChangeAt: d.clock.now() };
    this.members.set(this.self.id, this.self);
    this.queueAlive(this.self);
  }

  get count(): number {
    return this.members.size;
  }

  aliveMessage(m: Member): AliveMsg {
    return { type: 'alive', incarnation: m.incarnation, node: m.key, relay: m.relay, endpoints: m.endpoints };
  }

  /** Our view as messages, for a push/pull sync; suspect and dead are stated by us. */
  stateMessages(): GossipMessage[] {
    const out: GossipMessage[] = [];
    for (const m of this.members.values()) {
      if (m.state === 'alive') out.push(this.aliveMessage(m));
      else out.push({ type: m.state, incarnation: m.incarnation, node: m.key, from: this.self.key });
    }
    return [...out, ...this.d.trust.revocations()];
  }

  /** Changes our advertised endpoints or relay flag: a new incarnation, gossiped. */
  setSelf(endpoints: Endpoint[], relay: boolean): void {
    Object.assign(this.self, { endpoints, relay, incarnation: this.self.incarnation + 1 });
    this.self.addr = endpoints[0] ?? null;
    this.queueAlive(this.self);
  }

  aliveNode(a: AliveMsg): void {
    const id = keyId(a.node);
    if (!this.d.trust.isMember(id)) {
      this.counters.untrustedMembers++;
      return;
    }
    if (id === this.self.id) {
      const same = a.incarnation === this.self.incarnation && a.relay === this.self.relay && sameEndpoints(a.endpoints, this.self.endpoints);
      if (a.incarnation >= this.self.incarnation && !same) this.refute(a.incarnation);
      return;
    }
    let m = this.members.get(id);
    if (m && a.incarnation <= m.incarnation) return;
    const joined = !m || m.state === 'dead';
    if (!m) {
      m = { key: a.node, id, incarnation: a.incarnation, state: 'alive', endpoints: [], relay: false, addr: null, heardAt: 0, stateChangeAt: 0 };
      this.members.set(id, m);
      this.others.push(m);
    }
    this.cancelSuspicion(id);
    const heard = m.heardAt > 0 && this.d.clock.now() - m.heardAt < HEARD_FRESH_MS;
    if (m.addr === null || (!sameEndpoints(m.endpoints, a.endpoints) && !heard)) m.addr = a.endpoints[0] ?? m.addr;
    Object.assign(m, { incarnation: a.incarnation, endpoints: a.endpoints, relay: a.relay, state: 'alive', left: false, stateChangeAt: this.d.clock.now() });
    this.queueAlive(m);
    this.d.emit({ type: joined ? 'join' : 'update', id });
  }

  suspectNode(s: { incarnation: number; node: Uint8Array; from: Uint8Array }): void {
    const id = keyId(s.node);
    const m = this.accused(id, s.incarnation);
    if (!m) return;
    const msg = encodeMessage({ type: 'suspect', ...s });
    const sus = this.suspicions.get(id);
    if (sus) {
      if (sus.confirm(keyId(s.from))) this.d.queue.queue(id, msg);
      return;
    }
    if (m.state !== 'alive') return;
    if (m === this.self) return this.refute(s.incarnation);
    const { config: c, clock } = this.d;
    Object.assign(m, { incarnation: s.incarnation, state: 'suspect', stateChangeAt: clock.now() });
    this.d.queue.queue(id, msg);
    this.d.emit({ type: 'suspect', id });
    // Lifeguard: want suspicionMult−2 independent confirmations, none in tiny clusters.
    const n = this.count;
    const k = n - 2 < c.suspicionMult - 2 ? 0 : c.suspicionMult - 2;
    const min = suspicionTimeout(c.suspicionMult, n, c.probeIntervalMs);
    const incarnation = s.incarnation;
    this.suspicions.set(
      id,
      new Suspicion(clock, keyId(s.from), k, min, c.suspicionMaxTimeoutMult * min, () => {
        this.suspicions.delete(id);
        if (m.state === 'suspect' && m.incarnation === incarnation) this.deadNode({ incarnation, node: m.key, from: this.self.key });
      }),
    );
  }

  deadNode(dm: { incarnation: number; node: Uint8Array; from: Uint8Array }): void {
    const id = keyId(dm.node);
    const m = this.accused(id, dm.incarnation);
    if (!m) return;
    this.cancelSuspicion(id);
    if (m.state === 'dead') return;
    if (m === this.self) return this.refute(dm.incarnation);
    Object.assign(m, { incarnation: dm.incarnation, state: 'dead', left: equalBytes(dm.from, dm.node), stateChangeAt: this.d.clock.now() });
    this.d.queue.queue(id, encodeMessage({ type: 'dead', ...dm }));
    this.d.emit({ type: 'dead', id });
  }

  /**
   * Graceful leave (memberlist's Leave): we declare ourselves dead (node = from = us) at a
   * new incarnation, so every member that hears it drops us at once, with no suspicion.
   * Returns the message to send; gossip carries it on from the members that get it.
   */
  leave(): Uint8Array {
    const self = this.self;
    Object.assign(self, { incarnation: self.incarnation + 1, state: 'dead' });
    const msg = encodeMessage({ type: 'dead', incarnation: self.incarnation, node: self.key, from: self.key });
    this.d.queue.queue(self.id, msg);
    return msg;
  }

  /** A verified revocation of a trusted key: it leaves the table for good. True when new. */
  revoke(r: RevokeMsg): boolean {
    if (!this.d.trust.revoke(r)) return false;
    const id = keyId(r.node);
    this.cancelSuspicion(id);
    const m = this.members.get(id);
    if (m && m !== this.self) {
      this.members.delete(id);
      this.others.splice(this.others.indexOf(m), 1);
    }
    this.d.queue.queue(`revoke:${id}`, encodeMessage(r));
    this.d.emit({ type: 'revoked', id });
    return true;
  }

  /** Push/pull merge (memberlist mergeState): a remote "dead" only makes us suspect. */
  mergeState(m: GossipMessage): void {
    if (m.type === 'alive') this.aliveNode(m);
    else if (m.type === 'suspect' || m.type === 'dead') this.suspectNode(m);
    else if (m.type === 'revoke') this.revoke(m);
  }

  isSelf(key: Uint8Array): boolean {
    return equalBytes(key, this.self.key);
  }

  /**
   * The member a suspect/dead message is about, unless unknown or stale. A stale
   * accusation of us means the sender missed our refutation: send it again.
   */
  private accused(id: string, incarnation: number): Member | null {
    const m = this.members.get(id);
    if (!m || incarnation >= m.incarnation) return m ?? null;
    if (m === this.self) this.queueAlive(m);
    return null;
  }

  private refute(accused: number): void {
    this.self.incarnation = Math.max(this.self.incarnation, accused) + 1;
    this.counters.refutations++;
    this.d.awareness.applyDelta(1);
    this.queueAlive(this.self);
  }

  private queueAlive(m: Member): void {
    this.d.queue.queue(m.id, encodeMessage(this.aliveMessage(m)));
  }

  private cancelSuspicion(id: string): void {
    this.suspicions.get(id)?.cancel();
    this.suspicions.delete(id);
  }

  stop(): void {
    for (const id of [...this.suspicions.keys()]) this.cancelSuspicion(id);
  }
}
