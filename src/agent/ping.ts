import { randomInt } from 'node:crypto';
import type { Clock, TimerHandle } from '../clock.js';
import type { Device } from '../wireguard/device.js';
import { AgentError } from './errors.js';
import { buildEcho, parseEcho } from './icmp.js';

// In-engine ping (like Tailscale's TSMP/disco ping): an ICMP echo request from our
// mesh address goes through the Device as if the TUN had read it; the reply is taken
// off the inbound path by the device tap, matched by id and sequence number, and never
// reaches the OS. The tap is installed only while pings are outstanding.


interface Pending {
  src: string;
  resolve: (ms: number) => void;
  reject: (err: Error) => void;
  sentAt: number;
  timer: TimerHandle;
}

const PAYLOAD = new TextEncoder().encode('weft-ping');

export class Pinger {
  private readonly id = randomInt(1, 0xffff);
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly tap = (buf: Uint8Array, off: number, len: number): boolean => this.onInbound(buf, off, len);

  /** With `ownTap` false the owner composes onInbound into the device's tap itself. */
  constructor(
    private readonly device: Device,
    private readonly clock: Clock,
    private readonly ownTap = true,
  ) {}

  /** Pings `dst` from `src` (both mesh addresses of one family); resolves with the RTT in ms. */
  ping(src: string, dst: string, timeoutMs: number): Promise<number> {
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    const pkt = buildEcho({ src, dst, request: true, id: this.id, seq, payload: PAYLOAD });
    return new Promise<number>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => this.settle(seq)?.reject(new AgentError('ERR_PING_TIMEOUT', `no reply from ${dst} within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(seq, { src: dst, resolve, reject, sentAt: this.clock.now(), timer });
      if (this.ownTap) this.device.onInboundPacket = this.tap;
      if (!this.device.sendPacket(pkt)) this.settle(seq)?.reject(new AgentError('ERR_NO_ROUTE', `no peer routes ${dst}`));
    });
  }

  private settle(seq: number): Pending | undefined {
    const p = this.pending.get(seq);
    if (!p) return undefined;
    this.pending.delete(seq);
    this.clock.clearTimeout(p.timer);
    if (this.ownTap && this.pending.size === 0 && this.device.onInboundPacket === this.tap) this.device.onInboundPacket = undefined;
    return p;
  }

  /** The device tap: the packet is buf[off .. off+len]; true when it was our echo reply. */
  onInbound(buf: Uint8Array, off = 0, len = buf.length - off): boolean {
    if (this.pending.size === 0 || len < 20) return false;
    // Cheap pre-check before parsing (and before any view): ICMP (v4) or ICMPv6 (no extension headers).
    const v = buf[off] >> 4;
    if (!((v === 4 && buf[off + 9] === 1) || (v === 6 && buf[off + 6] === 58))) return false;
    const e = parseEcho(buf.subarray(off, off + len));
    if (!e || e.request || e.id !== this.id) return false;
    const p = this.pending.get(e.seq);
    if (!p || p.src !== e.src) return false;
    this.settle(e.seq);
    p.resolve(this.clock.now() - p.sentAt);
    return true;
  }

  /** Fails every outstanding ping (agent stopping). */
  close(): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq)?.reject(new AgentError('ERR_STOPPED', 'agent stopped'));
  }
}
