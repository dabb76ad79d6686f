import ipaddr from 'ipaddr.js';
import { WeftError } from '../errors.js';

// Cryptokey routing table (WireGuard paper §2): longest-prefix match from an inner IP
// address to the peer allowed to use it. One binary trie per family; a node at depth d
// stands for the d-bit prefix spelled by the path to it. Lookups walk at most 32/128
// nodes and allocate nothing, so they are safe on the per-packet path.

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

class TrieNode<T> {
  zero: TrieNode<T> | null = null;
  one: TrieNode<T> | null = null;
  owner: T | undefined = undefined;
  owned = false; // separate from owner so that T may include undefined-like values
}

// Bit i (0 = most significant) of the address stored at buf[off..].
const bitAt = (buf: Uint8Array, off: number, i: number): number => (buf[off + (i >> 3)] >> (7 - (i & 7))) & 1;

export class AllowedIPs<T> {
  private readonly root4 = new TrieNode<T>();
  private readonly root6 = new TrieNode<T>();
  // Per owner, its prefixes keyed by canonical text; Map order gives stable listing.
  private readonly byValue = new Map<T, Map<string, Prefix>>();
  // One-entry caches of the last IPv4 lookups per direction (a flow's packets come in
  // runs); cleared by every insert/remove. -1 = empty.
  private cacheSrc4 = -1;
  private cacheSrcVal: T | undefined = undefined;
  private cacheDst4 = -1;
  private cacheDstVal: T | undefined = undefined;

  private invalidate(): void {
    this.cacheSrc4 = this.cacheDst4 = -1;
    this.cacheSrcVal = this.cacheDstVal = undefined;
  }

  /** Gives the prefix to `value`, taking it from any previous owner. */
  insert(p: Prefix, value: T): void {
    const prefix = normalize(p);
    this.invalidate();
    let node = this.rootFor(prefix.family);
    for (let i = 0; i < prefix.bits; i++) {
      if (bitAt(prefix.bytes, 0, i) === 0) node = node.zero ??= new TrieNode<T>();
      else node = node.one ??= new TrieNode<T>();
    }
    const key = formatPrefix(prefix);
    if (node.owned && node.owner !== value) this.byValue.get(node.owner as T)?.delete(key);
    node.owner = value;
    node.owned = true;
    let mine = this.byValue.get(value);
    if (!mine) this.byValue.set(value, (mine = new Map()));
    if (!mine.has(key)) mine.set(key, prefix);
  }

  /** Removes the prefix only if `value` owns it; returns whether it did. */
  remove(p: Prefix, value: T): boolean {
    const prefix = normalize(p);
    this.invalidate();
    const path: TrieNode<T>[] = [];
    let node: TrieNode<T> | null = this.rootFor(prefix.family);
    for (let i = 0; i < prefix.bits && node; i++) {
      path.push(node);
      node = bitAt(prefix.bytes, 0, i) === 0 ? node.zero : node.one;
    }
    if (!node || !node.owned || node.owner !== value) return false;
    node.owned = false;
    node.owner = undefined;
    // Prune now-empty nodes bottom-up so removed routes do not leak memory.
    for (let i = path.length - 1; i >= 0 && !node.owned && !node.zero && !node.one; i--) {
      const parent: TrieNode<T> = path[i];
      if (bitAt(prefix.bytes, 0, i) === 0) parent.zero = null;
      else parent.one = null;
      node = parent;
    }
    const mine = this.byValue.get(value);
    mine?.delete(formatPrefix(prefix));
    if (mine?.size === 0) this.byValue.delete(value);
    return true;
  }

  removeByValue(value: T): void {
    for (const p of this.entriesFor(value)) this.remove(p, value);
  }

  entriesFor(value: T): Prefix[] {
    return [...(this.byValue.get(value)?.values() ?? [])];
  }

  lookup(ip: Uint8Array, family: 4 | 6): T | undefined {
    if (ip.length !== (family === 4 ? 4 : 16)) return undefined;
    return this.walk(this.rootFor(family), ip, 0, family === 4 ? 32 : 128);
  }

  /** Looks up the source or destination address of the IP packet at packet[off..off+len). */
  lookupPacket(packet: Uint8Array, off: number, len: number, which: 'src' | 'dst'): T | undefined {
    if (len < 1 || off < 0 || off + len > packet.length) return undefined;
    const version = packet[off] >> 4;
    if (version === 4 && len >= 20) {
      const a = off + (which === 'src' ? 12 : 16);
      const key = ((packet[a] << 24) | (packet[a + 1] << 16) | (packet[a + 2] << 8) | packet[a + 3]) >>> 0;
      if (which === 'src') {
        if (key === this.cacheSrc4) return this.cacheSrcVal;
        const v = this.walk(this.root4, packet, a, 32);
        this.cacheSrc4 = key;
        this.cacheSrcVal = v;
        return v;
      }
      if (key === this.cacheDst4) return this.cacheDstVal;
      const v = this.walk(this.root4, packet, a, 32);
      this.cacheDst4 = key;
      this.cacheDstVal = v;
      return v;
    }
    if (version === 6 && len >= 40) return this.walk(this.root6, packet, off + (which === 'src' ? 8 : 24), 128);
    return undefined;
  }

  private walk(root: TrieNode<T>, buf: Uint8Array, off: number, maxBits: number): T | undefined {
    let best: T | undefined = root.owned ? root.owner : undefined;
    let node: TrieNode<T> | null = root;
    for (let i = 0; i < maxBits; i++) {
      node = bitAt(buf, off, i) === 0 ? node.zero : node.one;
      if (node === null) break;
      if (node.owned) best = node.owner;
    }
    return best;
  }

  private rootFor(family: 4 | 6): TrieNode<T> {
    return family === 4 ? this.root4 : this.root6;
  }
}

// Accepts Prefix objects not made by parsePrefix: checks shape and clears host bits.
function normalize(p: Prefix): Prefix {
  const len = p.family === 4 ? 4 : p.family === 6 ? 16 : -1;
  if (p.bytes?.length !== len || !Number.isInteger(p.bits) || p.bits < 0 || p.bits > len * 8) {
    throw new WeftError('ERR_INVALID_PREFIX', 'invalid IP prefix');
  }
  const bytes = Uint8Array.from(p.bytes);
  maskInPlace(bytes, p.bits);
  return { bytes, bits: p.bits, family: p.family };
}
