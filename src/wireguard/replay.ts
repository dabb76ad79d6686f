// Anti-replay window for transport counters (RFC 6479, laid out exactly like the kernel's
// noise_counter and wireguard-go replay.go): a ring of 128 u64 blocks; a counter that
// moves the window forward clears the blocks it skips, so stale bits never alias.

const BLOCK_BITS = 64;
const BLOCK_BITS_LOG = 6;
const RING_BLOCKS = 128;
const RING_BITS = RING_BLOCKS * BLOCK_BITS; // 8192
/** Counters more than this far below the highest accepted one are rejected. */
export const COUNTER_WINDOW_SIZE = RING_BITS - BLOCK_BITS; // 8128

const WINDOW_BIG = BigInt(COUNTER_WINDOW_SIZE);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

export class ReplayFilter {
  // Each u64 block is two u32 words (low word first) so every bit op stays in Smi range.
  private readonly ring = new Uint32Array(RING_BLOCKS * 2);
  // Highest accepted counter. Kept as a number while it is below 2^53 (the hot path);
  // `lastBig` takes over once a counter beyond that is accepted.
  private last = 0;
  private lastBig: bigint | null = null;

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
    this.lastBig = null;
  }

  /** Returns true and marks the counter if it is below `limit`, inside the window and unseen. */
  validate(counter: bigint, limit: bigint): boolean {
    if (counter >= limit || counter < 0n) return false;
    if (counter <= MAX_SAFE_BIG) return this.validateNumber(Number(counter));
    return this.validateBig(counter);
  }

  /**
   * Same as validate for a counter already known to be an integer in [0, 2^53) and below
   * the caller's limit (REJECT_AFTER_MESSAGES is far above 2^53), without any BigInt.
   */
  validateNumber(counter: number): boolean {
    if (this.lastBig !== null) return this.validateBig(BigInt(counter)); // only near 2^53 can this pass
    const last = this.last;
    if (counter > last) {
      const current = Math.floor(last / BLOCK_BITS);
      const target = Math.floor(counter / BLOCK_BITS);
      this.clearBlocksAfter(current % RING_BLOCKS, Math.min(target - current, RING_BLOCKS));
      this.last = counter;
    } else if (last - counter > COUNTER_WINDOW_SIZE) {
      return false;
    }
    return this.testAndSet(counter % RING_BITS);
  }

  private validateBig(counter: bigint): boolean {
    const last = this.lastBig ?? BigInt(this.last);
    if (counter > last) {
      const current = last >> BigInt(BLOCK_BITS_LOG);
      const skipped = (counter >> BigInt(BLOCK_BITS_LOG)) - current;
      const n = skipped > BigInt(RING_BLOCKS) ? RING_BLOCKS : Number(skipped);
      this.clearBlocksAfter(Number(current % BigInt(RING_BLOCKS)), n);
      this.lastBig = counter;
    } else if (last - counter > WINDOW_BIG) {
      return false;
    }
    return this.testAndSet(Number(counter % BigInt(RING_BITS)));
  }

  // Zeroes the n ring blocks following block `from` (mod ring size).
  private clearBlocksAfter(from: number, n: number): void {
    const ring = this.ring;
    for (let i = 1; i <= n; i++) {
      const w = ((from + i) % RING_BLOCKS) * 2;
      ring[w] = 0;
      ring[w + 1] = 0;
    }
  }

  // bit is the counter's position in the ring, 0..8191.
  private testAndSet(bit: number): boolean {
    const w = bit >>> 5;
    const mask = (1 << (bit & 31)) >>> 0;
    const old = this.ring[w];
    if ((old & mask) !== 0) return false;
    this.ring[w] = old | mask;
    return true;
  }
}
