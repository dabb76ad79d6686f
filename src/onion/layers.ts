import { BODY_LEN } from './cells.js';
import { LAYER_OVERHEAD, type HopCipher } from './hop-crypto.js';

// Onion layering of RELAY cell bodies with per-hop state (one HopCipher per hop and
// direction), keeping every cell BODY_LEN bytes at every hop.
//
// Scheme (length-preserving at the cell level, chosen over Sphinx-style fillers because
// the reverse direction then needs no reconstruction): the hop at depth d owns the first
// region(d) = BODY_LEN - (d-1)·HOP_SHRINK bytes of the body. Its layer is
//   ctr | AEAD( flag u8 | inner ) | tag          (HOP_SHRINK = 25 bytes of overhead)
// where inner is the next hop's region (flag = FORWARD) or the relay message padded to
// that size (flag = MINE). Forward, the hop opens its region and sends inner followed by
// zero bytes up to BODY_LEN; backward, it seals the first region(d+1) bytes it received
// from upstream with flag FORWARD (the origin uses MINE) and pads the same way. The
// trailing zeros are outside every layer: the next hop drops them unread, so they carry
// nothing from one hop to another non-adjacent one.
//
// Every byte a hop forwards is covered by its own AEAD, so a change anywhere fails at the
// next honest hop (forward) or at the client (backward) and the circuit dies. The cost:
// each hop learns its depth (it is in the handshake) — see docs/CIRCUITS.md.

export const HOP_SHRINK = LAYER_OVERHEAD + 1;
/** Depths 1..MAX_HOPS; the depth byte in the handshake is checked against it. */
export const MAX_HOPS = 8;

const FLAG_FORWARD = 0;
const FLAG_MINE = 1;

/** Bytes of the body the hop at `depth` (1-based) encrypts or decrypts. */
export const regionLen = (depth: number): number => BODY_LEN - (depth - 1) * HOP_SHRINK;
/** Relay-message bytes a cell to or from the hop at `depth` carries. */
export const capacityAt = (depth: number): number => regionLen(depth + 1);

// Scratch buffers: layering runs synchronously, so two module-level buffers serve as
// the plaintext of the layer being processed and the one before it (no per-cell garbage).
const scratchA = new Uint8Array(BODY_LEN);
const scratchB = new Uint8Array(BODY_LEN);

/**
 * Client: writes into `out` (BODY_LEN bytes) the body of a RELAY cell for the hop at
 * index `target` (0-based) of `hops`. `msg` is at most capacityAt(target + 1) bytes.
 */
export function wrapForward(hops: readonly HopCipher[], target: number, msg: Uint8Array, out: Uint8Array = new Uint8Array(BODY_LEN)): Uint8Array {
  const depth = target + 1;
  if (msg.length > capacityAt(depth)) throw new RangeError(`relay message of ${msg.length} bytes exceeds ${capacityAt(depth)}`);
  // inner of layer i lives at offset 1 of its plaintext; layers alternate between scratches.
  let plain = scratchA.subarray(0, capacityAt(depth) + 1);
  plain.fill(0);
  plain[0] = FLAG_MINE;
  plain.set(msg, 1);
  for (let i = target; i >= 0; i--) {
    const region = i === 0 ? out.subarray(0, regionLen(1)) : (plain.buffer === scratchA.buffer ? scratchB : scratchA).subarray(1, 1 + regionLen(i + 1));
    hops[i].seal(region, plain);
    if (i === 0) break;
    plain = (region.buffer === scratchA.buffer ? scratchA : scratchB).subarray(0, region.length + 1);
    plain[0] = FLAG_FORWARD;
  }
  return out;
}

export type UnwrapResult =
  | { kind: 'mine'; msg: Uint8Array }
  | { kind: 'forward' }
  | { kind: 'fail'; reason: 'bad-tag' | 'replay' };

/**
 * Hop at `depth`: removes exactly its layer from a forward body. 'forward': the next
 * hop's body is in `out` (BODY_LEN, zero filled by the caller). 'mine': `msg` is a view
 * valid until the next layering call (callers consume it synchronously).
 */
export function unwrapForward(hop: HopCipher, depth: number, body: Uint8Array, out: Uint8Array): UnwrapResult {
  const region = body.subarray(0, regionLen(depth));
  const plain = scratchA.subarray(0, region.length - LAYER_OVERHEAD);
  const r = hop.open(plain, region);
  if (r !== 'ok') return { kind: 'fail', reason: r };
  const inner = plain.subarray(1);
  if (plain[0] === FLAG_MINE) return { kind: 'mine', msg: inner };
  out.set(inner);
  return { kind: 'forward' };
}

/** Hop at `depth`: adds its layer to a body coming back from upstream, into `out`. */
export function wrapBackward(hop: HopCipher, depth: number, upstreamBody: Uint8Array, out: Uint8Array): void {
  sealBackward(hop, depth, FLAG_FORWARD, upstreamBody.subarray(0, capacityAt(depth)), out);
}

/** Hop at `depth`: a relay message of its own toward the client, into `out`. */
export function originateBackward(hop: HopCipher, depth: number, msg: Uint8Array, out: Uint8Array): void {
  if (msg.length > capacityAt(depth)) throw new RangeError(`relay message of ${msg.length} bytes exceeds ${capacityAt(depth)}`);
  sealBackward(hop, depth, FLAG_MINE, msg, out);
}

function sealBackward(hop: HopCipher, depth: number, flag: number, inner: Uint8Array, out: Uint8Array): void {
  const plain = scratchA.subarray(0, capacityAt(depth) + 1);
  plain.fill(0);
  plain[0] = flag;
  plain.set(inner, 1);
  hop.seal(out.subarray(0, regionLen(depth)), plain);
}

export type BackwardResult =
  | { kind: 'mine'; from: number; msg: Uint8Array }
  | { kind: 'fail'; at: number; reason: 'bad-tag' | 'replay' | 'unrecognized' };

/** Client: peels layers from hop 0 outward until the hop that originated the message (msg: a view, as above). */
export function unwrapBackward(hops: readonly HopCipher[], body: Uint8Array): BackwardResult {
  let cur = body;
  for (let i = 0; i < hops.length; i++) {
    const region = cur.subarray(0, regionLen(i + 1));
    const plain = (i % 2 === 0 ? scratchA : scratchB).subarray(0, region.length - LAYER_OVERHEAD);
    const r = hops[i].open(plain, region);
    if (r !== 'ok') return { kind: 'fail', at: i, reason: r };
    if (plain[0] === FLAG_MINE) return { kind: 'mine', from: i, msg: plain.subarray(1) };
    cur = plain.subarray(1);
  }
  return { kind: 'fail', at: hops.length - 1, reason: 'unrecognized' };
}
