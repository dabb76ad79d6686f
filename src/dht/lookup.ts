import { compareDistance, idHex, type NodeId } from './id.js';
import type { PeerRecord } from './records.js';
import type { Peer } from './rpc.js';
import type { DhtMessage } from './wire.js';

// The iterative lookup (Kademlia §2.3): keep a shortlist sorted by distance to the
// target, have up to α requests in flight to the closest contacts not yet asked, merge
// the contacts each answer brings, and stop when the k closest that answered have all
// been asked (nothing closer is left to try). FIND_VALUE stops at the first record that
// passes the node's checks (signature, trust set, expiry). The shortlist is bounded:
// contacts beyond the closest `k × 3` are never kept, so a node answering with junk
// cannot grow it. Hops: the contacts we started from are hop 1, a contact learnt from a
// hop-h answer is hop h+1; the result reports the hop of the answer that ended it.

export interface LookupContact extends Peer {
  id: NodeId;
}

export interface LookupDeps {
  k: number;
  alpha: number;
  /** Sends a request; `done(null)` on timeout. */
  query(to: LookupContact, type: 'findNode' | 'findValue', target: NodeId, done: (m: DhtMessage | null) => void): void;
  /** A contact from an answer, or null to ignore it (untrusted key, ourselves). */
  admit(key: Uint8Array, endpoint: Peer['endpoint']): LookupContact | null;
  /** FIND_VALUE: is this record the one sought and valid? */
  acceptRecord?(r: PeerRecord): boolean;
}

export interface LookupResult {
  /** The closest contacts that answered, closest first (≤ k). */
  closest: LookupContact[];
  record: PeerRecord | null;
  hops: number;
  /** Requests sent. */
  messages: number;
}

type State = 'new' | 'asked' | 'answered' | 'failed';

interface Entry {
  c: LookupContact;
  state: State;
  hop: number;
}

export function lookup(target: NodeId, start: readonly LookupContact[], type: 'findNode' | 'findValue', deps: LookupDeps, done: (r: LookupResult) => void): void {
  const byId = new Map<string, Entry>();
  let list: Entry[] = [];
  let inFlight = 0;
  let messages = 0;
  let finished = false;
  const cap = deps.k * 3;

  const add = (c: LookupContact, hop: number): void => {
    const h = idHex(c.id);
    if (byId.has(h)) return;
    const e: Entry = { c, state: 'new', hop };
    byId.set(h, e);
    list.push(e);
  };
  const trim = (): void => {
    list.sort((a, b) => compareDistance(target, a.c.id, b.c.id));
    // Never drop an entry still in flight: its answer must find it.
    if (list.length > cap) list = list.filter((e, i) => i < cap || e.state === 'asked');
  };
  const finish = (record: PeerRecord | null, hop: number): void => {
    if (finished) return;
    finished = true;
    const closest = list.filter((e) => e.state === 'answered').slice(0, deps.k);
    done({ closest: closest.map((e) => e.c), record, hops: record ? hop : (closest[0]?.hop ?? 0), messages });
  };
  const pump = (): void => {
    if (finished) return;
    // Candidates: the closest k not known to have failed.
    let seen = 0;
    for (const e of list) {
      if (inFlight >= deps.alpha || seen >= deps.k) break;
      if (e.state === 'failed') continue;
      seen++;
      if (e.state !== 'new') continue;
      e.state = 'asked';
      inFlight++;
      messages++;
      deps.query(e.c, type, target, (m) => answer(e, m));
    }
    if (inFlight === 0) finish(null, 0);
  };
  const answer = (e: Entry, m: DhtMessage | null): void => {
    inFlight--;
    if (finished) return;
    if (!m) {
      e.state = 'failed';
      return pump();
    }
    e.state = 'answered';
    if (m.type === 'value' && deps.acceptRecord?.(m.record)) return finish(m.record, e.hop);
    if (m.type === 'nodes') {
      for (const w of m.contacts) {
        const c = deps.admit(w.key, w.endpoint);
        if (c) add(c, e.hop + 1);
      }
      trim();
    }
    pump();
  };

  for (const c of start) add(c, 1);
  trim();
  pump();
}
