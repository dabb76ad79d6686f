import type { RelayInfo } from '../wire/control.js';
import { RELAY_DEFAULT_PATH } from '../wire/relay.js';
import type { ServerlessMember } from './view.js';

// The relay map without a coordinator: every live member that volunteered (`--relay`)
// serves the relay on TCP at the same port number as its UDP socket, and answers STUN on
// that UDP socket. We reach it where its gossip comes from (its `reachAt`), so the URL
// may differ between members but its id, the member's name (unique in the trust set),
// is the same everywhere: that id is what a `relay:<id>` home relay names.

export function memberRelays(members: readonly ServerlessMember[]): RelayInfo[] {
  return members
    .filter((m) => m.relay && m.reachAt !== null && (m.state === 'alive' || m.state === 'suspect'))
    .map((m) => ({ id: m.name, url: `ws://${m.reachAt}${RELAY_DEFAULT_PATH}`, stun: [m.reachAt!] }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
