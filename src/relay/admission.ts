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
  /** Lookups in flight at once; more are refused (default 64). */
  maxInflight?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Answer {
  active: boolean;
  at: number;
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
    if (this.inflight >= (this.o.maxInflight ?? 64)) {
      this.stats.refusedBusy++;
      return false;
    }
    try {
      return (await this.query([b64])).has(b64);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'coordinator relay check failed');
      return c?.active ?? false;
    }
  };

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
    }
  }

  private remember(key: string, a: Answer): void {
    this.cache.delete(key);
    if (this.cache.size >= (this.o.maxCached ?? 16_384)) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, a);
  }
}
