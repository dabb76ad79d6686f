import { randomFillSync } from 'node:crypto';
import type { Keypair } from './keypair.js';
import type { Peer } from './peer.js';

// Receiver indices are random, unique 32-bit values (WP §5.4.2); each one names either a
// pending handshake or a keypair of one peer.
export interface IndexEntry {
  peer: Peer;
  keypair: Keypair | null;
}

export class IndexTable {
  private readonly entries = new Map<number, IndexEntry>();

  constructor(private readonly random: () => number = randomU32) {}

  newIndex(peer: Peer): number {
    for (;;) {
      const idx = this.random();
      if (!this.entries.has(idx)) {
        this.entries.set(idx, { peer, keypair: null });
        return idx;
      }
    }
  }

  swapForKeypair(idx: number, keypair: Keypair): void {
    const e = this.entries.get(idx);
    if (e) e.keypair = keypair;
  }

  lookup(idx: number): IndexEntry | undefined {
    return this.entries.get(idx);
  }

  delete(idx: number): void {
    this.entries.delete(idx);
  }

  get size(): number {
    return this.entries.size;
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
