import ipaddr from 'ipaddr.js';
import { WeftError } from '../errors.js';

// IP prefixes (CIDRs) as bytes: parsing and canonical text, shared by the engine's
// allowed IPs, the policy compiler, the agent's routes and the coordinator.

export interface Prefix {
  readonly bytes: Uint8Array; // 4 or 16 bytes, host bits zero
  readonly bits: number;
  readonly family: 4 | 6;
}

const invalid = (s: string): WeftError => new WeftError('ERR_INVALID_PREFIX', `invalid IP prefix ${JSON.stringify(s)}`);

/** Parses `addr/bits` or a bare address (a host route). Host bits are cleared, as wg does. */
export function parsePrefix(s: string): Prefix {
  if (typeof s !== 'string') throw invalid(String(s));
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  let bytes: Uint8Array;
  let family: 4 | 6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addr)) {
    bytes = Uint8Array.from(ipaddr.IPv4.parse(addr).toByteArray());
    family = 4;
  } else if (!addr.includes('%') && ipaddr.IPv6.isValid(addr)) {
    bytes = parseIPv6(addr);
    family = 6;
  } else {
    throw invalid(s);
  }
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) throw invalid(s);
    bits = Number(b);
  }
  maskInPlace(bytes, bits);
  return { bytes, bits, family };
}

export function formatPrefix(p: Prefix): string {
  const b = p.bytes;
  let ip: string;
  if (p.family === 4) ip = Array.from(b).join('.');
  // IPv4-mapped addresses print with a dotted tail, as inet_ntop and Go's netip do.
  else if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) ip = `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  else ip = ipaddr.fromByteArray(Array.from(b)).toString();
  return `${ip}/${p.bits}`;
}

// ipaddr.js reads any `::a.b.c.d` as IPv4-mapped (::ffff:a.b.c.d); convert a dotted
// tail to two hex groups first so ::1.2.3.4 keeps its real bytes.
function parseIPv6(addr: string): Uint8Array {
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (m) {
    const v4 = ipaddr.IPv4.parse(m[2]).toByteArray();
    addr = `${m[1]}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  return Uint8Array.from(ipaddr.IPv6.parse(addr).toByteArray());
}

function maskInPlace(bytes: Uint8Array, bits: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, bits - i * 8));
    bytes[i] &= (0xff00 >> keep) & 0xff;
  }
}

// Accepts Prefix objects not made by parsePrefix: checks shape and clears host bits.
export function normalizePrefix(p: Prefix): Prefix {
  const len = p.family === 4 ? 4 : p.family === 6 ? 16 : -1;
  if (p.bytes?.length !== len || !Number.isInteger(p.bits) || p.bits < 0 || p.bits > len * 8) {
    throw new WeftError('ERR_INVALID_PREFIX', 'invalid IP prefix');
  }
  const bytes = Uint8Array.from(p.bytes);
  maskInPlace(bytes, p.bits);
  return { bytes, bits: p.bits, family: p.family };
}
