import type { RelayInfo } from '../wire/control.js';
import { RELAY_DEFAULT_PATH } from '../wire/relay.js';
import type { ServerlessMember } from './view.js';

// The relay map without a coordinator: every live member that volunteered (`--relay`)
// serves the relay on TCP at the same port number as its UDP socket, and answers STUN on
// that UDP socket. We reach it where its gossip comes from (its `reachAt`), so the URL
// may differ between members but its id, the member's name (unique in the trust set),
// is the same everywhere.
//
// Only one relay member is in use at a time: the live one with the lowest name. A peer's
// home relay is not gossiped, so a member sends relayed packets through its own home;
// one relay for everyone means every pair meets there. The others are standbys: when
// the one in use dies (SWIM), every member moves to the next at the same time.

export function memberRelays(members: readonly ServerlessMember[]): RelayInfo[] {
  const live = members
    .filter((m) => m.relay && m.reachAt !== null && (m.state === 'alive' || m.state === 'suspect'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return live.slice(0, 1).map((m) => ({ id: m.name, url: `ws://${m.reachAt}${RELAY_DEFAULT_PATH}`, stun: [m.reachAt!] }));
}
