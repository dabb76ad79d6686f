import { generatePrivateKey, isZeroKey, keyToBase64, type PrivateKey } from '../crypto/keys.js';
import { REKEY_TIMEOUT } from './constants.js';
import type { Device } from './device.js';
import { createInitiation } from './noise-protocol.js';
import type { Peer } from './peer.js';
import { tai64n } from './tai64n.js';

// The initiator's side of the Noise IK handshake (paper §5.4.2; wireguard-go
// send.go SendHandshakeInitiation): build, MAC and send message 1. The responder's side
// and message 2 live in receive.ts. Also the crossing rule for peers a reconfigure adds
// with `initiate`: when two nodes learn of each other at once, both initiations cross
// and neither completes (each overwrites the other's handshake state), so the node with
// the lower public key (base64 order, as every Weft agent compares) initiates at once
// and the other waits crossingWaitMs and initiates only if no handshake happened. Other
// crossings (both sides' first packets at once): afterCrossing and staleResponse.

/** How long the higher key waits before initiating to a newly added peer. */
export const CROSSING_WAIT_MS = 300;

/**
 * The lower key's new initiation after a crossing waits this long after the peer's stale
 * response: the peer refuses an initiation within HANDSHAKE_INITIATION_RATE (20 ms) of
 * the one it consumed (ours, just before answering it).
 */
const REINITIATE_AFTER_CROSSING_MS = 25;

export class HandshakeInitiator {
  /** The lower key's initiations that crossed the peer's: our index -> peer (one per peer). */
  private readonly crossed = new Map<number, { peer: Peer; at: number }>();

  constructor(
    private readonly device: Device,
    private readonly crossingWaitMs: number,
  ) {}

  /** Sends a handshake initiation unless one went out less than REKEY_TIMEOUT ago. */
  initiate(peer: Peer, isRetry: boolean): void {
    const dev = this.device;
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    const now = dev.clock.now();
    if (now - peer.lastSentHandshake < REKEY_TIMEOUT || !dev.identity) return;
    peer.lastSentHandshake = now;
    const hs = peer.handshake;
    if (hs.localIndex) dev.indexTable.delete(hs.localIndex);
    const idx = dev.indexTable.newIndex(peer);
    const msg = createInitiation(dev.identity, hs, idx, tai64n(dev.clock.wallNow()), this.ephemeralForKeyLog(peer));
    if (!msg) {
      dev.indexTable.delete(idx);
      return;
    }
    hs.localIndex = idx;
    peer.cookieGenerator.addMacs(msg);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    dev.sendControl(peer, msg);
    peer.timers.handshakeInitiated();
  }

  /** A peer a reconfigure just added with `initiate`: handshake now or after the crossing wait. */
  initiateNew(peer: Peer): void {
    const dev = this.device;
    if (!peer.endpoint || !dev.identity) return;
    if (keyToBase64(dev.identity.publicKey) < keyToBase64(peer.publicKey)) {
      this.initiate(peer, false);
      return;
    }
    const hs = peer.lastHandshakeWallMs;
    dev.clock.setTimeout(() => {
      // Still the same peer, no session completed or pending, no initiation of our own since.
      if (dev.isClosed || dev.lookupPeer(peer.publicKey) !== peer) return;
      if (peer.lastHandshakeWallMs === hs && !peer.keypairs.next && peer.timers.handshakeAttempts === 0) this.initiate(peer, false);
    }, this.crossingWaitMs);
  }

  /**
   * We just answered the peer's initiation while ours (index `superseded`) was in flight.
   * If the peer answers ours too, the two crossed: each side's response is dropped by the
   * other (answering overwrote the state it was for) and both wait for REKEY_TIMEOUT.
   * The lower key remembers its superseded initiation to start again when that happens.
   */
  afterCrossing(peer: Peer, superseded: number): void {
    const dev = this.device;
    if (!dev.identity || keyToBase64(dev.identity.publicKey) >= keyToBase64(peer.publicKey)) return;
    const now = dev.clock.now();
    // An initiation of ours long unanswered was lost, not crossed: its retry timer handles it.
    if (now - peer.lastSentHandshake >= REKEY_TIMEOUT) return;
    for (const [i, e] of this.crossed) if (e.peer === peer || now - e.at >= REKEY_TIMEOUT) this.crossed.delete(i);
    this.crossed.set(superseded, { peer, at: now });
  }

  /**
   * A response for no live index of ours came. If it answers an initiation that crossed,
   * the peer now holds no initiation and waits on a session we cannot confirm: initiate
   * again (once; the peer answers it). Not yet authenticated, but it names a 32-bit index
   * only our crossed initiation carried, and costs one initiation per crossing at most.
   */
  staleResponse(receiverIndex: number): void {
    const dev = this.device;
    const e = this.crossed.get(receiverIndex);
    if (!e) return;
    this.crossed.delete(receiverIndex);
    const { peer } = e;
    const current = peer.keypairs.current;
    const currentCreated = current?.created;
    // Our answer to the peer's initiation got through after all (no crossing at its end).
    if (dev.clock.now() - e.at >= REKEY_TIMEOUT || (current && current.created >= e.at)) return;
    dev.clock.setTimeout(() => {
      // Still the same peer, no session confirmed since and no initiation of ours since.
      if (dev.isClosed || dev.lookupPeer(peer.publicKey) !== peer) return;
      // (keypairs are reused: the same object may hold a newer session, with a newer `created`)
      if (peer.keypairs.current !== current || current?.created !== currentCreated || peer.handshake.localIndex !== 0) return;
      peer.lastSentHandshake = -Infinity;
      this.initiate(peer, false);
    }, REINITIATE_AFTER_CROSSING_MS);
  }

  /** With key logging on, picks the handshake's ephemeral here so it can be logged. */
  ephemeralForKeyLog(peer: Peer): PrivateKey | undefined {
    const dev = this.device;
    if (!dev.keyLog || !dev.identity) return undefined;
    const e = generatePrivateKey();
    const psk = peer.handshake.presharedKey;
    dev.keyLog(
      `LOCAL_STATIC_PRIVATE_KEY = ${keyToBase64(dev.identity.privateKey)}\n` +
        `REMOTE_STATIC_PUBLIC_KEY = ${keyToBase64(peer.publicKey)}\n` +
        `LOCAL_EPHEMERAL_PRIVATE_KEY = ${keyToBase64(e)}\n` +
        (isZeroKey(psk) ? '' : `PRESHARED_KEY = ${keyToBase64(psk)}\n`),
    );
    return e;
  }
}
