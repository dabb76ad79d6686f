import { AEAD_TAG_LEN, chachaOpen, chachaSeal, writeNonce } from '../crypto/aead.js';
import { generatePrivateKey, publicKeyFromPrivate, x25519, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { ReplayFilter } from '../wireguard/replay.js';
import { hash, kdf2, mixHash } from '../wireguard/noise-helpers.js';

// Per-hop key agreement and per-hop, per-direction record protection.
//
// Handshake: Noise_NK_25519_ChaChaPoly_BLAKE2s. The client knows the hop's static
// X25519 key (its WireGuard key from the trust set; the protocol name and prologue keep
// the two uses apart). A fresh ephemeral pair per circuit gives forward secrecy, and the
// hop never learns who the client is: NK sends no initiator static. The hop is
// authenticated implicitly, since only the holder of its static key derives `es`, and
// the client rejects message 2 otherwise. The run is end-to-end between the client and
// the hop even when message 1 reaches it through earlier hops (EXTEND): they only carry
// bytes.
//
// Records: each layer is ctr u64 LE | ChaCha20-Poly1305(key, nonce(ctr), plaintext) |
// tag. Counters start at 0 per direction; receivers keep WireGuard's sliding replay
// window (8128 counters) because hop-to-hop links may reorder. Any failure — tag,
// replayed counter, counter behind the window — is fatal to the circuit (the caller
// destroys it): a cell cannot be "tagged" and passed on, as Tor's tor1 relay crypto
// allowed.

const PROTOCOL_NAME = new TextEncoder().encode('Noise_NK_25519_ChaChaPoly_BLAKE2s');
const PROLOGUE = new TextEncoder().encode('weft onion v1');
const EMPTY = new Uint8Array(0);

export const KEY_LEN = 32;
/** Client → hop message: ephemeral key, then the sealed payload. */
export const HANDSHAKE1_PAYLOAD_LEN = 1; // the hop's depth on the circuit
export const HANDSHAKE1_LEN = KEY_LEN + HANDSHAKE1_PAYLOAD_LEN + AEAD_TAG_LEN;
export const HANDSHAKE2_LEN = KEY_LEN + AEAD_TAG_LEN;

/** ctr + tag around every layer. */
export const LAYER_OVERHEAD = 8 + AEAD_TAG_LEN;
/** Counters are refused at and beyond this (WireGuard's REJECT_AFTER_MESSAGES order). */
const COUNTER_LIMIT = 1n << 60n;

function initialState(hopStatic: Uint8Array): { h: Uint8Array; ck: Uint8Array } {
  const ck = hash(PROTOCOL_NAME);
  let h = mixHash(ck, PROLOGUE);
  h = mixHash(h, hopStatic); // pre-message: <- s
  return { h, ck };
}

const ZERO_NONCE = new Uint8Array(12);

function encryptAndHash(k: Uint8Array, h: Uint8Array, plain: Uint8Array): { c: Uint8Array; h: Uint8Array } {
  const c = new Uint8Array(plain.length + AEAD_TAG_LEN);
  chachaSeal(c, k, ZERO_NONCE, plain, h);
  return { c, h: mixHash(h, c) };
}

function decryptAndHash(k: Uint8Array, h: Uint8Array, c: Uint8Array): { p: Uint8Array; h: Uint8Array } | null {
  const p = new Uint8Array(c.length - AEAD_TAG_LEN);
  if (!chachaOpen(p, k, ZERO_NONCE, c, h)) return null;
  return { p, h: mixHash(h, c) };
}

/** Directional keys agreed with one hop: fwd = client → hop, bwd = hop → client. */
export interface HopKeys {
  fwd: Uint8Array;
  bwd: Uint8Array;
}

function split(ck: Uint8Array): HopKeys {
  const [fwd, bwd] = kdf2(ck, EMPTY);
  return { fwd, bwd };
}

/** Client side of one hop's handshake: message 1 now, keys once message 2 arrives. */
export class HandshakeInitiator {
  readonly message1: Uint8Array;
  private readonly e: PrivateKey;
  private h: Uint8Array;
  private ck: Uint8Array;

  constructor(hopStatic: PublicKey, depth: number, ephemeral: PrivateKey = generatePrivateKey()) {
    this.e = ephemeral;
    let { h, ck } = initialState(hopStatic);
    const ePub = publicKeyFromPrivate(this.e);
    h = mixHash(h, ePub);
    const es = x25519(this.e, hopStatic);
    if (!es) throw new RangeError('hop static key is a low-order point');
    const [ck1, k] = kdf2(ck, es);
    const { c, h: h1 } = encryptAndHash(k, h, Uint8Array.of(depth));
    this.h = h1;
    this.ck = ck1;
    this.message1 = new Uint8Array(HANDSHAKE1_LEN);
    this.message1.set(ePub, 0);
    this.message1.set(c, KEY_LEN);
  }

  /** Keys on success; null if message 2 is malformed or not from the hop's key holder. */
  finish(message2: Uint8Array): HopKeys | null {
    if (message2.length < HANDSHAKE2_LEN) return null;
    const re = message2.subarray(0, KEY_LEN);
    let h = mixHash(this.h, re);
    const ee = x25519(this.e, re);
    this.e.fill(0);
    if (!ee) return null;
    const [ck, k] = kdf2(this.ck, ee);
    const r = decryptAndHash(k, h, message2.subarray(KEY_LEN, HANDSHAKE2_LEN));
    if (!r) return null;
    h = r.h;
    return split(ck);
  }
}

/** Hop side: consumes message 1, returns message 2, the keys and the depth it was told. */
export function respondHandshake(
  staticPriv: PrivateKey,
  staticPub: PublicKey,
  message1: Uint8Array,
): { message2: Uint8Array; keys: HopKeys; depth: number } | null {
  if (message1.length < HANDSHAKE1_LEN) return null;
  let { h, ck } = initialState(staticPub);
  const ie = message1.subarray(0, KEY_LEN);
  h = mixHash(h, ie);
  const es = x25519(staticPriv, ie);
  if (!es) return null;
  const [ck1, k1] = kdf2(ck, es);
  const r1 = decryptAndHash(k1, h, message1.subarray(KEY_LEN, HANDSHAKE1_LEN));
  if (!r1) return null;
  h = r1.h;
  const depth = r1.p[0];
  const e = generatePrivateKey();
  const ePub = publicKeyFromPrivate(e);
  h = mixHash(h, ePub);
  const ee = x25519(e, ie);
  e.fill(0);
  if (!ee) return null;
  const [ck2, k2] = kdf2(ck1, ee);
  const { c } = encryptAndHash(k2, h, EMPTY);
  const message2 = new Uint8Array(HANDSHAKE2_LEN);
  message2.set(ePub, 0);
  message2.set(c, KEY_LEN);
  return { message2, keys: split(ck2), depth };
}

export type OpenResult = 'ok' | 'bad-tag' | 'replay';

/**
 * One side's record state for one hop: seals with the send key and a counter, opens
 * with the receive key and a replay window. Client: send = fwd, receive = bwd; hop:
 * the reverse.
 */
export class HopCipher {
  private sendCtr = 0n;
  private readonly replay = new ReplayFilter();
  private readonly nonce = new Uint8Array(12);

  constructor(
    private readonly sendKey: Uint8Array,
    private readonly recvKey: Uint8Array,
  ) {}

  static forClient(k: HopKeys): HopCipher {
    return new HopCipher(k.fwd, k.bwd);
  }

  static forHop(k: HopKeys): HopCipher {
    return new HopCipher(k.bwd, k.fwd);
  }

  /** region.length === plaintext.length + LAYER_OVERHEAD; writes the whole region. */
  seal(region: Uint8Array, plaintext: Uint8Array): void {
    const ctr = this.sendCtr++;
    new DataView(region.buffer, region.byteOffset, 8).setBigUint64(0, ctr, true);
    writeNonce(this.nonce, ctr);
    chachaSeal(region.subarray(8), this.sendKey, this.nonce, plaintext);
  }

  /** Authenticates, then checks the counter; plaintext is written to `out` (region - overhead). */
  open(out: Uint8Array, region: Uint8Array): OpenResult {
    if (region.length < LAYER_OVERHEAD || out.length !== region.length - LAYER_OVERHEAD) return 'bad-tag';
    const ctr = new DataView(region.buffer, region.byteOffset, 8).getBigUint64(0, true);
    writeNonce(this.nonce, ctr);
    if (!chachaOpen(out, this.recvKey, this.nonce, region.subarray(8))) return 'bad-tag';
    return this.replay.validate(ctr, COUNTER_LIMIT) ? 'ok' : 'replay';
  }

  /** Keys are wiped when the circuit goes away. */
  wipe(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}
