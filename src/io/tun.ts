import type { PacketBatch } from './batch.js';

// A TUN device moves IP packets between the kernel (or a fake) and the engine in
// batches. Reads are pushed: the device calls `onPackets` with a batch it owns and
// reuses after the handler returns, so a handler must finish with (or copy) the bytes
// before returning.
export interface TunEvents {
  /** IP packets read from the OS, each at batch.offsets[i] (>= headroom) inside its slot. */
  onPackets(batch: PacketBatch): void;
  /** The device went away (interface deleted) or failed; the engine should shut down. */
  onClose(err?: Error): void;
}

export interface TunDevice {
  readonly name: string;
  readonly mtu: number;
  /** Bytes the device leaves free before each packet it reads (for in-place encryption). */
  readonly headroom: number;
  /** Begin delivering packets to `events`. */
  start(events: TunEvents): void;
  /** Writes every packet of the batch (each at its own offset), skipping zero-length slots; returns how many were written. */
  write(batch: PacketBatch): number;
  stop(): Promise<void>;
}
