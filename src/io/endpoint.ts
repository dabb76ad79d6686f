import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../errors.js';

// A UDP endpoint kept as 18 bytes (IPv6 or IPv4-mapped address, then big-endian port)
// so the native bind can report sources without creating strings, and equality is a
// byte compare. `key` is the canonical text form, e.g. `1.2.3.4:51820` or `[::1]:51820`.
export const ENDPOINT_BYTES = 18;

export class Endpoint {
  readonly bytes: Uint8Array;
  private text?: string;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  static fromBytes(src: Uint8Array, off = 0): Endpoint {
    return new Endpoint(Uint8Array.prototype.slice.call(src, off, off + ENDPOINT_BYTES));
  }

  static of(ip: string, port: number): Endpoint {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}`);
    const b = new Uint8Array(ENDPOINT_BYTES);
    const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
    if (bare.includes('%') || !(ipaddr.IPv4.isValidFourPartDecimal(bare) || ipaddr.IPv6.isValid(bare))) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(ip)}`);
    const addr = ipaddr.parse(bare);
    const v6 = addr.kind() === 'ipv4' ? (addr as ipaddr.IPv4).toIPv4MappedAddress() : (addr as ipaddr.IPv6);
    b.set(v6.toByteArray());
    b[16] = port >> 8;
    b[17] = port & 0xff;
    return new Endpoint(b);
  }

  /** Parses `host:port` or `[v6]:port`. */
  static parse(s: string): Endpoint {
    const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(s);
    if (!m) throw new InvalidArgumentError(`invalid endpoint ${JSON.stringify(s)}`);
    return Endpoint.of(m[1], Number(m[2]));
  }

  get isV4(): boolean {
    const b = this.bytes;
    for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
    return b[10] === 0xff && b[11] === 0xff;
  }

  get port(): number {
    return (this.bytes[16] << 8) | this.bytes[17];
  }

  get ip(): string {
    const b = this.bytes;
    if (this.isV4) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    return ipaddr.fromByteArray(Array.from(b.subarray(0, 16))).toString();
  }

  get key(): string {
    return (this.text ??= this.isV4 ? `${this.ip}:${this.port}` : `[${this.ip}]:${this.port}`);
  }

  equals(other: Endpoint | Uint8Array, off = 0): boolean {
    const o = other instanceof Endpoint ? other.bytes : other;
    const b = this.bytes;
    for (let i = 0; i < ENDPOINT_BYTES; i++) if (b[i] !== o[off + i]) return false;
    return true;
  }

  toString(): string {
    return this.key;
  }
}

