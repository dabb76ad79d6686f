import { equalBytes } from '../crypto/constant-time.js';
import { isZeroKey, keyToBase64, presharedKeyFromBytes, privateKeyFromBytes, publicKeyFromPrivate, publicKeyFromBytes, type PresharedKey, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { InvalidArgumentError } from '../errors.js';
import { Endpoint } from '../io/endpoint.js';
import { formatPrefix, parsePrefix, type Prefix } from '../net/prefix.js';
import type { UapiDeviceChange, UapiDeviceSnapshot, UapiPeerChange } from './uapi.js';

// The engine's whole configuration as one value (what `wg setconf` describes, plus the
// agent's handshake-on-add hint). Device.reconfigure diffs it against what runs: peers
// left unchanged keep their sessions and timers, peers absent are torn down, a peer's
// allowed IPs are replaced in one synchronous step. The agent and the UAPI server both
// configure the engine only through it; nothing outside src/wireguard writes engine fields.

export interface PeerConfig {
  publicKey: Uint8Array;
  /** Absent or null: none (all zeros). */
  presharedKey?: Uint8Array | null;
  /**
   * Where to send. Absent: keep what the engine has (configured or learned by roaming);
   * null: none. A string is `host:port` / `[v6]:port`.
   */
  endpoint?: Endpoint | string | null;
  /** The complete list (CIDR text); replaces the peer's previous one. */
  allowedIps: readonly string[];
  /** Seconds, 0 or absent = off. */
  persistentKeepalive?: number;
  /**
   * Handshake as soon as this reconfigure adds the peer (it is known to be online), so a
   * restarted node replaces the session the peer still holds. Crossing initiations are
   * resolved by the device's crossingWaitMs option (handshake-initiator.ts).
   */
  initiate?: boolean;
}

export interface DeviceConfig {
  /** null: no key (the device answers nothing). */
  privateKey: Uint8Array | null;
  /** Absent: keep the current port. 0 picks a random one. */
  listenPort?: number;
  /** Absent: keep the current mark. */
  fwmark?: number;
  peers: readonly PeerConfig[];
}

/** A PeerConfig with every field parsed, so applying it cannot fail half-way. */
export interface ParsedPeerConfig {
  publicKey: PublicKey;
  hex: string;
  presharedKey: PresharedKey;
  endpoint: Endpoint | null | undefined;
  allowedIps: Prefix[];
  /** Canonical, sorted, joined: equal text means equal sets. */
  allowedIpsText: string;
  persistentKeepalive: number;
  initiate: boolean;
}

export interface ParsedDeviceConfig {
  privateKey: PrivateKey | null;
  listenPort: number | undefined;
  fwmark: number | undefined;
  peers: ParsedPeerConfig[];
}

const ZERO_KEY = new Uint8Array(32);

export function prefixesText(prefixes: readonly Prefix[]): string {
  return prefixes.map(formatPrefix).sort().join(',');
}

/** Validates a whole config (throws InvalidArgumentError naming the bad field); a later peer with the same key wins. */
export function parseDeviceConfig(cfg: DeviceConfig): ParsedDeviceConfig {
  const peers = new Map<string, ParsedPeerConfig>();
  for (const p of cfg.peers) {
    const publicKey = publicKeyFromBytes(p.publicKey);
    const hex = Buffer.from(publicKey).toString('hex');
    const allowedIps = p.allowedIps.map(parsePrefix);
    const keepalive = p.persistentKeepalive ?? 0;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) throw new InvalidArgumentError(`persistent keepalive of ${keyToBase64(publicKey)}: ${keepalive}`);
    peers.set(hex, {
      publicKey,
      hex,
      presharedKey: presharedKeyFromBytes(p.presharedKey ?? ZERO_KEY),
      endpoint: typeof p.endpoint === 'string' ? Endpoint.parse(p.endpoint) : p.endpoint,
      allowedIps,
      allowedIpsText: prefixesText(allowedIps),
      persistentKeepalive: keepalive,
      initiate: p.initiate ?? false,
    });
  }
  const privateKey = cfg.privateKey && !isZeroKey(cfg.privateKey) ? privateKeyFromBytes(cfg.privateKey) : null;
  return { privateKey, listenPort: cfg.listenPort, fwmark: cfg.fwmark, peers: [...peers.values()] };
}

/**
 * A `wg set` request as a whole configuration: what runs now (`snapshot`) with the
 * change applied in UAPI order (replace_peers, then each section's replace, remove,
 * add). The UAPI server thus goes through the same reconfigure as the agent.
 */
export function configFromUapi(snapshot: UapiDeviceSnapshot, change: UapiDeviceChange): DeviceConfig {
  const peers = new Map<string, PeerConfig & { allowedIps: string[] }>();
  // Which peer holds each (canonical) prefix: a section taking one from another peer
  // (AllowedIPs.insert) then costs O(1), so `wg setconf` of 10k peers stays linear.
  const owner = new Map<string, string>();
  const release = (hex: string, ips: Iterable<string>): void => {
    for (const c of ips) if (owner.get(c) === hex) owner.delete(c);
  };
  if (!change.replacePeers) {
    for (const p of snapshot.peers) {
      const hex = Buffer.from(p.publicKey).toString('hex');
      const allowedIps = p.allowedIps.map((c) => formatPrefix(parsePrefix(c)));
      for (const c of allowedIps) owner.set(c, hex);
      peers.set(hex, {
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        endpoint: undefined, // keep whatever the engine has
        allowedIps,
        persistentKeepalive: p.persistentKeepalive,
      });
    }
  }
  for (const pc of change.peers) {
    const hex = Buffer.from(pc.publicKey).toString('hex');
    let peer = peers.get(hex);
    if (pc.remove) {
      if (peer) release(hex, peer.allowedIps);
      peers.delete(hex);
      continue;
    }
    if (!peer) {
      if (pc.updateOnly) continue;
      peer = { publicKey: pc.publicKey, allowedIps: [] };
      peers.set(hex, peer);
    }
    if (pc.presharedKey !== undefined) peer.presharedKey = pc.presharedKey;
    if (pc.endpoint !== undefined) peer.endpoint = pc.endpoint;
    if (pc.persistentKeepalive !== undefined) peer.persistentKeepalive = pc.persistentKeepalive;
    if (pc.replaceAllowedIps) release(hex, peer.allowedIps);
    release(hex, pc.removeAllowedIps);
    const drop = new Set(pc.removeAllowedIps);
    const ips = new Set(pc.replaceAllowedIps ? [] : peer.allowedIps.filter((c) => !drop.has(c)));
    for (const c of pc.addAllowedIps) {
      const from = owner.get(c);
      if (from !== undefined && from !== hex) {
        const other = peers.get(from)!;
        other.allowedIps = other.allowedIps.filter((o) => o !== c);
      }
      owner.set(c, hex);
      ips.add(c);
    }
    peer.allowedIps = [...ips];
  }
  return {
    privateKey: change.privateKey !== undefined ? change.privateKey : snapshot.privateKey,
    listenPort: change.listenPort,
    fwmark: change.fwmark,
    peers: [...peers.values()],
  };
}

/**
 * The inverse of configFromUapi, for an engine driven over UAPI (wireguard-go): the
 * smallest `set=1` change that makes `snapshot` run `config`, so untouched peers keep
 * their sessions, as Device.reconfigure does in-process. UAPI cannot clear an endpoint,
 * so a null endpoint leaves the engine's one; `initiate` has no UAPI form (the engine
 * handshakes on the first packet).
 */
export function uapiChangeFor(snapshot: UapiDeviceSnapshot, config: DeviceConfig): UapiDeviceChange {
  const cfg = parseDeviceConfig(config);
  const change: UapiDeviceChange = { replacePeers: false, peers: [] };
  // By public key: an engine may report the key clamped or as given.
  const pub = (k: Uint8Array | null) => (k && !isZeroKey(k) ? publicKeyFromPrivate(privateKeyFromBytes(k)) : ZERO_KEY);
  if (!equalBytes(pub(snapshot.privateKey), pub(cfg.privateKey))) change.privateKey = cfg.privateKey ?? ZERO_KEY;
  if (cfg.listenPort !== undefined && cfg.listenPort !== snapshot.listenPort && !(cfg.listenPort === 0 && snapshot.listenPort !== 0)) change.listenPort = cfg.listenPort;
  if (cfg.fwmark !== undefined && cfg.fwmark !== snapshot.fwmark) change.fwmark = cfg.fwmark;
  const running = new Map(snapshot.peers.map((p) => [Buffer.from(p.publicKey).toString('hex'), p]));
  const wanted = new Set(cfg.peers.map((p) => p.hex));
  for (const [hex, p] of running) {
    if (!wanted.has(hex)) change.peers.push({ publicKey: p.publicKey, remove: true, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] });
  }
  for (const pc of cfg.peers) {
    const old = running.get(pc.hex);
    const pch: UapiPeerChange = { publicKey: pc.publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] };
    if (!equalBytes(old?.presharedKey ?? ZERO_KEY, pc.presharedKey)) pch.presharedKey = pc.presharedKey;
    if (pc.endpoint && pc.endpoint.key !== old?.endpoint) pch.endpoint = pc.endpoint.key;
    if (pc.persistentKeepalive !== (old?.persistentKeepalive ?? 0)) pch.persistentKeepalive = pc.persistentKeepalive;
    if (!old || prefixesText(old.allowedIps.map(parsePrefix)) !== pc.allowedIpsText) {
      pch.replaceAllowedIps = true;
      pch.addAllowedIps = pc.allowedIps.map(formatPrefix);
    }
    const changed = pch.presharedKey || pch.endpoint || pch.persistentKeepalive !== undefined || pch.replaceAllowedIps;
    if (changed) change.peers.push(pch);
  }
  return change;
}
