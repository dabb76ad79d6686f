import ipaddr from 'ipaddr.js';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { ControlError } from './errors.js';

export const DEFAULT_IPV4_RANGE = '100.64.0.0/10';

export interface Ipv4Range {
  base: number;
  prefix: number;
  size: number;
  text: string;
}

export function parseIpv4Range(cidr: string): Ipv4Range {
  let addr: ipaddr.IPv4, prefix: number;
  try {
    const parsed = ipaddr.IPv4.parseCIDR(cidr);
    [addr, prefix] = parsed;
  } catch {
    throw new InvalidArgumentError(`invalid IPv4 range ${JSON.stringify(cidr)}`);
  }
  if (prefix < 8 || prefix > 30) throw new InvalidArgumentError('IPv4 range must be between /8 and /30');
  const size = 2 ** (32 - prefix);
  const base = Math.floor(toInt(addr) / size) * size;
  return { base, prefix, size, text: `${fromInt(base)}/${prefix}` };
}

const toInt = (a: ipaddr.IPv4): number => a.octets.reduce((acc, o) => acc * 256 + o, 0);
const fromInt = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** A random RFC 4193 ULA /48: `fd` + a 40-bit global ID, made once per network. */
export function generateUla48(): string {
  const b = randomBytes(5);
  const hex = (i: number): string => b.readUInt16BE(i).toString(16);
  return `fd${b[0].toString(16).padStart(2, '0')}:${hex(1)}:${hex(3)}::/48`;
}

export function parseUla48(cidr: string): ipaddr.IPv6 {
  const [addr, prefix] = ipaddr.IPv6.parseCIDR(cidr);
  if (prefix !== 48 || addr.parts[0] >> 8 !== 0xfd) throw new InvalidArgumentError(`not a ULA /48: ${cidr}`);
  return addr;
}

/** Min-heap of numbers: freed offsets are reused lowest first. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

export interface Addresses {
  ipv4: string;
  ipv6: string;
}

/**
 * Hands out addresses as offsets into the IPv4 range; the IPv6 host part is the same
 * offset, so the pair is unique together. A cursor that only moves forward plus a heap
 * of released offsets makes allocation amortised O(log n) with no scan of the nodes.
 * Reservations are in memory only: the store's unique constraints are the authority
 * (another coordinator may have taken an address), and a conflict is marked and retried.
 */
export class Ipam {
  readonly v4: Ipv4Range;
  readonly v6Prefix: ipaddr.IPv6;
  readonly v6Text: string;
  private readonly used = new Set<number>();
  private readonly freed = new MinHeap();
  private cursor = 1;
  /** Offsets allocate() has examined, ever: amortised O(1) per allocation, never a scan of the nodes. */
  probes = 0;

  constructor(ipv4Range: string, ula48: string) {
    this.v4 = parseIpv4Range(ipv4Range);
    this.v6Prefix = parseUla48(ula48);
    this.v6Text = ula48;
  }

  /** Offsets that look like network or broadcast addresses are never handed out. */
  private usable(offset: number): boolean {
    const last = (this.v4.base + offset) % 256;
    return offset > 0 && offset < this.v4.size - 1 && last !== 0 && last !== 255;
  }

  addresses(offset: number): Addresses {
    const p = this.v6Prefix.parts;
    const v6 = new ipaddr.IPv6([p[0], p[1], p[2], 0, 0, 0, Math.floor(offset / 65536), offset % 65536]);
    return { ipv4: fromInt(this.v4.base + offset), ipv6: v6.toString() };
  }

  /** The offset of an IPv4 address in the range, or null when it is outside. */
  offsetOf(ipv4: string): number | null {
    if (!ipaddr.IPv4.isValid(ipv4)) return null;
    const off = toInt(ipaddr.IPv4.parse(ipv4)) - this.v4.base;
    return off >= 0 && off < this.v4.size ? off : null;
  }

  markUsed(ipv4: string): void {
    const off = this.offsetOf(ipv4);
    if (off !== null) this.used.add(off);
  }

  release(ipv4: string): void {
    const off = this.offsetOf(ipv4);
    if (off !== null && this.used.delete(off)) this.freed.push(off);
  }

  allocate(): Addresses {
    for (let off = this.freed.pop(); off !== undefined; off = this.freed.pop()) {
      this.probes++;
      if (!this.used.has(off)) return this.take(off);
    }
    while (this.cursor < this.v4.size) {
      const off = this.cursor++;
      this.probes++;
      if (this.usable(off) && !this.used.has(off)) return this.take(off);
    }
    throw new ControlError(503, 'ERR_ADDRESSES_EXHAUSTED', `no free address left in ${this.v4.text}`);
  }

  private take(off: number): Addresses {
    this.used.add(off);
    return this.addresses(off);
  }
}
