// TAI64N timestamps for the initiation (WP §5.4.2; wireguard-go tai64n.go). The
// responder only accepts strictly increasing timestamps, which stops replay of an
// old initiation. The low 24 bits of the nanoseconds are cleared ("whitening") so the
// timestamp does not leak the sender's precise clock (~16.8 ms granularity).
export const TAI64N_LEN = 12;
const TAI64_BASE = (1n << 62n) + 10n;
const WHITENER_MASK = 0xffffff;

export function tai64n(wallMs: number): Uint8Array {
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.min(999_999_999, Math.floor((wallMs - secs * 1000) * 1e6));
  const out = new Uint8Array(TAI64N_LEN);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, TAI64_BASE + BigInt(secs), false);
  dv.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0, false);
  return out;
}

/** True when `a` is strictly newer than `b` (big-endian byte order is time order). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_LEN; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
