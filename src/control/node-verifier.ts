import { keyToBase64, type PrivateKey } from '../crypto/keys.js';
import type { Clock } from '../clock.js';
import { NODE_AUTH_MAX_SKEW_SECONDS, nodeAuthKey, parseNodeAuth, sessionKeys, verifyNodeRequest, type ParsedNodeAuth, type SessionKeys } from '../wire/node-auth.js';
import { SEALED_VERSION } from '../wire/version.js';
import { forbidden, tooManyRequests, unauthorized } from './errors.js';
import type { SourceRateLimiter } from './rate-limit.js';

/** Remembered MACs per node key: far above what an agent sends in two skew windows. */
export const MAX_REPLAY_PER_KEY = 256;
/** Derived node-auth keys kept, so a request naming a known key costs an HMAC, not an X25519. */
const MAX_DERIVED_KEYS = 1 << 17;
// A MAC must be remembered until its timestamp leaves the skew window: at most 2 x skew
// after it arrived. Two generations of that length hold every MAC at least that long.
const GENERATION_SECONDS = 2 * NODE_AUTH_MAX_SKEW_SECONDS;

export interface NodeVerifierOptions {
  serverPrivate: PrivateKey;
  clock: Clock;
  /** Whether a node key (base64) is registered, expired ones included: the one lookup a stranger gets. */
  isKnown(publicKey: string): boolean;
  /** Registrations of new keys (the one path that admits one), per source address; null = unlimited. */
  registerLimiter: SourceRateLimiter | null;
}

export interface AdmittedAuth extends ParsedNodeAuth {
  publicKeyB64: string;
}

export interface VerifiedRequest {
  publicKey: string;
  /** The signed protocol version; undefined for agents before v7. */
  version: number | undefined;
  /** v7: the keys the answer is authenticated with. */
  keys: SessionKeys | null;
}

interface ReplayState {
  generation: number;
  current: Set<string>;
  previous: Set<string>;
}

/**
 * Server side of node-auth.ts, in two steps so a stranger costs no more than a lookup:
 * `admit` (before the body is read) checks the header's shape, the timestamp and that
 * the key is registered — or, for a registration, that the source is within its rate;
 * `verify` then checks the MAC and that it was not seen before (per key, capped).
 */
export class NodeVerifier {
  private readonly derived = new Map<string, Uint8Array>();
  private readonly replay = new Map<string, ReplayState>();
  private generation = 0;
  /** Requests naming a key that is not registered: refused, or a registration of a new key. */
  unknownKeys = 0;

  constructor(private readonly o: NodeVerifierOptions) {}

  /** `newKeyFrom`: the source address when this request may register a new key. */
  admit(header: string | undefined, newKeyFrom?: { source: string | undefined }): AdmittedAuth {
    if (!header) throw unauthorized('ERR_UNAUTHENTICATED', 'missing Authorization header', 'authorization');
    const auth = parseNodeAuth(header);
    if (!auth) throw unauthorized('ERR_AUTH_MALFORMED', 'malformed Weft-Node Authorization header', 'authorization');
    if (Math.abs(this.nowS() - auth.ts) > NODE_AUTH_MAX_SKEW_SECONDS) throw unauthorized('ERR_AUTH_STALE', 'request timestamp outside the allowed clock skew', 'authorization');
    const publicKeyB64 = keyToBase64(auth.publicKey);
    if (!this.o.isKnown(publicKeyB64)) {
      this.unknownKeys++;
      if (!newKeyFrom) throw forbidden('ERR_NODE_NOT_REGISTERED', 'this node key is not registered', 'authorization');
      if (this.o.registerLimiter && !this.o.registerLimiter.allow(newKeyFrom.source)) throw tooManyRequests('ERR_RATE_LIMITED', 'too many registrations of new node keys from this address; retry later');
    }
    return { ...auth, publicKeyB64 };
  }

  /** Checks the MAC and replay; returns who sent it or throws a 401 ControlError. */
  verify(auth: AdmittedAuth, method: string, path: string, body: Uint8Array): VerifiedRequest {
    const key = this.derive(auth.publicKeyB64, auth.publicKey);
    if (!key || !verifyNodeRequest(key, auth, method, path, body)) throw unauthorized('ERR_AUTH_BAD_MAC', 'request signature does not verify', 'authorization');
    this.remember(auth.publicKeyB64, keyToBase64(auth.mac));
    const sealed = auth.version !== undefined && auth.version >= SEALED_VERSION;
    return { publicKey: auth.publicKeyB64, version: auth.version, keys: sealed ? sessionKeys(key, auth.nonce) : null };
  }

  /** Both steps at once (the map-stream upgrade has no body). */
  check(header: string | undefined, method: string, path: string, body: Uint8Array): VerifiedRequest {
    return this.verify(this.admit(header), method, path, body);
  }

  /** Node keys with replay state (tests and metrics). */
  get trackedKeys(): number {
    return this.replay.size;
  }

  private nowS(): number {
    return Math.floor(this.o.clock.wallNow() / 1000);
  }

  private derive(b64: string, publicKey: Uint8Array): Uint8Array | null {
    const cached = this.derived.get(b64);
    if (cached) return cached;
    const key = nodeAuthKey(this.o.serverPrivate, publicKey);
    // Only registered keys are cached: a registration attempt pays its own X25519.
    if (key && this.o.isKnown(b64)) {
      if (this.derived.size >= MAX_DERIVED_KEYS) this.derived.delete(this.derived.keys().next().value!);
      this.derived.set(b64, key);
    }
    return key;
  }

  private remember(publicKey: string, mac: string): void {
    const generation = Math.floor(this.nowS() / GENERATION_SECONDS);
    if (generation !== this.generation) {
      this.generation = generation;
      for (const [k, s] of this.replay) if (s.generation < generation - 1) this.replay.delete(k);
    }
    let s = this.replay.get(publicKey);
    if (!s || s.generation < generation - 1) s = { generation, current: new Set(), previous: new Set() };
    else if (s.generation < generation) s = { generation, current: new Set(), previous: s.current };
    this.replay.set(publicKey, s);
    if (s.current.has(mac) || s.previous.has(mac)) throw unauthorized('ERR_AUTH_REPLAY', 'request was already seen (replay)', 'authorization');
    // Only this key's holder can fill this: it costs nobody else anything.
    if (s.current.size + s.previous.size >= MAX_REPLAY_PER_KEY) throw unauthorized('ERR_AUTH_BUSY', 'too many requests from this node key in the replay window', 'authorization');
    s.current.add(mac);
  }
}
