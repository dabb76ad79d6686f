import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';

// Synthetic addressing: MagicBind gives every peer an endpoint fd7a:7765:6674::<index>,
// port 1, so WireGuard roaming never pins a raw address; the index finds the peer again
// on send without a string key.

const SYNTH_PREFIX = [0xfd, 0x7a, 0x77, 0x65, 0x66, 0x74];

export function isSyntheticEndpoint(ep: Endpoint | Uint8Array, off = 0): boolean {
  const b = ep instanceof Endpoint ? ep.bytes : ep;
  for (let i = 0; i < SYNTH_PREFIX.length; i++) if (b[off + i] !== SYNTH_PREFIX[i]) return false;
  return true;
}

export function synthIndex(b: Uint8Array, off = 0): number {
  return ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
}

export function synthFor(index: number): Endpoint {
  const b = new Uint8Array(ENDPOINT_BYTES);
  b.set(SYNTH_PREFIX);
  b[12] = index >>> 24;
  b[13] = (index >>> 16) & 0xff;
  b[14] = (index >>> 8) & 0xff;
  b[15] = index & 0xff;
  b[17] = 1;
  return Endpoint.fromBytes(b);
}
