import type { Duplex } from 'node:stream';
import { KEY_LEN } from '../crypto/keys.js';
import { FRAME } from '../wire/relay.js';

// Write batching for the relay's clients. Every frame the relay sends an authenticated
// client goes through one FrameBatch: frames are queued in arrival order for the rest of
// the event-loop turn and then written as one buffer per destination socket — one write
// (one syscall) for all the packets a read turn produced for that client, instead of a
// WebSocket send (header write, body write, syscall) per packet.
//
// Frames are written already framed as unmasked binary WebSocket messages straight to
// the socket under the WebSocket, so the bytes on the wire are the same as ws.send's: one
// relay frame per WebSocket message. A forwarded packet's SendPacket frame is not
// re-encoded: its bytes are copied once into the destination's buffer, with the type and
// key (destination → source) rewritten there. The copy is deliberate: writing the
// received bytes by reference would pin each whole socket read chunk (up to 64 KiB) for
// as long as the destination's queue holds one small frame of it, so the per-client queue
// bound would no longer bound memory.
//
// Bounds: the caller checks queuedBytes(dst) + the socket's unsent bytes against its
// per-client limit before push(); at most maxFrames frames wait in a turn (beyond that the
// batch is written at once), and nothing waits past the turn.

/** What a batch needs of a client; the server's client record carries these fields. */
export interface BatchTarget {
  /** The socket under the WebSocket (from the HTTP upgrade). */
  readonly socket: Duplex;
  /** Frames queued for a WebSocket that is no longer OPEN (1) are dropped, not written. */
  readonly ws: { readonly readyState: number };
  /** Encoded bytes queued for this target in the current turn (0 when none). */
  batchBytes: number;
  /** The destination buffer while a flush fills it. */
  batchBuf: Buffer | undefined;
  batchOff: number;
}

export interface FlushResult {
  /** Forwarded packets dropped because their destination closed before the flush. */
  droppedPackets: number;
  /** Other frames dropped for the same reason. */
  droppedControl: number;
}

/** Bytes of the WebSocket header of an unmasked server message of `len` bytes. */
export function wsHeaderLen(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

function putWsHeader(buf: Buffer, off: number, len: number): number {
  buf[off] = 0x82; // FIN | binary
  if (len < 126) {
    buf[off + 1] = len;
    return off + 2;
  }
  if (len < 65536) {
    buf[off + 1] = 126;
    buf.writeUInt16BE(len, off + 2);
    return off + 4;
  }
  buf[off + 1] = 127;
  buf.writeUInt32BE(0, off + 2);
  buf.writeUInt32BE(len, off + 6);
  return off + 10;
}

export const DEFAULT_MAX_BATCH_FRAMES = 4096;
const WS_OPEN = 1;

export class FrameBatch<T extends BatchTarget> {
  // Parallel arrays in arrival order, reused turn after turn: destination, frame bytes,
  // and for a forwarded packet the source key to write over the destination key.
  private readonly dsts: T[] = [];
  private readonly frames: Uint8Array[] = [];
  private readonly srcs: Array<Uint8Array | undefined> = [];
  private scheduled = false;
  private readonly flushTurn = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly onFlushed: (r: FlushResult) => void,
    private readonly maxFrames = DEFAULT_MAX_BATCH_FRAMES,
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {}

  /** Frames waiting for the end of the turn. */
  get size(): number {
    return this.dsts.length;
  }

  /** Encoded bytes waiting for `dst` (add the socket's unsent bytes for its queue). */
  queuedBytes(dst: T): number {
    return dst.batchBytes;
  }

  /**
   * Queues `frame` for `dst`. With `src`, `frame` is a received SendPacket frame (type,
   * destination key, packet) and goes out as RecvPacket from `src`; `frame` must stay
   * unchanged until the end of the turn (it is copied then).
   */
  push(dst: T, frame: Uint8Array, src?: Uint8Array): void {
    this.dsts.push(dst);
    this.frames.push(frame);
    this.srcs.push(src);
    dst.batchBytes += wsHeaderLen(frame.length) + frame.length;
    if (this.dsts.length >= this.maxFrames) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushTurn);
    }
  }

  /** Writes everything queued now: one buffer per destination, frames in arrival order. */
  flush(): void {
    const { dsts, frames, srcs } = this;
    const n = dsts.length;
    if (n === 0) return;
    const r: FlushResult = { droppedPackets: 0, droppedControl: 0 };
    for (let i = 0; i < n; i++) {
      const d = dsts[i];
      if (d.batchBuf === undefined && d.batchBytes > 0) {
        d.batchBuf = d.ws.readyState === WS_OPEN ? Buffer.allocUnsafeSlow(d.batchBytes) : undefined;
        d.batchOff = 0;
        if (!d.batchBuf) d.batchBytes = -1; // closed: drop its frames below
      }
      if (d.batchBytes < 0 || !d.batchBuf) {
        if (srcs[i]) r.droppedPackets++;
        else r.droppedControl++;
        continue;
      }
      const f = frames[i];
      const src = srcs[i];
      const buf = d.batchBuf;
      let off = putWsHeader(buf, d.batchOff, f.length);
      if (src) {
        buf[off] = FRAME.RECV_PACKET;
        buf.set(src, off + 1);
        buf.set(f.subarray(1 + KEY_LEN), off + 1 + KEY_LEN);
      } else {
        buf.set(f, off);
      }
      off += f.length;
      d.batchOff = off;
    }
    for (let i = 0; i < n; i++) {
      const d = dsts[i];
      const buf = d.batchBuf;
      if (buf) d.socket.write(buf);
      d.batchBuf = undefined;
      d.batchBytes = 0;
      d.batchOff = 0;
    }
    dsts.length = 0;
    frames.length = 0;
    srcs.length = 0;
    if (r.droppedPackets || r.droppedControl) this.onFlushed(r);
  }
}
