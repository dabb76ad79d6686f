import { PacketBatch } from './batch.js';
import type { Bind, BindEvents } from './bind.js';
import { ENDPOINT_BYTES, Endpoint } from './endpoint.js';
import { WeftError } from '../errors.js';

// An in-memory UDP network for unit and integration tests.
//
//   const net = new FakeNetwork();
//   const a = net.bind('10.0.0.1'), b = net.bind(['10.0.0.2', 'fd00::2']);
//   await a.open(51820, eventsA); await b.open(0, eventsB);
//   a.send(batch, Endpoint.of('10.0.0.2', b.port));
//   await net.flush();                       // everything queued (and any replies) delivered
//
// Delivery is asynchronous (setImmediate) and deterministic: one FIFO queue for the whole
// network; consecutive datagrams for the same bind are handed over as one batch.
// Hooks: `filter` (pass/drop/duplicate/defer per datagram at delivery time), `observe`,
// `translate` (the NAT extension point: rewrites the source a datagram appears to come
// from, at send time), and `changeAddress` for roaming.

export type FakeVerdict = 'pass' | 'drop' | 'duplicate' | 'defer';

/** Decides the fate of a datagram when it is about to be delivered. `defer` moves it to the back of the queue (once): reordering. */
export type FakeFilter = (pkt: Uint8Array, from: Endpoint, to: Endpoint) => FakeVerdict | undefined | void;

/**
 * NAT extension point. Called at send time with the sender's real source and the
 * destination; returns the source the receiver will see, or null to drop. A NAT
 * simulator can also create the reverse mapping by registering a bind (or a forwarder)
 * at the translated address. Default: identity.
 */
export type FakeSourceTranslator = (from: Endpoint, to: Endpoint, sender: FakeBind) => Endpoint | null;

export type FakeObserver = (pkt: Uint8Array, from: Endpoint, to: Endpoint, verdict: FakeVerdict | 'unreachable') => void;

interface Datagram {
  data: Uint8Array;
  from: Endpoint;
  to: Endpoint;
  deferred: boolean;
}

const MAX_FLUSH_ROUNDS = 100_000;

export class FakeNetwork {
  filter: FakeFilter | undefined;
  translate: FakeSourceTranslator | undefined;
  observe: FakeObserver | undefined;
  readonly stats = { sent: 0, delivered: 0, dropped: 0, unreachable: 0 };

  private queue: Datagram[] = [];
  private scheduled = false;
  private readonly listeners = new Map<string, FakeBind>();
  private nextEphemeral = 49152;

  /** Creates a bind that will listen on the given address(es) once opened. */
  bind(ips: string | string[], opts: { batchSize?: number; slotSize?: number } = {}): FakeBind {
    return new FakeBind(this, Array.isArray(ips) ? ips : [ips], opts);
  }

  /** Moves a bind to new address(es), keeping its port (roaming). Queued datagrams keep their old source. */
  changeAddress(bind: FakeBind, ips: string | string[]): void {
    const list = Array.isArray(ips) ? ips : [ips];
    for (const ip of list) Endpoint.of(ip, 0); // validates
    if (!bind.isOpen) {
      bind.addresses = list;
      return;
    }
    this.unregister(bind);
    const old = bind.addresses;
    bind.addresses = list;
    try {
      this.register(bind, bind.port);
    } catch (err) {
      bind.addresses = old;
      this.register(bind, bind.port);
      throw err;
    }
  }

  /** Number of datagrams waiting to be delivered. */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once the queue is empty, including datagrams sent by receivers in response. */
  async flush(): Promise<void> {
    for (let round = 0; round < MAX_FLUSH_ROUNDS; round++) {
      if (this.queue.length === 0) {
        // let microtask/immediate-driven senders run once more before deciding we are idle
        await new Promise<void>((r) => setImmediate(r));
        if (this.queue.length === 0) return;
      }
      this.drain();
      await new Promise<void>((r) => setImmediate(r));
    }
    throw new WeftError('ERR_FAKE_NET_LOOP', `FakeNetwork.flush: still busy after ${MAX_FLUSH_ROUNDS} rounds`);
  }

  /** @internal */
  register(bind: FakeBind, port: number): number {
    if (port === 0) {
      for (let tries = 0; tries < 16384; tries++) {
        const p = this.nextEphemeral;
        this.nextEphemeral = p >= 65535 ? 49152 : p + 1;
        if (bind.addresses.every((ip) => !this.listeners.has(Endpoint.of(ip, p).key))) {
          port = p;
          break;
        }
      }
      if (port === 0) throw new WeftError('EADDRINUSE', 'no free ephemeral port');
    }
    const keys = bind.addresses.map((ip) => Endpoint.of(ip, port).key);
    for (const k of keys) if (this.listeners.has(k)) throw new WeftError('EADDRINUSE', `address in use: ${k}`);
    for (const k of keys) this.listeners.set(k, bind);
    return port;
  }

  /** @internal */
  unregister(bind: FakeBind): void {
    for (const [k, b] of this.listeners) if (b === bind) this.listeners.delete(k);
  }

  /** @internal Queues copies of the batch's packets from `sender` to `to`; returns how many were accepted. */
  enqueue(sender: FakeBind, batch: PacketBatch, to: Endpoint): number {
    const ip = sender.addresses.find((a) => Endpoint.of(a, 0).isV4 === to.isV4);
    if (ip === undefined) return 0; // no address of that family: ENETUNREACH
    let from: Endpoint | null = Endpoint.of(ip, sender.port);
    if (this.translate) from = this.translate(from, to, sender);
    for (let i = 0; i < batch.count; i++) {
      this.stats.sent++;
      if (from === null) {
        this.stats.dropped++;
        continue;
      }
      this.queue.push({ data: Uint8Array.prototype.slice.call(batch.packet(i)) as Uint8Array, from, to, deferred: false });
    }
    this.schedule();
    return batch.count;
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
      this.schedule();
    });
  }

  // Delivers the datagrams queued so far (not ones queued by receivers meanwhile).
  private drain(): void {
    const items = this.queue;
    this.queue = [];
    let run: { bind: FakeBind; items: Datagram[] } | undefined;
    const flushRun = () => {
      if (run) run.bind.deliver(run.items);
      run = undefined;
    };
    for (const d of items) {
      let verdict: FakeVerdict = 'pass';
      if (this.filter && !d.deferred) verdict = this.filter(d.data, d.from, d.to) || 'pass';
      const target = this.listeners.get(d.to.key);
      this.observe?.(d.data, d.from, d.to, target ? verdict : 'unreachable');
      if (verdict === 'drop') {
        this.stats.dropped++;
        continue;
      }
      if (verdict === 'defer') {
        d.deferred = true;
        this.queue.push(d);
        continue;
      }
      if (!target || !target.isOpen) {
        this.stats.unreachable++;
        continue;
      }
      const copies = verdict === 'duplicate' ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        if (run && run.bind !== target) flushRun();
        run ??= { bind: target, items: [] };
        run.items.push(d);
        this.stats.delivered++;
      }
    }
    flushRun();
    this.schedule();
  }
}

export class FakeBind implements Bind {
  /** Last value passed to setMark. */
  mark = 0;
  private boundPort = 0;
  private events: BindEvents | undefined;
  private open_ = false;
  private readonly batch: PacketBatch;
  private readonly sources: Uint8Array;

  /** @internal use FakeNetwork.bind() */
  constructor(
    readonly net: FakeNetwork,
    public addresses: string[],
    opts: { batchSize?: number; slotSize?: number } = {},
  ) {
    for (const ip of addresses) Endpoint.of(ip, 0); // validates
    const cap = opts.batchSize ?? 128;
    this.batch = new PacketBatch(cap, opts.slotSize ?? 2048);
    this.sources = new Uint8Array(cap * ENDPOINT_BYTES);
  }

  get port(): number {
    return this.boundPort;
  }

  get isOpen(): boolean {
    return this.open_;
  }

  /** This bind's endpoint on its first address of the given family (default: its first address). */
  endpoint(family?: 4 | 6): Endpoint {
    const ip = family === undefined ? this.addresses[0] : this.addresses.find((a) => Endpoint.of(a, 0).isV4 === (family === 4));
    if (ip === undefined) throw new WeftError('ERR_INVALID_ARGUMENT', `bind has no IPv${family} address`);
    return Endpoint.of(ip, this.boundPort);
  }

  async open(port: number, events: BindEvents): Promise<number> {
    if (this.open_) throw new WeftError('ERR_BIND_OPEN', 'bind already open');
    this.boundPort = this.net.register(this, port);
    this.events = events;
    this.open_ = true;
    return this.boundPort;
  }

  setMark(mark: number): void {
    this.mark = mark >>> 0;
  }

  send(batch: PacketBatch, to: Endpoint): number {
    if (!this.open_ || batch.count === 0) return 0;
    return this.net.enqueue(this, batch, to);
  }

  /** @internal */
  deliver(items: { data: Uint8Array; from: Endpoint }[]): void {
    const b = this.batch;
    for (let i = 0; i < items.length && this.open_; ) {
      b.reset();
      while (i < items.length && b.count < b.capacity) {
        const d = items[i++];
        if (d.data.length > b.slotSize) continue; // oversized: dropped like a truncated recvmmsg
        this.sources.set(d.from.bytes, b.count * ENDPOINT_BYTES);
        b.push(d.data, 0);
      }
      if (b.count === 0) continue;
      try {
        this.events!.onReceive(b, this.sources);
      } finally {
        b.reset();
      }
    }
  }

  async close(): Promise<void> {
    if (!this.open_) return;
    this.open_ = false;
    this.net.unregister(this);
  }
}
