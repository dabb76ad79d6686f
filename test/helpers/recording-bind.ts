import { PacketBatch } from '../../src/io/batch.js';
import type { Bind, BindEvents } from '../../src/io/bind.js';
import { ENDPOINT_BYTES, type Endpoint } from '../../src/io/endpoint.js';

/**
 * An inner socket for a MagicBind under test: records what it sends and lets the test
 * hand it datagrams directly, so what is measured is the MagicBind's receive path alone.
 */
export class RecordingBind implements Bind {
  port = 41641;
  events: BindEvents | null = null;
  readonly sent: { to: string; pkt: Uint8Array }[] = [];
  async open(_port: number, events: BindEvents): Promise<number> {
    this.events = events;
    return this.port;
  }
  setMark(): void {}
  send(batch: PacketBatch, to: Endpoint): number {
    for (let i = 0; i < batch.count; i++) this.sent.push({ to: to.key, pkt: Uint8Array.from(batch.packet(i)) });
    return batch.count;
  }
  async close(): Promise<void> {}
  /** Delivers datagrams as if they arrived from `from[i]`. */
  deliver(pkts: Uint8Array[], from: Endpoint[]): void {
    const { batch, sources } = toBatch(pkts, from);
    this.events!.onReceive(batch, sources);
  }
}

/** A received batch: packet i from from[i % from.length]. */
export function toBatch(pkts: Uint8Array[], from: Endpoint[]): { batch: PacketBatch; sources: Uint8Array } {
  const batch = new PacketBatch(pkts.length, 2048);
  const sources = new Uint8Array(pkts.length * ENDPOINT_BYTES);
  pkts.forEach((p, i) => {
    batch.push(p);
    sources.set(from[i % from.length].bytes, i * ENDPOINT_BYTES);
  });
  return { batch, sources };
}
