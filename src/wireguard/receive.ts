import { AEAD_TAG_LEN } from '../crypto/aead.js';
import { transportAead, type TransportAead } from '../crypto/transport-aead.js';
import type { PacketBatch } from '../io/batch.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import {
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_ON_RECEIVE_AGE,
} from './constants.js';
import { HandshakeLoad } from './load.js';
import type { Device } from './device.js';
import type { Keypair } from './keypair.js';
import {
  MessageType,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_SIZE_MIN,
  messageType,
} from './messages.js';
import { acceptPrecomputedResponse, consumeInitiation, consumeResponse, createResponse, deriveSessionKeys, type PrecomputedResponse, type SessionKeys } from './noise-protocol.js';
import type { OffloadedInitiation } from './handshake-offload.js';
import type { Peer } from './peer.js';

const TWO_32 = 0x1_0000_0000;

// The inbound path: datagrams from the bind are demultiplexed by message type.
// Consecutive transport messages for one session form a run that is authenticated and
// decrypted in place by one batched call; then each is replay-checked and, if its inner
// source address belongs to the sending peer, the batch goes to the TUN in one write.
// Handshake messages (which end a run, so order is kept) run the responder/initiator
// logic, with cookies and the ratelimiter engaged while the device is under load.
// Nothing throws out of here.
export class InboundPath {
  private readonly aead: TransportAead = transportAead();
  // The current run: batch indices, absolute offsets and lengths of its messages.
  private runKp: Keypair | null = null;
  private runPeer: Peer | null = null;
  private runN = 0;
  private readonly runIdx = new Uint32Array(1024);
  private readonly runOff = new Uint32Array(1024);
  private readonly runLen = new Uint32Array(1024);
  private readonly runOk = new Uint8Array(1024);
  private accepted = 0;

  constructor(
    private readonly device: Device,
    private readonly load = new HandshakeLoad(),
  ) {}

  fromBind(batch: PacketBatch, sources: Uint8Array): void {
    const dev = this.device;
    this.accepted = 0;
    this.runN = 0;
    this.runKp = null;
    const d = batch.data;
    const now = dev.clock.now();
    // The entry of the previous packet's index, while it still names that index.
    let lastEntry: ReturnType<Device['indexTable']['lookup']> = undefined;
    for (let i = 0; i < batch.count; i++) {
      try {
        const start = batch.start(i);
        const len = batch.lengths[i];
        // Fast path: transport data is the common case; test its header without a view.
        if (len >= MESSAGE_TRANSPORT_SIZE_MIN && d[start] === MessageType.Transport && d[start + 1] === 0 && d[start + 2] === 0 && d[start + 3] === 0) {
          const index = d.readUInt32LE(start + 4);
          if (lastEntry === undefined || lastEntry.index !== index) lastEntry = dev.indexTable.lookup(index);
          const kp = lastEntry?.keypair;
          batch.lengths[i] = 0; // until accepted
          if (!lastEntry || !kp) {
            dev.stats.unknownIndex++;
            continue;
          }
          if (now - kp.created >= REJECT_AFTER_TIME) {
            dev.stats.expiredKeypair++;
            continue;
          }
          if (kp !== this.runKp || this.runN === this.runIdx.length) {
            this.endRun(batch, sources);
            this.runKp = kp;
            this.runPeer = lastEntry.peer;
          }
          const k = this.runN++;
          this.runIdx[k] = i;
          this.runOff[k] = start;
          this.runLen[k] = len;
          continue;
        }
        // A handshake message: finish the run before it so events keep their order.
        this.endRun(batch, sources);
        this.handle(batch, i, sources);
        batch.lengths[i] = 0;
      } catch (err) {
        batch.lengths[i] = 0;
        dev.stats.handlerErrors++;
        dev.logger.error({ err }, 'inbound handler failed');
      }
    }
    try {
      this.endRun(batch, sources);
    } catch (err) {
      dev.stats.handlerErrors++;
      dev.logger.error({ err }, 'inbound handler failed');
    }
    if (this.accepted > 0) dev.tun.write(batch);
  }

  /** Opens the pending run of transport messages of one session and accepts what is valid. */
  private endRun(batch: PacketBatch, sources: Uint8Array): void {
    const n = this.runN;
    const kp = this.runKp;
    const peer = this.runPeer;
    this.runN = 0;
    this.runKp = null;
    this.runPeer = null;
    if (n === 0 || kp === null || peer === null) return;
    const dev = this.device;
    const d = batch.data;
    const ok = this.runOk;
    this.aead.openBatch(d, this.runOff, this.runLen, n, kp.recvKey, ok);
    let lastGood = -1;
    let bytes = 0;
    let packets = 0;
    for (let k = 0; k < n; k++) {
      if (ok[k] === 0) {
        dev.stats.decryptFailed++;
        continue;
      }
      const start = this.runOff[k];
      const lo = d.readUInt32LE(start + 8);
      const hi = d.readUInt32LE(start + 12);
      const fresh = hi < 0x20_0000
        ? kp.replay.validateNumber(hi * TWO_32 + lo)
        : kp.replay.validate((BigInt(hi) << 32n) | BigInt(lo), REJECT_AFTER_MESSAGES);
      if (!fresh) {
        dev.stats.replayed++;
        continue;
      }
      if (lastGood < 0) {
        const promoted = peer.keypairs.confirm(kp);
        if (promoted !== null) {
          if (promoted) dev.forgetKeypair(promoted);
          peer.timers.handshakeComplete();
          dev.sendStaged(peer);
        }
      }
      const len = this.runLen[k];
      lastGood = k;
      bytes += len;
      packets++;
      const plainLen = len - MESSAGE_TRANSPORT_HEADER_SIZE - AEAD_TAG_LEN;
      if (plainLen === 0) continue; // keepalive
      const body = start + MESSAGE_TRANSPORT_HEADER_SIZE;
      const ipLen = innerLength(d, body, plainLen);
      if (ipLen === 0) {
        dev.stats.invalidInnerPacket++;
        continue;
      }
      if (dev.allowedIps.lookupPacket(d, body, ipLen, 'src') !== peer) {
        dev.stats.disallowedSource++;
        continue;
      }
      peer.timers.dataReceived();
      const i = this.runIdx[k];
      const tap = dev.onInboundPacket;
      if (tap !== undefined && tap(d, body, ipLen)) continue;
      batch.offsets[i] += MESSAGE_TRANSPORT_HEADER_SIZE;
      batch.lengths[i] = ipLen;
      this.accepted++;
    }
    if (lastGood < 0) return;
    // Roaming follows the newest authentic packet; counters and timers once per run.
    const srcOff = this.runIdx[lastGood] * ENDPOINT_BYTES;
    this.authenticated(peer, sources.subarray(srcOff, srcOff + ENDPOINT_BYTES), bytes, packets);
    this.keepKeyFreshReceiving(peer, kp, dev.clock.now());
  }

  /** Handles one handshake-type (non-transport) message. */
  private handle(batch: PacketBatch, i: number, sources: Uint8Array): boolean {
    const dev = this.device;
    const d = batch.data;
    const start = batch.start(i);
    const len = batch.lengths[i];
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
    if (this.load.arrived(dev.clock.now())) {
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
    if (type === MessageType.Response) this.response(msg, src);
    else if (!this.offload(msg, src)) this.initiation(msg, src);
    return false;
  }

  /** Hands an initiation to the handshake worker; false when it is to be answered here. */
  private offload(msg: Buffer, src: Uint8Array): boolean {
    const dev = this.device;
    const off = dev.handshakeOffload;
    // Key logging needs our ephemeral key, which the worker never hands out.
    if (!off || dev.keyLog) return false;
    const r = off.submit(msg, src, dev.clock.now());
    if (r === 'full') dev.stats.handshakeQueueFull++;
    return r !== 'here';
  }

  /** The device's part of an initiation the worker answered (handshake-offload.ts). */
  completeInitiation(job: OffloadedInitiation, p: PrecomputedResponse | null): void {
    const dev = this.device;
    const peer = p && !dev.isClosed ? dev.lookupPeer(p.rs) : undefined;
    if (!p || !peer) {
      dev.stats.handshakeFailed++;
      return;
    }
    const hs = peer.handshake;
    const superseded = hs.localIndex;
    const idx = dev.indexTable.newIndex(peer);
    const accepted = acceptPrecomputedResponse(hs, p, idx, dev.clock.now());
    if (!accepted) {
      dev.indexTable.delete(idx);
      dev.stats.handshakeFailed++;
      return;
    }
    // Any initiation of ours in flight is superseded by answering theirs.
    if (superseded) dev.indexTable.delete(superseded);
    this.authenticated(peer, job.src, job.length, 1);
    this.respond(peer, accepted.response, accepted.keys);
    if (superseded) dev.handshakeCrossed(peer, superseded);
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
    this.authenticated(peer, src, msg.length, 1);
    // Any initiation of ours in flight is superseded by answering theirs.
    const superseded = hs.localIndex;
    if (superseded) dev.indexTable.delete(superseded);
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
    this.respond(peer, response, keys);
    if (superseded) dev.handshakeCrossed(peer, superseded);
  }

  private respond(peer: Peer, response: Uint8Array, keys: SessionKeys): void {
    peer.cookieGenerator.addMacs(response);
    this.install(peer, keys);
    peer.timers.anyAuthenticatedPacketSent();
    this.device.sendControl(peer, response);
  }

  private response(msg: Buffer, src: Uint8Array): void {
    const dev = this.device;
    const hs = consumeResponse(dev.identity!, msg, (idx) => {
      const e = dev.indexTable.lookup(idx);
      if (!e) dev.staleResponse(idx); // perhaps an answer to an initiation that crossed the peer's
      return e && !e.keypair && e.peer.handshake.localIndex === idx ? e.peer.handshake : undefined;
    });
    const peer = hs && dev.lookupPeer(hs.remoteStatic);
    const keys = hs && peer ? deriveSessionKeys(hs) : null;
    if (!peer || !keys) {
      dev.stats.handshakeFailed++;
      return;
    }
    this.authenticated(peer, src, msg.length, 1);
    this.install(peer, keys);
    peer.timers.handshakeComplete();
    // Key confirmation: the responder switches to this session on our first packet.
    dev.sendKeepalive(peer);
  }

  private install(peer: Peer, keys: SessionKeys): void {
    const dev = this.device;
    const kp = dev.keypairPool.take(keys, dev.clock.now());
    dev.installKeypair(peer, kp);
    peer.handshake.localIndex = 0;
    peer.timers.sessionDerived();
  }

  /** Bookkeeping for any authenticated packet: roaming, counters, timers. */
  private authenticated(peer: Peer, src: Uint8Array, bytes: number, packets: number): void {
    if (!peer.endpoint || !peer.endpoint.equals(src)) peer.endpoint = Endpoint.fromBytes(src);
    peer.rxBytes += bytes;
    peer.rxPackets += packets;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
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
