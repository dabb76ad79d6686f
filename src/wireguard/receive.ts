import { chachaOpen } from '../crypto/aead.js';
import type { PacketBatch } from '../io/batch.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import {
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_ON_RECEIVE_AGE,
  UNDER_LOAD_AFTER_TIME,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
} from './constants.js';
import type { Device } from './device.js';
import { Keypair } from './keypair.js';
import {
  MessageType,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_SIZE_MIN,
  messageType,
} from './messages.js';
import { consumeInitiation, consumeResponse, createResponse, deriveSessionKeys } from './noise-protocol.js';
import type { Peer } from './peer.js';
import { ReplayFilter } from './replay.js';

const TAG = 16;
const TWO_32 = 0x1_0000_0000;

// The inbound path: datagrams from the bind are demultiplexed by message type.
// Transport messages are authenticated, replay-checked, decrypted in place and, if
// their inner source address belongs to the sending peer, written to the TUN as one
// batch. Handshake messages run the responder/initiator logic, with cookies and the
// ratelimiter engaged while the device is under load. Nothing throws out of here.
export class InboundPath {
  private readonly nonce = Buffer.alloc(12);
  private windowStart = -Infinity;
  private windowCount = 0;
  private underLoadUntil = -Infinity;

  constructor(
    private readonly device: Device,
    private readonly underLoadThreshold = UNDER_LOAD_HANDSHAKES_PER_SECOND,
  ) {}

  fromBind(batch: PacketBatch, sources: Uint8Array): void {
    const dev = this.device;
    const tap = dev.onInboundPacket;
    let accepted = 0;
    for (let i = 0; i < batch.count; i++) {
      try {
        if (this.handle(batch, i, sources) && (tap === undefined || !tap(batch.packet(i)))) accepted++;
        else batch.lengths[i] = 0;
      } catch (err) {
        batch.lengths[i] = 0;
        dev.stats.handlerErrors++;
        dev.logger.error({ err }, 'inbound handler failed');
      }
    }
    if (accepted > 0) dev.tun.write(batch);
  }

  /** Returns true when packet i now holds an IP packet for the TUN. */
  private handle(batch: PacketBatch, i: number, sources: Uint8Array): boolean {
    const dev = this.device;
    const d = batch.data;
    const start = batch.start(i);
    const len = batch.lengths[i];
    // Fast path: transport data is the common case; test its header without a view.
    if (len >= MESSAGE_TRANSPORT_SIZE_MIN && d[start] === MessageType.Transport && d[start + 1] === 0 && d[start + 2] === 0 && d[start + 3] === 0) {
      return this.transport(batch, i, sources);
    }
    const msg = d.subarray(start, start + len);
    const type = messageType(msg);
    if (type === 0 || type === MessageType.Transport) {
      dev.stats.invalidMessage++;
      return false;
    }
    if (!dev.identity || !dev.cookieChecker) {
      dev.stats.noIdentity++;
      return false;
    }
    if (type === MessageType.CookieReply) {
      const entry = dev.indexTable.lookup(msg.readUInt32LE(4));
      if (!entry || !entry.peer.cookieGenerator.consumeReply(msg)) dev.stats.badCookieReply++;
      return false;
    }
    // Initiation or response: mac1 first, then cookies and rate limits under load.
    if (!dev.cookieChecker.checkMAC1(msg)) {
      dev.stats.badMac1++;
      return false;
    }
    const srcOff = i * ENDPOINT_BYTES;
    const src = sources.subarray(srcOff, srcOff + ENDPOINT_BYTES);
    if (this.underLoad()) {
      if (!dev.cookieChecker.checkMAC2(msg, src)) {
        const reply = dev.cookieChecker.createReply(msg, msg.readUInt32LE(4), src);
        dev.sendTo(Endpoint.fromBytes(src), reply);
        dev.stats.cookieRepliesSent++;
        return false;
      }
      if (!dev.ratelimiter.allow(src)) {
        dev.stats.ratelimited++;
        return false;
      }
    }
    if (type === MessageType.Initiation) this.initiation(msg, src);
    else this.response(msg, src);
    return false;
  }

  private underLoad(): boolean {
    const now = this.device.clock.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount > this.underLoadThreshold) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    return now < this.underLoadUntil;
  }

  private initiation(msg: Buffer, src: Uint8Array): void {
    const dev = this.device;
    const identity = dev.identity!;
    const hs = consumeInitiation(identity, msg, (pub) => dev.lookupPeer(pub)?.handshake, dev.clock.now());
    const peer = hs && dev.lookupPeer(hs.remoteStatic);
    if (!hs || !peer) {
      dev.stats.handshakeFailed++;
      return;
    }
    this.authenticated(peer, src, msg.length);
    // Any initiation of ours in flight is superseded by answering theirs.
    if (hs.localIndex) dev.indexTable.delete(hs.localIndex);
    const idx = dev.indexTable.newIndex(peer);
    hs.localIndex = idx;
    const response = createResponse(identity, hs, idx, dev.ephemeralForKeyLog(peer));
    const keys = response && deriveSessionKeys(hs);
    if (!response || !keys) {
      dev.indexTable.delete(idx);
      hs.localIndex = 0;
      dev.stats.handshakeFailed++;
      return;
    }
    peer.cookieGenerator.addMacs(response);
    this.install(peer, keys);
    peer.timers.anyAuthenticatedPacketSent();
    dev.sendControl(peer, response);
  }

  private response(msg: Buffer, src: Uint8Array): void {
    const dev = this.device;
    const hs = consumeResponse(dev.identity!, msg, (idx) => {
      const e = dev.indexTable.lookup(idx);
      return e && !e.keypair && e.peer.handshake.localIndex === idx ? e.peer.handshake : undefined;
    });
    const peer = hs && dev.lookupPeer(hs.remoteStatic);
    const keys = hs && peer ? deriveSessionKeys(hs) : null;
    if (!peer || !keys) {
      dev.stats.handshakeFailed++;
      return;
    }
    this.authenticated(peer, src, msg.length);
    this.install(peer, keys);
    peer.timers.handshakeComplete();
    // Key confirmation: the responder switches to this session on our first packet.
    dev.sendKeepalive(peer);
  }

  private install(peer: Peer, keys: NonNullable<ReturnType<typeof deriveSessionKeys>>): void {
    const dev = this.device;
    const kp = new Keypair(keys.sendKey, keys.recvKey, keys.isInitiator, keys.localIndex, keys.remoteIndex, dev.clock.now(), new ReplayFilter());
    dev.installKeypair(peer, kp);
    peer.handshake.localIndex = 0;
    peer.timers.sessionDerived();
  }

  /** Bookkeeping for any authenticated packet: roaming, counters, timers. */
  private authenticated(peer: Peer, src: Uint8Array, bytes: number): void {
    if (!peer.endpoint || !peer.endpoint.equals(src)) peer.endpoint = Endpoint.fromBytes(src);
    peer.rxBytes += bytes;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
  }

  private transport(batch: PacketBatch, i: number, sources: Uint8Array): boolean {
    const dev = this.device;
    const d = batch.data;
    const start = batch.start(i);
    const len = batch.lengths[i];
    const entry = dev.indexTable.lookup(d.readUInt32LE(start + 4));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      dev.stats.unknownIndex++;
      return false;
    }
    const now = dev.clock.now();
    if (now - kp.created >= REJECT_AFTER_TIME) {
      dev.stats.expiredKeypair++;
      return false;
    }
    const lo = d.readUInt32LE(start + 8);
    const hi = d.readUInt32LE(start + 12);
    d.copy(this.nonce, 4, start + 8, start + 16);
    const body = start + MESSAGE_TRANSPORT_HEADER_SIZE;
    const plainLen = len - MESSAGE_TRANSPORT_HEADER_SIZE - TAG;
    if (!chachaOpen(d.subarray(body, body + plainLen), kp.recvKey, this.nonce, d.subarray(body, start + len))) {
      dev.stats.decryptFailed++;
      return false;
    }
    const counter = hi < 0x20_0000 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
    if (!kp.replay.validate(counter, REJECT_AFTER_MESSAGES)) {
      dev.stats.replayed++;
      return false;
    }
    const peer = entry.peer;
    const promoted = peer.keypairs.confirm(kp);
    if (promoted !== null) {
      if (promoted) dev.forgetKeypair(promoted);
      peer.timers.handshakeComplete();
      dev.sendStaged(peer);
    }
    const srcOff = i * ENDPOINT_BYTES;
    this.authenticated(peer, sources.subarray(srcOff, srcOff + ENDPOINT_BYTES), len);
    this.keepKeyFreshReceiving(peer, kp, now);
    if (plainLen === 0) return false; // keepalive
    const ipLen = innerLength(d, body, plainLen);
    if (ipLen === 0) {
      dev.stats.invalidInnerPacket++;
      return false;
    }
    if (dev.allowedIps.lookupPacket(d, body, ipLen, 'src') !== peer) {
      dev.stats.disallowedSource++;
      return false;
    }
    peer.timers.dataReceived();
    batch.offsets[i] += MESSAGE_TRANSPORT_HEADER_SIZE;
    batch.lengths[i] = ipLen;
    return true;
  }

  // As initiator, start a new handshake once before the session is too old to receive on.
  private keepKeyFreshReceiving(peer: Peer, kp: Keypair, now: number): void {
    if (peer.sentLastMinuteHandshake || kp !== peer.keypairs.current || !kp.isInitiator) return;
    if (now - kp.created > REKEY_ON_RECEIVE_AGE) {
      peer.sentLastMinuteHandshake = true;
      this.device.sendHandshakeInitiation(peer, false);
    }
  }
}

/** Length of the IP packet at `off` per its own header, or 0 if it is not a valid one that fits. */
function innerLength(d: Buffer, off: number, avail: number): number {
  const version = d[off] >> 4;
  if (version === 4) {
    if (avail < 20) return 0;
    const total = d.readUInt16BE(off + 2);
    return total >= 20 && total <= avail ? total : 0;
  }
  if (version === 6) {
    if (avail < 40) return 0;
    const total = 40 + d.readUInt16BE(off + 4);
    return total <= avail ? total : 0;
  }
  return 0;
}
