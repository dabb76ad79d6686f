import { chachaOpen, chachaSeal, AEAD_TAG_LEN } from '../crypto/aead.js';
import { equalBytes } from '../crypto/constant-time.js';
import {
  generatePrivateKey,
  isZeroKey,
  KEY_LEN,
  publicKeyFromPrivate,
  x25519,
  type PresharedKey,
  type PrivateKey,
  type PublicKey,
} from '../crypto/keys.js';
import { hash, kdf2, kdf3, mixHash, mixKey } from './noise-helpers.js';
import {
  INITIATION_EPHEMERAL_OFFSET,
  INITIATION_MAC1_OFFSET,
  INITIATION_SENDER_OFFSET,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MessageType,
  messageType,
  readU32,
  RESPONSE_EPHEMERAL_OFFSET,
  RESPONSE_MAC1_OFFSET,
  RESPONSE_RECEIVER_OFFSET,
  RESPONSE_SENDER_OFFSET,
  TIMESTAMP_SIZE,
  writeU32,
} from './messages.js';
import { tai64nAfter } from './tai64n.js';
import { HANDSHAKE_INITIATION_RATE } from './constants.js';

// The WireGuard handshake: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with WireGuard's
// identifier as prologue, the TAI64N timestamp as the initiation payload and an empty
// response payload (WP §5.4.2–5.4.4; wireguard-go noise-protocol.go).
//
// The Noise steps are written once, generic over prologue and payloads (the
// `ik*` functions), so the cacophony IKpsk2 test vector exercises the very code the
// WireGuard messages use. The WireGuard functions below add message framing, peer
// lookup, replay/flood checks and per-peer state.

export const NOISE_CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const WG_IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';

const utf8 = new TextEncoder();
// Noise: a protocol name longer than HASHLEN is hashed, and ck starts equal to h.
const INITIAL_CHAIN_KEY = hash(utf8.encode(NOISE_CONSTRUCTION));
const WG_PROLOGUE = utf8.encode(WG_IDENTIFIER);
const ZERO_NONCE = new Uint8Array(12); // every handshake key encrypts exactly once
const EMPTY = new Uint8Array(0);

/** Noise symmetric state between messages: chaining key and transcript hash. */
export interface Transcript {
  ck: Uint8Array;
  h: Uint8Array;
}

/** Initialize(prologue), then the IK pre-message `<- s`: MixHash(responder static). */
export function ikInitialTranscript(prologue: Uint8Array, responderStatic: Uint8Array): Transcript {
  return { ck: INITIAL_CHAIN_KEY.slice(), h: mixHash(mixHash(INITIAL_CHAIN_KEY, prologue), responderStatic) };
}

/**
 * Initiator, message 1 (`-> e, es, s, ss` with payload). Writes e ‖ AEAD(s) ‖ AEAD(payload)
 * into `out` (32 + 48 + payload + 16 bytes) and returns the new transcript; null when
 * a DH result is zero. `ss` is the precomputed DH(s, rs).
 */
export function ikWriteMessage1(t: Transcript, e: PrivateKey, s: PublicKey, rs: Uint8Array, ss: Uint8Array, payload: Uint8Array, out: Uint8Array): Transcript | null {
  const ePub = publicKeyFromPrivate(e);
  out.set(ePub, 0);
  let h = mixHash(t.h, ePub);
  let ck = mixKey(t.ck, ePub); // psk modes: MixKey(e) too
  const es = x25519(e, rs);
  if (!es || isZeroKey(ss)) return null;
  let key: Uint8Array;
  [ck, key] = kdf2(ck, es);
  const encS = out.subarray(KEY_LEN, KEY_LEN * 2 + AEAD_TAG_LEN);
  chachaSeal(encS, key, ZERO_NONCE, s, h);
  h = mixHash(h, encS);
  [ck, key] = kdf2(ck, ss);
  const encP = out.subarray(KEY_LEN * 2 + AEAD_TAG_LEN, KEY_LEN * 2 + AEAD_TAG_LEN * 2 + payload.length);
  chachaSeal(encP, key, ZERO_NONCE, payload, h);
  h = mixHash(h, encP);
  return { ck, h };
}

/** Responder state after decrypting the initiator's static key, before `ss`. */
export interface IkMessage1Static extends Transcript {
  re: Uint8Array;
  rs: PublicKey;
}

/** Responder, message 1 up to and including `s`: returns the initiator's static key. */
export function ikReadMessage1Static(t: Transcript, s: PrivateKey, body: Uint8Array): IkMessage1Static | null {
  const re = body.slice(0, KEY_LEN);
  let h = mixHash(t.h, re);
  let ck = mixKey(t.ck, re);
  const es = x25519(s, re);
  if (!es) return null;
  let key: Uint8Array;
  [ck, key] = kdf2(ck, es);
  const encS = body.subarray(KEY_LEN, KEY_LEN * 2 + AEAD_TAG_LEN);
  const rs = new Uint8Array(KEY_LEN) as PublicKey;
  if (!chachaOpen(rs, key, ZERO_NONCE, encS, h)) return null;
  h = mixHash(h, encS);
  return { ck, h, re, rs };
}

/** Responder, rest of message 1 (`ss`, payload). Decrypts into `payloadOut`. */
export function ikReadMessage1Payload(st: IkMessage1Static, ss: Uint8Array, body: Uint8Array, payloadOut: Uint8Array): Transcript | null {
  if (isZeroKey(ss)) return null;
  const [ck, key] = kdf2(st.ck, ss);
  const start = KEY_LEN * 2 + AEAD_TAG_LEN;
  const encP = body.subarray(start, start + payloadOut.length + AEAD_TAG_LEN);
  if (!chachaOpen(payloadOut, key, ZERO_NONCE, encP, st.h)) return null;
  return { ck, h: mixHash(st.h, encP) };
}

/**
 * Responder, message 2 (`<- e, ee, se, psk` with payload). Writes e ‖ AEAD(payload)
 * into `out`; null when a DH result is zero.
 */
export function ikWriteMessage2(t: Transcript, e: PrivateKey, re: Uint8Array, rs: Uint8Array, psk: Uint8Array, payload: Uint8Array, out: Uint8Array): Transcript | null {
  const ePub = publicKeyFromPrivate(e);
  out.set(ePub, 0);
  const ee = x25519(e, re);
  const se = x25519(e, rs);
  if (!ee || !se) return null;
  const enc = out.subarray(KEY_LEN, KEY_LEN + payload.length + AEAD_TAG_LEN);
  return finishMessage2(t, ePub, ee, se, psk, (key, h) => (chachaSeal(enc, key, ZERO_NONCE, payload, h), enc));
}

/** Initiator, message 2. `e` and `s` are the initiator's own keys. */
export function ikReadMessage2(t: Transcript, e: PrivateKey, s: PrivateKey, psk: Uint8Array, body: Uint8Array, payloadOut: Uint8Array): Transcript | null {
  const re = body.subarray(0, KEY_LEN);
  const ee = x25519(e, re);
  const se = x25519(s, re);
  if (!ee || !se) return null;
  const enc = body.subarray(KEY_LEN, KEY_LEN + payloadOut.length + AEAD_TAG_LEN);
  return finishMessage2(t, re, ee, se, psk, (key, h) => (chachaOpen(payloadOut, key, ZERO_NONCE, enc, h) ? enc : null));
}

// The key schedule both sides of message 2 share; `aead` seals or opens the payload.
function finishMessage2(t: Transcript, ePub: Uint8Array, ee: Uint8Array, se: Uint8Array, psk: Uint8Array, aead: (key: Uint8Array, h: Uint8Array) => Uint8Array | null): Transcript | null {
  let ck = mixKey(t.ck, ePub);
  ck = mixKey(ck, ee);
  ck = mixKey(ck, se);
  const [ck2, tau, key] = kdf3(ck, psk);
  const h = mixHash(mixHash(t.h, ePub), tau);
  const enc = aead(key, h);
  if (!enc) return null;
  return { ck: ck2, h: mixHash(h, enc) };
}

/** Split(): (initiator→responder key, responder→initiator key). */
export function ikSplit(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return kdf2(ck, EMPTY);
}

// ---------------------------------------------------------------------------------
// WireGuard

export interface NoiseIdentity {
  readonly privateKey: PrivateKey;
  readonly publicKey: PublicKey;
}

export type HandshakeState = 'zeroed' | 'initiation-created' | 'initiation-consumed' | 'response-created' | 'response-consumed';

/** Handshake secrets; only this module reads or writes them. */
interface HandshakeSecrets {
  ck: Uint8Array;
  h: Uint8Array;
  localEphemeral: PrivateKey | null;
  remoteEphemeral: Uint8Array | null;
  /** Newest timestamp accepted from this peer; replays must be strictly newer. */
  lastTimestamp: Uint8Array;
  /** DH(local static, remote static), cached with the identity it was computed for. */
  staticStatic: Uint8Array;
  staticIdentity: Uint8Array | null;
  /** Whether staticStatic is computed for staticIdentity (done at the first handshake). */
  staticReady: boolean;
}

const secrets = new WeakMap<Handshake, HandshakeSecrets>();

function sec(hs: Handshake): HandshakeSecrets {
  return secrets.get(hs)!;
}

// Copies into the peer's own arrays rather than keeping the step's: a handshake's
// intermediates then die young instead of living on in the peer (a storm's heap churn).
function setTranscript(s: HandshakeSecrets, t: Transcript): void {
  copyWipe(s.ck, t.ck);
  copyWipe(s.h, t.h);
}

function copyWipe(into: Uint8Array, from: Uint8Array): void {
  if (from === into) return;
  into.set(from);
  from.fill(0);
}

/** Per-peer handshake state. Call setIdentity before handshaking. */
export class Handshake {
  readonly remoteStatic: PublicKey;
  presharedKey: PresharedKey;
  state: HandshakeState = 'zeroed';
  localIndex = 0;
  remoteIndex = 0;
  lastInitiationConsumedAt = -Infinity;

  constructor(remoteStatic: PublicKey, presharedKey?: PresharedKey) {
    this.remoteStatic = remoteStatic;
    this.presharedKey = presharedKey ?? (new Uint8Array(KEY_LEN) as PresharedKey);
    secrets.set(this, {
      ck: new Uint8Array(KEY_LEN),
      h: new Uint8Array(KEY_LEN),
      localEphemeral: null,
      remoteEphemeral: null,
      lastTimestamp: new Uint8Array(TIMESTAMP_SIZE),
      staticStatic: new Uint8Array(KEY_LEN),
      staticIdentity: null,
      staticReady: false,
    });
  }

  /**
   * Sets the local identity; DH(local static, remote static) follows at the first
   * handshake that needs it, so configuring 10k peers costs no X25519 each (a zero
   * result makes handshakes with this peer impossible).
   */
  setIdentity(id: NoiseIdentity | null): void {
    const s = sec(this);
    s.staticStatic.fill(0);
    s.staticIdentity = id ? id.publicKey : null;
    s.staticReady = false;
  }

  clear(): void {
    const s = sec(this);
    s.ck.fill(0);
    s.h.fill(0);
    s.localEphemeral?.fill(0);
    s.localEphemeral = null;
    s.remoteEphemeral = null;
    this.state = 'zeroed';
  }
}

// The cached static-static DH, or null when no identity is set (handshakes impossible).
// If the caller passes a different identity than the cached one, recompute rather
// than run a handshake that can only fail.
function staticStatic(hs: Handshake, id: NoiseIdentity): Uint8Array | null {
  const s = sec(hs);
  if (!s.staticIdentity) return null;
  if (!equalBytes(s.staticIdentity, id.publicKey)) hs.setIdentity(id);
  if (!s.staticReady) {
    const dh = x25519(id.privateKey, hs.remoteStatic);
    if (dh) s.staticStatic = dh;
    s.staticReady = true;
  }
  return isZeroKey(s.staticStatic) ? null : s.staticStatic;
}

const INITIATION_BODY_END = INITIATION_MAC1_OFFSET;
const RESPONSE_BODY_END = RESPONSE_MAC1_OFFSET;

/** Builds a 148-byte initiation with mac1/mac2 zero; null if no handshake is possible. */
export function createInitiation(id: NoiseIdentity, hs: Handshake, localIndex: number, timestamp: Uint8Array, ephemeral?: PrivateKey): Uint8Array | null {
  if (timestamp.length !== TIMESTAMP_SIZE) return null;
  const ss = staticStatic(hs, id);
  if (!ss) return null;
  const e = ephemeral ? (ephemeral.slice() as PrivateKey) : generatePrivateKey();
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  msg[0] = MessageType.Initiation;
  writeU32(msg, INITIATION_SENDER_OFFSET, localIndex);
  const t = ikWriteMessage1(
    ikInitialTranscript(WG_PROLOGUE, hs.remoteStatic),
    e,
    id.publicKey,
    hs.remoteStatic,
    ss,
    timestamp,
    msg.subarray(INITIATION_EPHEMERAL_OFFSET, INITIATION_BODY_END),
  );
  if (!t) return null;
  hs.clear();
  const s = sec(hs);
  setTranscript(s, t);
  s.localEphemeral = e;
  hs.localIndex = localIndex >>> 0;
  hs.state = 'initiation-created';
  return msg;
}

/**
 * Responder: authenticates an initiation and records it in the peer's handshake.
 * Rejects (null, nothing changed) on any decryption failure, an unknown peer, a
 * timestamp not newer than the last accepted one (replay), or an initiation less
 * than HANDSHAKE_INITIATION_RATE ms after the previous one (flood).
 */
export function consumeInitiation(id: NoiseIdentity, msg: Uint8Array, lookup: (remoteStatic: PublicKey) => Handshake | undefined, nowMs: number): Handshake | null {
  if (messageType(msg) !== MessageType.Initiation) return null;
  const body = msg.subarray(INITIATION_EPHEMERAL_OFFSET, INITIATION_BODY_END);
  const st = ikReadMessage1Static(ikInitialTranscript(WG_PROLOGUE, id.publicKey), id.privateKey, body);
  if (!st) return null;
  const hs = lookup(st.rs);
  if (!hs || !equalBytes(hs.remoteStatic, st.rs)) return null;
  const timestamp = new Uint8Array(TIMESTAMP_SIZE);
  const ss = staticStatic(hs, id);
  if (!ss) return null;
  const t = ikReadMessage1Payload(st, ss, body, timestamp);
  if (!t) return null;
  const s = sec(hs);
  if (!tai64nAfter(timestamp, s.lastTimestamp)) return null;
  if (nowMs - hs.lastInitiationConsumedAt < HANDSHAKE_INITIATION_RATE) return null;
  hs.clear();
  setTranscript(s, t);
  s.remoteEphemeral = st.re;
  s.lastTimestamp.set(timestamp);
  hs.lastInitiationConsumedAt = nowMs;
  hs.remoteIndex = readU32(msg, INITIATION_SENDER_OFFSET);
  hs.state = 'initiation-consumed';
  return hs;
}

/**
 * Responder: builds the 92-byte response (macs zero) to a consumed initiation. Our
 * static key is not needed here (`se` uses our ephemeral); `_id` keeps the API uniform.
 */
export function createResponse(_id: NoiseIdentity, hs: Handshake, localIndex: number, ephemeral?: PrivateKey): Uint8Array | null {
  const s = sec(hs);
  if (hs.state !== 'initiation-consumed' || !s.remoteEphemeral) return null;
  const e = ephemeral ? (ephemeral.slice() as PrivateKey) : generatePrivateKey();
  const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  msg[0] = MessageType.Response;
  writeU32(msg, RESPONSE_SENDER_OFFSET, localIndex);
  writeU32(msg, RESPONSE_RECEIVER_OFFSET, hs.remoteIndex);
  const t = ikWriteMessage2(s, e, s.remoteEphemeral, hs.remoteStatic, hs.presharedKey, EMPTY, msg.subarray(RESPONSE_EPHEMERAL_OFFSET, RESPONSE_BODY_END));
  if (!t) return null;
  setTranscript(s, t);
  s.localEphemeral = e;
  hs.localIndex = localIndex >>> 0;
  hs.state = 'response-created';
  return msg;
}

/**
 * What a handshake worker computes for an initiation (handshake-offload.ts): the
 * initiation authenticated, the response sealed and the session's keys split, leaving
 * to acceptPrecomputedResponse on the device's thread only what needs the peer's
 * handshake state (the replay and flood checks) and the receiver index. The response
 * header is outside the Noise transcript, so the index can be chosen afterwards.
 */
export interface PrecomputedResponse {
  rs: PublicKey;
  timestamp: Uint8Array;
  remoteIndex: number;
  ePub: Uint8Array;
  /** The response's encrypted empty payload (its AEAD tag). */
  emptyTag: Uint8Array;
  /** The session's transport keys as the responder uses them. */
  sendKey: Uint8Array;
  recvKey: Uint8Array;
}

/** A known peer as the worker sees it: DH(s, rs) and the pre-shared key. */
export interface ResponderPeer {
  ss: Uint8Array;
  psk: Uint8Array;
}

/** `peerFor` returns a known peer's DH and psk, null for a key that is not one. */
export function precomputeResponse(id: NoiseIdentity, msg: Uint8Array, peerFor: (rs: PublicKey) => ResponderPeer | null): PrecomputedResponse | null {
  if (messageType(msg) !== MessageType.Initiation || msg.length !== MESSAGE_INITIATION_SIZE) return null;
  const body = msg.subarray(INITIATION_EPHEMERAL_OFFSET, INITIATION_BODY_END);
  const st = ikReadMessage1Static(ikInitialTranscript(WG_PROLOGUE, id.publicKey), id.privateKey, body);
  if (!st) return null;
  const peer = peerFor(st.rs);
  if (!peer) return null;
  const timestamp = new Uint8Array(TIMESTAMP_SIZE);
  const t = ikReadMessage1Payload(st, peer.ss, body, timestamp);
  if (!t) return null;
  // The response's body (e ‖ sealed empty payload), without its header: the index is the device's.
  const body2 = new Uint8Array(KEY_LEN + AEAD_TAG_LEN);
  const e = generatePrivateKey();
  const done = ikWriteMessage2(t, e, st.re, st.rs, peer.psk, EMPTY, body2);
  e.fill(0);
  if (!done) return null;
  const ePub = body2.subarray(0, KEY_LEN);
  const emptyTag = body2.subarray(KEY_LEN);
  const [i2r, r2i] = ikSplit(done.ck);
  done.ck.fill(0);
  return { rs: st.rs, timestamp, remoteIndex: readU32(msg, INITIATION_SENDER_OFFSET), ePub, emptyTag, sendKey: r2i, recvKey: i2r };
}

/**
 * Responder, with a worker's precomputation: the same checks and state change as
 * consumeInitiation + createResponse + deriveSessionKeys (null, nothing changed, on a
 * replayed timestamp or a flood), returning the 92-byte response (macs zero) and the
 * session's keys.
 */
export function acceptPrecomputedResponse(hs: Handshake, p: PrecomputedResponse, localIndex: number, nowMs: number): { response: Uint8Array; keys: SessionKeys } | null {
  if (!equalBytes(hs.remoteStatic, p.rs)) return null;
  const s = sec(hs);
  if (!tai64nAfter(p.timestamp, s.lastTimestamp)) return null;
  if (nowMs - hs.lastInitiationConsumedAt < HANDSHAKE_INITIATION_RATE) return null;
  const response = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  response[0] = MessageType.Response;
  writeU32(response, RESPONSE_SENDER_OFFSET, localIndex);
  writeU32(response, RESPONSE_RECEIVER_OFFSET, p.remoteIndex);
  response.set(p.ePub, RESPONSE_EPHEMERAL_OFFSET);
  response.set(p.emptyTag, RESPONSE_EPHEMERAL_OFFSET + KEY_LEN);
  hs.clear();
  s.lastTimestamp.set(p.timestamp);
  hs.lastInitiationConsumedAt = nowMs;
  hs.remoteIndex = p.remoteIndex;
  hs.localIndex = localIndex >>> 0;
  return { response, keys: { sendKey: p.sendKey, recvKey: p.recvKey, isInitiator: false, localIndex: localIndex >>> 0, remoteIndex: p.remoteIndex } };
}

/** Initiator: authenticates a response to the initiation whose sender index it names. */
export function consumeResponse(id: NoiseIdentity, msg: Uint8Array, lookupByIndex: (receiverIndex: number) => Handshake | undefined): Handshake | null {
  if (messageType(msg) !== MessageType.Response) return null;
  const receiver = readU32(msg, RESPONSE_RECEIVER_OFFSET);
  const hs = lookupByIndex(receiver);
  if (!hs || hs.state !== 'initiation-created' || hs.localIndex !== receiver) return null;
  const s = sec(hs);
  if (!s.localEphemeral) return null;
  const t = ikReadMessage2(s, s.localEphemeral, id.privateKey, hs.presharedKey, msg.subarray(RESPONSE_EPHEMERAL_OFFSET, RESPONSE_BODY_END), EMPTY);
  if (!t) return null;
  setTranscript(s, t);
  hs.remoteIndex = readU32(msg, RESPONSE_SENDER_OFFSET);
  hs.state = 'response-consumed';
  return hs;
}

export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

/** Derives transport keys once the handshake is complete, then wipes the handshake secrets. */
export function deriveSessionKeys(hs: Handshake): SessionKeys | null {
  const isInitiator = hs.state === 'response-consumed';
  if (!isInitiator && hs.state !== 'response-created') return null;
  const [i2r, r2i] = ikSplit(sec(hs).ck);
  const keys: SessionKeys = {
    sendKey: isInitiator ? i2r : r2i,
    recvKey: isInitiator ? r2i : i2r,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  hs.clear();
  return keys;
}
