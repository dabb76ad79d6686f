import { randomInt } from 'node:crypto';
import { ENDPOINT_BYTES, type Endpoint } from '../io/endpoint.js';

// Source addresses proven (by a fresh ping or a pong) to belong to a peer, per socket
// (0 = the main one, k = birthday socket k). The receive path looks every WireGuard
// datagram up here, so a lookup hashes the 18 source bytes where the bind left them and
// compares bytes: no Endpoint, no string key, whatever the order peers' datagrams come in.

/** One (socket, address) of a peer. */
export interface AddrEntry<P> {
  readonly sock: number;
  readonly ep: Endpoint;
  readonly peer: P;
  readonly hash: number;
  /** The next entry with the same hash. */
  next: AddrEntry<P> | null;
}

export class AddrTable<P> {
  private readonly buckets = new Map<number, AddrEntry<P>>();
  /** Each peer's entries, oldest first (bounded by maxPerPeer). */
  private readonly byPeer = new Map<P, Set<AddrEntry<P>>>();
  private last: AddrEntry<P> | null = null;
  private count = 0;
  /** Keyed per process so a peer cannot line its addresses up in one chain on every node. */
  private readonly seed = randomInt(0x3fffffff);

  constructor(private readonly maxPerPeer: number) {}

  get size(): number {
    return this.count;
  }

  /** The entry for the source at src[off .. off+18] on socket `sock`; allocates nothing. */
  lookup(src: Uint8Array, off: number, sock: number): AddrEntry<P> | undefined {
    const last = this.last;
    if (last !== null && last.sock === sock && last.ep.equals(src, off)) return last;
    for (let e = this.buckets.get(this.hash(src, off, sock)) ?? null; e !== null; e = e.next) {
      if (e.sock === sock && e.ep.equals(src, off)) {
        this.last = e;
        return e;
      }
    }
    return undefined;
  }

  /**
   * Maps `ep` on `sock` to `peer` (taking it from another peer). At maxPerPeer the
   * peer's oldest entry that `keep` does not protect (its best path) is forgotten.
   */
  learn(peer: P, sock: number, ep: Endpoint, keep: (e: AddrEntry<P>) => boolean): void {
    const prev = this.lookup(ep.bytes, 0, sock);
    if (prev) this.remove(prev);
    let own = this.byPeer.get(peer);
    if (!own) this.byPeer.set(peer, (own = new Set()));
    if (own.size >= this.maxPerPeer) {
      for (const e of own) {
        if (keep(e)) continue;
        this.remove(e);
        break;
      }
    }
    const hash = this.hash(ep.bytes, 0, sock);
    const e: AddrEntry<P> = { sock, ep, peer, hash, next: this.buckets.get(hash) ?? null };
    this.buckets.set(hash, e);
    own.add(e);
    this.count++;
  }

  forgetPeer(peer: P): void {
    for (const e of this.byPeer.get(peer) ?? []) this.remove(e);
    this.byPeer.delete(peer);
  }

  /** Forgets every entry on a socket `keep` rejects. */
  dropSockets(keep: (sock: number) => boolean): void {
    for (const own of this.byPeer.values()) for (const e of own) if (!keep(e.sock)) this.remove(e);
  }

  clear(): void {
    this.buckets.clear();
    this.byPeer.clear();
    this.last = null;
    this.count = 0;
  }

  private remove(e: AddrEntry<P>): void {
    const head = this.buckets.get(e.hash);
    if (head === e) {
      if (e.next) this.buckets.set(e.hash, e.next);
      else this.buckets.delete(e.hash);
    } else {
      for (let p = head ?? null; p !== null; p = p.next) {
        if (p.next !== e) continue;
        p.next = e.next;
        break;
      }
    }
    e.next = null;
    this.byPeer.get(e.peer)?.delete(e);
    if (this.last === e) this.last = null;
    this.count--;
  }

  /** FNV-1a over the socket and the 18 address bytes, kept a small integer (a fast Map key). */
  private hash(b: Uint8Array, off: number, sock: number): number {
    let h = (0x811c9dc5 ^ this.seed ^ sock) | 0;
    for (let i = 0; i < ENDPOINT_BYTES; i++) h = Math.imul(h ^ b[off + i], 0x01000193);
    return h & 0x3fffffff;
  }
}
