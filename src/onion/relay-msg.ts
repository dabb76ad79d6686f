import { HANDSHAKE1_LEN, HANDSHAKE2_LEN } from './hop-crypto.js';

// Relay messages: what a RELAY cell carries once the hop it is addressed to has removed
// its layer (or the client has removed all layers up to the originating hop).
//
//   command u8 | streamId u16 BE | length u16 BE | data (length bytes) | zero padding
//
// Decoding never throws: a short or inconsistent message yields null, and since only an
// authenticated end (client or hop) can produce one, callers treat null as fatal.

export const RELAY_HEADER_LEN = 5;

export const enum RelayCommand {
  /** Client → last hop: Noise NK message 1 for a new hop at `address`. */
  Extend = 1,
  /** Last hop → client: message 2 from the new hop. */
  Extended = 2,
  /** Client → exit: open a TCP stream to "host:port". */
  Begin = 3,
  /** Exit → client: the stream is open. */
  Connected = 4,
  /** Stream bytes, either direction. */
  Data = 5,
  /** Stream closed or refused; data[0] is an EndReason. */
  End = 6,
  /** Flow control: the sender may send STREAM_WINDOW_INCREMENT more DATA cells. */
  Sendme = 7,
}

export const enum EndReason {
  Done = 0,
  ExitPolicy = 1,
  ConnectFailed = 2,
  NotExit = 3,
  TooManyStreams = 4,
  Protocol = 5,
}

export interface RelayMessage {
  command: RelayCommand;
  streamId: number;
  data: Uint8Array;
}

const MAX_COMMAND = RelayCommand.Sendme;

export function encodeRelay(command: RelayCommand, streamId: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(RELAY_HEADER_LEN + data.length);
  out[0] = command;
  out[1] = (streamId >>> 8) & 0xff;
  out[2] = streamId & 0xff;
  out[3] = (data.length >>> 8) & 0xff;
  out[4] = data.length & 0xff;
  out.set(data, RELAY_HEADER_LEN);
  return out;
}

export function decodeRelay(buf: Uint8Array): RelayMessage | null {
  if (buf.length < RELAY_HEADER_LEN) return null;
  const command = buf[0];
  if (command < RelayCommand.Extend || command > MAX_COMMAND) return null;
  const streamId = (buf[1] << 8) | buf[2];
  const len = (buf[3] << 8) | buf[4];
  if (RELAY_HEADER_LEN + len > buf.length) return null;
  return { command: command as RelayCommand, streamId, data: buf.subarray(RELAY_HEADER_LEN, RELAY_HEADER_LEN + len) };
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** EXTEND: addrLen u8 | address (utf-8, "host:port" of the next hop's circuit port) | NK message 1. */
export function encodeExtend(address: string, message1: Uint8Array): Uint8Array {
  const a = enc.encode(address);
  if (a.length > 255) throw new RangeError('extend address too long');
  const out = new Uint8Array(1 + a.length + message1.length);
  out[0] = a.length;
  out.set(a, 1);
  out.set(message1, 1 + a.length);
  return out;
}

export function decodeExtend(data: Uint8Array): { address: string; message1: Uint8Array } | null {
  if (data.length < 1) return null;
  const n = data[0];
  if (data.length !== 1 + n + HANDSHAKE1_LEN) return null;
  const address = decodeUtf8(data.subarray(1, 1 + n));
  if (address === null) return null;
  return { address, message1: data.subarray(1 + n) };
}

export const isExtended = (data: Uint8Array): boolean => data.length === HANDSHAKE2_LEN;

/** BEGIN: "host:port"; host is an IP literal or a name the exit resolves. */
export function decodeTarget(data: Uint8Array): { host: string; port: number } | null {
  const s = decodeUtf8(data);
  if (s === null) return null;
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1], port };
}

export function encodeTarget(host: string, port: number): Uint8Array {
  return enc.encode(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
}

function decodeUtf8(b: Uint8Array): string | null {
  try {
    return dec.decode(b);
  } catch {
    return null;
  }
}
