import { formatPrefix, normalizePrefix, type Prefix } from './prefix.js';

// Longest-prefix match from an IP address to a value: one binary trie per family; a node
// at depth d stands for the d-bit prefix spelled by the path to it. Lookups walk at most
// 32/128 nodes and allocate nothing, so they are safe on the per-packet path (the
// engine's cryptokey routing table, the policy filter and the agent's routes use it).

class TrieNode<T> {
  zero: TrieNode<T> | null = null;
  one: TrieNode<T> | null = null;
  owner: T | undefined = undefined;
  owned = false; // separate from owner so that T may include undefined-like values
}

// Bit i (0 = most significant) of the address stored at buf[off..].
const bitAt = (buf: Uint8Array, off: number, i: number): number => (buf[off + (i >> 3)] >> (7 - (i & 7))) & 1;

export class PrefixTrie<T> {
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
    const prefix = normalizePrefix(p);
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
    const prefix = normalizePrefix(p);
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
