import { keyToBase64 } from '../crypto/keys.js';
import type { EmbeddedRelay } from './relay-embed.js';
import type { Registry } from './registry.js';
import type { RelayInfo, RelayStatusView } from '../wire/control.js';

// The console's relays page: the relay map as published, and for the embedded relay
// the nodes connected to it now. A standalone relay's clients are its own to know
// (its --metrics-listen), so they are null here.
export function relayStatus(map: RelayInfo[], embedded: EmbeddedRelay, registry: Registry): RelayStatusView[] {
  return map.map((r) => {
    if (!embedded.server || r.id !== embedded.id) return { ...r, embedded: false, clients: null };
    const clients = embedded.server.connectedKeys().map((k) => registry.byPublicKey(keyToBase64(k))?.name ?? keyToBase64(k));
    return { ...r, embedded: true, clients: clients.sort() };
  });
}
