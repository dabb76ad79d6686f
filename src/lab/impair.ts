import { PacketBatch } from '../io/batch.js';

// netem in userspace for the lab bridges: loss, duplication, delay and reordering of
// IP packets between two packet handlers. The lab's kernel may lack sch_netem (this
// VM's has no modules), so the conformance tests impair packets here, with netem's
// semantics: `reorder P` sends P of the packets at once while the rest wait `delayMs`.

export interface ImpairSpec {
  delayMs?: number;
  /** Probabilities in [0, 1]. */
  loss?: number;
  duplicate?: number;
  reorder?: number;
}

/** Bound on packets waiting out their delay: beyond it they are dropped, like a full qdisc. */
const QUEUE_MAX = 10_000;

export class Impairment {
  spec: ImpairSpec = {};
  readonly stats = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };
  private readonly queue: Array<{ at: number; pkt: Buffer }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly one: PacketBatch;
  private seed: number;

  constructor(
    private readonly deliver: (batch: PacketBatch) => void,
    slotSize: number,
    private readonly headroom: number,
    seed = 1,
  ) {
    this.one = new PacketBatch(1, slotSize);
    this.seed = seed;
  }

  /** Takes a batch (copied; the caller may reuse it). */
  push(batch: PacketBatch): void {
    const s = this.spec;
    if (!s.delayMs && !s.loss && !s.duplicate && !s.reorder && this.queue.length === 0) {
      this.stats.passed += batch.count;
      return this.deliver(batch);
    }
    for (let i = 0; i < batch.count; i++) {
      if (!batch.lengths[i]) continue;
      if (this.random() < (s.loss ?? 0)) {
        this.stats.dropped++;
        continue;
      }
      const copies = this.random() < (s.duplicate ?? 0) ? 2 : 1;
      if (copies === 2) this.stats.duplicated++;
      for (let c = 0; c < copies; c++) {
        const pkt = Buffer.from(batch.packet(i));
        const now = this.random() < (s.reorder ?? 0) || !s.delayMs;
        if (now && s.delayMs) this.stats.reordered++;
        if (now) this.send(pkt);
        else if (this.queue.length < QUEUE_MAX) this.queue.push({ at: Date.now() + s.delayMs!, pkt });
        else this.stats.dropped++;
      }
    }
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private send(pkt: Buffer): void {
    this.stats.passed++;
    this.one.reset();
    this.one.push(pkt, this.headroom);
    this.deliver(this.one);
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      // Delays are equal, so the queue is in delivery order.
      while (this.queue.length && this.queue[0].at <= now) this.send(this.queue.shift()!.pkt);
      this.arm();
    }, Math.max(0, this.queue[0].at - Date.now()));
  }

  /** mulberry32: reproducible runs for a given seed. */
  private random(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
