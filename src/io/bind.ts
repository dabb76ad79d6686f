import type { PacketBatch } from './batch.js';
import type { Endpoint } from './endpoint.js';

// A Bind is the engine's UDP socket (dual-stack where the OS allows). Datagrams are
// delivered in batches with their source endpoints packed as 18 bytes each
// (see endpoint.ts), so receiving allocates nothing per packet.
export interface BindEvents {
  /** Datagrams received; the source of packet i is sources[i*18 .. i*18+18]. */
  onReceive(batch: PacketBatch, sources: Uint8Array): void;
  onClose?(err?: Error): void;
}

export interface Bind {
  /** Opens on `port` (0 = random) and starts delivering; resolves to the bound port. */
  open(port: number, events: BindEvents): Promise<number>;
  readonly port: number;
  /** SO_MARK on the socket (0 clears); wg-quick relies on it for full-tunnel routing. */
  setMark(mark: number): void;
  /** Sends each packet of the batch to `to`; returns how many were sent. */
  send(batch: PacketBatch, to: Endpoint): number;
  /**
   * Sends packet i of the batch to the endpoint at dests[i*18 .. i*18+18], all in one
   * system call; returns how many were sent. Absent where the socket cannot (the
   * device then sends its handshake messages one by one).
   */
  sendMany?(batch: PacketBatch, dests: Uint8Array): number;
  /**
   * Sends like send() with this TTL / hop limit (1..255) for these packets only. Absent
   * where the socket cannot (the dgram fallback): path discovery then skips what needs it.
   */
  sendTtl?(batch: PacketBatch, to: Endpoint, ttl: number): number;
  close(): Promise<void>;
}
