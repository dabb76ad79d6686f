import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants.js';

// A Keypair is one derived session: a send and a receive key with their counters.
// Send nonces are plain numbers: 2^53 packets cannot be reached before REKEY_AFTER_MESSAGES
// forces a new session in any realistic lifetime, and the check below still rejects.
export const REJECT_AFTER_MESSAGES_NUM = Number(REJECT_AFTER_MESSAGES);

export class Keypair {
  sendNonce = 0;
  constructor(
    readonly sendKey: Uint8Array,
    readonly recvKey: Uint8Array,
    readonly isInitiator: boolean,
    readonly localIndex: number,
    readonly remoteIndex: number,
    readonly created: number,
    readonly replay: { validate(counter: bigint, limit: bigint): boolean; validateNumber(counter: number): boolean; reset(): void },
  ) {}

  /** Usable for sending: younger than REJECT_AFTER_TIME and below the message limit. */
  canSend(now: number): boolean {
    return now - this.created < REJECT_AFTER_TIME && this.sendNonce < REJECT_AFTER_MESSAGES_NUM;
  }

  wipe(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
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
