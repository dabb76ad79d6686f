import { createHash } from 'node:crypto';

// Node ids and the XOR metric. An id is SHA-256("weft-dht-id-v1" ‖ node public key):
// bound to the key, so nobody picks where in the id space they land short of grinding
// keys, and in serverless mode only trust-set keys are ever let in. A member's peer
// record is stored under its own node id, so "find member X" is "find value id(X)".

export const ID_LEN = 32;
export const ID_BITS = ID_LEN * 8;
const LABEL = Buffer.from('weft-dht-id-v1');

export type NodeId = Uint8Array;

export function nodeIdOf(publicKey: Uint8Array): NodeId {
  return new Uint8Array(createHash('sha256').update(LABEL).update(publicKey).digest());
}

/** a XOR b. */
export function distance(a: NodeId, b: NodeId): Uint8Array {
  const out = new Uint8Array(ID_LEN);
  for (let i = 0; i < ID_LEN; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** Compares the XOR distances of `a` and `b` to `target` (negative: `a` is closer). */
export function compareDistance(target: NodeId, a: NodeId, b: NodeId): number {
  for (let i = 0; i < ID_LEN; i++) {
    const d = (a[i] ^ target[i]) - (b[i] ^ target[i]);
    if (d !== 0) return d;
  }
  return 0;
}

/** Leading bits `a` and `b` share, 0…256 (256: the same id). */
export function commonPrefixLength(a: NodeId, b: NodeId): number {
  for (let i = 0; i < ID_LEN; i++) {
    const x = a[i] ^ b[i];
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

export function idEquals(a: NodeId, b: NodeId): boolean {
  return commonPrefixLength(a, b) === ID_BITS;
}

export function idHex(id: NodeId): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/** A random id whose first `cpl` bits equal `self`'s and bit `cpl` differs: a target inside bucket `cpl`, for refreshes. */
export function randomIdInBucket(self: NodeId, cpl: number, random: () => number = Math.random): NodeId {
  const out = new Uint8Array(ID_LEN);
  for (let i = 0; i < ID_LEN; i++) out[i] = Math.floor(random() * 256);
  for (let bit = 0; bit <= cpl && bit < ID_BITS; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    const want = bit === cpl ? ~self[byte] & mask : self[byte] & mask;
    out[byte] = (out[byte] & ~mask) | want;
  }
  return out;
}
