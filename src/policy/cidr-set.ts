import { formatPrefix, type Prefix } from '../net/prefix.js';

// Aggregates prefixes into the fewest CIDRs covering exactly their union. The
// coordinator hands out addresses sequentially, so a group's members usually collapse
// into a handful of CIDRs: this is what keeps filters small at 10,000 nodes.

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

// Node addresses recur in every rule that names the node: their numeric form and text
// are computed once per Prefix object.
const memo = new WeakMap<Prefix, { start: bigint; end: bigint; text: string }>();

function info(p: Prefix): { start: bigint; end: bigint; text: string } {
  let m = memo.get(p);
  if (!m) {
    const start = toBig(p.bytes);
    m = { start, end: start + (1n << BigInt(p.bytes.length * 8 - p.bits)) - 1n, text: formatPrefix(p) };
    memo.set(p, m);
  }
  return m;
}

function aggregateFamily(prefixes: Prefix[], family: 4 | 6): string[] {
  const ranges = prefixes
    .filter((p) => p.family === family)
    .map(info)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  // `only` keeps the text of a range that is still exactly one input prefix.
  const merged: Array<{ lo: bigint; hi: bigint; only: string | null }> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.hi + 1n) {
      if (r.end > last.hi) last.hi = r.end;
      if (last.only !== r.text) last.only = null;
    } else merged.push({ lo: r.start, hi: r.end, only: r.text });
  }
  return rangesToCidrs(merged, family);
}

/** The fewest CIDRs covering each [lo, hi] (ascending, disjoint); `only` is used as is. */
function rangesToCidrs(ranges: Array<{ lo: bigint; hi: bigint; only?: string | null }>, family: 4 | 6): string[] {
  const width = family === 4 ? 32 : 128;
  const len = width / 8;
  const out: string[] = [];
  for (const { lo, hi, only } of ranges) {
    if (only) {
      out.push(only);
      continue;
    }
    let start = lo;
    // Each step emits the largest aligned block starting at `start` that fits.
    while (start <= hi) {
      let size = width;
      while (size > 0) {
        const block = 1n << BigInt(width - size + 1);
        if (start % block !== 0n || start + block - 1n > hi) break;
        size--;
      }
      out.push(formatPrefix({ bytes: fromBig(start, len), bits: size, family }));
      start += 1n << BigInt(width - size);
    }
  }
  return out;
}

/** Minimal CIDR list (IPv4 first, each family ascending) covering exactly the union. */
export function aggregate(prefixes: Prefix[]): string[] {
  return [...aggregateFamily(prefixes, 4), ...aggregateFamily(prefixes, 6)];
}

/**
 * The whole address space of `family` minus `holes`, as the fewest CIDRs: what an exit
 * node forwards for `autogroup:internet` when it also routes subnets of its own (those
 * are governed by the rules naming them).
 */
export function complement(holes: readonly Prefix[], family: 4 | 6): string[] {
  const max = (1n << BigInt(family === 4 ? 32 : 128)) - 1n;
  const sorted = holes.filter((p) => p.family === family).map(info).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const gaps: Array<{ lo: bigint; hi: bigint }> = [];
  let next = 0n;
  for (const h of sorted) {
    if (h.start > next) gaps.push({ lo: next, hi: h.start - 1n });
    if (h.end + 1n > next) next = h.end + 1n;
  }
  if (next <= max) gaps.push({ lo: next, hi: max });
  return rangesToCidrs(gaps, family);
}
