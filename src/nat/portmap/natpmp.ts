import { ipv4At, PortMapError, type PortMapping, type PortMapClient } from './types.js';
import type { UdpExchange } from './udp-exchange.js';

// NAT-PMP (RFC 6886): UDP to the default gateway's port 5351. Requests are version 0
// with an opcode; responses set opcode 128+op and carry a 16-bit result code and the
// gateway's epoch. A UDP mapping request names our internal port, a suggested external
// port and a lifetime; lifetime 0 (and external port 0) deletes it (section 3.4).

export const NATPMP_PORT = 5351;
export const NATPMP_VERSION = 0;
export const OP_EXTERNAL_ADDRESS = 0;
export const OP_MAP_UDP = 1;
export const OP_RESPONSE = 128;
/** Result codes, section 3.5. */
export const NATPMP_SUCCESS = 0;
export const NATPMP_UNSUPPORTED_VERSION = 1;
export const NATPMP_NOT_AUTHORIZED = 2;
export const NATPMP_NETWORK_FAILURE = 3;
export const NATPMP_OUT_OF_RESOURCES = 4;
export const NATPMP_UNSUPPORTED_OPCODE = 5;

export function encodeExternalAddressRequest(): Uint8Array {
  return Uint8Array.of(NATPMP_VERSION, OP_EXTERNAL_ADDRESS);
}

export function encodeMapRequest(internalPort: number, suggestedExternalPort: number, lifetimeS: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  b[0] = NATPMP_VERSION;
  b[1] = OP_MAP_UDP;
  v.setUint16(4, internalPort);
  v.setUint16(6, suggestedExternalPort);
  v.setUint32(8, lifetimeS);
  return b;
}

export type NatPmpResponse =
  | { op: typeof OP_EXTERNAL_ADDRESS; result: number; epoch: number; address: string | null }
  | { op: typeof OP_MAP_UDP; result: number; epoch: number; internalPort: number; externalPort: number; lifetimeS: number };

/**
 * A response, or null: wrong version, not a response, an opcode we never send, or too
 * short. Error responses may stop after the epoch (8 bytes).
 */
export function parseNatPmpResponse(b: Uint8Array): NatPmpResponse | null {
  if (b.length < 8 || b.length > 16 || b[0] !== NATPMP_VERSION || b[1] < OP_RESPONSE) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const op = b[1] - OP_RESPONSE;
  const result = v.getUint16(2);
  const epoch = v.getUint32(4);
  if (op === OP_EXTERNAL_ADDRESS) {
    if (result !== NATPMP_SUCCESS) return { op, result, epoch, address: null };
    return b.length === 12 ? { op, result, epoch, address: ipv4At(b, 8) } : null;
  }
  if (op === OP_MAP_UDP) {
    if (result !== NATPMP_SUCCESS) return { op, result, epoch, internalPort: 0, externalPort: 0, lifetimeS: 0 };
    if (b.length !== 16) return null;
    return { op, result, epoch, internalPort: v.getUint16(8), externalPort: v.getUint16(10), lifetimeS: v.getUint32(12) };
  }
  return null;
}

function check(r: NatPmpResponse): void {
  if (r.result === NATPMP_SUCCESS) return;
  const code = r.result === NATPMP_UNSUPPORTED_VERSION || r.result === NATPMP_UNSUPPORTED_OPCODE ? 'ERR_PORTMAP_UNSUPPORTED' : 'ERR_PORTMAP_REFUSED';
  throw new PortMapError(code, `NAT-PMP result ${r.result}`);
}

export class NatPmpClient implements PortMapClient {
  readonly name = 'natpmp';
  private last: { internalPort: number; externalPort: number } | null = null;

  constructor(private readonly udp: UdpExchange) {}

  private ask<T extends NatPmpResponse['op']>(req: Uint8Array, op: T): Promise<Extract<NatPmpResponse, { op: T }>> {
    return this.udp.exchange(req, (b) => {
      const r = parseNatPmpResponse(b);
      return r && r.op === op ? (r as Extract<NatPmpResponse, { op: T }>) : null;
    });
  }

  async map(internalPort: number, lifetimeS: number): Promise<PortMapping> {
    const addr = await this.ask(encodeExternalAddressRequest(), OP_EXTERNAL_ADDRESS);
    check(addr);
    const suggested = this.last?.internalPort === internalPort ? this.last.externalPort : internalPort;
    const m = await this.ask(encodeMapRequest(internalPort, suggested, lifetimeS), OP_MAP_UDP);
    check(m);
    if (m.internalPort !== internalPort || m.externalPort === 0 || m.lifetimeS === 0 || !addr.address || addr.address === '0.0.0.0') {
      throw new PortMapError('ERR_PORTMAP_BAD_RESPONSE', 'NAT-PMP mapping does not match the request');
    }
    this.last = { internalPort, externalPort: m.externalPort };
    return { protocol: this.name, external: `${addr.address}:${m.externalPort}`, internalPort, lifetimeS: m.lifetimeS };
  }

  async unmap(): Promise<void> {
    if (!this.last) return;
    const { internalPort } = this.last;
    this.last = null;
    check(await this.ask(encodeMapRequest(internalPort, 0, 0), OP_MAP_UDP));
  }
}
