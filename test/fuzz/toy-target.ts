// A planted bug behind six nested one-in-sixteen checks: plain mutation needs ~16^6
// tries to reach it, coverage guidance a few thousand (each level is a new block).
// Used by test/unit/fuzz-guidance.test.ts to show the feedback works.
export function toyParser(b: Uint8Array): void {
  if (b.length < 6) return;
  if ((b[0] & 0x0f) !== 0x3) return;
  if ((b[1] & 0x0f) !== 0x7) return;
  if ((b[2] & 0x0f) !== 0xa) return;
  if ((b[3] & 0x0f) !== 0x1) return;
  if ((b[4] & 0x0f) !== 0xe) return;
  if ((b[5] & 0x0f) !== 0x5) return;
  throw new Error('planted bug reached');
}
