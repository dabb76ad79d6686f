// Shared test utilities (not a test file itself).
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import type { NodeView } from '../../src/wire/control.js';

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const seq = (start: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

// Points of small order on Curve25519 (and non-canonical encodings of them); the DH
// result with any of them is zero, which WireGuard must reject.
export const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(hex);

/** A valid NodeView for node `i` (1..254) with a fresh key; `over` replaces fields. */
export function nodeView(i: number, over: Partial<NodeView> = {}): NodeView {
  return {
    id: i, name: `n${i}`, fqdn: `n${i}.mesh.test`, ipv4: `100.64.0.${i}`, ipv6: `fd7a:115c:a1e0::${i}`,
    publicKey: keyToBase64(publicKeyFromPrivate(generatePrivateKey())), endpoints: [`192.0.2.${i}:41641`],
    online: true, lastSeen: null, createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, ephemeral: false, tags: [], user: null, ...over,
  };
}
