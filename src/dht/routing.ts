import type { Endpoint } from '../io/endpoint.js';
import { commonPrefixLength, compareDistance, ID_BITS, idEquals, type NodeId } from './id.js';
import { K } from './wire.js';

// The routing table: k-buckets by shared id prefix with our own id. It starts as one
// bucket; the last bucket covers every prefix length from its index on (it holds our
// own id's neighbourhood) and splits when it is full, so only the buckets near us are
// ever refined (Kademlia §2.4). Sybil limits, because a bucket is what a lookup trusts:
// - ids are derived from keys (id.ts) and only nodes that answered us are let in (the
//   node calls seen() on a response, never on a bare request);
// - at most `subnetLimit` contacts per IPv4 /24 or IPv6 /48 in one bucket;
// - a full bucket keeps its long-lived contacts (the oldest is pinged; only if it fails
//   does the newest replacement take its place), so a flood of new ids cannot push out
//   nodes that have been answering for hours.

export interface Contact {
  id: NodeId;
  key: Uint8Array;
  /** base64 key, the trust-set and sealing id. */
  keyId: string;
  endpoint: Endpoint;
  lastSeen: number;
  failures: number;
}

export type NewContact = Omit<Contact, 'lastSeen' | 'failures'>;

export type SeenResult =
  | { status: 'added' | 'updated' | 'self' | 'subnet' }
  /** Bucket full: the contact went to the replacement cache; ping `oldest` and report the outcome. */
  | { status: 'full'; oldest: Contact };

export interface RoutingOptions {
  k?: number;
  /** Contacts per /24 (IPv4) or /48 (IPv6) in one bucket. */
  subnetLimit?: number;
  /** Replacement cache per bucket. */
  replacements?: number;
  /** Failed requests in a row before a contact goes even with no replacement waiting. */
  maxFailures?: number;
}

interface Bucket {
  contacts: Contact[];
  replacements: Contact[];
}

/** The /24 or /48 an endpoint is in. */
export function subnetOf(ep: Endpoint): string {
  const b = ep.bytes;
  return ep.isV4 ? `4:${b[12]}.${b[13]}.${b[14]}` : `6:${Buffer.from(b.subarray(0, 6)).toString('hex')}`;
}

export class RoutingTable {
  private readonly buckets: Bucket[] = [{ contacts: [], replacements: [] }];
  readonly k: number;
  private readonly subnetLimit: number;
  private readonly maxReplacements: number;
  private readonly maxFailures: number;

  constructor(
    readonly self: NodeId,
    o: RoutingOptions = {},
  ) {
    this.k = o.k ?? K;
    this.subnetLimit = o.subnetLimit ?? 2;
    this.maxReplacements = o.replacements ?? this.k;
    this.maxFailures = o.maxFailures ?? 3;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  get size(): number {
    return this.buckets.reduce((n, b) => n + b.contacts.length, 0);
  }

  /** The contacts of bucket `i`, oldest first (for tests and status). */
  bucket(i: number): readonly Contact[] {
    return this.buckets[i]?.contacts ?? [];
  }

  replacementsOf(i: number): readonly Contact[] {
    return this.buckets[i]?.replacements ?? [];
  }

  indexOf(id: NodeId): number {
    return Math.min(commonPrefixLength(this.self, id), this.buckets.length - 1);
  }

  get(id: NodeId): Contact | undefined {
    return this.buckets[this.indexOf(id)].contacts.find((c) => idEquals(c.id, id));
  }

  /** `c` answered us (it is reachable): add it, refresh it, or queue it behind a full bucket. */
  seen(c: NewContact, now: number): SeenResult {
    if (idEquals(c.id, this.self)) return { status: 'self' };
    for (;;) {
      const i = this.indexOf(c.id);
      const b = this.buckets[i];
      const at = b.contacts.findIndex((x) => idEquals(x.id, c.id));
      if (at >= 0) {
        const [old] = b.contacts.splice(at, 1);
        const moved = !old.endpoint.equals(c.endpoint);
        const endpoint = moved && !this.subnetRoom(b.contacts, c.endpoint) ? old.endpoint : c.endpoint;
        b.contacts.push({ ...old, endpoint, lastSeen: now, failures: 0 });
        return { status: 'updated' };
      }
      if (b.contacts.length >= this.k && i === this.buckets.length - 1 && this.buckets.length < ID_BITS) {
        this.split();
        continue;
      }
      if (!this.subnetRoom(b.contacts, c.endpoint)) return { status: 'subnet' };
      if (b.contacts.length < this.k) {
        b.contacts.push({ ...c, lastSeen: now, failures: 0 });
        b.replacements = b.replacements.filter((x) => !idEquals(x.id, c.id));
        return { status: 'added' };
      }
      b.replacements = b.replacements.filter((x) => !idEquals(x.id, c.id));
      b.replacements.push({ ...c, lastSeen: now, failures: 0 });
      if (b.replacements.length > this.maxReplacements) b.replacements.shift();
      return { status: 'full', oldest: b.contacts[0] };
    }
  }

  /** A request to `id` went unanswered; true when that removed it (a replacement took its place). */
  failed(id: NodeId): boolean {
    const b = this.buckets[this.indexOf(id)];
    const c = b.contacts.find((x) => idEquals(x.id, id));
    if (!c) {
      b.replacements = b.replacements.filter((x) => !idEquals(x.id, id));
      return false;
    }
    c.failures++;
    if (b.replacements.length === 0 && c.failures < this.maxFailures) return false;
    this.remove(id);
    return true;
  }

  /** Drops `id` and promotes the newest replacement that fits the subnet limit. */
  remove(id: NodeId): void {
    const b = this.buckets[this.indexOf(id)];
    b.contacts = b.contacts.filter((x) => !idEquals(x.id, id));
    for (let j = b.replacements.length - 1; j >= 0; j--) {
      const r = b.replacements[j];
      if (!this.subnetRoom(b.contacts, r.endpoint)) continue;
      b.replacements.splice(j, 1);
      b.contacts.push(r);
      return;
    }
  }

  /** Up to `n` contacts closest to `target`, closest first. */
  closest(target: NodeId, n: number = this.k): Contact[] {
    const all: Contact[] = [];
    for (const b of this.buckets) all.push(...b.contacts);
    return all.sort((a, b) => compareDistance(target, a.id, b.id)).slice(0, n);
  }

  all(): Contact[] {
    return this.buckets.flatMap((b) => b.contacts);
  }

  private subnetRoom(contacts: readonly Contact[], ep: Endpoint): boolean {
    const s = subnetOf(ep);
    let n = 0;
    for (const c of contacts) if (subnetOf(c.endpoint) === s) n++;
    return n < this.subnetLimit;
  }

  /** The last bucket gives the contacts sharing one more bit with us to a new last bucket. */
  private split(): void {
    const last = this.buckets[this.buckets.length - 1];
    const depth = this.buckets.length - 1;
    const next: Bucket = { contacts: [], replacements: [] };
    const deeper = (c: Contact): boolean => commonPrefixLength(this.self, c.id) > depth;
    next.contacts = last.contacts.filter(deeper);
    last.contacts = last.contacts.filter((c) => !deeper(c));
    next.replacements = last.replacements.filter(deeper);
    last.replacements = last.replacements.filter((c) => !deeper(c));
    this.buckets.push(next);
  }
}
