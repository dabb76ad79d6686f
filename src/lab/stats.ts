// Statistics shared by the benchmarks (bench/common.ts re-exports) and the lab agents.

/** The q-quantile (nearest rank) of `xs`; NaN when empty. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  if (!xs.length) return NaN;
  const s = Array.from(xs).sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}
