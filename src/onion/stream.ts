import { Duplex } from 'node:stream';
import { EndReason, RelayCommand, type RelayMessage } from './relay-msg.js';

// One TCP stream carried over a circuit, the same class at both ends (client and exit).
//
// Flow control is end to end, like Tor's stream SENDMEs: a sender may have at most
// STREAM_WINDOW DATA messages unacknowledged; the receiver returns a SENDME for every
// STREAM_WINDOW_INCREMENT it has handed to its reader. Because the SENDME waits for the
// reader, the receive buffer is bounded by the window, and the relays in between never
// queue more than one window per stream.

export const STREAM_WINDOW = 256;
export const STREAM_WINDOW_INCREMENT = 64;

/** Sends one relay message for this stream; false if the circuit refused it. */
export type StreamSend = (command: RelayCommand, data?: Uint8Array) => boolean;

export class CircuitStream extends Duplex {
  private window = STREAM_WINDOW;
  private unacked = 0;
  private blocked: { chunk: Uint8Array; cb: (err?: Error | null) => void } | null = null;
  /** We sent END (half-close or reset); nothing more goes out. */
  private endSent = false;

  constructor(
    readonly streamId: number,
    /** Largest DATA payload one cell carries at this circuit's depth. */
    private readonly chunkSize: number,
    private readonly sendMsg: StreamSend,
  ) {
    super({ allowHalfOpen: true });
  }

  /** A relay message for this stream from the other end. Never throws. */
  deliver(m: RelayMessage): void {
    switch (m.command) {
      case RelayCommand.Data:
        // More than a window unacknowledged: the other end ignores flow control.
        if (++this.unacked > STREAM_WINDOW) return void this.destroy(new Error('stream window exceeded'));
        this.push(Buffer.from(m.data));
        this.ack();
        return;
      case RelayCommand.Sendme:
        this.window += STREAM_WINDOW_INCREMENT;
        this.resume_();
        return;
      case RelayCommand.End:
        // END with Done is a half-close (the peer sends no more); any other reason resets.
        if (m.data[0] !== undefined && m.data[0] !== EndReason.Done) {
          this.endSent = true;
          this.destroy(new Error(`stream ended by peer (reason ${m.data[0]})`));
        } else this.push(null);
        return;
      default:
        return;
    }
  }

  /** The circuit went away: fail the stream without sending anything. */
  abort(err: Error): void {
    this.endSent = true;
    // Without an error listener, an 'error' event would crash the process.
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  override _read(): void {
    this.ack();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.blocked = { chunk: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), cb };
    this.resume_();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.endSent) {
      this.endSent = true;
      this.sendMsg(RelayCommand.End, Uint8Array.of(EndReason.Done));
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.endSent) {
      this.endSent = true;
      this.sendMsg(RelayCommand.End, Uint8Array.of(err ? EndReason.Protocol : EndReason.Done));
    }
    const b = this.blocked;
    this.blocked = null;
    b?.cb(err ?? new Error('stream closed'));
    cb(err);
  }

  // Sends as much of the blocked chunk as the window allows.
  private resume_(): void {
    const b = this.blocked;
    if (!b) return;
    let data = b.chunk;
    while (data.length > 0 && this.window > 0) {
      const n = Math.min(data.length, this.chunkSize);
      if (!this.sendMsg(RelayCommand.Data, data.subarray(0, n))) {
        this.blocked = null;
        b.cb(new Error('circuit refused data'));
        return;
      }
      this.window--;
      data = data.subarray(n);
    }
    if (data.length > 0) {
      b.chunk = data;
      return;
    }
    this.blocked = null;
    b.cb();
  }

  // Acknowledges what the reader has taken, one increment at a time.
  private ack(): void {
    while (this.unacked >= STREAM_WINDOW_INCREMENT && this.readableLength < this.readableHighWaterMark) {
      this.unacked -= STREAM_WINDOW_INCREMENT;
      this.sendMsg(RelayCommand.Sendme);
    }
  }
}
