import { PacketBatch, TRANSPORT_HEADROOM } from './batch.js';
import { WeftError } from '../errors.js';
import { loadNative, type NativePoller, type WeftNative } from './native.js';
import type { TunDevice, TunEvents } from './tun.js';

// Linux TUN device on the weft_native addon: /dev/net/tun (IFF_TUN|IFF_NO_PI, plus
// IFF_VNET_HDR with TSO/checksum offload when the kernel grants it), a libuv poller on
// Node's loop, and batched non-blocking read()s into one PacketBatch. With offloads the
// engine still sees plain IP packets: super-packets are split on read and TCP segment
// runs (UDP datagram runs too with the uso option, Linux >= 6.2) coalesced on write, in
// native code.

export interface LinuxTunOptions {
  /** Set the interface MTU after creating it. */
  mtu?: number;
  /** Bring the interface up (IFF_UP) after creating it. Default false (wg-quick does it). */
  up?: boolean;
  /** IFF_MULTI_QUEUE (for later one-fd-per-worker use). */
  multiQueue?: boolean;
  /**
   * Offloads (default true): IFF_VNET_HDR with TUNSETOFFLOAD(CSUM|TSO4|TSO6[|USO4|USO6]), so the kernel
   * hands over TCP super-packets (split here) and takes coalesced ones. Falls back to a
   * plain TUN when the kernel refuses. For fromFd: whether the fd has IFF_VNET_HDR.
   */
  offload?: boolean;
  /**
   * Also UDP segmentation offload (TUN_F_USO4/6, Linux >= 6.2) when the kernel has it: runs of UDP datagrams of one
   * flow are written as one super-packet. Default false: on the 2-core bench VM it did not raise UDP rates (the
   * kernel copies the super-packet in and segments it again for a socket without UDP_GRO); see docs/BENCHMARKS.md.
   */
  uso?: boolean;
  /** Packets per batch (default 128). */
  batchSize?: number;
  /** Batches read per readable event before yielding to the loop (default 8). */
  maxBatchesPerTick?: number;
  /**
   * Re-read the interface MTU every this many ms (unref'd timer; 0 = never; default
   * 10 s), so `mtu` follows `ip link set mtu`. `refreshMtu()` does it on demand; a read
   * that did not fit (MTU raised) does it at once, so the poll only keeps padding exact
   * after a change and need not wake an idle agent often.
   */
  mtuPollMs?: number;
}

const SLOT_EXTRA = 32; // tag (16) + padding to 16 bytes for in-place encryption
const DEFAULT_BATCH = 128;

/** Slot size used for a given MTU: headroom + mtu + 32, rounded up to 64 bytes. */
export function tunSlotSize(mtu: number, headroom = TRANSPORT_HEADROOM): number {
  return Math.ceil((headroom + mtu + SLOT_EXTRA) / 64) * 64;
}

// Read errors that mean the device is gone (interface deleted / fd detached).
const FATAL_READ = new Set(['EBADFD', 'EBADF', 'EIO', 'ENODEV', 'ENXIO', 'EPIPE']);

export class LinuxTun implements TunDevice {
  readonly headroom = TRANSPORT_HEADROOM;
  /** The last error a write() swallowed (write() reports failures as a short count). */
  lastWriteError: Error | undefined;

  private batch: PacketBatch;
  private absOffsets: Uint32Array;
  private readonly readStats = new Uint32Array(1);
  /** True when every packet on the fd carries a virtio_net_hdr (IFF_VNET_HDR). */
  readonly vnetHdr: boolean;
  /** True when the kernel accepted TUNSETOFFLOAD (it may send TSO super-packets). */
  readonly offload: boolean;
  /** True when the kernel also took UDP segmentation offload (USO): UDP runs are coalesced on write. */
  readonly uso: boolean;
  private readonly scratch: Buffer | undefined;
  private readonly vstate = new Uint32Array(3);
  private pendingTimer: NodeJS.Immediate | undefined;
  /** Packets dropped because they were larger than a read slot (the MTU was raised before refreshMtu() ran). */
  truncatedDrops = 0;
  private poller: NativePoller | undefined;
  private events: TunEvents | undefined;
  private mtuTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private currentMtu: number;
  private readonly batchSize: number;
  private readonly maxBatchesPerTick: number;
  private readonly mtuPollMs: number;

  private constructor(
    private readonly native: WeftNative,
    private fd: number,
    readonly name: string,
    opts: LinuxTunOptions,
    vnet: { vnetHdr: boolean; offload: boolean; uso?: boolean } = { vnetHdr: false, offload: false },
  ) {
    this.vnetHdr = vnet.vnetHdr;
    this.offload = vnet.offload;
    this.uso = vnet.uso ?? false;
    this.scratch = this.vnetHdr ? Buffer.allocUnsafe(65536 + 64) : undefined;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH;
    this.maxBatchesPerTick = opts.maxBatchesPerTick ?? 8;
    this.mtuPollMs = opts.mtuPollMs ?? 10_000;
    this.currentMtu = native.ifGetMtu(name);
    this.batch = new PacketBatch(this.batchSize, tunSlotSize(this.currentMtu, this.headroom));
    this.absOffsets = new Uint32Array(this.batchSize);
  }

  /** Creates (or attaches to) TUN interface `name` (may contain %d). Needs CAP_NET_ADMIN. */
  static async create(name: string, opts: LinuxTunOptions = {}): Promise<LinuxTun> {
    const native = loadNative();
    const { fd, name: actual, vnetHdr, offload, uso } = native.tunOpen(name, opts.multiQueue ?? false, opts.offload ?? true, opts.uso ?? false);
    try {
      if (opts.mtu !== undefined) native.ifSetMtu(actual, opts.mtu);
      if (opts.up) native.ifUp(actual);
      return new LinuxTun(native, fd, actual, opts, { vnetHdr, offload, uso });
    } catch (err) {
      native.close(fd);
      throw err;
    }
  }

  /** Wraps an already configured, non-blocking TUN fd (e.g. inherited across a daemonizing fork). Takes ownership of fd. */
  static fromFd(fd: number, name: string, opts: LinuxTunOptions = {}): LinuxTun {
    const vnetHdr = opts.offload ?? false;
    return new LinuxTun(loadNative(), fd, name, opts, { vnetHdr, offload: vnetHdr });
  }

  get mtu(): number {
    return this.currentMtu;
  }

  /** Re-reads the interface MTU (one ioctl) and grows the read slots if needed; returns it. */
  refreshMtu(): number {
    if (this.closed) return this.currentMtu;
    this.currentMtu = this.native.ifGetMtu(this.name);
    const want = tunSlotSize(this.currentMtu, this.headroom);
    if (want > this.batch.slotSize) this.batch = new PacketBatch(this.batchSize, want);
    return this.currentMtu;
  }

  /** Sets the interface MTU (SIOCSIFMTU) and refreshes `mtu`. */
  setMtu(mtu: number): void {
    this.native.ifSetMtu(this.name, mtu);
    this.refreshMtu();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  start(events: TunEvents): void {
    if (this.closed) throw new WeftError('ERR_TUN_CLOSED', `tun ${this.name} is stopped`);
    if (this.poller) throw new WeftError('ERR_TUN_STARTED', `tun ${this.name} already started`);
    this.events = events;
    this.poller = new this.native.Poller(this.fd, (err) => this.onReadable(err));
    if (this.mtuPollMs > 0) {
      this.mtuTimer = setInterval(() => {
        try {
          this.refreshMtu();
        } catch {
          // interface gone; the poller reports it
        }
      }, this.mtuPollMs);
      this.mtuTimer.unref();
    }
  }

  private onReadable(err?: Error): void {
    if (this.closed) return;
    if (err) return this.fail(err);
    const events = this.events!;
    for (let round = 0; round < this.maxBatchesPerTick; round++) {
      const b = this.batch;
      let n: number;
      try {
        n = this.scratch
          ? this.native.tunReadV(this.fd, this.scratch, b.data, b.slotSize, this.headroom, b.capacity, b.lengths, b.offsets, this.vstate)
          : this.native.tunRead(this.fd, b.data, b.slotSize, this.headroom, b.capacity, b.lengths, b.offsets, this.readStats);
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (FATAL_READ.has(code)) return this.fail(e as Error);
        // A packet that did not fit (MTU raised under us) is consumed by the failed read:
        // grow the slots and carry on.
        try {
          this.refreshMtu();
        } catch (e2) {
          return this.fail(e2 as Error);
        }
        continue;
      }
      if (this.readStats[0] !== 0 || this.vstate[2] !== 0) {
        this.truncatedDrops += this.readStats[0] + this.vstate[2];
        this.readStats[0] = 0;
        this.vstate[2] = 0;
        try {
          this.refreshMtu(); // grows the slots for the next read
        } catch (e2) {
          return this.fail(e2 as Error);
        }
      }
      if (n === 0) return;
      b.count = n;
      try {
        events.onPackets(b);
      } finally {
        b.count = 0;
      }
      if (this.closed || n < b.capacity) return;
    }
    // More may be pending: the level-triggered poller fires again on the next loop turn,
    // but the rest of a split super-packet sits in scratch, where it cannot wake us.
    if (this.vstate[0] !== 0 && !this.pendingTimer) {
      this.pendingTimer = setImmediate(() => {
        this.pendingTimer = undefined;
        this.onReadable();
      });
    }
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.teardown();
    this.events?.onClose(err);
  }

  /** Writes every packet of the batch; returns how many the kernel accepted. */
  write(batch: PacketBatch): number {
    if (this.closed || batch.count === 0) return 0;
    if (this.absOffsets.length < batch.count) this.absOffsets = new Uint32Array(batch.capacity);
    const abs = this.absOffsets;
    for (let i = 0; i < batch.count; i++) abs[i] = i * batch.slotSize + batch.offsets[i];
    try {
      return this.vnetHdr
        ? this.native.tunWriteV(this.fd, batch.data, abs, batch.lengths, batch.count, this.uso)
        : this.native.tunWrite(this.fd, batch.data, abs, batch.lengths, batch.count);
    } catch (err) {
      if (typeof (err as { code?: unknown }).code !== 'string' || !(err as { code: string }).code.startsWith('E')) throw err;
      this.lastWriteError = err as Error;
      return 0;
    }
  }

  private teardown(): void {
    this.closed = true;
    if (this.pendingTimer) clearImmediate(this.pendingTimer);
    this.pendingTimer = undefined;
    if (this.mtuTimer) clearInterval(this.mtuTimer);
    this.mtuTimer = undefined;
    this.poller?.stop();
    this.poller = undefined;
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      this.native.close(fd);
    }
  }

  /** Stops reading and closes the fd (the interface disappears unless persistent). Idempotent; does not call onClose. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.teardown();
  }
}
