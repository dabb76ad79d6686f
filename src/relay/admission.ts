import { readFile } from 'node:fs/promises';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { keyFromBase64, keyToBase64, type PublicKey } from '../crypto/keys.js';
import { WeftError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { RelayServer } from './server.js';
import { MAX_RELAY_CHECK_KEYS, RELAY_CHECK_PATH, type RelayCheckRequest, type RelayCheckResponse } from '../wire/relay-check.js';

// Admission for a standalone relay (`weft relay`): a key is let in only while the
// coordinator vouches for it. The relay asks the coordinator's relay-check endpoint
// (src/wire/relay-check.ts) and caches answers briefly. Every recheckMs it asks again
// about every connected key and closes the connections of keys no longer active (node deleted or expired). While
// the coordinator is unreachable, connected clients stay and keys it vouched for before
// are still admitted (the mesh keeps working when the coordinator is down); unknown
// keys are refused.
//
// Lookups are coalesced: keys that miss the cache while maxInflight requests are out
// wait together (up to MAX_RELAY_CHECK_KEYS) and go in one request when one returns, so a
// burst of connects (a relay restart with 10,000 clients) costs a few requests, not one
// each; past a full waiting batch, keys are refused (refusedBusy) and their clients retry.

/** The relay secret's environment variable, read by `weft server` and `weft relay`. */
export const RELAY_SECRET_ENV = 'WEFT_RELAY_SECRET';
export const MIN_RELAY_SECRET_LENGTH = 32;

export interface CoordinatorAdmissionOptions {
  /** The coordinator's base URL, e.g. https://weft.example.com */
  coordinator: string;
  secret: string;
  /** How long a "yes" is trusted without asking again (default 30 s). */
  cacheMs?: number;
  /** How long a "no" is remembered, so a refused client's retries cost no request (default 2 s). */
  negativeCacheMs?: number;
  /** How often connected keys are re-checked (default 10 s). */
  recheckMs?: number;
  /** Per-request deadline (default 5 s). */
  timeoutMs?: number;
  /** Cached answers kept (LRU, default 16,384). */
  maxCached?: number;
  /** Requests in flight at once; keys beyond them wait in one batch of at most MAX_RELAY_CHECK_KEYS, more are refused (default 64). */
  maxInflight?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Answer {
  active: boolean;
  at: number;
}

/** Keys waiting for the next request, and their answer (null: the request failed). */
interface Waiting {
  keys: Set<string>;
  done: Promise<Set<string> | null>;
  resolve(active: Set<string> | null): void;
}

export function checkRelaySecret(secret: string | undefined, source: string): string {
  const s = secret?.trim() ?? '';
  if (s.length < MIN_RELAY_SECRET_LENGTH) throw new WeftError('ERR_RELAY_SECRET', `relay secret from ${source} must be at least ${MIN_RELAY_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`);
  return s;
}

/** The relay secret from `file`, else from WEFT_RELAY_SECRET; undefined when neither is set. */
export async function readRelaySecret(file: string | undefined): Promise<string | undefined> {
  if (file) {
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new WeftError('ERR_RELAY_SECRET', `cannot read relay secret file ${file}: ${err.message}`);
    });
    return checkRelaySecret(text, file);
  }
  const env = process.env[RELAY_SECRET_ENV];
  return env === undefined ? undefined : checkRelaySecret(env, RELAY_SECRET_ENV);
}

export class CoordinatorAdmission {
  private readonly cache = new Map<string, Answer>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly url: string;
  private inflight = 0;
  private waiting: Waiting | undefined;
  private timer: TimerHandle | undefined;
  private relay: RelayServer | undefined;
  readonly stats = { queries: 0, queryErrors: 0, refusedBusy: 0 };

  constructor(private readonly o: CoordinatorAdmissionOptions) {
    if (!/^https?:\/\/[^/]/.test(o.coordinator) || !URL.canParse(o.coordinator)) throw new WeftError('ERR_INVALID_ARGUMENT', `coordinator URL must be http(s)://, got ${JSON.stringify(o.coordinator)}`);
    this.url = new URL(RELAY_CHECK_PATH, o.coordinator).toString();
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
    checkRelaySecret(o.secret, 'options');
  }

  /** The relay's `authorize` hook. */
  readonly authorize = async (key: PublicKey): Promise<boolean> => {
    const b64 = keyToBase64(key);
    const now = this.clock.now();
    const c = this.cache.get(b64);
    if (c && now - c.at < (c.active ? (this.o.cacheMs ?? 30_000) : (this.o.negativeCacheMs ?? 2_000))) return c.active;
    const answer = this.lookup(b64);
    if (!answer) {
      this.stats.refusedBusy++;
      return false;
    }
    const active = await answer;
    return active ? active.has(b64) : (c?.active ?? false);
  };

  /** Adds `b64` to the waiting batch; undefined when that batch is full. */
  private lookup(b64: string): Promise<Set<string> | null> | undefined {
    let w = this.waiting;
    if (!w) {
      let resolve!: (a: Set<string> | null) => void;
      const done = new Promise<Set<string> | null>((r) => (resolve = r));
      w = this.waiting = { keys: new Set(), done, resolve };
      setImmediate(() => this.sendWaiting()); // the rest of this turn's keys join it
    }
    if (w.keys.size >= MAX_RELAY_CHECK_KEYS && !w.keys.has(b64)) return undefined;
    w.keys.add(b64);
    return w.done;
  }

  /** Sends the waiting batch if a request slot is free; otherwise the next query to return does. */
  private sendWaiting(): void {
    const w = this.waiting;
    if (!w || this.inflight >= (this.o.maxInflight ?? 64)) return;
    this.waiting = undefined;
    this.query([...w.keys]).then(w.resolve, (err: Error) => {
      this.logger.warn({ err: err.message, keys: w.keys.size }, 'coordinator relay check failed');
      w.resolve(null);
    });
  }

  /** Starts re-checking `relay`'s connected keys every recheckMs. */
  start(relay: RelayServer): void {
    this.relay = relay;
    this.arm();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.relay = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      void this.recheck().finally(() => this.relay && this.arm());
    }, this.o.recheckMs ?? 10_000);
  }

  /** Asks about every connected key and revokes the ones the coordinator no longer vouches for. */
  async recheck(): Promise<void> {
    const relay = this.relay;
    if (!relay) return;
    const keys = relay.connectedKeys().map((k) => keyToBase64(k));
    for (let i = 0; i < keys.length; i += MAX_RELAY_CHECK_KEYS) {
      const chunk = keys.slice(i, i + MAX_RELAY_CHECK_KEYS);
      let active: Set<string>;
      try {
        active = await this.query(chunk);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'coordinator relay re-check failed; keeping connections');
        return;
      }
      for (const k of chunk) if (!active.has(k)) relay.revoke(keyFromBase64(k));
    }
  }

  private async query(keys: string[]): Promise<Set<string>> {
    this.inflight++;
    this.stats.queries++;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.o.secret}` },
        body: JSON.stringify({ keys } satisfies RelayCheckRequest),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5_000),
      });
      const body = (await res.json().catch(() => null)) as (Partial<RelayCheckResponse> & { error?: { code?: string } }) | null;
      if (!res.ok || !Array.isArray(body?.active)) throw new WeftError('ERR_RELAY_CHECK', `coordinator answered ${res.status} ${body?.error?.code ?? ''}`.trim());
      const active = new Set(body.active.filter((k): k is string => typeof k === 'string'));
      const now = this.clock.now();
      for (const k of keys) this.remember(k, { active: active.has(k), at: now });
      return active;
    } catch (err) {
      this.stats.queryErrors++;
      throw err;
    } finally {
      this.inflight--;
      this.sendWaiting();
    }
  }

  private remember(key: string, a: Answer): void {
    this.cache.delete(key);
    if (this.cache.size >= (this.o.maxCached ?? 16_384)) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, a);
  }
}
