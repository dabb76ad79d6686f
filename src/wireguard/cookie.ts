import sodium from 'sodium-native';
import { xchachaOpen, xchachaSeal } from '../crypto/aead.js';
import { equalBytes } from '../crypto/constant-time.js';
import type { PublicKey } from '../crypto/keys.js';
import type { Clock } from '../clock.js';
import { InvalidArgumentError } from '../errors.js';
import { COOKIE_REFRESH_TIME } from './constants.js';
import {
  COOKIE_NONCE_SIZE,
  COOKIE_REPLY_COOKIE_OFFSET,
  COOKIE_REPLY_NONCE_OFFSET,
  COOKIE_REPLY_RECEIVER_OFFSET,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MessageType,
  messageType,
  writeU32,
} from './messages.js';
import { hash, mac } from './noise-helpers.js';

// mac1/mac2 and cookie replies (WP §5.4.4, §5.4.7; wireguard-go cookie.go).
//   mac1 = MAC(HASH("mac1----" ‖ Spub_receiver), msg[:mac1])   proves knowledge of the
//          receiver's public key, so it is checked before any DH work;
//   mac2 = MAC(cookie, msg[:mac2])                               proves the sender's
//          address can receive, so a responder under load only spends DH on it;
//   cookie = MAC(R, src), R random and replaced every COOKIE_REFRESH_TIME,
//   sent encrypted with XChaCha20-Poly1305 under HASH("cookie--" ‖ Spub_responder),
//   bound to the triggering message by using its mac1 as associated data.
const LABEL_MAC1 = new TextEncoder().encode('mac1----');
const LABEL_COOKIE = new TextEncoder().encode('cookie--');
const SECRET_SIZE = 32;

// mac1 and mac2 are the last 32 bytes of initiations and responses.
function macOffsets(msg: Uint8Array): [number, number] | null {
  if (msg.length !== MESSAGE_INITIATION_SIZE && msg.length !== MESSAGE_RESPONSE_SIZE) return null;
  const mac2 = msg.length - MAC_SIZE;
  return [mac2 - MAC_SIZE, mac2];
}

function defaultRandom(n: number): Uint8Array {
  const b = new Uint8Array(n);
  sodium.randombytes_buf(b);
  return b;
}

/** Responder side, one per device. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly encryptionKey: Uint8Array;
  private readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;
  private secret: Uint8Array = new Uint8Array(SECRET_SIZE);
  private secretSetAt = -Infinity;

  constructor(localPublic: PublicKey, clock: Clock, random: (n: number) => Uint8Array = defaultRandom) {
    this.mac1Key = hash(LABEL_MAC1, localPublic);
    this.encryptionKey = hash(LABEL_COOKIE, localPublic);
    this.clock = clock;
    this.random = random;
  }

  /** False unless `msg` is exactly an initiation or response with a valid mac1. */
  checkMAC1(msg: Uint8Array): boolean {
    const offs = macOffsets(msg);
    if (!offs) return false;
    const [m1, m2] = offs;
    return equalBytes(mac(this.mac1Key, msg.subarray(0, m1)), msg.subarray(m1, m2));
  }

  /**
   * `src` is the sender's 18-byte endpoint bytes (address, big-endian port). The cookie
   * only ever comes back to us, so the encoding is ours to choose. False while no
   * cookie secret younger than COOKIE_REFRESH_TIME exists.
   */
  checkMAC2(msg: Uint8Array, src: Uint8Array): boolean {
    const offs = macOffsets(msg);
    if (!offs || this.clock.now() - this.secretSetAt > COOKIE_REFRESH_TIME) return false;
    const [, m2] = offs;
    const cookie = mac(this.secret, src);
    return equalBytes(mac(cookie, msg.subarray(0, m2)), msg.subarray(m2, m2 + MAC_SIZE));
  }

  /** The 64-byte cookie reply to `msg` (a full initiation or response) from `src`. */
  createReply(msg: Uint8Array, receiverIndex: number, src: Uint8Array): Uint8Array {
    const offs = macOffsets(msg);
    if (!offs) throw new InvalidArgumentError('createReply: message is not an initiation or response');
    const [m1, m2] = offs;
    const now = this.clock.now();
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME) {
      this.secret.fill(0);
      this.secret = this.random(SECRET_SIZE).slice();
      this.secretSetAt = now;
    }
    const reply = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    reply[0] = MessageType.CookieReply;
    writeU32(reply, COOKIE_REPLY_RECEIVER_OFFSET, receiverIndex);
    const nonce = this.random(COOKIE_NONCE_SIZE).subarray(0, COOKIE_NONCE_SIZE);
    reply.set(nonce, COOKIE_REPLY_NONCE_OFFSET);
    const cookie = mac(this.secret, src);
    reply.set(xchachaSeal(this.encryptionKey, nonce, cookie, msg.subarray(m1, m2)), COOKIE_REPLY_COOKIE_OFFSET);
    return reply;
  }
}

/** Initiator side, one per peer. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly encryptionKey: Uint8Array;
  private readonly clock: Clock;
  private cookie: Uint8Array = new Uint8Array(MAC_SIZE);
  private cookieSetAt = -Infinity;
  private readonly lastMac1 = new Uint8Array(MAC_SIZE);
  private sentMac1 = false;

  constructor(remotePublic: PublicKey, clock: Clock) {
    this.mac1Key = hash(LABEL_MAC1, remotePublic);
    this.encryptionKey = hash(LABEL_COOKIE, remotePublic);
    this.clock = clock;
  }

  /** Writes mac1, and mac2 while a cookie younger than COOKIE_REFRESH_TIME is held. */
  addMacs(msg: Uint8Array): void {
    const offs = macOffsets(msg);
    if (!offs) throw new InvalidArgumentError('addMacs: message is not an initiation or response');
    const [m1, m2] = offs;
    const mac1 = mac(this.mac1Key, msg.subarray(0, m1));
    msg.set(mac1, m1);
    this.lastMac1.set(mac1);
    this.sentMac1 = true;
    if (this.clock.now() - this.cookieSetAt > COOKIE_REFRESH_TIME) return;
    msg.set(mac(this.cookie, msg.subarray(0, m2)), m2);
  }

  /** Accepts a cookie reply only for the last mac1 we sent; false otherwise. */
  consumeReply(msg: Uint8Array): boolean {
    if (!this.sentMac1 || messageType(msg) !== MessageType.CookieReply) return false;
    const cookie = xchachaOpen(
      this.encryptionKey,
      msg.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_NONCE_OFFSET + COOKIE_NONCE_SIZE),
      msg.subarray(COOKIE_REPLY_COOKIE_OFFSET, MESSAGE_COOKIE_REPLY_SIZE),
      this.lastMac1,
    );
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetAt = this.clock.now();
    return true;
  }
}
