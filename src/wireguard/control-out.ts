import type { Bind } from '../io/bind.js';
import { PacketBatch } from '../io/batch.js';
import { ENDPOINT_BYTES, type Endpoint } from '../io/endpoint.js';

// Handshake-type messages out (initiations, responses, cookie replies). Where the bind
// can address each datagram on its own (Bind.sendMany: one sendmmsg), the messages of
// one event-loop turn leave together at its end: a storm's responses, answered a
// worker message at a time, cost one system call per turn, not one each. Elsewhere
// (the dgram and fake binds) each goes at once, as before.
export const CONTROL_BATCH = 256;
const SLOT = 256;

export class ControlSender {
  private readonly one = new PacketBatch(1, SLOT);
  private readonly batch: PacketBatch | null;
  private readonly dests: Uint8Array;
  private scheduled = false;

  constructor(
    private readonly bind: Bind,
    /** A batched send that threw (it runs in a microtask: nothing may escape it). */
    private readonly onError: (err: unknown) => void,
  ) {
    const batched = typeof bind.sendMany === 'function';
    this.batch = batched ? new PacketBatch(CONTROL_BATCH, SLOT) : null;
    this.dests = new Uint8Array(batched ? CONTROL_BATCH * ENDPOINT_BYTES : 0);
  }

  send(to: Endpoint, msg: Uint8Array): void {
    const b = this.batch;
    if (b === null || msg.length > SLOT) {
      const one = msg.length <= SLOT ? this.one : new PacketBatch(1, msg.length);
      one.reset();
      one.push(msg);
      this.bind.send(one, to);
      return;
    }
    if (b.count === b.capacity) this.flush();
    this.dests.set(to.bytes, b.count * ENDPOINT_BYTES);
    b.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Sends what is queued (run at the end of the turn, or when the batch is full). */
  readonly flush = (): void => {
    this.scheduled = false;
    const b = this.batch;
    if (b === null || b.count === 0) return;
    try {
      this.bind.sendMany!(b, this.dests);
    } catch (err) {
      this.onError(err);
    } finally {
      b.reset();
    }
  };
}
