import { KEY_LEN } from '../crypto/keys.js';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants.js';
import type { SessionKeys } from './noise-protocol.js';
import { ReplayFilter } from './replay.js';

// A Keypair is one derived session: a send and a receive key with their counters.
// Send nonces are plain numbers: 2^53 packets cannot be reached before REKEY_AFTER_MESSAGES
// forces a new session in any realistic lifetime, and the check below still rejects.
export const REJECT_AFTER_MESSAGES_NUM = Number(REJECT_AFTER_MESSAGES);

export class Keypair {
  sendNonce = 0;
  readonly sendKey = new Uint8Array(KEY_LEN);
  readonly recvKey = new Uint8Array(KEY_LEN);
  readonly replay = new ReplayFilter();
  isInitiator = false;
  localIndex = 0;
  remoteIndex = 0;
  created = 0;
  /** In the pool: a second release of the same keypair would hand it to two sessions. */
  pooled = false;

  /** Takes a new session's keys (copied: the derived arrays die young) with fresh counters. */
  init(keys: SessionKeys, created: number): this {
    this.sendKey.set(keys.sendKey);
    this.recvKey.set(keys.recvKey);
    keys.sendKey.fill(0);
    keys.recvKey.fill(0);
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.created = created;
    this.sendNonce = 0;
    this.replay.reset();
    this.pooled = false;
    return this;
  }

  /** Usable for sending: younger than REJECT_AFTER_TIME and below the message limit. */
  canSend(now: number): boolean {
    return now - this.created < REJECT_AFTER_TIME && this.sendNonce < REJECT_AFTER_MESSAGES_NUM;
  }

  wipe(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}

/** Forgotten keypairs kept, wiped, for the next sessions (at most KEYPAIR_POOL_MAX). */
export const KEYPAIR_POOL_MAX = 1024;

// In a handshake storm every peer's session is replaced within a fraction of a second:
// made anew, each would live just long enough to survive a young-generation GC and be
// copied, then promoted, then collected by a full GC, pausing the established sessions'
// packets each time. Reused, sessions stay where they are and a handshake leaves only
// short-lived garbage. Safe because every use of a keypair (the receive run, the send
// path) is synchronous: none holds one across a turn in which a handshake can install.
export class KeypairPool {
  private readonly free: Keypair[] = [];

  take(keys: SessionKeys, created: number): Keypair {
    return (this.free.pop() ?? new Keypair()).init(keys, created);
  }

  release(kp: Keypair): void {
    kp.wipe();
    if (kp.pooled || this.free.length >= KEYPAIR_POOL_MAX) return;
    kp.pooled = true;
    this.free.push(kp);
  }
}

// The three slots of the paper: `current` sends; `next` is a responder's session awaiting
// key confirmation (the initiator's first packet); `previous` decrypts stragglers.
export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  next: Keypair | null = null;

  /** Installs a fresh session and returns the keypairs it displaced (to be forgotten). */
  install(kp: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (kp.isInitiator) {
      if (this.next) {
        // The unconfirmed next session becomes previous; the old current is retired.
        if (this.previous) dropped.push(this.previous);
        this.previous = this.next;
        this.next = null;
        if (this.current) dropped.push(this.current);
      } else {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      if (this.next) dropped.push(this.next);
      if (this.previous) dropped.push(this.previous);
      this.next = kp;
      this.previous = null;
    }
    return dropped;
  }

  /** Promotes `next` when the first packet arrives on it; returns the retired keypair or undefined. Null result means no promotion. */
  confirm(kp: Keypair): Keypair | null | undefined {
    if (this.next !== kp) return null;
    const old = this.previous;
    this.previous = this.current;
    this.current = kp;
    this.next = null;
    return old ?? undefined;
  }

  all(): Keypair[] {
    return [this.previous, this.current, this.next].filter((k): k is Keypair => k !== null);
  }

  clear(): Keypair[] {
    const all = this.all();
    this.previous = this.current = this.next = null;
    return all;
  }
}
