import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../clock.js';
import { InvalidArgumentError } from '../../errors.js';
import { PcpEpoch } from './pcp-epoch.js';
import { ipv4At, putIpv4, PortMapError, type PortMapClient, type PortMapping } from './types.js';
import type { UdpExchange } from './udp-exchange.js';

// PCP (RFC 6887): the successor of NAT-PMP on the same port 5351. Every message has a
// 24-byte header (version 2, R bit + opcode, lifetime; requests carry our address as an
// IPv4-mapped IPv6 address, responses a result code and the epoch) and the MAP opcode a
// 36-byte body: a 96-bit nonce the response must echo, protocol, internal port and the
// suggested (request) or assigned (response) external port and address. Lifetime 0 with
// the same nonce deletes the mapping (section 15). Options after the body are ignored.
// An ANNOUNCE request (opcode 0, header only, section 14.1) asks just for the epoch,
// which every response is checked against (pcp-epoch.ts).

export const PCP_PORT = 5351;
export const PCP_VERSION = 2;
export const PCP_OP_ANNOUNCE = 0;
export const PCP_OP_MAP = 1;
export const PCP_R_BIT = 0x80;
export const PCP_HEADER_LEN = 24;
export const PCP_MAP_LEN = PCP_HEADER_LEN + 36;
/** Largest PCP message (section 7). */
export const PCP_MAX_LEN = 1100;
export const IPPROTO_UDP = 17;
/** Result codes, section 7.4 (those the client tells apart). */
export const PCP_SUCCESS = 0;
export const PCP_UNSUPP_VERSION = 1;
export const PCP_NOT_AUTHORIZED = 2;
export const PCP_UNSUPP_OPCODE = 4;
export const PCP_ADDRESS_MISMATCH = 12;

export interface PcpMapRequest {
  nonce: Uint8Array;
  clientIp: string;
  internalPort: number;
  suggestedExternalPort: number;
  /** Dotted quad; absent: no preference (::ffff:0.0.0.0, section 11.1). */
  suggestedExternalIp?: string;
  lifetimeS: number;
}

export interface PcpResponse {
  opcode: number;
  result: number;
  lifetimeS: number;
  epoch: number;
  /** The MAP body of a successful MAP response with an IPv4-mapped address. */
  map: { nonce: Uint8Array; protocol: number; internalPort: number; externalPort: number; externalIp: string } | null;
}

/** Writes `ip` as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) at `off`. */
function putMapped(b: Uint8Array, off: number, ip: string): boolean {
  b[off + 10] = 0xff;
  b[off + 11] = 0xff;
  return putIpv4(b, off + 12, ip);
}

function isMapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** The common request header: version, opcode, lifetime, our address. */
function putHeader(b: Uint8Array, opcode: number, lifetimeS: number, clientIp: string): void {
  b[0] = PCP_VERSION;
  b[1] = opcode;
  new DataView(b.buffer).setUint32(4, lifetimeS);
  if (!putMapped(b, 8, clientIp)) throw new InvalidArgumentError(`not an IPv4 address: ${clientIp}`);
}

export function encodePcpAnnounceRequest(clientIp: string): Uint8Array {
  const b = new Uint8Array(PCP_HEADER_LEN);
  putHeader(b, PCP_OP_ANNOUNCE, 0, clientIp);
  return b;
}

export function encodePcpMapRequest(r: PcpMapRequest): Uint8Array {
  if (r.nonce.length !== 12) throw new InvalidArgumentError('PCP nonce is 12 bytes');
  const b = new Uint8Array(PCP_MAP_LEN);
  const v = new DataView(b.buffer);
  putHeader(b, PCP_OP_MAP, r.lifetimeS, r.clientIp);
  b.set(r.nonce, 24);
  b[36] = IPPROTO_UDP;
  v.setUint16(40, r.internalPort);
  v.setUint16(42, r.suggestedExternalPort);
  putMapped(b, 44, r.suggestedExternalIp ?? '0.0.0.0');
  return b;
}

/** A PCP response, or null: not version 2, not a response, bad length, or a short MAP. */
export function parsePcpResponse(b: Uint8Array): PcpResponse | null {
  if (b.length < PCP_HEADER_LEN || b.length > PCP_MAX_LEN || b.length % 4 !== 0) return null;
  if (b[0] !== PCP_VERSION || (b[1] & PCP_R_BIT) === 0) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const opcode = b[1] & ~PCP_R_BIT;
  const r: PcpResponse = { opcode, result: b[3], lifetimeS: v.getUint32(4), epoch: v.getUint32(8), map: null };
  if (opcode !== PCP_OP_MAP || r.result !== PCP_SUCCESS) return r;
  if (b.length < PCP_MAP_LEN || !isMapped(b, 44)) return null;
  r.map = { nonce: b.slice(24, 36), protocol: b[36], internalPort: v.getUint16(40), externalPort: v.getUint16(42), externalIp: ipv4At(b, 56) };
  return r;
}

/** True when a NAT-PMP-only gateway answered our PCP request (RFC 6887 9: version 0, "unsupported version"). */
function isNatPmpVersionReply(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0 && b[1] >= 128 && b[3] === PCP_UNSUPP_VERSION;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class PcpClient implements PortMapClient {
  readonly name = 'pcp';
  /** Kept for renewals and the delete, which must repeat the nonce. */
  private readonly nonce = new Uint8Array(randomBytes(12));
  private last: { internalPort: number; externalPort: number; externalIp: string } | null = null;
  private readonly epoch = new PcpEpoch();
  /** Set when a response's epoch showed the server lost its state; cleared by the next map. */
  private lost = false;

  constructor(
    private readonly udp: UdpExchange,
    private readonly clientIp: string,
    private readonly clock: Clock = systemClock,
  ) {}

  private async ask(opcode: number, req: Uint8Array): Promise<PcpResponse> {
    const r = await this.udp.exchange(req, (b): PcpResponse | 'natpmp' | null => {
      if (isNatPmpVersionReply(b)) return 'natpmp';
      const p = parsePcpResponse(b);
      if (!p || p.opcode !== opcode) return null;
      return p.map && !sameBytes(p.map.nonce, this.nonce) ? null : p;
    });
    if (r === 'natpmp' || r.result === PCP_UNSUPP_VERSION || r.result === PCP_UNSUPP_OPCODE) throw new PortMapError('ERR_PORTMAP_UNSUPPORTED', 'gateway does not speak PCP');
    // Error responses carry the epoch too (section 8.5: every response).
    if (!this.epoch.observe(r.epoch, this.clock.now())) this.lost = true;
    if (r.result !== PCP_SUCCESS) throw new PortMapError('ERR_PORTMAP_REFUSED', `PCP result ${r.result}`);
    return r;
  }

  private askMap(internalPort: number, suggestedExternalPort: number, suggestedExternalIp: string | undefined, lifetimeS: number): Promise<PcpResponse> {
    return this.ask(PCP_OP_MAP, encodePcpMapRequest({ nonce: this.nonce, clientIp: this.clientIp, internalPort, suggestedExternalPort, suggestedExternalIp, lifetimeS }));
  }

  /** True when the server lost its mappings since our last exchange (an ANNOUNCE to read its epoch). */
  async stateLost(): Promise<boolean> {
    if (!this.last) return false;
    await this.ask(PCP_OP_ANNOUNCE, encodePcpAnnounceRequest(this.clientIp));
    return this.lost;
  }

  async map(internalPort: number, lifetimeS: number): Promise<PortMapping> {
    const prev = this.last?.internalPort === internalPort ? this.last : null;
    const r = await this.askMap(internalPort, prev?.externalPort ?? internalPort, prev?.externalIp, lifetimeS);
    this.lost = false; // this MAP re-created the mapping if the server had lost it
    const m = r.map;
    if (!m || m.protocol !== IPPROTO_UDP || m.internalPort !== internalPort || m.externalPort === 0 || r.lifetimeS === 0 || m.externalIp === '0.0.0.0') {
      throw new PortMapError('ERR_PORTMAP_BAD_RESPONSE', 'PCP mapping does not match the request');
    }
    this.last = { internalPort, externalPort: m.externalPort, externalIp: m.externalIp };
    return { protocol: this.name, external: `${m.externalIp}:${m.externalPort}`, internalPort, lifetimeS: r.lifetimeS };
  }

  async unmap(): Promise<void> {
    if (!this.last) return;
    const { internalPort } = this.last;
    this.last = null;
    this.epoch.reset();
    await this.askMap(internalPort, 0, undefined, 0);
  }
}
