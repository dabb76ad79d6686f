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
  counterFrom(reg, { name: 'weft_relay_connections_total', help: 'Client connections by outcome of authentication.', labelNames: ['result'] }, (emit) => {
    const st = s();
    if (st) for (const result of ['accepted', 'refused', 'replaced'] as const) emit(st[result], { result });
  });
  counterFrom(reg, { name: 'weft_relay_bad_frames_total', help: 'Frames that did not parse or were over the size limit.', labelNames: ['reason'] }, (emit) => {
    const st = s();
    if (st) emit(st.malformedFrames, { reason: 'malformed' }), emit(st.oversizeFrames, { reason: 'oversize' });
  });
}
