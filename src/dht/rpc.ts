import type { Clock, TimerHandle } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';
import type { PeerRecord } from './records.js';
import type { DhtMessage } from './wire.js';

// Requests and their responses: each request gets a fresh 32-bit id, and a response
// counts only if it carries a pending id, comes from the key the request was sealed to
// (sealing authenticates the sender) and is of a type that answers that request. The
// pending table is bounded: past maxPending a request fails at once rather than queue.
// Every request ends exactly once: with its response, or with null on timeout, a failed
// send or close(). Callbacks, not promises: a simulation on the fake clock runs whole
// lookups inside one clock.advance().

export interface Peer {
  key: Uint8Array;
  keyId: string;
  endpoint: Endpoint;
}

export type Request = { type: 'ping' } | { type: 'findNode' | 'findValue'; target: Uint8Array } | { type: 'store'; record: PeerRecord };

const ANSWERS: Record<Request['type'], readonly DhtMessage['type'][]> = {
  ping: ['pong'],
  findNode: ['nodes'],
  findValue: ['value', 'nodes'],
  store: ['stored'],
};

export interface RpcOptions {
  clock: Clock;
  timeoutMs?: number;
  maxPending?: number;
  random?: () => number;
}

interface Pending {
  peer: string;
  type: Request['type'];
  timer: TimerHandle;
  done: (m: DhtMessage | null) => void;
}

export interface RpcCounters {
  requests: number;
  timeouts: number;
  /** Refused because the pending table was full. */
  busy: number;
  /** Responses nobody waits for (late, spoofed id, wrong sender or type). */
  unexpected: number;
}

export class Rpc {
  readonly counters: RpcCounters = { requests: 0, timeouts: 0, busy: 0, unexpected: 0 };
  private readonly pending = new Map<number, Pending>();
  private nextId: number;
  private readonly timeoutMs: number;
  private readonly maxPending: number;

  constructor(
    private readonly o: RpcOptions,
    private readonly send: (to: Peer, m: DhtMessage) => boolean,
  ) {
    this.timeoutMs = o.timeoutMs ?? 1000;
    this.maxPending = o.maxPending ?? 1024;
    this.nextId = Math.floor((o.random ?? Math.random)() * 0x1_0000_0000) >>> 0;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** `done` runs exactly once, never synchronously inside request() (callers may rely on it). */
  request(to: Peer, req: Request, done: (m: DhtMessage | null) => void): void {
    if (this.pending.size >= this.maxPending) {
      this.counters.busy++;
      this.o.clock.setTimeout(() => done(null), 0);
      return;
    }
    let reqId = this.nextId;
    while (this.pending.has(reqId)) reqId = (reqId + 1) >>> 0;
    this.nextId = (reqId + 1) >>> 0;
    this.counters.requests++;
    const timer = this.o.clock.setTimeout(() => {
      this.counters.timeouts++;
      this.finish(reqId, null);
    }, this.timeoutMs);
    this.pending.set(reqId, { peer: to.keyId, type: req.type, timer, done });
    if (!this.send(to, { ...req, reqId } as DhtMessage)) {
      this.o.clock.clearTimeout(timer);
      this.pending.get(reqId)!.timer = this.o.clock.setTimeout(() => this.finish(reqId, null), 0);
    }
  }

  /** A response from `fromKeyId` (already authenticated); true when it answered a pending request. */
  resolve(fromKeyId: string, m: DhtMessage): boolean {
    const p = this.pending.get(m.reqId);
    if (!p || p.peer !== fromKeyId || !ANSWERS[p.type].includes(m.type)) {
      this.counters.unexpected++;
      return false;
    }
    this.finish(m.reqId, m);
    return true;
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.finish(id, null);
  }

  private finish(reqId: number, m: DhtMessage | null): void {
    const p = this.pending.get(reqId);
    if (!p) return;
    this.pending.delete(reqId);
    this.o.clock.clearTimeout(p.timer);
    p.done(m);
  }
}
