import { WeftError } from '../errors.js';
import { Endpoint } from '../io/endpoint.js';
import { formatPrefix, parsePrefix } from '../net/prefix.js';

// The cross-platform configuration protocol spoken by `wg` over the UAPI socket
// (https://www.wireguard.com/xplatform/, wireguard-go device/uapi.go, wireguard-tools
// ipc-uapi.h). This module only translates text <-> plain objects; the device applies
// a UapiDeviceChange as one unit, so a request that fails validation changes nothing
// (wireguard-go instead applies line by line and can leave a half-applied request).

export interface UapiPeerSnapshot {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: string | null;
  lastHandshakeMs: number; // Unix ms, 0 = never
  rxBytes: bigint;
  txBytes: bigint;
  persistentKeepalive: number;
  allowedIps: string[];
}

export interface UapiDeviceSnapshot {
  privateKey: Uint8Array | null;
  listenPort: number; // the real bound port, never 0 once up
  fwmark: number;
  peers: UapiPeerSnapshot[];
}

/**
 * One `public_key=` section. The device must ignore a section whose key equals its own
 * public key (wireguard-go treats it as a dummy peer). When `remove` is true every other
 * field is left empty. `updateOnly` means: do not create the peer if it does not exist.
 * The allowed-IP lists hold canonical prefixes (formatPrefix) and are disjoint; apply
 * `replaceAllowedIps` (drop all of the peer's prefixes) first, then removals, then additions.
 */
export interface UapiPeerChange {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  presharedKey?: Uint8Array; // all zeros = clear
  endpoint?: string; // canonical Endpoint.key
  persistentKeepalive?: number;
  replaceAllowedIps: boolean;
  addAllowedIps: string[];
  removeAllowedIps: string[];
}

/** `replacePeers` removes all existing peers before the `peers` sections apply, in order. */
export interface UapiDeviceChange {
  privateKey?: Uint8Array; // all zeros = remove
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: UapiPeerChange[];
}

export interface UapiTarget {
  snapshot(): UapiDeviceSnapshot;
  /** Throws UapiError to report a specific errno (e.g. ERR_UAPI_ADDRINUSE when the port is taken). */
  apply(change: UapiDeviceChange): void | Promise<void>;
}

// Negative Linux errno values as wireguard-go's ipc package reports them.
export const UAPI_ERRNO = {
  ERR_UAPI_IO: -5, // EIO
  ERR_UAPI_INVALID: -22, // EINVAL
  ERR_UAPI_UNKNOWN: -55, // ENOANO, wireguard-go's IpcErrorUnknown
  ERR_UAPI_PROTO: -71, // EPROTO
  ERR_UAPI_ADDRINUSE: -98, // EADDRINUSE
} as const;

export type UapiErrorCode = keyof typeof UAPI_ERRNO;

export class UapiError extends WeftError {
  readonly errno: number;
  constructor(code: UapiErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UapiError';
    this.errno = UAPI_ERRNO[code];
  }
}

const KEY_HEX = /^[0-9a-fA-F]{64}$/;

function parseKey(what: string, value: string): Uint8Array {
  if (!KEY_HEX.test(value)) throw new UapiError('ERR_UAPI_INVALID', `invalid ${what}`);
  return Uint8Array.from(Buffer.from(value, 'hex'));
}

// Decimal only, like Go's strconv.ParseUint(value, 10, bits).
function parseUint(what: string, value: string, max: number): number {
  if (!/^\d{1,20}$/.test(value) || Number(value) > max) throw new UapiError('ERR_UAPI_INVALID', `invalid ${what}: ${JSON.stringify(value)}`);
  return Number(value);
}

function requireTrue(key: string, value: string): true {
  if (value !== 'true') throw new UapiError('ERR_UAPI_INVALID', `invalid value for ${key}: ${JSON.stringify(value)}`);
  return true;
}

function canonicalPrefix(value: string): string {
  try {
    return formatPrefix(parsePrefix(value));
  } catch (e) {
    throw new UapiError('ERR_UAPI_INVALID', `invalid allowed_ip ${JSON.stringify(value)}`, { cause: e });
  }
}

function newPeer(publicKey: Uint8Array): UapiPeerChange {
  return { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] };
}

/**
 * Parses the key=value lines of a `set=1` request (without the `set=1` line; parsing
 * stops at the first empty line). Throws UapiError; never returns a partial change.
 */
export function parseSet(lines: string[]): UapiDeviceChange {
  const change: UapiDeviceChange = { replacePeers: false, peers: [] };
  let peer: UapiPeerChange | null = null;
  for (const line of lines) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UapiError('ERR_UAPI_PROTO', `failed to parse line ${JSON.stringify(line.slice(0, 100))}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      peer = newPeer(parseKey('public_key', value));
      change.peers.push(peer);
    } else if (peer === null) {
      parseDeviceLine(change, key, value);
    } else {
      parsePeerLine(peer, key, value);
    }
  }
  return change;
}

function parseDeviceLine(change: UapiDeviceChange, key: string, value: string): void {
  switch (key) {
    case 'private_key':
      change.privateKey = parseKey('private_key', value);
      return;
    case 'listen_port':
      change.listenPort = parseUint('listen_port', value, 0xffff);
      return;
    case 'fwmark':
      change.fwmark = parseUint('fwmark', value, 0xffffffff);
      return;
    case 'replace_peers':
      change.replacePeers = requireTrue(key, value);
      return;
    default:
      throw new UapiError('ERR_UAPI_INVALID', `invalid UAPI device key: ${JSON.stringify(key.slice(0, 100))}`);
  }
}

function parsePeerLine(peer: UapiPeerChange, key: string, value: string): void {
  // Each value is validated even for a removed peer, so a bad request fails as a whole.
  switch (key) {
    case 'update_only':
      peer.updateOnly = requireTrue(key, value);
      return;
    case 'remove':
      requireTrue(key, value);
      // Whatever this section set before is moot once the peer goes away.
      peer.remove = true;
      delete peer.presharedKey;
      delete peer.endpoint;
      delete peer.persistentKeepalive;
      peer.replaceAllowedIps = false;
      peer.addAllowedIps = [];
      peer.removeAllowedIps = [];
      return;
    case 'preshared_key': {
      const psk = parseKey('preshared_key', value);
      if (!peer.remove) peer.presharedKey = psk;
      return;
    }
    case 'endpoint': {
      let ep: string;
      try {
        ep = Endpoint.parse(value).key;
      } catch (e) {
        throw new UapiError('ERR_UAPI_INVALID', `invalid endpoint ${JSON.stringify(value.slice(0, 100))}`, { cause: e });
      }
      if (!peer.remove) peer.endpoint = ep;
      return;
    }
    case 'persistent_keepalive_interval': {
      const secs = parseUint(key, value, 0xffff);
      if (!peer.remove) peer.persistentKeepalive = secs;
      return;
    }
    case 'replace_allowed_ips':
      requireTrue(key, value);
      if (peer.remove) return;
      // Lines before this one are superseded, exactly as if applied in order.
      peer.replaceAllowedIps = true;
      peer.addAllowedIps = [];
      peer.removeAllowedIps = [];
      return;
    case 'allowed_ip': {
      // `-CIDR` removes one prefix (wireguard-go 0.0.20250522).
      const removing = value.startsWith('-');
      const p = canonicalPrefix(removing ? value.slice(1) : value);
      if (peer.remove) return;
      peer.addAllowedIps = peer.addAllowedIps.filter((x) => x !== p);
      peer.removeAllowedIps = peer.removeAllowedIps.filter((x) => x !== p);
      (removing ? peer.removeAllowedIps : peer.addAllowedIps).push(p);
      return;
    }
    case 'protocol_version':
      if (value !== '1') throw new UapiError('ERR_UAPI_INVALID', `invalid protocol version: ${JSON.stringify(value.slice(0, 100))}`);
      return;
    default:
      throw new UapiError('ERR_UAPI_INVALID', `invalid UAPI peer key: ${JSON.stringify(key.slice(0, 100))}`);
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const ZERO_KEY = '0'.repeat(64);
const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/**
 * The full reply to `get=1`, in wireguard-go's order and omissions: private_key only if
 * set, listen_port only if nonzero, fwmark only if nonzero; per peer every field except
 * endpoint (only if known) is always present; then `errno=0` and the blank line.
 */
export function formatGet(s: UapiDeviceSnapshot): string {
  const out: string[] = [];
  if (s.privateKey && !isZero(s.privateKey)) out.push(`private_key=${hex(s.privateKey)}`);
  if (s.listenPort !== 0) out.push(`listen_port=${s.listenPort}`);
  if (s.fwmark !== 0) out.push(`fwmark=${s.fwmark}`);
  for (const p of s.peers) {
    out.push(`public_key=${hex(p.publicKey)}`);
    out.push(`preshared_key=${p.presharedKey ? hex(p.presharedKey) : ZERO_KEY}`);
    out.push('protocol_version=1');
    if (p.endpoint !== null) out.push(`endpoint=${p.endpoint}`);
    const ms = Math.max(0, p.lastHandshakeMs);
    const sec = Math.floor(ms / 1000);
    const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
    out.push(`last_handshake_time_sec=${sec}`);
    out.push(`last_handshake_time_nsec=${nsec}`);
    out.push(`tx_bytes=${p.txBytes}`);
    out.push(`rx_bytes=${p.rxBytes}`);
    out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    for (const a of p.allowedIps) out.push(`allowed_ip=${a}`);
  }
  out.push('errno=0', '', '');
  return out.join('\n');
}
