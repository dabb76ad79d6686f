import ipaddr from 'ipaddr.js';
import { parseIpv4Range, parseUla48, type Ipv4Range } from '../control/ipam.js';
import { hash } from '../wireguard/noise-helpers.js';
import { keyId } from './trust.js';

// Addresses without a coordinator: each member's IPv4 (in a configurable range) and IPv6
// (in a ULA /48) come from BLAKE2s("weft-addr-v1" ‖ public key ‖ counter u32). The plan is
// computed over the whole trust set, which every member holds, so all members agree on
// it whoever is online. Collisions are resolved deterministically: keys are taken in
// byte order, the lower key keeps the address and a higher one retries with counter+1.
// A member is told about every collision it caused (reported, not silent).

/** Inside 100.64.0.0/10 (CGNAT space) but clear of the coordinator's MagicDNS 100.100.100.100. */
export const DEFAULT_SERVERLESS_IPV4_RANGE = '100.80.0.0/12';
export const DEFAULT_SERVERLESS_ULA = 'fd77:6566:7400::/48';
const LABEL = new TextEncoder().encode('weft-addr-v1');
/** Attempts per key before giving up (only a nearly full range gets here). */
const MAX_COUNTER = 1024;

export interface MemberAddresses {
  ipv4: string;
  ipv6: string;
  /** 0 unless the first choice collided with a lower key. */
  counter: number;
}

export interface Collision {
  key: string;
  counter: number;
  /** The address wanted at `counter`, and the lower key that already holds it. */
  address: string;
  heldBy: string;
}

export interface AddressPlan {
  /** The ranges the plan draws from (the mesh ranges peers route into the tunnel). */
  ipv4Range: string;
  ipv6Range: string;
  byKey: Map<string, MemberAddresses>;
  collisions: Collision[];
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function candidate(key: Uint8Array, counter: number, v4: Ipv4Range, v6Prefix: number[]): { ipv4: string; ipv6: string } {
  const c = new Uint8Array(4);
  new DataView(c.buffer).setUint32(0, counter);
  const h = hash(LABEL, key, c);
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  // Skip the range's network and broadcast addresses.
  const v4n = v4.base + 1 + (dv.getUint32(0) % (v4.size - 2));
  const ipv4 = [24, 16, 8, 0].map((s) => Math.floor(v4n / 2 ** s) % 256).join('.');
  const parts = [...v6Prefix.slice(0, 3), dv.getUint16(4), dv.getUint16(6), dv.getUint16(8), dv.getUint16(10), dv.getUint16(12)];
  return { ipv4, ipv6: new ipaddr.IPv6(parts).toString() };
}

export function planAddresses(keys: readonly Uint8Array[], ipv4Range = DEFAULT_SERVERLESS_IPV4_RANGE, ula48 = DEFAULT_SERVERLESS_ULA): AddressPlan {
  const v4 = parseIpv4Range(ipv4Range);
  const v6Prefix = parseUla48(ula48).parts;
  const taken = new Map<string, string>();
  const plan: AddressPlan = { ipv4Range, ipv6Range: ula48, byKey: new Map(), collisions: [] };
  for (const key of [...keys].sort(compareBytes)) {
    const id = keyId(key);
    if (plan.byKey.has(id)) continue;
    for (let counter = 0; counter < MAX_COUNTER; counter++) {
      const a = candidate(key, counter, v4, v6Prefix);
      const holder = taken.get(a.ipv4) ?? taken.get(a.ipv6);
      if (holder !== undefined) {
        plan.collisions.push({ key: id, counter, address: taken.has(a.ipv4) ? a.ipv4 : a.ipv6, heldBy: holder });
        continue;
      }
      taken.set(a.ipv4, id);
      taken.set(a.ipv6, id);
      plan.byKey.set(id, { ...a, counter });
      break;
    }
  }
  return plan;
}
