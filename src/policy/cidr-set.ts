import { formatPrefix, type Prefix } from '../wireguard/allowedips.js';

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

function aggregateFamily(prefixes: Prefix[], family: 4 | 6): string[] {
  const width = family === 4 ? 32 : 128;
  const len = width / 8;
  const ranges = prefixes
    .filter((p) => p.family === family)
    .map((p) => {
      const start = toBig(p.bytes);
      return [start, start + (1n << BigInt(width - p.bits)) - 1n] as [bigint, bigint];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else merged.push([r[0], r[1]]);
  }
  const out: string[] = [];
  for (const [lo, hi] of merged) {
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
