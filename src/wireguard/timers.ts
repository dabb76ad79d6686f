import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  NEW_HANDSHAKE_TIMEOUT,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  ZERO_KEY_MATERIAL_TIMEOUT,
} from './constants.js';
import { Timer } from './timer.js';
import type { Peer } from './peer.js';

// The per-peer timer state machine of the paper (§6.2–6.5), shaped like wireguard-go's
// timers.go: events from the send and receive paths arm or cancel five timers.
export class PeerTimers {
  readonly retransmitHandshake: Timer;
  readonly sendKeepalive: Timer;
  readonly newHandshake: Timer;
  readonly zeroKeyMaterial: Timer;
  readonly persistentKeepalive: Timer;
  handshakeAttempts = 0;
  needAnotherKeepalive = false;

  constructor(private readonly peer: Peer) {
    const clock = peer.device.clock;
    this.retransmitHandshake = new Timer(clock, () => this.expiredRetransmitHandshake());
    this.sendKeepalive = new Timer(clock, () => this.expiredSendKeepalive());
    this.newHandshake = new Timer(clock, () => this.expiredNewHandshake());
    this.zeroKeyMaterial = new Timer(clock, () => this.expiredZeroKeyMaterial());
    this.persistentKeepalive = new Timer(clock, () => this.expiredPersistentKeepalive());
  }

  private jitter(): number {
    return Math.floor(this.peer.device.random() * REKEY_TIMEOUT_JITTER_MAX);
  }

  private expiredRetransmitHandshake(): void {
    const peer = this.peer;
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      peer.device.logger.debug({ peer: peer.device.peerName(peer) }, 'handshake did not complete after 20 attempts, giving up');
      this.sendKeepalive.del();
      peer.staged = [];
      // Nothing was sent or received for REKEY_ATTEMPT_TIME: drop old keys later.
      if (!this.zeroKeyMaterial.pending) this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_TIMEOUT);
      return;
    }
    this.handshakeAttempts++;
    peer.device.sendHandshakeInitiation(peer, true);
  }

  private expiredSendKeepalive(): void {
    this.peer.device.sendKeepalive(this.peer);
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.sendKeepalive.mod(KEEPALIVE_TIMEOUT);
    }
  }

  private expiredNewHandshake(): void {
    this.peer.device.sendHandshakeInitiation(this.peer, false);
  }

  private expiredZeroKeyMaterial(): void {
    this.peer.device.zeroKeyMaterial(this.peer);
  }

  private expiredPersistentKeepalive(): void {
    if (this.peer.persistentKeepalive > 0) this.peer.device.sendKeepalive(this.peer);
  }

  /** A transport data packet (not a keepalive) was sent. */
  dataSent(): void {
    if (!this.newHandshake.pending) this.newHandshake.mod(NEW_HANDSHAKE_TIMEOUT + this.jitter());
  }

  /** A transport data packet (not a keepalive) was received. */
  dataReceived(): void {
    if (!this.sendKeepalive.pending) this.sendKeepalive.mod(KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet (handshake, data or keepalive) was sent. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive.del();
  }

  /** Any authenticated packet was received. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshake.del();
  }

  /** An authenticated packet went either way: restart the persistent keepalive. */
  anyAuthenticatedPacketTraversal(): void {
    if (this.peer.persistentKeepalive > 0) this.persistentKeepalive.mod(this.peer.persistentKeepalive * 1000);
  }

  handshakeInitiated(): void {
    this.retransmitHandshake.mod(REKEY_TIMEOUT + this.jitter());
  }

  handshakeComplete(): void {
    this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
    this.peer.sentLastMinuteHandshake = false;
    this.peer.lastHandshakeWallMs = this.peer.device.clock.wallNow();
    this.peer.handshakes++;
    this.peer.device.onActive?.();
  }

  sessionDerived(): void {
    this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_TIMEOUT);
  }

  stopAll(): void {
    this.retransmitHandshake.del();
    this.sendKeepalive.del();
    this.newHandshake.del();
    this.zeroKeyMaterial.del();
    this.persistentKeepalive.del();
  }
}
