import ipaddr from 'ipaddr.js';

// Name and reverse-name helpers shared by the resolver and its tests.

/** Lower case, no trailing dot. */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Canonical address text (RFC 5952 for IPv6), or null. */
export function canonicalIp(ip: string): string | null {
  try {
    const a = ipaddr.parse(ip);
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? null : a.toString();
  } catch {
    return null;
  }
}

/** The address a PTR name stands for (`4.3.2.1.in-addr.arpa`, 32 nibbles `.ip6.arpa`), or null. */
export function reverseNameToIp(name: string): string | null {
  const n = canonicalName(name);
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return null;
    const hex = nibbles.reverse().join('');
    return canonicalIp(hex.match(/.{4}/g)!.join(':'));
  }
  return null;
}

/** The PTR name of an address. */
export function ipToReverseName(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${a.toByteArray().reverse().join('.')}.in-addr.arpa`;
  return `${a
    .toByteArray()
    .flatMap((b) => [b >> 4, b & 15])
    .reverse()
    .map((x) => x.toString(16))
    .join('.')}.ip6.arpa`;
}

export function inCidrs(ip: string, cidrs: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>): boolean {
  const a = ipaddr.parse(ip);
  return cidrs.some((c) => c[0].kind() === a.kind() && a.match(c));
}
