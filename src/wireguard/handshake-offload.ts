import { Worker } from 'node:worker_threads';
import { ENDPOINT_BYTES } from '../io/endpoint.js';
import { readResult } from './handshake-offload-wire.js';
import { MESSAGE_INITIATION_SIZE } from './messages.js';
import type { PrecomputedResponse } from './noise-protocol.js';

// Initiations answered on a worker thread (handshake-worker.ts): the device's thread
// checks mac1 and cookies as before, hands the initiation over, and finishes it
// (replay and flood checks, psk step, index, session) when the worker's part comes
// back. The worker starts only when initiations arrive faster than OFFLOAD_START_RATE
// a second (an idle node never pays for a thread) and stops after OFFLOAD_IDLE_MS
// without one. Like wireguard-go's handshake queue it is bounded: past
// HANDSHAKE_QUEUE_SIZE in flight, initiations are dropped and counted. If the worker
// dies, the device answers on its own thread again.

/** wireguard-go's QueueHandshakeSize. */
export const HANDSHAKE_QUEUE_SIZE = 1024;
/** Initiations in one second that start the worker. */
export const OFFLOAD_START_RATE = 32;
export const OFFLOAD_IDLE_MS = 30_000;
/**
 * Jobs messages the worker has not answered yet. More initiations wait, staged, for an
 * answer: each message wakes a thread, which on a busy machine costs more than the
 * copy, so in a storm jobs go over in fewer, larger batches (and answers come back
 * the same way: the worker answers all it has read in one message).
 */
export const OFFLOAD_BATCHES_OUT = 2;
/**
 * Device-thread time (ms) spent finishing answered initiations (psk step, session keys,
 * response) before the event loop polls I/O again. A worker message can answer 32 or
 * more initiations, about 1 ms of work; finished in one go it holds up every packet of
 * the established sessions that arrives meanwhile. In slices of this budget a data
 * packet waits at most one slice.
 */
export const COMPLETE_BUDGET_MS = 0.15;
/**
 * The worker's young generation, at most (V8 grows it only as allocation demands). Each
 * initiation leaves ~10 KB of short-lived garbage; at the default size a storm made ~17
 * scavenges a second, whose parallel phases ran on V8's helper threads and took cores
 * from the device thread. Interleaved, 5 rounds: storm ping p99 2.39 -> 1.88 ms,
 * handshakes/s +5 %, CPU per handshake -6 % (docs/BENCHMARKS.md).
 */
export const WORKER_YOUNG_GENERATION_MB = 96;

export type ToHandshakeWorker =
  | { type: 'identity'; privateKey: Uint8Array | null }
  /** psk: the peer's pre-shared key (zeros for none), null when the peer is gone. */
  | { type: 'peers'; changes: { key: Uint8Array; psk: Uint8Array | null }[] }
  /** msgs: the initiations back to back (148 bytes each), ids[i] naming msgs' i-th (handshake-offload-wire.ts). */
  | { type: 'jobs'; gen: number; ids: Uint32Array; msgs: Uint8Array };
/** Answers to one or more jobs messages; results: one RESULT_SIZE record per id, in order (handshake-offload-wire.ts). */
export type FromHandshakeWorker = { type: 'done'; batches: { gen: number; ids: Uint32Array; results: Uint8Array }[] };

/** An initiation in flight: its source endpoint (valid during the `done` call only) and its length. */
export interface OffloadedInitiation {
  src: Uint8Array;
  length: number;
}

export interface HandshakeOffloadHooks {
  /** Our private key and the peers' public and pre-shared keys now, for a worker that starts. */
  identity(): Uint8Array | null;
  peers(): Iterable<{ key: Uint8Array; psk: Uint8Array }>;
  /** The worker's part, or null (not a valid initiation for a known peer, or stale). */
  done(job: OffloadedInitiation, result: PrecomputedResponse | null): void;
  /** The worker failed; every later initiation is answered on the device's thread. */
  failed(err: Error): void;
  /** The worker started (initiations come fast). */
  started?(): void;
}

/**
 * Slots for jobs in flight, by id modulo their number: twice the queue, so an id's slot
 * is free long before the id comes round again (a job still there makes a submit 'full').
 */
const JOB_SLOTS = HANDSHAKE_QUEUE_SIZE * 2;

export class HandshakeOffload {
  private worker: Worker | null = null;
  // Jobs in flight live in typed arrays, not in a Map of objects: in a storm the jobs
  // of a moment are alive at every young-generation GC, and copying them (and the
  // Map's rehashed tables) made those pauses longer for the established sessions.
  private readonly slotIds = new Uint32Array(JOB_SLOTS); // 0: free
  private readonly slotSrc = new Uint8Array(JOB_SLOTS * ENDPOINT_BYTES);
  private readonly slotSrcLen = new Uint8Array(JOB_SLOTS);
  private readonly slotLen = new Uint16Array(JOB_SLOTS);
  private pendingCount = 0;
  private nextId = 1;
  /** Bumped by every identity change and worker start: older answers are dropped. */
  private gen = 0;
  private broken = false;
  /** Peer set changes not yet sent, by key (hex): the last change of a key wins. */
  private changes = new Map<string, { key: Uint8Array; psk: Uint8Array | null }>();
  private windowStart = 0;
  private windowCount = 0;
  private lastJobAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Jobs of this turn, staged back to back: one message per turn each way, not one per initiation. */
  private readonly stagedMsgs = new Uint8Array(HANDSHAKE_QUEUE_SIZE * MESSAGE_INITIATION_SIZE);
  private readonly stagedIds = new Uint32Array(HANDSHAKE_QUEUE_SIZE);
  private staged = 0;
  private batchesOut = 0;
  /** Answers received and not finished yet, oldest first; next: the first unfinished record. */
  private readonly answered: { gen: number; ids: Uint32Array; results: Uint8Array; next: number }[] = [];
  private draining: NodeJS.Immediate | null = null;

  constructor(
    private readonly hooks: HandshakeOffloadHooks,
    private readonly completeBudgetMs = COMPLETE_BUDGET_MS,
  ) {}

  get running(): boolean {
    return this.worker !== null;
  }

  get inFlight(): number {
    return this.pendingCount;
  }

  setIdentity(privateKey: Uint8Array | null): void {
    this.gen++;
    this.post({ type: 'identity', privateKey: privateKey ? Uint8Array.from(privateKey) : null });
  }

  /** A peer added or its pre-shared key changed (psk), or removed (null). */
  peerChanged(publicKey: Uint8Array, psk: Uint8Array | null): void {
    if (this.worker) this.changes.set(Buffer.from(publicKey).toString('hex'), { key: Uint8Array.from(publicKey), psk: psk && Uint8Array.from(psk) });
  }

  /**
   * Offers an initiation (`msg` from `src`, at monotonic `nowMs`): 'queued' when the
   * worker takes it, 'full' when its queue is, 'here' when the device answers it itself.
   */
  submit(msg: Uint8Array, src: Uint8Array, nowMs: number): 'queued' | 'full' | 'here' {
    if (this.broken || msg.length !== MESSAGE_INITIATION_SIZE || src.length > ENDPOINT_BYTES) return 'here';
    if (!this.worker) {
      if (nowMs - this.windowStart >= 1000) {
        this.windowStart = nowMs;
        this.windowCount = 0;
      }
      if (++this.windowCount < OFFLOAD_START_RATE) return 'here';
      this.start();
    }
    const id = this.nextId;
    const slot = id % JOB_SLOTS;
    if (this.pendingCount >= HANDSHAKE_QUEUE_SIZE || this.slotIds[slot] !== 0) return 'full';
    this.nextId = id === 0xffff_ffff ? 1 : id + 1;
    this.slotIds[slot] = id;
    this.slotSrc.set(src, slot * ENDPOINT_BYTES);
    this.slotSrcLen[slot] = src.length;
    this.slotLen[slot] = msg.length;
    this.pendingCount++;
    this.lastJobAt = performance.now();
    // staged <= pendingCount <= HANDSHAKE_QUEUE_SIZE: the staging area cannot overflow.
    if (this.staged === 0) queueMicrotask(() => this.flush());
    this.stagedMsgs.set(msg, this.staged * MESSAGE_INITIATION_SIZE);
    this.stagedIds[this.staged++] = id;
    return 'queued';
  }

  async close(): Promise<void> {
    this.broken = true;
    await this.stop();
  }

  private start(): void {
    const worker = new Worker(new URL('./handshake-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    // The device decides when the process ends, not this thread.
    worker.unref();
    worker.on('message', (m: FromHandshakeWorker) => this.finished(m));
    worker.on('error', (err) => this.fail(worker, err));
    worker.on('exit', (code) => this.fail(worker, new Error(`handshake worker exited (${code})`)));
    this.worker = worker;
    this.gen++;
    this.changes.clear();
    this.post({ type: 'identity', privateKey: this.hooks.identity() });
    this.post({ type: 'peers', changes: [...this.hooks.peers()].map((p) => ({ key: Uint8Array.from(p.key), psk: Uint8Array.from(p.psk) })) });
    this.idleTimer = setInterval(() => {
      if (this.pendingCount === 0 && performance.now() - this.lastJobAt > OFFLOAD_IDLE_MS) void this.stop();
    }, OFFLOAD_IDLE_MS / 3).unref();
    this.hooks.started?.();
  }

  private async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.windowCount = 0;
    this.staged = 0;
    this.batchesOut = 0;
    this.answered.length = 0;
    if (this.draining) clearImmediate(this.draining);
    this.draining = null;
    for (let slot = 0; slot < JOB_SLOTS; slot++) if (this.slotIds[slot] !== 0) this.finish(this.slotIds[slot], null);
    await worker?.terminate();
  }

  // Peer changes go over in one message before the next jobs, so a reconfigure of
  // 10,000 peers is one message, and a job never overtakes the peer it names.
  private flush(): void {
    if (this.changes.size > 0) {
      this.post({ type: 'peers', changes: [...this.changes.values()] });
      this.changes = new Map();
    }
    const n = this.staged;
    if (n === 0 || this.batchesOut >= OFFLOAD_BATCHES_OUT) return;
    this.staged = 0;
    this.batchesOut++;
    const ids = this.stagedIds.slice(0, n);
    const msgs = this.stagedMsgs.slice(0, n * MESSAGE_INITIATION_SIZE);
    this.post({ type: 'jobs', gen: this.gen, ids, msgs }, [ids.buffer, msgs.buffer]);
  }

  private post(m: ToHandshakeWorker, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(m, transfer);
  }

  private finished(m: FromHandshakeWorker): void {
    this.batchesOut = Math.max(0, this.batchesOut - m.batches.length);
    // Bounded: every record names a job in flight (at most HANDSHAKE_QUEUE_SIZE).
    for (const b of m.batches) this.answered.push({ ...b, next: 0 });
    this.flush(); // what was staged while the worker was busy: it works while we finish these
    if (this.draining === null) this.drain();
  }

  /** Finishes answers for up to completeBudgetMs, then yields to I/O (setImmediate) for the rest. */
  private readonly drain = (): void => {
    this.draining = null;
    const t0 = performance.now();
    while (this.answered.length > 0) {
      const b = this.answered[0];
      const i = b.next++;
      if (b.next >= b.ids.length) this.answered.shift();
      // An identity change since the worker's answer makes it stale.
      this.finish(b.ids[i], b.gen === this.gen ? readResult(b.results, i) : null);
      if (performance.now() - t0 >= this.completeBudgetMs) break;
    }
    if (this.answered.length > 0 && this.worker !== null) this.draining = setImmediate(this.drain);
  };

  /** Frees job `id`'s slot and hands it to the device, once; an id not in flight is ignored. */
  private finish(id: number, result: PrecomputedResponse | null): void {
    const slot = id % JOB_SLOTS;
    if (this.slotIds[slot] !== id) return;
    this.slotIds[slot] = 0;
    this.pendingCount--;
    const at = slot * ENDPOINT_BYTES;
    this.hooks.done({ src: this.slotSrc.subarray(at, at + this.slotSrcLen[slot]), length: this.slotLen[slot] }, result);
  }

  private fail(worker: Worker, err: Error): void {
    if (worker !== this.worker) return; // stopped on purpose
    this.broken = true;
    this.hooks.failed(err);
    void this.stop();
  }
}
