import { timingSafeEqual } from 'node:crypto';

// Byte comparison whose running time depends only on the length, so MACs, tags and
// keys can be compared without leaking how many leading bytes matched.
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
