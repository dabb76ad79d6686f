import { idHex, nodeIdOf } from './id.js';
import type { PeerRecord } from './records.js';

// The records this node holds for others (STORE) and serves (FIND_VALUE). One record per
// node key, kept under id(key); the caller has already checked it (records.ts). Higher
// sequence wins, an equal or lower one is refused, so a replayed old record cannot roll
// a member's endpoints back. Bounded: when full, expired records go first and then a
// new record is refused (records of the keys we already hold keep being updated).

export type PutResult = 'stored' | 'stale' | 'full';

export class RecordStore {
  private readonly records = new Map<string, PeerRecord>();

  constructor(private readonly maxRecords = 4096) {}

  get size(): number {
    return this.records.size;
  }

  put(r: PeerRecord, wallNow: number): PutResult {
    const h = idHex(nodeIdOf(r.key));
    const old = this.records.get(h);
    if (old && old.seq >= r.seq && old.expiresAt > wallNow) return 'stale';
    if (!old && this.records.size >= this.maxRecords) {
      this.expire(wallNow);
      if (this.records.size >= this.maxRecords) return 'full';
    }
    this.records.set(h, r);
    return 'stored';
  }

  /** The live record stored under `id`, if any. */
  get(id: Uint8Array, wallNow: number): PeerRecord | null {
    const h = idHex(id);
    const r = this.records.get(h);
    if (!r) return null;
    if (r.expiresAt > wallNow) return r;
    this.records.delete(h);
    return null;
  }

  expire(wallNow: number): void {
    for (const [h, r] of this.records) if (r.expiresAt <= wallNow) this.records.delete(h);
  }

  /** Live records, for republishing to nodes that joined closer to their ids. */
  all(wallNow: number): PeerRecord[] {
    this.expire(wallNow);
    return [...this.records.values()];
  }
}
