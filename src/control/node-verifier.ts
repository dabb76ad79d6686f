import { keyToBase64, type PrivateKey } from '../crypto/keys.js';
import type { Clock } from '../clock.js';
import { NODE_AUTH_MAX_SKEW_SECONDS, nodeAuthKey, parseNodeAuth, verifyNodeRequest } from './node-auth.js';
import { unauthorized } from './errors.js';

// Bounds memory under a flood of validly-signed requests; beyond it, requests are
// refused until old MACs age out of the skew window rather than forgetting them early.
const MAX_REPLAY_ENTRIES = 200_000;

/**
 * Server side of node-auth.ts: checks the MAC, the timestamp skew, and that the MAC was
 * not seen before within the window (a captured request cannot be replayed).
 */
export class NodeVerifier {
  private readonly seen = new Map<string, number>();

  constructor(private readonly serverPrivate: PrivateKey, private readonly clock: Clock) {}

  /** Returns the node's public key (base64) or throws a 401 ControlError. */
  verify(header: string | undefined, method: string, path: string, body: Uint8Array): string {
    if (!header) throw unauthorized('ERR_UNAUTHENTICATED', 'missing Authorization header', 'authorization');
    const auth = parseNodeAuth(header);
    if (!auth) throw unauthorized('ERR_AUTH_MALFORMED', 'malformed Weft-Node Authorization header', 'authorization');
    const nowS = Math.floor(this.clock.wallNow() / 1000);
    if (Math.abs(nowS - auth.ts) > NODE_AUTH_MAX_SKEW_SECONDS) throw unauthorized('ERR_AUTH_STALE', 'request timestamp outside the allowed clock skew', 'authorization');
    const key = nodeAuthKey(this.serverPrivate, auth.publicKey);
    if (!key || !verifyNodeRequest(key, auth, method, path, body)) throw unauthorized('ERR_AUTH_BAD_MAC', 'request signature does not verify', 'authorization');
    const macId = keyToBase64(auth.mac);
    this.prune(nowS);
    if (this.seen.has(macId)) throw unauthorized('ERR_AUTH_REPLAY', 'request was already seen (replay)', 'authorization');
    if (this.seen.size >= MAX_REPLAY_ENTRIES) throw unauthorized('ERR_AUTH_BUSY', 'too many requests in the replay window', 'authorization');
    this.seen.set(macId, auth.ts + NODE_AUTH_MAX_SKEW_SECONDS);
    return keyToBase64(auth.publicKey);
  }

  // Entries are inserted in arrival order, and expiry is roughly monotonic in it, so
  // pruning from the front touches only entries that are due.
  private prune(nowS: number): void {
    for (const [mac, until] of this.seen) {
      if (until >= nowS) break;
      this.seen.delete(mac);
    }
  }
}
