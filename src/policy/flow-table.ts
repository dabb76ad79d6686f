import type { Clock } from '../clock.js';

// Flows this node opened, so replies pass the inbound filter: a fixed-capacity hash
// table (linear probing, backward-shift deletion) threaded on an LRU list. All storage
// is preallocated typed arrays and the key is written into `key` by the caller, so
// neither recording nor lookup allocates.

/** Key words: [proto | family << 8, localPort << 16 | remotePort, local addr x4, remote addr x4]. */
export const KEY_WORDS = 10;

export class FlowTable {
  /** Scratch key the caller fills before upsert()/has(). */
  readonly key = new Uint32Array(KEY_WORDS);
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly seen: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly slotOf: Int32Array;
  private readonly slots: Int32Array;
  private readonly slotMask: number;
  private head = -1; // most recent
  private tail = -1; // least recent
  private used = 0;

  constructor(
    readonly capacity: number,
    private readonly idleMs: number,
    private readonly clock: Clock,
  ) {
    this.keys = new Uint32Array(capacity * KEY_WORDS);
    this.hashes = new Uint32Array(capacity);
    this.seen = new Float64Array(capacity);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.slotOf = new Int32Array(capacity);
    let n = 1;
    while (n < capacity * 2) n <<= 1;
    this.slots = new Int32Array(n).fill(-1);
    this.slotMask = n - 1;
  }

  get size(): number {
    return this.used;
  }

  /** Records the flow in `key` (or refreshes it) as most recently used. */
  upsert(): void {
    const now = this.clock.now();
    const h = this.hash();
    const e = this.find(h);
    if (e >= 0) {
      this.seen[e] = now;
      this.moveToHead(e);
      return;
    }
    const entry = this.used < this.capacity ? this.used++ : this.evictTail();
    this.keys.set(this.key, entry * KEY_WORDS);
    this.hashes[entry] = h;
    this.seen[entry] = now;
    let s = h & this.slotMask;
    while (this.slots[s] >= 0) s = (s + 1) & this.slotMask;
    this.slots[s] = entry;
    this.slotOf[entry] = s;
    this.linkHead(entry);
  }

  /** Whether the flow in `key` is live; a hit counts as use. Expired flows are removed. */
  has(): boolean {
    const e = this.find(this.hash());
    if (e < 0) return false;
    const now = this.clock.now();
    if (now - this.seen[e] > this.idleMs) {
      this.remove(e);
      return false;
    }
    this.seen[e] = now;
    this.moveToHead(e);
    return true;
  }

  private hash(): number {
    // FNV-1a over the key words, then a final avalanche (murmur3 fmix32).
    let h = 0x811c9dc5;
    for (let i = 0; i < KEY_WORDS; i++) h = Math.imul(h ^ this.key[i], 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return (h ^ (h >>> 16)) >>> 0;
  }

  private find(h: number): number {
    for (let s = h & this.slotMask; ; s = (s + 1) & this.slotMask) {
      const e = this.slots[s];
      if (e < 0) return -1;
      if (this.hashes[e] === h && this.keyEquals(e)) return e;
    }
  }

  private keyEquals(e: number): boolean {
    const base = e * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) if (this.keys[base + i] !== this.key[i]) return false;
    return true;
  }

  private evictTail(): number {
    const e = this.tail;
    this.remove(e);
    this.used++; // remove() freed the slot by moving the last entry; reuse the last index
    return this.used - 1;
  }

  /** Deletes entry e, compacting: the last entry moves into e's storage. */
  private remove(e: number): void {
    this.unlinkSlot(this.slotOf[e]);
    this.unlinkList(e);
    const last = --this.used;
    if (e !== last) {
      this.keys.copyWithin(e * KEY_WORDS, last * KEY_WORDS, (last + 1) * KEY_WORDS);
      this.hashes[e] = this.hashes[last];
      this.seen[e] = this.seen[last];
      this.slotOf[e] = this.slotOf[last];
      this.slots[this.slotOf[e]] = e;
      // Relink the moved entry's list neighbours to its new index.
      this.prev[e] = this.prev[last];
      this.next[e] = this.next[last];
      if (this.prev[e] >= 0) this.next[this.prev[e]] = e;
      else this.head = e;
      if (this.next[e] >= 0) this.prev[this.next[e]] = e;
      else this.tail = e;
    }
  }

  private unlinkSlot(slot: number): void {
    // Backward-shift deletion keeps every remaining entry reachable from its home slot.
    let i = slot;
    this.slots[i] = -1;
    for (let j = (i + 1) & this.slotMask; this.slots[j] >= 0; j = (j + 1) & this.slotMask) {
      const e = this.slots[j];
      const home = this.hashes[e] & this.slotMask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (between) continue;
      this.slots[i] = e;
      this.slotOf[e] = i;
      this.slots[j] = -1;
      i = j;
    }
  }

  private linkHead(e: number): void {
    this.prev[e] = -1;
    this.next[e] = this.head;
    if (this.head >= 0) this.prev[this.head] = e;
    this.head = e;
    if (this.tail < 0) this.tail = e;
  }

  private unlinkList(e: number): void {
    const p = this.prev[e];
    const n = this.next[e];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private moveToHead(e: number): void {
    if (this.head === e) return;
    this.unlinkList(e);
    this.linkHead(e);
  }
}
