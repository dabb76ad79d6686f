import type { PacketBatch } from '../io/batch.js';
import type { Bind } from '../io/bind.js';

// UDP sockets beside the main one, by index k >= 1: the birthday method's (1..n) and the
// open-router punch's (PUNCH_SOCK_BASE + the peer's index). A direct path found on
// socket k (a path's `sock`) sends WireGuard from it, and its datagrams take the main
// socket's receive path, tagged with k.

export interface ExtraSocketsHost {
  /** Absent: no extra sockets (the methods that need them are off). */
  createBind?: () => Bind;
  /** The engine's fwmark, also on extra sockets (an exit node must not route them into the tunnel). */
  mark(): number;
  /** Datagrams on extra socket `sock`. */
  onReceive(batch: PacketBatch, sources: Uint8Array, sock: number): void;
  /** These sockets closed: forget the peer addresses learnt on them. */
  closed(socks: ReadonlySet<number>): void;
}

export class ExtraSockets {
  private readonly binds = new Map<number, Bind>();
  private readonly opening = new Map<number, Promise<Bind | null>>();

  constructor(private readonly host: ExtraSocketsHost) {}

  get available(): boolean {
    return this.host.createBind !== undefined;
  }

  get(k: number): Bind | null {
    return this.binds.get(k) ?? null;
  }

  /** Opens socket k on a random port (a no-op when open or opening); null when it cannot. */
  open(k: number): Promise<Bind | null> {
    const open = this.binds.get(k);
    if (open) return Promise.resolve(open);
    let p = this.opening.get(k);
    if (!p) {
      p = this.create(k).finally(() => this.opening.delete(k));
      this.opening.set(k, p);
    }
    return p;
  }

  private async create(k: number): Promise<Bind | null> {
    if (!this.host.createBind) return null;
    const b = this.host.createBind();
    try {
      await b.open(0, { onReceive: (batch, sources) => this.host.onReceive(batch, sources, k) });
    } catch {
      return null;
    }
    try {
      if (this.host.mark()) b.setMark(this.host.mark());
    } catch {
      // as on the main socket, where the agent already warned
    }
    this.binds.set(k, b);
    return b;
  }

  setMark(mark: number): void {
    for (const b of this.binds.values()) b.setMark(mark);
  }

  /** Closes the open sockets `drop` selects (all by default). */
  async close(drop: (k: number) => boolean = () => true): Promise<void> {
    const gone = new Set([...this.binds.keys()].filter(drop));
    if (gone.size === 0) return;
    const binds = [...gone].map((k) => this.binds.get(k)!);
    for (const k of gone) this.binds.delete(k);
    this.host.closed(gone);
    await Promise.all(binds.map((b) => b.close().catch(() => {})));
  }
}

/** Punch sockets are PUNCH_SOCK_BASE + the peer's index, above any birthday socket. */
export const PUNCH_SOCK_BASE = 0x10000;
