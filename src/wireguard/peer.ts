import type { PresharedKey, PublicKey } from '../crypto/keys.js';
import type { Endpoint } from '../io/endpoint.js';
import { CookieGenerator } from './cookie.js';
import { Keypairs } from './keypair.js';
import { Handshake } from './noise-protocol.js';
import { PeerTimers } from './timers.js';
import type { Device } from './device.js';
import { QUEUE_STAGED_SIZE } from './constants.js';

// A Peer holds everything the device knows about one remote static key: its handshake,
// sessions, endpoint, counters, timers and packets waiting for a session.
export class Peer {
  readonly handshake: Handshake;
  readonly cookieGenerator: CookieGenerator;
  readonly keypairs = new Keypairs();
  readonly timers: PeerTimers;
  endpoint: Endpoint | null = null;
  persistentKeepalive = 0; // seconds, 0 = off
  rxBytes = 0;
  txBytes = 0;
  /** Authenticated messages (transport, keepalive, handshake) in and out; read by metrics. */
  rxPackets = 0;
  txPackets = 0;
  /** Completed handshakes (sessions confirmed), as initiator or responder. */
  handshakes = 0;
  lastHandshakeWallMs = 0;
  lastSentHandshake = -Infinity;
  /** Set once the initiator rekeys on receive near REJECT_AFTER_TIME; cleared on the next session. */
  sentLastMinuteHandshake = false;
  /** Packets (padded plaintext copies) waiting for a session; an empty one is a keepalive. */
  staged: Uint8Array[] = [];

  constructor(
    readonly device: Device,
    readonly publicKey: PublicKey,
    presharedKey?: PresharedKey,
  ) {
    this.handshake = new Handshake(publicKey, presharedKey);
    this.cookieGenerator = new CookieGenerator(publicKey, device.clock);
    this.timers = new PeerTimers(this);
  }

  stage(packet: Uint8Array): void {
    if (this.staged.length >= QUEUE_STAGED_SIZE) this.staged.shift();
    this.staged.push(packet);
  }
}
