import { keyFromBase64 } from '../crypto/keys.js';
import type { NodeView } from '../wire/control.js';
import { counterFrom, emitFields, gaugeFrom, Registry, snakeReason, type Labels } from '../metrics/index.js';
import type { PacketFilter } from '../policy/index.js';
import type { Device, PeerStatusView } from '../wireguard/device.js';
import type { AgentNat } from './nat.js';
import { peerStatus, withPath } from './status.js';

// The agent's /metrics (`weft up --metrics-listen`): everything is read at scrape time
// from the counters the engine, the packet filter and MagicBind keep anyway, so the
// packet path does no metrics work. Peers are labelled by their mesh name.

export interface AgentMetricsSource {
  readonly peers: ReadonlyMap<string, NodeView>;
  readonly device: Device | null;
  readonly filter: PacketFilter | null;
  readonly nat: AgentNat | null;
  readonly connected: boolean;
}

const PATHS = ['direct', 'relay', 'none'] as const;

export function agentMetrics(a: AgentMetricsSource): Registry {
  const reg = new Registry();
  const eachPeer = (fn: (p: PeerStatusView, v: NodeView, labels: Labels) => void): void => {
    const dev = a.device;
    if (!dev) return;
    for (const [k, v] of a.peers) {
      const p = dev.peerStatus(keyFromBase64(k));
      if (p) fn(p, v, { peer: v.name });
    }
  };
  const perPeer = (name: string, help: string, read: (p: PeerStatusView) => number): void =>
    counterFrom(reg, { name, help, labelNames: ['peer'] }, (emit) => eachPeer((p, _v, l) => emit(read(p), l)));

  gaugeFrom(reg, { name: 'weft_agent_coordinator_connected', help: '1 while the map stream to the coordinator is up.' }, (emit) => emit(a.connected ? 1 : 0));
  gaugeFrom(reg, { name: 'weft_agent_peers', help: 'Peers in the netmap.' }, (emit) => emit(a.peers.size));
  perPeer('weft_agent_peer_handshakes_total', 'Completed WireGuard handshakes with the peer.', (p) => p.handshakes);
  perPeer('weft_agent_peer_received_bytes_total', 'Authenticated WireGuard bytes received from the peer.', (p) => p.rxBytes);
  perPeer('weft_agent_peer_sent_bytes_total', 'WireGuard bytes sent to the peer.', (p) => p.txBytes);
  perPeer('weft_agent_peer_received_packets_total', 'Authenticated WireGuard messages received from the peer.', (p) => p.rxPackets);
  perPeer('weft_agent_peer_sent_packets_total', 'WireGuard messages sent to the peer.', (p) => p.txPackets);
  gaugeFrom(reg, { name: 'weft_agent_peer_last_handshake_timestamp_seconds', help: 'Unix time of the latest handshake with the peer (0 = none).', labelNames: ['peer'] }, (emit) =>
    eachPeer((p, _v, l) => emit(p.lastHandshakeWallMs / 1000, l)),
  );
  gaugeFrom(reg, { name: 'weft_agent_peer_path', help: '1 for the path the peer is reached on now (direct, relay or none).', labelNames: ['peer', 'path'] }, (emit) =>
    eachPeer((p, v, l) => {
      const now = withPath(peerStatus(v, p), a.nat?.path(v.publicKey)).path;
      for (const path of PATHS) emit(now === path ? 1 : 0, { ...l, path });
    }),
  );
  counterFrom(reg, { name: 'weft_agent_path_changes_total', help: 'Peer path changes, by the path moved to.', labelNames: ['to'] }, (emit) => {
    const c = a.nat?.pathChanges;
    if (c) for (const to of PATHS) emit(c[to], { to });
  });
  counterFrom(reg, { name: 'weft_agent_engine_dropped_packets_total', help: 'Packets the WireGuard engine dropped, by reason.', labelNames: ['reason'] }, (emit) => {
    const s = a.device?.stats;
    if (s) for (const [k, v] of Object.entries(s.toJSON())) if (k !== 'cookieRepliesSent') emit(v, { reason: snakeReason(k) });
  });
  counterFrom(reg, { name: 'weft_agent_engine_cookie_replies_sent_total', help: 'Handshakes answered with a cookie reply (under load).' }, (emit) => emit(a.device?.stats.cookieRepliesSent ?? 0));
  counterFrom(reg, { name: 'weft_agent_filter_packets_total', help: 'Packet filter verdicts on packets from the tunnel, by reason.', labelNames: ['verdict', 'reason'] }, (emit) => {
    const s = a.filter?.stats;
    if (!s) return;
    emit(s.accepted - s.acceptedNonSyn - s.acceptedTracked - s.acceptedFragments, { verdict: 'accepted', reason: 'rule' });
    emitFields(emit, s, 'accepted', 'reason', { verdict: 'accepted' });
    emitFields(emit, s, 'dropped', 'reason', { verdict: 'dropped' });
  });
  counterFrom(reg, { name: 'weft_agent_magicsock_dropped_packets_total', help: 'Packets NAT traversal dropped, by reason.', labelNames: ['reason'] }, (emit) => {
    const s = a.nat?.magic.stats;
    if (!s) return;
    emit(s.relayDrops, { reason: 'relay' });
    emit(s.noPathDrops, { reason: 'no_path' });
    emit(s.malformed, { reason: 'malformed' });
    emit(s.wgUnknownSource, { reason: 'unknown_source' });
    emit(s.discoBad, { reason: 'bad_disco' });
  });
  counterFrom(reg, { name: 'weft_agent_relay_packets_total', help: 'WireGuard packets carried by a relay, by direction.', labelNames: ['direction'] }, (emit) => {
    const s = a.nat?.magic.stats;
    if (s) emit(s.relayTx, { direction: 'sent' }), emit(s.relayRx, { direction: 'received' });
  });
  counterFrom(reg, { name: 'weft_agent_direct_sent_packets_total', help: 'WireGuard packets sent on a direct UDP path.' }, (emit) => emit(a.nat?.magic.stats.directTx ?? 0));
  return reg;
}
