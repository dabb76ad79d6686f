import { AEAD_TAG_LEN } from '../crypto/aead.js';
import { paddingSize, transportAead, type TransportAead } from '../crypto/transport-aead.js';
import { PacketBatch } from '../io/batch.js';
import {
  MESSAGE_PADDING_MULTIPLE,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
} from './constants.js';
import type { Device } from './device.js';
import { REJECT_AFTER_MESSAGES_NUM, type Keypair } from './keypair.js';
import { MESSAGE_TRANSPORT_HEADER_SIZE } from './messages.js';
import type { Peer } from './peer.js';

const REKEY_AFTER_MESSAGES_NUM = Number(REKEY_AFTER_MESSAGES);

// The outbound path: IP packets from the TUN are routed by destination through the
// allowed-IPs table and sealed per peer, a run at a time, straight from the TUN's batch
// into the outbound batch (one native call per run: copy, pad, header, encrypt), which
// goes out with one batched send. Without a usable session the packets wait in the
// peer's staged queue while a handshake runs.
export class OutboundPath {
  private out: PacketBatch;
  private peerOf: (Peer | undefined)[] = [];
  private readonly aead: TransportAead = transportAead();
  private readonly selOff = new Uint32Array(128);
  private readonly selLen = new Uint32Array(128);
  private readonly one = { off: new Uint32Array(1), len: new Uint32Array(1) };

  constructor(private readonly device: Device) {
    this.out = new PacketBatch(128, slotSizeFor(device.mtu));
  }

  fromTun(batch: PacketBatch): void {
    const dev = this.device;
    try {
      if (!dev.identity) {
        dev.stats.noIdentity += batch.count;
        return;
      }
      const mtu = dev.mtu;
      if (this.out.slotSize < slotSizeFor(mtu)) this.out = new PacketBatch(128, slotSizeFor(mtu));
      // Pass 1: route every packet. Pass 2: seal each peer's packets in arrival order.
      const peerOf = this.peerOf;
      const n = batch.count;
      let single: Peer | undefined | null = null; // the one peer of the whole batch, if so
      const hook = dev.onOutboundPacket;
      const unrouted = dev.onUnroutedPacket;
      for (let i = 0; i < n; i++) {
        const p = dev.allowedIps.lookupPacket(batch.data, batch.start(i), batch.lengths[i], 'dst');
        if (!p) {
          if (unrouted === undefined || !unrouted(batch.data, batch.start(i), batch.lengths[i])) dev.stats.noRoute++;
        }
        else if (hook !== undefined) hook(batch.data, batch.start(i), batch.lengths[i]);
        peerOf[i] = p;
        if (i === 0) single = p;
        else if (single !== p) single = undefined;
      }
      if (single) {
        this.sendRun(single, batch, 0, mtu);
      } else {
        for (let i = 0; i < n; i++) {
          const peer = peerOf[i];
          if (!peer) continue;
          this.sendRun(peer, batch, i, mtu);
          for (let j = i; j < n; j++) if (peerOf[j] === peer) peerOf[j] = undefined;
        }
      }
      for (let i = 0; i < n; i++) peerOf[i] = undefined;
    } catch (err) {
      dev.stats.handlerErrors++;
      dev.logger.error({ err }, 'outbound handler failed');
    }
  }

  /** Seals every packet of `batch` from index `first` on that routes to `peer`. */
  private sendRun(peer: Peer, batch: PacketBatch, first: number, mtu: number): void {
    const dev = this.device;
    const kp = peer.keypairs.current;
    const peerOf = this.peerOf;
    const n = batch.count;
    const usable = kp !== null && kp.canSend(dev.clock.now()) && peer.staged.length === 0 && kp.sendNonce + n < REJECT_AFTER_MESSAGES_NUM;
    if (kp === null || !usable) {
      for (let i = first; i < n; i++) {
        if (peerOf[i] !== peer) continue;
        const start = batch.start(i);
        const len = batch.lengths[i];
        const copy = new Uint8Array(len + paddingSize(len, mtu));
        copy.set(batch.data.subarray(start, start + len));
        peer.stage(copy);
      }
      if (peer.staged.length) this.sendStaged(peer);
      return;
    }
    const out = this.out;
    const selOff = this.selOff;
    const selLen = this.selLen;
    let k = 0;
    for (let i = first; i < n; i++) {
      if (peerOf[i] !== peer) continue;
      selOff[k] = batch.start(i);
      selLen[k] = batch.lengths[i];
      k++;
      if (k === out.capacity - out.count) {
        this.sealInto(kp, batch.data, k, mtu);
        k = 0;
        this.flush(peer, kp, true);
      }
    }
    if (k > 0) this.sealInto(kp, batch.data, k, mtu);
    this.flush(peer, kp, true);
  }

  private sealInto(kp: Keypair, src: Uint8Array, k: number, mtu: number): void {
    const out = this.out;
    this.aead.sealBatch(src, this.selOff, this.selLen, k, out.data, out.slotSize, out.count, out.lengths, kp.sendKey, kp.remoteIndex, kp.sendNonce, mtu);
    kp.sendNonce += k;
    out.count += k;
  }

  /** Sends the peer's staged packets, or starts a handshake if there is no usable session. */
  sendStaged(peer: Peer): void {
    const dev = this.device;
    try {
      if (peer.staged.length === 0) return;
      const kp = peer.keypairs.current;
      if (!kp || !kp.canSend(dev.clock.now())) {
        dev.sendHandshakeInitiation(peer, false);
        return;
      }
      const packets = peer.staged;
      peer.staged = [];
      let data = false;
      const one = this.one;
      const mtu = dev.mtu;
      for (const p of packets) {
        const out = this.out;
        one.off[0] = 0;
        one.len[0] = p.length;
        this.aead.sealBatch(p, one.off, one.len, 1, out.data, out.slotSize, out.count, out.lengths, kp.sendKey, kp.remoteIndex, kp.sendNonce, mtu);
        kp.sendNonce++;
        out.count++;
        if (p.length > 0) data = true;
        if (out.count === out.capacity) this.flush(peer, kp, data);
      }
      this.flush(peer, kp, data);
    } catch (err) {
      dev.stats.handlerErrors++;
      dev.logger.error({ err }, 'sending staged packets failed');
    }
  }

  private flush(peer: Peer, kp: Keypair, hadData: boolean): void {
    const out = this.out;
    if (out.count === 0) return;
    const dev = this.device;
    // A message that did not fit its slot (a packet larger than the MTU allows) has
    // length 0: drop it here rather than send an empty datagram.
    let bytes = 0;
    let w = 0;
    for (let i = 0; i < out.count; i++) {
      const len = out.lengths[i];
      if (len === 0) {
        dev.stats.handlerErrors++;
        continue;
      }
      if (w !== i) {
        out.data.copy(out.data, w * out.slotSize, i * out.slotSize, i * out.slotSize + len);
        out.lengths[w] = len;
      }
      bytes += len;
      w++;
    }
    out.count = w;
    if (w > 0 && peer.endpoint) {
      dev.bind.send(out, peer.endpoint);
      peer.txBytes += bytes;
      peer.txPackets += w;
      peer.timers.anyAuthenticatedPacketTraversal();
      peer.timers.anyAuthenticatedPacketSent();
      if (hadData) peer.timers.dataSent();
    } else if (w > 0) {
      dev.stats.noEndpoint += w;
    }
    out.reset();
    this.keepKeyFreshSending(peer, kp);
  }

  // Rekey after 2^60 messages, or, as initiator, when the session is REKEY_AFTER_TIME old.
  private keepKeyFreshSending(peer: Peer, kp: Keypair): void {
    const age = this.device.clock.now() - kp.created;
    if (kp.sendNonce > REKEY_AFTER_MESSAGES_NUM || (kp.isInitiator && age > REKEY_AFTER_TIME)) {
      this.device.sendHandshakeInitiation(peer, false);
    }
  }
}

function slotSizeFor(mtu: number): number {
  const need = MESSAGE_TRANSPORT_HEADER_SIZE + mtu + MESSAGE_PADDING_MULTIPLE + AEAD_TAG_LEN;
  return Math.max(2048, (need + 63) & ~63);
}
