// The control protocol version (agent <-> coordinator, src/wire/control.ts) and its log.
// Every change to a wire shape bumps CONTROL_PROTOCOL_VERSION and adds one entry to
// CONTROL_PROTOCOL_LOG; docs/CONTROL-PROTOCOL.md "Change log" has the same entries, in
// the same order, with the details (test/unit/wire-version.test.ts checks both).

export const CONTROL_PROTOCOL_VERSION = 9;
/** Oldest request version the coordinator still accepts. */
export const MIN_CONTROL_PROTOCOL_VERSION = 1;
/**
 * v5: the map-stream upgrade request carries the agent's protocol version in this
 * header. Absent (agents up to v4) or below 5: the coordinator sends no forwarding
 * (`dsts`) rules, which such an agent would take for rules about its own addresses.
 */
export const VERSION_HEADER = 'weft-protocol-version';
/** The first version whose agents understand FilterRule.dsts. */
export const FORWARD_RULES_VERSION = 5;
/**
 * v7: the agent signs its version into the Authorization header (`v=7`, node-auth.ts);
 * the coordinator then MACs 2xx answers (RESPONSE_MAC_HEADER) and every map-stream frame
 * (binary: 32-byte MAC || JSON) under keys derived from the node-auth key and the
 * request's nonce. Agents before v7 (no `v`) keep the plain JSON text stream.
 */
export const SEALED_VERSION = 7;
/**
 * v8: a map-stream upgrade request may carry `<epoch>.<seq>` (the netmap's `epoch` and the
 * last seq the agent applied) in this header; when the coordinator instance still holds
 * every change since, the stream starts with one delta of only what was missed (peers
 * changed since: upserted if visible, else removed; self and packetFilter always) instead
 * of a full netmap. Another epoch (instance or restart), a gap older than a few minutes
 * or one holding a policy edit gets a full netmap, as before.
 */
export const RESUME_HEADER = 'weft-resume';

export interface ProtocolVersion {
  version: number;
  summary: string;
}

/** One entry per version, oldest first. */
export const CONTROL_PROTOCOL_LOG: readonly ProtocolVersion[] = [
  { version: 1, summary: 'initial wire types and node key-possession auth' },
  { version: 2, summary: 'NodeView.expired; MIN_CONTROL_PROTOCOL_VERSION' },
  { version: 3, summary: 'access policy and MagicDNS (packetFilter, dns), and the relay map (relays, relay:<id> endpoints)' },
  { version: 4, summary: 'subnet routers and exit nodes (advertised/approved routes, routes message)' },
  { version: 5, summary: 'forwarding rules (FilterRule.dsts) for agents that announce VERSION_HEADER >= 5' },
  { version: 6, summary: 'node key expiry management (RegisterRequest.reauth, expire/extend)' },
  { version: 7, summary: 'signed version, MACed answers and sealed map-stream frames' },
  { version: 8, summary: 'map-stream resume from <epoch>.<seq> (RESUME_HEADER, NetMap.epoch)' },
  { version: 9, summary: 'MagicDNS records beyond nodes (DnsConfig.records) and the admin dns/records API' },
];
