import { createHmac, randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { equalBytes } from '../crypto/constant-time.js';

// STUN (RFC 8489) message codec: pure bytes in, values out.
//
// Header (20 bytes):  type u16 | length u16 (attribute bytes) | cookie 0x2112A442 | txid 12 B
// Attributes: type u16 | length u16 | value, padded to 4 bytes (padding content ignored).
//
// Demultiplexing STUN and WireGuard on one UDP port (isStunPacket): a STUN message has the
// top two bits of byte 0 clear, the magic cookie in bytes 4..7, and a length field equal to
// the datagram size minus 20. A WireGuard message starts with type 1..4 followed by three
// zero bytes, so read as STUN its length field (bytes 2..3) is 0, i.e. a 20-byte message —
// but the smallest WireGuard message (a keepalive) is 32 bytes. The two can therefore never
// be confused, whatever the random index in bytes 4..7 happens to be.

export const STUN_HEADER_LEN = 20;
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_TXID_LEN = 12;
export const STUN_DEFAULT_PORT = 3478;

export const STUN_METHOD_BINDING = 0x001;

export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASS_BITS: Record<StunClass, number> = { request: 0x000, indication: 0x010, success: 0x100, error: 0x110 };

export const STUN_ATTR = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
} as const;

/** Comprehension-required attributes (type < 0x8000) this codec understands; others trigger 420. */
const KNOWN_REQUIRED = new Set<number>([
  STUN_ATTR.MAPPED_ADDRESS,
  STUN_ATTR.USERNAME,
  STUN_ATTR.MESSAGE_INTEGRITY,
  STUN_ATTR.ERROR_CODE,
  STUN_ATTR.UNKNOWN_ATTRIBUTES,
  STUN_ATTR.XOR_MAPPED_ADDRESS,
]);

const FINGERPRINT_XOR = 0x5354554e;
const MI_LEN = 20;
const COOKIE_BYTES = Uint8Array.of(0x21, 0x12, 0xa4, 0x42);
const FAMILY_V4 = 0x01;
const FAMILY_V6 = 0x02;
// Longest SOFTWARE / reason phrase the RFC allows (763 bytes < 128 characters of UTF-8).
const MAX_TEXT_BYTES = 763;

export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

export interface StunErrorCode {
  code: number;
  reason: string;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Uint8Array;
  /** All attributes in order, values as views into the parsed buffer. */
  attributes: StunAttribute[];
  xorMappedAddress?: Endpoint;
  mappedAddress?: Endpoint;
  software?: string;
  errorCode?: StunErrorCode;
  unknownAttributes?: number[];
  /** Comprehension-required attribute types not understood (a server answers 420). */
  unknownRequired: number[];
  /** Whether a FINGERPRINT attribute was present (it is always valid when parsed). */
  hasFingerprint: boolean;
  /** Byte offset of MESSAGE-INTEGRITY, for verifyMessageIntegrity; -1 when absent. */
  integrityOffset: number;
}

/** Cheap demux check (see the header comment); true does not mean the message is valid. */
export function isStunPacket(buf: Uint8Array): boolean {
  return (
    buf.length >= STUN_HEADER_LEN &&
    (buf[0] & 0xc0) === 0 &&
    buf[4] === 0x21 &&
    buf[5] === 0x12 &&
    buf[6] === 0xa4 &&
    buf[7] === 0x42 &&
    ((buf[2] << 8) | buf[3]) === buf.length - STUN_HEADER_LEN
  );
}

export function newTransactionId(): Uint8Array {
  return randomFillSync(new Uint8Array(STUN_TXID_LEN));
}

function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[cls];
}

function decodeType(t: number): { method: number; cls: StunClass } {
  const method = (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2);
  const c = t & 0x110;
  const cls: StunClass = c === 0 ? 'request' : c === 0x010 ? 'indication' : c === 0x100 ? 'success' : 'error';
  return { method, cls };
}

function fingerprintOf(buf: Uint8Array, end: number): number {
  return (crc32(buf.subarray(0, end)) ^ FINGERPRINT_XOR) >>> 0;
}

const pad4 = (n: number): number => (n + 3) & ~3;
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes (XOR-)MAPPED-ADDRESS; xor = the 16-byte cookie‖txid mask, or null for plain. */
function decodeAddress(v: Uint8Array, xor: Uint8Array | null): Endpoint | null {
  if (v.length < 4) return null;
  const family = v[1];
  const addrLen = family === FAMILY_V4 ? 4 : family === FAMILY_V6 ? 16 : 0;
  if (addrLen === 0 || v.length !== 4 + addrLen) return null;
  const out = new Uint8Array(ENDPOINT_BYTES);
  const base = family === FAMILY_V4 ? 12 : 0;
  if (family === FAMILY_V4) out[10] = out[11] = 0xff;
  for (let i = 0; i < addrLen; i++) out[base + i] = v[4 + i] ^ (xor ? xor[i] : 0);
  out[16] = v[2] ^ (xor ? xor[0] : 0);
  out[17] = v[3] ^ (xor ? xor[1] : 0);
  return Endpoint.fromBytes(out);
}

/**
 * Parses one STUN message. Returns null (never throws) when it is not a well-formed STUN
 * message, an attribute overruns, a known attribute is malformed, or FINGERPRINT is
 * present but wrong or not last.
 */
export function parseStun(buf: Uint8Array): StunMessage | null {
  if (!isStunPacket(buf) || (buf.length & 3) !== 0) return null;
  const { method, cls } = decodeType(u16(buf, 0));
  const transactionId = buf.subarray(8, STUN_HEADER_LEN);
  const xorMask = buf.subarray(4, STUN_HEADER_LEN);
  const msg: StunMessage = { method, cls, transactionId, attributes: [], unknownRequired: [], hasFingerprint: false, integrityOffset: -1 };
  let off = STUN_HEADER_LEN;
  while (off < buf.length) {
    if (msg.hasFingerprint || off + 4 > buf.length) return null;
    const type = u16(buf, off);
    const len = u16(buf, off + 2);
    const vstart = off + 4;
    if (vstart + len > buf.length) return null;
    const value = buf.subarray(vstart, vstart + len);
    const next = vstart + pad4(len);
    if (next > buf.length) return null;
    // After MESSAGE-INTEGRITY only FINGERPRINT counts (RFC 8489 §14.5); the rest is ignored.
    const afterIntegrity = msg.integrityOffset >= 0 && type !== STUN_ATTR.FINGERPRINT;
    if (!afterIntegrity) {
      msg.attributes.push({ type, value });
      if (!decodeAttribute(msg, buf, type, value, off, xorMask)) return null;
    }
    off = next;
  }
  return msg;
}

function decodeAttribute(msg: StunMessage, buf: Uint8Array, type: number, value: Uint8Array, off: number, xorMask: Uint8Array): boolean {
  switch (type) {
    case STUN_ATTR.XOR_MAPPED_ADDRESS: {
      const ep = decodeAddress(value, xorMask);
      if (!ep) return false;
      msg.xorMappedAddress ??= ep;
      return true;
    }
    case STUN_ATTR.MAPPED_ADDRESS: {
      const ep = decodeAddress(value, null);
      if (!ep) return false;
      msg.mappedAddress ??= ep;
      return true;
    }
    case STUN_ATTR.SOFTWARE:
      if (value.length > MAX_TEXT_BYTES) return false;
      msg.software = utf8.decode(value);
      return true;
    case STUN_ATTR.ERROR_CODE: {
      if (value.length < 4 || value.length > 4 + MAX_TEXT_BYTES) return false;
      const code = (value[2] & 0x07) * 100 + value[3];
      if (code < 300 || code > 699 || value[3] > 99) return false;
      msg.errorCode = { code, reason: utf8.decode(value.subarray(4)) };
      return true;
    }
    case STUN_ATTR.UNKNOWN_ATTRIBUTES: {
      if (value.length & 1) return false;
      const types: number[] = [];
      for (let i = 0; i < value.length; i += 2) types.push(u16(value, i));
      msg.unknownAttributes = types;
      return true;
    }
    case STUN_ATTR.MESSAGE_INTEGRITY:
      if (value.length !== MI_LEN) return false;
      msg.integrityOffset = off;
      return true;
    case STUN_ATTR.FINGERPRINT:
      if (value.length !== 4 || u32(value, 0) !== fingerprintOf(buf, off)) return false;
      msg.hasFingerprint = true;
      return true;
    default:
      if (type < 0x8000 && !KNOWN_REQUIRED.has(type)) msg.unknownRequired.push(type);
      return true;
  }
}

/**
 * Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) with a short-term credential key
 * (the password bytes after OpaqueString). False when absent or wrong; constant-time compare.
 */
export function verifyMessageIntegrity(buf: Uint8Array, msg: StunMessage, key: Uint8Array): boolean {
  const off = msg.integrityOffset;
  if (off < 0) return false;
  return equalBytes(integrityOf(buf, off, key), buf.subarray(off + 4, off + 4 + MI_LEN));
}

// HMAC over the message up to MESSAGE-INTEGRITY, with the header length covering it.
function integrityOf(buf: Uint8Array, off: number, key: Uint8Array): Uint8Array {
  const head = Uint8Array.prototype.slice.call(buf, 0, off);
  const len = off + 4 + MI_LEN - STUN_HEADER_LEN;
  head[2] = len >> 8;
  head[3] = len & 0xff;
  return new Uint8Array(createHmac('sha1', key).update(head).digest());
}

export interface EncodeOptions {
  /** Appends MESSAGE-INTEGRITY keyed with this short-term credential key. */
  integrityKey?: Uint8Array;
  /** Appends FINGERPRINT (default true). */
  fingerprint?: boolean;
}

/** Serialises a message; `attributes` are written in order, then MESSAGE-INTEGRITY and FINGERPRINT. */
export function encodeStun(
  msg: { method: number; cls: StunClass; transactionId: Uint8Array; attributes: StunAttribute[] },
  opts: EncodeOptions = {},
): Uint8Array {
  const fingerprint = opts.fingerprint ?? true;
  let size = STUN_HEADER_LEN;
  for (const a of msg.attributes) size += 4 + pad4(a.value.length);
  if (opts.integrityKey) size += 4 + MI_LEN;
  if (fingerprint) size += 8;
  const out = new Uint8Array(size);
  const t = messageType(msg.method, msg.cls);
  out[0] = t >> 8;
  out[1] = t & 0xff;
  out.set(COOKIE_BYTES, 4);
  out.set(msg.transactionId.subarray(0, STUN_TXID_LEN), 8);
  let off = STUN_HEADER_LEN;
  const putHeader = (type: number, len: number): void => {
    out[off] = type >> 8;
    out[off + 1] = type & 0xff;
    out[off + 2] = len >> 8;
    out[off + 3] = len & 0xff;
  };
  const setLength = (end: number): void => {
    out[2] = (end - STUN_HEADER_LEN) >> 8;
    out[3] = (end - STUN_HEADER_LEN) & 0xff;
  };
  for (const a of msg.attributes) {
    putHeader(a.type, a.value.length);
    out.set(a.value, off + 4);
    off += 4 + pad4(a.value.length);
  }
  if (opts.integrityKey) {
    setLength(off + 4 + MI_LEN);
    putHeader(STUN_ATTR.MESSAGE_INTEGRITY, MI_LEN);
    out.set(integrityOf(out, off, opts.integrityKey), off + 4);
    off += 4 + MI_LEN;
  }
  if (fingerprint) {
    setLength(off + 8);
    putHeader(STUN_ATTR.FINGERPRINT, 4);
    const fp = fingerprintOf(out, off);
    out[off + 4] = fp >>> 24;
    out[off + 5] = (fp >>> 16) & 0xff;
    out[off + 6] = (fp >>> 8) & 0xff;
    out[off + 7] = fp & 0xff;
    off += 8;
  }
  setLength(off);
  return out;
}

// --- attribute builders ---

export function xorMappedAddressAttr(ep: Endpoint, transactionId: Uint8Array): StunAttribute {
  const mask = new Uint8Array(16);
  mask.set(COOKIE_BYTES);
  mask.set(transactionId.subarray(0, STUN_TXID_LEN), 4);
  const v4 = ep.isV4;
  const value = new Uint8Array(v4 ? 8 : 20);
  value[1] = v4 ? FAMILY_V4 : FAMILY_V6;
  value[2] = ep.bytes[16] ^ mask[0];
  value[3] = ep.bytes[17] ^ mask[1];
  const src = v4 ? ep.bytes.subarray(12, 16) : ep.bytes.subarray(0, 16);
  for (let i = 0; i < src.length; i++) value[4 + i] = src[i] ^ mask[i];
  return { type: STUN_ATTR.XOR_MAPPED_ADDRESS, value };
}

export function softwareAttr(name: string): StunAttribute {
  return { type: STUN_ATTR.SOFTWARE, value: new TextEncoder().encode(name).subarray(0, MAX_TEXT_BYTES) };
}

export function errorCodeAttr(code: number, reason: string): StunAttribute {
  const text = new TextEncoder().encode(reason).subarray(0, MAX_TEXT_BYTES);
  const value = new Uint8Array(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: STUN_ATTR.ERROR_CODE, value };
}

export function unknownAttributesAttr(types: number[]): StunAttribute {
  const value = new Uint8Array(types.length * 2);
  types.forEach((t, i) => {
    value[2 * i] = t >> 8;
    value[2 * i + 1] = t & 0xff;
  });
  return { type: STUN_ATTR.UNKNOWN_ATTRIBUTES, value };
}

// --- Binding messages ---

export function encodeBindingRequest(transactionId: Uint8Array, software?: string): Uint8Array {
  const attributes = software ? [softwareAttr(software)] : [];
  return encodeStun({ method: STUN_METHOD_BINDING, cls: 'request', transactionId, attributes });
}

export function encodeBindingSuccess(transactionId: Uint8Array, mapped: Endpoint, software?: string): Uint8Array {
  const attributes = [xorMappedAddressAttr(mapped, transactionId)];
  if (software) attributes.push(softwareAttr(software));
  return encodeStun({ method: STUN_METHOD_BINDING, cls: 'success', transactionId, attributes });
}

export function encodeBindingError(transactionId: Uint8Array, code: number, reason: string, unknown: number[] = [], software?: string): Uint8Array {
  const attributes = [errorCodeAttr(code, reason)];
  if (unknown.length > 0) attributes.push(unknownAttributesAttr(unknown));
  if (software) attributes.push(softwareAttr(software));
  return encodeStun({ method: STUN_METHOD_BINDING, cls: 'error', transactionId, attributes });
}
