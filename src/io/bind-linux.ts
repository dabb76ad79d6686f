import { PacketBatch } from './batch.js';
import type { Bind, BindEvents } from './bind.js';
import { ENDPOINT_BYTES, type Endpoint } from './endpoint.js';
import { WeftError } from '../errors.js';
import { loadNative, type NativePoller, type WeftNative } from './native.js';

// Linux UDP bind on the weft_native addon: one dual-stack socket (AF_INET fallback),
// 7 MB buffers, recvmmsg/sendmmsg batches (UDP GSO when available), SO_MARK, polled on
// Node's loop. With UDP_GRO the kernel delivers runs of one flow's datagrams as one
// buffer; native code splits them back into one datagram per slot, so the engine sees
// the same batches either way.

export interface LinuxBindOptions {
  /** Datagrams per receive batch (default 128). */
  batchSize?: number;
  /** Bytes per receive slot, i.e. the largest datagram accepted (default 2048). */
  slotSize?: number;
  /** recvmmsg batches per readable event before yielding to the loop (default 8). */
  maxBatchesPerTick?: number;
  /** Socket family: 0 = dual-stack with IPv4 fallback (default), 4 = IPv4 only, 6 = dual-stack only. */
  family?: 0 | 4 | 6;
  /** UDP GSO (UDP_SEGMENT) for runs of equal-sized datagrams when the kernel has it (default true); switched off for good on EIO. */
  gso?: boolean;
  /** UDP GRO on receive when the kernel has it (default true). */
  gro?: boolean;
  /** Coalesced messages held per receive with GRO, 64 KiB each (default 32, at most 64). */
  groMessages?: number;
}

export class LinuxBind implements Bind {
  /** The last error a send() swallowed (send() reports failures as a short count). */
  lastSendError: Error | undefined;
  private native: WeftNative | undefined;
  private fd = -1;
  private boundPort = 0;
  private dualStack = false;
  private poller: NativePoller | undefined;
  private events: BindEvents | undefined;
  private readonly batch: PacketBatch;
  private readonly sources: Uint8Array;
  private absOffsets: Uint32Array;
  private readonly maxBatchesPerTick: number;
  private readonly family: 0 | 4 | 6;
  private readonly wantGso: boolean;
  private readonly wantGro: boolean;
  private readonly groMessages: number;
  private groScratch: Buffer | undefined;
  private groState: Uint32Array | undefined;
  private pendingTimer: NodeJS.Immediate | undefined;
  /** Whether sends currently use UDP GSO. */
  gso = false;
  /** Whether receives use UDP GRO. */
  gro = false;
  /** Datagrams dropped on receive with GRO: truncated coalesced messages, segments longer than a slot. */
  groDrops = 0;

  constructor(opts: LinuxBindOptions = {}) {
    const cap = opts.batchSize ?? 128;
    this.batch = new PacketBatch(cap, opts.slotSize ?? 2048);
    this.sources = new Uint8Array(cap * ENDPOINT_BYTES);
    this.absOffsets = new Uint32Array(cap);
    this.maxBatchesPerTick = opts.maxBatchesPerTick ?? 8;
    this.family = opts.family ?? 0;
    this.wantGso = opts.gso ?? true;
    this.wantGro = opts.gro ?? true;
    this.groMessages = Math.max(1, Math.min(64, opts.groMessages ?? 32));
  }

  get port(): number {
    return this.boundPort;
  }

  /** True when the socket is AF_INET6 dual-stack; false when it fell back to IPv4 only. */
  get v6(): boolean {
    return this.dualStack;
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  async open(port: number, events: BindEvents): Promise<number> {
    if (this.fd >= 0) throw new WeftError('ERR_BIND_OPEN', 'bind already open');
    const native = (this.native ??= loadNative());
    const s = native.udpOpen(port, this.family);
    this.fd = s.fd;
    this.boundPort = s.port;
    this.dualStack = s.v6;
    this.events = events;
    this.gso = this.wantGso && native.udpProbeGso(s.fd);
    try {
      this.gro = this.wantGro && native.udpSetGro(s.fd, true);
      if (this.gro && !this.groScratch) {
        // Uninitialised on purpose: only bytes the kernel wrote are read, and untouched pages stay unmapped.
        this.groScratch = Buffer.allocUnsafeSlow(this.groMessages * native.udpGroMessageBytes);
        this.groState = new Uint32Array(4 + 2 * this.groMessages);
      }
      this.groState?.fill(0);
      this.poller = new native.Poller(s.fd, (err) => this.onReadable(err));
    } catch (err) {
      this.teardown();
      throw err;
    }
    return s.port;
  }

  setMark(mark: number): void {
    if (this.fd < 0) throw new WeftError('ERR_BIND_CLOSED', 'bind is not open');
    this.native!.udpSetMark(this.fd, mark >>> 0);
  }

  private onReadable(err?: Error): void {
    if (this.fd < 0) return;
    if (err) {
      this.teardown();
      this.events?.onClose?.(err);
      return;
    }
    const b = this.batch;
    const native = this.native!;
    for (let round = 0; round < this.maxBatchesPerTick; round++) {
      let n: number;
      try {
        n = this.gro
          ? native.udpRecvGro(this.fd, b.data, b.slotSize, b.capacity, b.lengths, this.sources, this.groScratch!, this.groState!)
          : native.udpRecv(this.fd, b.data, b.slotSize, b.capacity, b.lengths, this.sources);
      } catch (e) {
        this.teardown();
        this.events?.onClose?.(e as Error);
        return;
      }
      if (this.gro && this.groState![3] !== 0) {
        this.groDrops += this.groState![3];
        this.groState![3] = 0;
      }
      if (n === 0) return;
      b.offsets.fill(0, 0, n);
      b.count = n;
      try {
        this.events!.onReceive(b, this.sources);
      } finally {
        b.count = 0;
      }
      if (this.fd < 0 || n < b.capacity) return;
    }
    // Split datagrams may be left in the GRO scratch with the socket already drained, and
    // the poller only fires for the socket: come back on the next loop turn.
    const st = this.groState;
    if (this.gro && st && st[1] < st[0] && !this.pendingTimer) {
      this.pendingTimer = setImmediate(() => {
        this.pendingTimer = undefined;
        this.onReadable();
      });
    }
  }

  /** Sends each packet of the batch to `to` with sendmmsg; returns how many were sent (0 on error, see lastSendError). */
  send(batch: PacketBatch, to: Endpoint): number {
    if (this.fd < 0 || batch.count === 0) return 0;
    const abs = this.absolute(batch);
    try {
      try {
        return this.native!.udpSend(this.fd, batch.data, abs, batch.lengths, batch.count, to.bytes, this.gso);
      } catch (err) {
        if (!this.gso || (err as { code?: string }).code !== 'EIO') throw err;
        this.gso = false; // the kernel or device cannot segment: plain datagrams from now on
        return this.native!.udpSend(this.fd, batch.data, abs, batch.lengths, batch.count, to.bytes, false);
      }
    } catch (err) {
      return this.sendFailed(err);
    }
  }

  /** Packet i to dests[i*18 ..], one sendmmsg; how many were sent (0 on error, see lastSendError). */
  sendMany(batch: PacketBatch, dests: Uint8Array): number {
    if (this.fd < 0 || batch.count === 0) return 0;
    try {
      return this.native!.udpSendMany(this.fd, batch.data, this.absolute(batch), batch.lengths, batch.count, dests);
    } catch (err) {
      return this.sendFailed(err);
    }
  }

  /** A syscall error (errno code) is remembered and sent counts 0; anything else is a bug and goes on. */
  private sendFailed(err: unknown): number {
    if (typeof (err as { code?: unknown }).code !== 'string' || !(err as { code: string }).code.startsWith('E')) throw err;
    this.lastSendError = err as Error;
    return 0;
  }

  /** The batch's packets as absolute offsets into its data. */
  private absolute(batch: PacketBatch): Uint32Array {
    if (this.absOffsets.length < batch.count) this.absOffsets = new Uint32Array(batch.capacity);
    const abs = this.absOffsets;
    for (let i = 0; i < batch.count; i++) abs[i] = i * batch.slotSize + batch.offsets[i];
    return abs;
  }

  /** send() with IP_TTL / IPV6_UNICAST_HOPS set to `ttl` around it (the default again after). */
  sendTtl(batch: PacketBatch, to: Endpoint, ttl: number): number {
    if (this.fd < 0 || batch.count === 0) return 0;
    const native = this.native!;
    try {
      native.udpSetTtl(this.fd, ttl);
    } catch (err) {
      this.lastSendError = err as Error;
      return 0;
    }
    try {
      return this.send(batch, to);
    } finally {
      native.udpSetTtl(this.fd, -1);
    }
  }

  private teardown(): void {
    if (this.pendingTimer) clearImmediate(this.pendingTimer);
    this.pendingTimer = undefined;
    this.poller?.stop();
    this.poller = undefined;
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      this.native!.close(fd);
    }
  }

  /** Closes the socket; idempotent; does not call onClose. The bind can be opened again. */
  async close(): Promise<void> {
    this.teardown();
  }
}
