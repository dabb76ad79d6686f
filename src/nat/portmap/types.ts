import { WeftError } from '../../errors.js';

// What every port-mapping protocol client offers the PortMapper, and the counters the
// wire parsers bump when they drop input.

/** A mapping the gateway granted: our engine's UDP port reachable at `external` (ip:port). */
export interface PortMapping {
  protocol: PortMapProtocolName;
  external: string;
  internalPort: number;
  /** Seconds the gateway granted. */
  lifetimeS: number;
}

export type PortMapProtocolName = 'pcp' | 'natpmp' | 'upnp';

/** The default gateway and our address on its link (what the gateway sees as source). */
export interface Gateway {
  ip: string;
  localIp: string;
}

export interface PortMapClient {
  readonly name: PortMapProtocolName;
  /** Creates or renews the mapping of UDP `internalPort`; rejects with a PortMapError. */
  map(internalPort: number, lifetimeS: number): Promise<PortMapping>;
  /** Deletes the mapping made last (a no-op when there is none). */
  unmap(): Promise<void>;
  /** Asks the gateway whether it lost our mapping before its lifetime ran out (a restart); protocols that can tell. */
  stateLost?(): Promise<boolean>;
}

export interface PortMapStats {
  /** Datagrams or HTTP answers dropped because they did not parse. */
  malformed: number;
  /** Datagrams from anything but the gateway's port-mapping port. */
  foreign: number;
  timeouts: number;
}

export const newPortMapStats = (): PortMapStats => ({ malformed: 0, foreign: 0, timeouts: 0 });

export type PortMapErrorCode =
  | 'ERR_PORTMAP_TIMEOUT' // the gateway did not answer
  | 'ERR_PORTMAP_REFUSED' // it answered with a result code other than success
  | 'ERR_PORTMAP_UNSUPPORTED' // it does not speak this protocol (version/opcode unsupported, no IGD)
  | 'ERR_PORTMAP_BAD_RESPONSE'; // an answer that parsed but does not fit the request

export class PortMapError extends WeftError {
  constructor(code: PortMapErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PortMapError';
  }
}

/** IPv4 dotted quad from 4 bytes at `off`. */
export function ipv4At(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** Writes a dotted quad at `off`; false when `ip` is not one. */
export function putIpv4(b: Uint8Array, off: number, ip: string): boolean {
  const parts = ip.split('.');
  if (parts.length !== 4) return false;
  for (const [i, p] of parts.entries()) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return false;
    b[off + i] = Number(p);
  }
  return true;
}
