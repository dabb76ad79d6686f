import { randomFillSync } from 'node:crypto';
import type { Keypair } from './keypair.js';
import type { Peer } from './peer.js';

// Receiver indices are random, unique, non-zero 32-bit values (WP §5.4.2; 0 stands for
// "none" in the handshake state); each one names either a pending handshake or a
// keypair of one peer.
export interface IndexEntry {
  readonly index: number;
  readonly peer: Peer;
  readonly keypair: Keypair | null;
}

class Slot implements IndexEntry {
  index = 0;
  peer!: Peer;
  keypair: Keypair | null = null;
}

const INITIAL_CAPACITY = 1024;
/** Deleted entries kept for reuse. */
const ENTRY_POOL_MAX = 1024;

// A handshake storm makes and drops thousands of indices a second. A Map keyed by them
// allocated a heap number per key (most u32 values are not small integers), an entry
// object per index and, as deletions piled up, a new hash table: all of it living just
// long enough to be copied by the young-generation GC, which paused the established
// sessions' packets. Here the keys live in a typed array (open addressing, linear
// probing; indices are uniformly random, so the low bits are the hash), deletion shifts
// the probe run back instead of leaving tombstones, and entries are reused.
export class IndexTable {
  private keys = new Uint32Array(INITIAL_CAPACITY);
  private slots: (Slot | undefined)[] = new Array<Slot | undefined>(INITIAL_CAPACITY).fill(undefined);
  private mask = INITIAL_CAPACITY - 1;
  private count = 0;
  private readonly pool: Slot[] = [];

  constructor(private readonly random: () => number = randomU32) {}

  newIndex(peer: Peer): number {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    for (;;) {
      const idx = this.random() >>> 0;
      if (idx === 0 || this.find(idx) >= 0) continue;
      const e = this.pool.pop() ?? new Slot();
      e.index = idx;
      e.peer = peer;
      e.keypair = null;
      this.put(e);
      this.count++;
      return idx;
    }
  }

  swapForKeypair(idx: number, keypair: Keypair): void {
    const i = this.find(idx);
    if (i >= 0) this.slots[i]!.keypair = keypair;
  }

  /** The entry now named by idx. An entry is reused once deleted: hold it no longer than the caller's turn. */
  lookup(idx: number): IndexEntry | undefined {
    const i = this.find(idx);
    return i >= 0 ? this.slots[i] : undefined;
  }

  delete(idx: number): void {
    let i = this.find(idx);
    if (i < 0) return;
    const e = this.slots[i]!;
    e.keypair = null;
    e.index = 0;
    if (this.pool.length < ENTRY_POOL_MAX) this.pool.push(e);
    this.count--;
    // Backward-shift deletion: pull later members of the probe run into the hole.
    const mask = this.mask;
    const keys = this.keys;
    const slots = this.slots;
    for (let j = (i + 1) & mask; slots[j] !== undefined; j = (j + 1) & mask) {
      const home = keys[j] & mask;
      // j's entry stays when its home lies cyclically in (i, j].
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      keys[i] = keys[j];
      slots[i] = slots[j];
      i = j;
    }
    keys[i] = 0;
    slots[i] = undefined;
  }

  get size(): number {
    return this.count;
  }

  private find(idx: number): number {
    const mask = this.mask;
    for (let i = idx & mask; ; i = (i + 1) & mask) {
      const e = this.slots[i];
      if (e === undefined) return -1;
      if (this.keys[i] === idx) return i;
    }
  }

  private put(e: Slot): void {
    const mask = this.mask;
    let i = e.index & mask;
    while (this.slots[i] !== undefined) i = (i + 1) & mask;
    this.keys[i] = e.index;
    this.slots[i] = e;
  }

  private grow(): void {
    const old = this.slots;
    this.keys = new Uint32Array(old.length * 2);
    this.slots = new Array<Slot | undefined>(old.length * 2).fill(undefined);
    this.mask = old.length * 2 - 1;
    for (const e of old) if (e !== undefined) this.put(e);
  }
}

// Drawn from a pool refilled 256 at a time: a handshake storm makes one index per
// handshake, and one randomBytes call (and Buffer) each showed in its profile.
const pool = new Uint32Array(256);
let left = 0;

function randomU32(): number {
  if (left === 0) {
    randomFillSync(pool);
    left = pool.length;
  }
  const v = pool[--left];
  pool[left] = 0;
  return v;
}
