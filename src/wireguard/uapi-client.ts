import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Endpoint } from '../io/endpoint.js';
import { UapiError, type UapiDeviceChange, type UapiDeviceSnapshot, type UapiPeerSnapshot } from './uapi.js';
import { DEFAULT_UAPI_DIR } from './uapi-server.js';

// The client side of the UAPI text protocol (https://www.wireguard.com/xplatform/), what
// `wg` speaks to a userspace engine's socket: formats `set=1` requests, parses `get=1`
// replies. uapi.ts is the server side (parseSet, formatGet); the two are each other's inverse.

/** A `get=1` reply is bounded like a request to our own server (uapi-server.ts). */
const MAX_REPLY_BYTES = 16 << 20;
const REQUEST_TIMEOUT_MS = 5_000;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The `set=1` request for `change` (with the trailing blank line). */
export function formatSet(c: UapiDeviceChange): string {
  const out = ['set=1'];
  if (c.privateKey) out.push(`private_key=${hex(c.privateKey)}`);
  if (c.listenPort !== undefined) out.push(`listen_port=${c.listenPort}`);
  if (c.fwmark !== undefined) out.push(`fwmark=${c.fwmark}`);
  if (c.replacePeers) out.push('replace_peers=true');
  for (const p of c.peers) {
    out.push(`public_key=${hex(p.publicKey)}`);
    if (p.remove) {
      out.push('remove=true');
      continue;
    }
    if (p.updateOnly) out.push('update_only=true');
    if (p.presharedKey) out.push(`preshared_key=${hex(p.presharedKey)}`);
    if (p.endpoint !== undefined) out.push(`endpoint=${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.replaceAllowedIps) out.push('replace_allowed_ips=true');
    for (const a of p.removeAllowedIps) out.push(`allowed_ip=-${a}`);
    for (const a of p.addAllowedIps) out.push(`allowed_ip=${a}`);
  }
  return out.join('\n') + '\n\n';
}

const KEY_HEX = /^[0-9a-f]{64}$/;

function key(value: string): Uint8Array {
  if (!KEY_HEX.test(value)) throw new UapiError('ERR_UAPI_PROTO', 'malformed key in get reply');
  return Uint8Array.from(Buffer.from(value, 'hex'));
}

function uint(value: string): number {
  if (!/^\d{1,20}$/.test(value)) throw new UapiError('ERR_UAPI_PROTO', `malformed number in get reply: ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

/** Throws UapiError when the reply reports an errno or is malformed. Unknown keys are skipped (newer engines add some). */
export function parseGet(text: string): UapiDeviceSnapshot {
  const snap: UapiDeviceSnapshot = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let peer: UapiPeerSnapshot | null = null;
  let sec = 0;
  let errno: number | null = null;
  for (const line of text.split('\n')) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UapiError('ERR_UAPI_PROTO', `malformed line in get reply: ${JSON.stringify(line.slice(0, 100))}`);
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    if (k === 'errno') errno = /^-?\d{1,10}$/.test(v) ? Number(v) : NaN;
    else if (k === 'public_key') {
      peer = { publicKey: key(v), presharedKey: null, endpoint: null, lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n, persistentKeepalive: 0, allowedIps: [] };
      snap.peers.push(peer);
    } else if (!peer) {
      if (k === 'private_key') snap.privateKey = key(v);
      else if (k === 'listen_port') snap.listenPort = uint(v);
      else if (k === 'fwmark') snap.fwmark = uint(v);
    } else if (k === 'preshared_key') {
      const psk = key(v);
      peer.presharedKey = psk.some((b) => b !== 0) ? psk : null;
    } else if (k === 'endpoint') peer.endpoint = Endpoint.parse(v).key;
    else if (k === 'last_handshake_time_sec') sec = uint(v);
    else if (k === 'last_handshake_time_nsec') peer.lastHandshakeMs = sec * 1000 + Math.floor(uint(v) / 1e6);
    else if (k === 'rx_bytes') peer.rxBytes = BigInt(uint(v));
    else if (k === 'tx_bytes') peer.txBytes = BigInt(uint(v));
    else if (k === 'persistent_keepalive_interval') peer.persistentKeepalive = uint(v);
    else if (k === 'allowed_ip') peer.allowedIps.push(v);
  }
  if (errno === null || Number.isNaN(errno)) throw new UapiError('ERR_UAPI_PROTO', 'get reply without a valid errno');
  if (errno !== 0) throw new UapiError('ERR_UAPI_IO', `get failed: errno=${errno}`);
  return snap;
}

/** Talks to one interface's UAPI socket (one connection per request, like `wg`). */
export class UapiClient {
  readonly socketPath: string;

  constructor(ifname: string, dir = DEFAULT_UAPI_DIR) {
    this.socketPath = join(dir, `${ifname}.sock`);
  }

  async get(): Promise<UapiDeviceSnapshot> {
    return parseGet(await this.request('get=1\n\n'));
  }

  /** Applies `change`; throws UapiError with the engine's errno when it refuses. */
  async set(change: UapiDeviceChange): Promise<void> {
    const reply = await this.request(formatSet(change));
    const m = /^errno=(-?\d+)$/m.exec(reply);
    if (!m) throw new UapiError('ERR_UAPI_PROTO', 'set reply without errno');
    if (m[1] !== '0') throw new UapiError('ERR_UAPI_IO', `set refused by the engine: errno=${m[1]}`);
  }

  /** Sends one request and reads until the reply's blank line. */
  private request(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(this.socketPath);
      let buf = '';
      const fail = (err: Error) => {
        sock.destroy();
        reject(err instanceof UapiError ? err : new UapiError('ERR_UAPI_IO', `${this.socketPath}: ${err.message}`, { cause: err }));
      };
      sock.setTimeout(REQUEST_TIMEOUT_MS, () => fail(new Error('no reply')));
      sock.on('error', fail);
      sock.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        if (buf.length > MAX_REPLY_BYTES) return fail(new UapiError('ERR_UAPI_PROTO', 'reply too large'));
        if (!buf.includes('\n\n')) return;
        sock.end();
        resolve(buf);
      });
      sock.on('end', () => (buf.includes('\n\n') ? undefined : fail(new Error('connection closed before the reply ended'))));
      sock.write(text);
    });
  }
}
