import ipaddr from 'ipaddr.js';
import { keyFromBase64 } from '../crypto/keys.js';
import type { DnsConfig, FilterRule, NetMap, NodeView, RelayInfo, ServerMessage } from './control.js';

// Decoders for what crosses the control wire, used by the side that receives it: the
// agent decodes ServerMessage (and the relay list inside it), the coordinator decodes
// ClientMessage. Untrusted input: nothing here throws; a malformed message is dropped
// (null) and an invalid item inside a valid message is dropped alone, and each drop is
// counted in the caller's DecodeStats.

export interface DecodeStats {
  /** Whole messages dropped: not JSON, not an object, or not a message we know. */
  malformed: number;
  /** Items (peers, removals, relays) dropped from otherwise valid messages. */
  droppedItems: number;
}

export const newDecodeStats = (): DecodeStats => ({ malformed: 0, droppedItems: 0 });

const isStr = (x: unknown): x is string => typeof x === 'string';

/** `xs` without the items `keep` rejects; the rejected ones are counted. */
function keepValid<T>(xs: unknown[], keep: (x: unknown) => x is T, stats: DecodeStats | undefined): T[] {
  const out = xs.filter(keep);
  if (stats) stats.droppedItems += xs.length - out.length;
  return out;
}

/** True when `x` has every field the agent relies on, with valid keys and addresses. */
export function isValidNodeView(x: unknown): x is NodeView {
  if (typeof x !== 'object' || x === null) return false;
  const n = x as Record<string, unknown>;
  if (!isStr(n.name) || !isStr(n.fqdn) || !isStr(n.publicKey) || !isStr(n.ipv4) || !isStr(n.ipv6)) return false;
  if (!Array.isArray(n.endpoints) || !n.endpoints.every(isStr) || typeof n.online !== 'boolean') return false;
  try {
    keyFromBase64(n.publicKey);
  } catch {
    return false;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(n.ipv4) && ipaddr.IPv6.isValid(n.ipv6) && !n.ipv6.includes('%');
}

function isDnsConfig(x: unknown): x is DnsConfig {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return typeof d.magicDns === 'boolean' && isStr(d.resolverIPv4) && ipaddr.IPv4.isValidFourPartDecimal(d.resolverIPv4) && typeof d.routes === 'object' && d.routes !== null;
}

function isRelayInfo(r: unknown): r is RelayInfo {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return typeof o.id === 'string' && typeof o.url === 'string' && /^wss?:\/\//.test(o.url) && Array.isArray(o.stun) && o.stun.every((s) => typeof s === 'string');
}

/** The well-formed relays of a netmap's `relays` (protocol v3); anything else is dropped. */
export function validRelays(x: unknown, stats?: DecodeStats): RelayInfo[] {
  if (!Array.isArray(x)) return [];
  return keepValid(x, isRelayInfo, stats);
}

/**
 * Parses one stream message; null when it is not valid JSON or not a message we know.
 * Invalid peers inside an otherwise valid message are dropped, not fatal.
 */
export function parseServerMessage(text: string, stats?: DecodeStats): ServerMessage | null {
  const msg = decodeServerMessage(text, stats);
  if (msg === null && stats) stats.malformed++;
  return msg;
}

function decodeServerMessage(text: string, stats: DecodeStats | undefined): ServerMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const msg = m as Record<string, unknown>;
  switch (msg.type) {
    case 'full': {
      const nm = msg.netmap as Record<string, unknown> | undefined;
      if (!nm || typeof nm.seq !== 'number' || !isValidNodeView(nm.self) || !Array.isArray(nm.peers)) return null;
      if (!isStr(nm.domain) || !isStr(nm.ipv4Range) || !isStr(nm.ipv6Range)) return null;
      const netmap: NetMap = { ...(nm as unknown as NetMap), peers: keepValid(nm.peers, isValidNodeView, stats) };
      if (nm.packetFilter !== undefined && !Array.isArray(nm.packetFilter)) delete netmap.packetFilter;
      if (nm.dns !== undefined && !isDnsConfig(nm.dns)) delete netmap.dns;
      return { type: 'full', netmap };
    }
    case 'delta': {
      if (typeof msg.seq !== 'number' || !Array.isArray(msg.upserts) || !Array.isArray(msg.removals)) return null;
      if (msg.self !== undefined && !isValidNodeView(msg.self)) return null;
      return {
        type: 'delta',
        seq: msg.seq,
        upserts: keepValid(msg.upserts, isValidNodeView, stats),
        removals: keepValid(msg.removals, isStr, stats),
        ...(msg.self ? { self: msg.self as NodeView } : {}),
        ...(Array.isArray(msg.packetFilter) ? { packetFilter: msg.packetFilter as FilterRule[] } : {}),
        ...(isDnsConfig(msg.dns) ? { dns: msg.dns } : {}),
      };
    }
    case 'pong':
      return typeof msg.id === 'number' ? { type: 'pong', id: msg.id } : null;
    case 'error':
      return { type: 'error', code: isStr(msg.code) ? msg.code : 'unknown', message: isStr(msg.message) ? msg.message : '' };
    default:
      return null;
  }
}

/**
 * A ClientMessage as far as its shape goes; the coordinator validates the contents of
 * `endpoints` and `routes` itself (they become 400-style errors naming the item).
 */
export type DecodedClientMessage =
  | { type: 'ping'; id: number }
  | { type: 'endpoints'; endpoints: unknown }
  | { type: 'routes'; routes: unknown }
  | { type: 'status'; version: unknown; paths: unknown };

/** A malformed client message: the `error` the coordinator answers with. */
export interface ClientMessageError {
  error: { code: 'ERR_BAD_MESSAGE'; message: string };
}

const bad = (message: string): ClientMessageError => ({ error: { code: 'ERR_BAD_MESSAGE', message } });

/** Decodes one map-stream frame from a node (`text` null: it was binary). */
export function parseClientMessage(text: string | null, stats?: DecodeStats): DecodedClientMessage | ClientMessageError {
  const r = decodeClientMessage(text);
  if ('error' in r && stats) stats.malformed++;
  return r;
}

function decodeClientMessage(text: string | null): DecodedClientMessage | ClientMessageError {
  let msg: unknown;
  try {
    if (text === null) throw new Error('binary');
    msg = JSON.parse(text);
  } catch {
    return bad('messages must be JSON text');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return bad('message must be a JSON object');
  const m = msg as Record<string, unknown>;
  const keys = Object.keys(m).sort().join(',');
  switch (m.type) {
    case 'ping':
      return keys === 'id,type' && Number.isSafeInteger(m.id) ? { type: 'ping', id: m.id as number } : bad('ping needs exactly an integer id');
    case 'endpoints':
      return keys === 'endpoints,type' ? { type: 'endpoints', endpoints: m.endpoints } : bad('endpoints needs exactly an endpoints array');
    case 'routes':
      // v4: the routes this node advertises (subnet router / exit node).
      return keys === 'routes,type' ? { type: 'routes', routes: m.routes } : bad('routes needs exactly a routes array');
    case 'status':
      // The agent's version and peer paths for the admin console (only when the netmap asked).
      return keys === 'paths,type,version' ? { type: 'status', version: m.version, paths: m.paths } : bad('status needs exactly version and paths');
    default:
      return bad('unknown message type');
  }
}
