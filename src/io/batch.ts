// A PacketBatch is a fixed arena of equal slots that I/O fills and the engine works on
// in place, so the hot path moves packets without allocating a Buffer per packet.
// Slot i starts at i * slotSize; a packet in it starts `offset` bytes into the slot
// (headroom for the 16-byte transport header when encrypting in place).
export const TRANSPORT_HEADROOM = 16;

export class PacketBatch {
  readonly data: Buffer;
  readonly lengths: Uint32Array;
  readonly offsets: Uint32Array;
  count = 0;

  constructor(
    readonly capacity: number,
    readonly slotSize: number,
  ) {
    this.data = Buffer.alloc(capacity * slotSize);
    this.lengths = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
  }

  /** Absolute byte offset of packet i in `data`. */
  start(i: number): number {
    return i * this.slotSize + this.offsets[i];
  }

  /** A view (no copy) of packet i. */
  packet(i: number): Buffer {
    const s = this.start(i);
    return this.data.subarray(s, s + this.lengths[i]);
  }

  /** Copies `bytes` into the next free slot at `offset`; false when the batch is full or it does not fit. */
  push(bytes: Uint8Array, offset = 0): boolean {
    if (this.count >= this.capacity || offset + bytes.length > this.slotSize) return false;
    const i = this.count++;
    this.offsets[i] = offset;
    this.lengths[i] = bytes.length;
    this.data.set(bytes, i * this.slotSize + offset);
    return true;
  }

  reset(): void {
    this.count = 0;
  }
}
