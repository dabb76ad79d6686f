import { counterFrom, emitFields, gaugeFrom, type Registry } from '../metrics/index.js';
import type { RelayServer } from './server.js';

// The relay's series, read from RelayServer.stats at scrape time. `server` is a getter:
// the embedded relay exists only while `weft server` runs (null = no relay, no values).

export function registerRelayMetrics(reg: Registry, server: () => RelayServer | null): void {
  const s = () => server()?.stats;
  gaugeFrom(reg, { name: 'weft_relay_clients', help: 'Authenticated clients connected to the relay.' }, (emit) => emit(server()?.clientCount ?? 0));
  counterFrom(reg, { name: 'weft_relay_forwarded_packets_total', help: 'Packets the relay forwarded to a connected client.' }, (emit) => emit(s()?.packetsForwarded ?? 0));
  counterFrom(reg, { name: 'weft_relay_forwarded_bytes_total', help: 'Payload bytes the relay forwarded.' }, (emit) => emit(s()?.bytesForwarded ?? 0));
  counterFrom(reg, { name: 'weft_relay_dropped_packets_total', help: 'Packets the relay dropped, by reason.', labelNames: ['reason'] }, (emit) => emitFields(emit, s(), 'dropped', 'reason'));
  counterFrom(reg, { name: 'weft_relay_connections_total', help: 'Client connections by outcome: accepted, refused, replaced, revoked (node deleted or expired), busy (503).', labelNames: ['result'] }, (emit) => {
    const st = s();
    if (st) for (const result of ['accepted', 'refused', 'replaced', 'revoked'] as const) emit(st[result], { result });
    if (st) emit(st.refusedBusy, { result: 'busy' }); // 503: too many sockets still authenticating
  });
  counterFrom(reg, { name: 'weft_relay_bad_frames_total', help: 'Frames that did not parse or were over the size limit.', labelNames: ['reason'] }, (emit) => {
    const st = s();
    if (st) emit(st.malformedFrames, { reason: 'malformed' }), emit(st.oversizeFrames, { reason: 'oversize' });
  });
}
