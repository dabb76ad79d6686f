import { PacketBatch, TRANSPORT_HEADROOM } from './batch.js';
import type { TunDevice, TunEvents } from './tun.js';

// In-memory TUN for tests: inject() plays the OS sending packets into the tunnel;
// packets the engine writes are copied to `written` and passed to `onWrite`.
export class FakeTun implements TunDevice {
  name: string;
  mtu: number;
  readonly headroom = TRANSPORT_HEADROOM;
  /** Copies of every packet the engine wrote, in order. */
  readonly written: Uint8Array[] = [];
  /** Called with a copy of each packet the engine writes. */
  onWrite: ((packet: Uint8Array) => void) | undefined;
  /** When false, write() accepts nothing (returns 0), e.g. to simulate a full queue. */
  writable = true;

  private events: TunEvents | undefined;
  private stopped = false;
  private readonly batch: PacketBatch;

  constructor(opts: { name?: string; mtu?: number; batchSize?: number } = {}) {
    this.name = opts.name ?? 'fake0';
    this.mtu = opts.mtu ?? 1420;
    this.batch = new PacketBatch(opts.batchSize ?? 128, 65536 + TRANSPORT_HEADROOM + 32);
  }

  get started(): boolean {
    return this.events !== undefined && !this.stopped;
  }

  start(events: TunEvents): void {
    if (this.stopped) throw new Error('FakeTun stopped');
    this.events = events;
  }

  /** Delivers one packet to the engine synchronously (as a one-packet batch with headroom). */
  inject(packet: Uint8Array): void {
    this.injectMany([packet]);
  }

  /** Delivers packets to the engine synchronously, in batches of up to the batch capacity. */
  injectMany(packets: readonly Uint8Array[]): void {
    if (!this.started) throw new Error('FakeTun not started');
    const b = this.batch;
    for (let i = 0; i < packets.length; ) {
      b.reset();
      while (i < packets.length && b.push(packets[i], this.headroom)) i++;
      if (b.count === 0) throw new Error(`packet of ${packets[i].length} bytes does not fit`);
      try {
        this.events!.onPackets(b);
      } finally {
        b.reset();
      }
    }
  }

  write(batch: PacketBatch): number {
    if (this.stopped || !this.writable) return 0;
    let n = 0;
    for (let i = 0; i < batch.count; i++) {
      if (batch.lengths[i] === 0) continue; // a slot the engine dropped
      const p = Uint8Array.prototype.slice.call(batch.packet(i)) as Uint8Array;
      this.written.push(p);
      this.onWrite?.(p);
      n++;
    }
    return n;
  }

  /** Simulates the interface vanishing: stops and calls onClose(err). */
  vanish(err: Error = Object.assign(new Error('interface deleted'), { code: 'EBADFD' })): void {
    if (this.stopped) return;
    this.stopped = true;
    this.events?.onClose(err);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}
