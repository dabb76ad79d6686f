import type { WebSocket } from 'ws';
import type { DnsConfig, FilterRule, NodeView, ServerMessage } from '../wire/control.js';

// What the map streams are sent, batched per event-loop turn. A change is serialized
// once (Frame) and the same bytes go to every stream that gets it unchanged; the
// deltas one stream is sent within a turn (changes acknowledged by one group commit,
// a policy fan-out meeting a join) are folded into one delta, so the node gets one
// frame and applies it once. Anything else (full netmaps, pongs, errors) is written at
// once, after the stream's queued delta, so order is kept. The protocol allows the fold: a delta's upserts replace whole
// NodeViews, seqs only have to increase, and resume needs only the last one.

type Delta = Extract<ServerMessage, { type: 'delta' }>;

/**
 * A message serialized at most once, whatever the number of streams it goes to; UTF-8
 * encoded once too when it goes to more than one (a single stream's full netmap stays a
 * string, which the socket encodes as it writes).
 */
export class Frame {
  private text: string | null = null;
  private bytes: Buffer | null = null;
  constructor(readonly msg: ServerMessage) {}

  get data(): string | Buffer {
    if (this.bytes) return this.bytes;
    if (this.text === null) return (this.text = JSON.stringify(this.msg));
    this.bytes = Buffer.from(this.text);
    this.text = null;
    return this.bytes;
  }
}

/** Deltas for one stream folded in order: per peer the last word (upsert or removal) wins, as do self, filter and DNS. */
class Folded {
  private seq = 0;
  private readonly peers = new Map<string, NodeView | null>();
  private self: NodeView | undefined;
  private packetFilter: FilterRule[] | undefined;
  private dns: DnsConfig | undefined;

  add(d: Delta): void {
    this.seq = Math.max(this.seq, d.seq);
    for (const v of d.upserts) this.peers.delete(v.publicKey), this.peers.set(v.publicKey, v);
    for (const k of d.removals) this.peers.delete(k), this.peers.set(k, null);
    if (d.self) this.self = d.self;
    if (d.packetFilter) this.packetFilter = d.packetFilter;
    if (d.dns) this.dns = d.dns;
  }

  frame(): Frame {
    const upserts: NodeView[] = [];
    const removals: string[] = [];
    for (const [k, v] of this.peers) v ? upserts.push(v) : removals.push(k);
    const d: Delta = { type: 'delta', seq: this.seq, upserts, removals };
    if (this.self) d.self = this.self;
    if (this.packetFilter) d.packetFilter = this.packetFilter;
    if (this.dns) d.dns = this.dns;
    return new Frame(d);
  }
}

export class Outbox {
  /** Per stream, the delta (or deltas, folded) waiting for the end of the turn. */
  private readonly queued = new Map<WebSocket, Frame | Folded>();
  private scheduled = false;
  /** Deltas folded into another for the same stream (metrics, tests). */
  folded = 0;

  constructor(private readonly write: (ws: WebSocket, data: string | Buffer) => void) {}

  push(ws: WebSocket, f: Frame): void {
    // Anything but a delta (a full netmap, a pong, an error) cannot fold: it goes now,
    // after what was queued, instead of keeping a large message alive until the turn ends.
    if (f.msg.type !== 'delta') {
      this.flush(ws);
      return this.write(ws, f.data);
    }
    const queued = this.queued.get(ws);
    if (queued) {
      let folded: Folded;
      if (queued instanceof Folded) folded = queued;
      else {
        folded = new Folded();
        folded.add(queued.msg as Delta);
        this.queued.set(ws, folded);
      }
      folded.add(f.msg);
      this.folded++;
      return;
    }
    this.queued.set(ws, f);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  /** Writes what `ws` has queued now (before it is closed, so nothing queued comes after its close). */
  flush(ws: WebSocket): void {
    const q = this.queued.get(ws);
    if (!q) return;
    this.queued.delete(ws);
    this.write(ws, (q instanceof Folded ? q.frame() : q).data);
  }

  private flushAll(): void {
    this.scheduled = false;
    for (const ws of [...this.queued.keys()]) this.flush(ws);
  }

  /** Drops everything queued (shutdown). */
  clear(): void {
    this.queued.clear();
  }
}
