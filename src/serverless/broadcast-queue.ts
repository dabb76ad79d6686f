import { retransmitLimit } from './config.js';

// Piggybacked dissemination (memberlist TransmitLimitedQueue): each update is sent at
// most retransmitMult·ceil(log10(n+1)) times, least-sent first; a newer update about the
// same subject replaces the older one. One entry per subject, and subjects are trust-set
// keys, so the queue is bounded by the trust set.

interface Entry {
  msg: Uint8Array;
  transmits: number;
  seq: number;
}

export class BroadcastQueue {
  private readonly entries = new Map<string, Entry>();
  private seq = 0;

  constructor(private readonly mult: number) {}

  get size(): number {
    return this.entries.size;
  }

  queue(subject: string, msg: Uint8Array): void {
    this.entries.set(subject, { msg, transmits: 0, seq: this.seq++ });
  }

  /** Encoded messages that fit in `budget` bytes; counts one transmit for each. */
  take(budget: number, n: number): Uint8Array[] {
    if (this.entries.size === 0) return [];
    const limit = retransmitLimit(this.mult, n);
    const sorted = [...this.entries].sort(([, a], [, b]) => a.transmits - b.transmits || b.seq - a.seq);
    const out: Uint8Array[] = [];
    for (const [subject, e] of sorted) {
      if (e.msg.length > budget) continue;
      budget -= e.msg.length;
      out.push(e.msg);
      if (++e.transmits >= limit) this.entries.delete(subject);
    }
    return out;
  }
}
