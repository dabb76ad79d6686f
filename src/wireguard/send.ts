import { chachaSeal } from '../crypto/aead.js';
import { PacketBatch } from '../io/batch.js';
import {
  MESSAGE_PADDING_MULTIPLE,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
} from './constants.js';
import type { Device } from './device.js';
import type { Keypair } from './keypair.js';
import { MessageType, MESSAGE_TRANSPORT_HEADER_SIZE } from './messages.js';
import type { Peer } from './peer.js';

const REKEY_AFTER_MESSAGES_NUM = Number(REKEY_AFTER_MESSAGES);
const TAG = 16;

/** Bytes of zero padding for a plaintext of `len` (wg-go calculatePaddingSize). */
export function paddingSize(len: number, mtu: number): number {
  if (len === 0) return 0;
  let last = len;
  if (mtu > 0 && last > mtu) last %= mtu;
  let padded = (last + MESSAGE_PADDING_MULTIPLE - 1) & ~(MESSAGE_PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return padded - last;
}

// The outbound path: IP packets from the TUN are routed by destination through the
// allowed-IPs table, padded, sealed into transport messages and sent per peer as one
// batch. Without a usable session the packets wait in the peer's staged queue while a
// handshake runs.
export class OutboundPath {
  private out: PacketBatch;
  private readonly nonce = Buffer.alloc(12);
  private peerOf: (Peer | undefined)[] = [];

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
      for (let i = 0; i < batch.count; i++) {
        const p = dev.allowedIps.lookupPacket(batch.data, batch.start(i), batch.lengths[i], 'dst');
        if (!p) dev.stats.noRoute++;
        peerOf[i] = p;
      }
      for (let i = 0; i < batch.count; i++) {
        const peer = peerOf[i];
        if (!peer) continue;
        this.sendRun(peer, batch, i, mtu);
        for (let j = i; j < batch.count; j++) if (peerOf[j] === peer) peerOf[j] = undefined;
      }
    } catch (err) {
      dev.stats.handlerErrors++;
      dev.logger.error({ err }, 'outbound handler failed');
    }
  }

  /** Seals every packet of `batch` from index `first` on that routes to `peer`. */
  private sendRun(peer: Peer, batch: PacketBatch, first: number, mtu: number): void {
    const dev = this.device;
    const kp = peer.keypairs.current;
    const now = dev.clock.now();
    const usable = kp !== null && kp.canSend(now) && peer.staged.length === 0;
    for (let i = first; i < batch.count; i++) {
      if (this.peerOf[i] !== peer) continue;
      const start = batch.start(i);
      const len = batch.lengths[i];
      const pad = paddingSize(len, mtu);
      const fits = start + len + pad <= (Math.floor(start / batch.slotSize) + 1) * batch.slotSize;
      if (kp !== null && usable && fits && kp.canSend(now)) {
        batch.data.fill(0, start + len, start + len + pad);
        this.seal(kp, batch.data.subarray(start, start + len + pad));
        if (this.out.count === this.out.capacity) this.flush(peer, kp, true);
      } else {
        const copy = new Uint8Array(len + pad);
        copy.set(batch.data.subarray(start, start + len));
        peer.stage(copy);
      }
    }
    if (kp !== null && usable) this.flush(peer, kp, true);
    if (peer.staged.length) this.sendStaged(peer);
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
      for (const p of packets) {
        this.seal(kp, p);
        if (p.length > 0) data = true;
        if (this.out.count === this.out.capacity) this.flush(peer, kp, data);
      }
      this.flush(peer, kp, data);
    } catch (err) {
      dev.stats.handlerErrors++;
      dev.logger.error({ err }, 'sending staged packets failed');
    }
  }

  private seal(kp: Keypair, plaintext: Uint8Array): void {
    const out = this.out;
    const slot = out.count++;
    const base = slot * out.slotSize;
    const total = MESSAGE_TRANSPORT_HEADER_SIZE + plaintext.length + TAG;
    out.offsets[slot] = 0;
    out.lengths[slot] = total;
    const d = out.data;
    d.writeUInt32LE(MessageType.Transport, base);
    d.writeUInt32LE(kp.remoteIndex, base + 4);
    const n = kp.sendNonce++;
    const lo = n % 0x1_0000_0000;
    const hi = Math.floor(n / 0x1_0000_0000);
    d.writeUInt32LE(lo, base + 8);
    d.writeUInt32LE(hi, base + 12);
    this.nonce.writeUInt32LE(lo, 4);
    this.nonce.writeUInt32LE(hi, 8);
    chachaSeal(d.subarray(base + MESSAGE_TRANSPORT_HEADER_SIZE, base + total), kp.sendKey, this.nonce, plaintext);
  }

  private flush(peer: Peer, kp: Keypair, hadData: boolean): void {
    const out = this.out;
    if (out.count === 0) return;
    const dev = this.device;
    if (peer.endpoint) {
      dev.bind.send(out, peer.endpoint);
      let bytes = 0;
      for (let i = 0; i < out.count; i++) bytes += out.lengths[i];
      peer.txBytes += bytes;
      peer.timers.anyAuthenticatedPacketTraversal();
      peer.timers.anyAuthenticatedPacketSent();
      if (hadData) peer.timers.dataSent();
    } else {
      dev.stats.noEndpoint += out.count;
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
  const need = MESSAGE_TRANSPORT_HEADER_SIZE + mtu + MESSAGE_PADDING_MULTIPLE + TAG;
  return Math.max(2048, (need + 63) & ~63);
}
