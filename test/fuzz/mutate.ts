// Byte-level mutations for the coverage-guided fuzzer (the usual libFuzzer/AFL set:
// bit flips, random and "interesting" bytes and integers, inserts, deletes, copies and
// splices with another corpus input), from a seeded generator so a run can be replayed.

export const MAX_INPUT = 4096;

/** xorshift32: small, seedable, good enough to pick mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
const INTERESTING_32 = [0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

type Mutator = (m: Uint8Array, rng: Rng, other: Uint8Array) => Uint8Array;

const mutators: Mutator[] = [
  (m, rng) => {
    if (m.length) m[rng.below(m.length)] ^= 1 << rng.below(8);
    return m;
  },
  (m, rng) => {
    if (m.length) m[rng.below(m.length)] = rng.below(256);
    return m;
  },
  (m, rng) => {
    if (m.length) m[rng.below(m.length)] = INTERESTING_8[rng.below(INTERESTING_8.length)];
    return m;
  },
  (m, rng) => {
    if (m.length < 4) return m;
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
    view.setUint32(rng.below(m.length - 3), INTERESTING_32[rng.below(INTERESTING_32.length)], rng.below(2) === 0);
    return m;
  },
  (m, rng) => {
    if (m.length < 2) return m;
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const at = rng.below(m.length - 1);
    view.setUint16(at, (view.getUint16(at) + rng.below(33) - 16) & 0xffff);
    return m;
  },
  (m, rng) => {
    const at = rng.below(m.length + 1);
    const add = Uint8Array.from({ length: 1 + rng.below(16) }, () => rng.below(256));
    return concat(m.subarray(0, at), add, m.subarray(at));
  },
  (m, rng) => {
    if (!m.length) return m;
    const at = rng.below(m.length);
    return concat(m.subarray(0, at), m.subarray(at + 1 + rng.below(Math.min(16, m.length - at))));
  },
  (m, rng) => {
    if (!m.length) return m;
    const from = rng.below(m.length);
    const len = 1 + rng.below(Math.min(32, m.length - from));
    const at = rng.below(m.length + 1);
    return concat(m.subarray(0, at), m.slice(from, from + len), m.subarray(at));
  },
  (m, rng) => m.subarray(0, rng.below(m.length + 1)),
  (m, rng, other) => {
    const cut = rng.below(m.length + 1);
    return concat(m.subarray(0, cut), other.subarray(rng.below(other.length + 1)));
  },
  (m, rng, other) => {
    if (!m.length || !other.length) return m;
    const from = rng.below(other.length);
    const len = 1 + rng.below(Math.min(32, other.length - from));
    const at = rng.below(m.length);
    m.set(other.subarray(from, from + Math.min(len, m.length - at)), at);
    return m;
  },
];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One to four stacked mutations of a copy of `input`; never longer than MAX_INPUT. */
export function mutate(input: Uint8Array, other: Uint8Array, rng: Rng): Uint8Array {
  let m: Uint8Array = input.slice();
  for (let i = 1 + rng.below(4); i > 0; i--) m = mutators[rng.below(mutators.length)](m, rng, other);
  return m.length > MAX_INPUT ? m.subarray(0, MAX_INPUT) : m;
}
