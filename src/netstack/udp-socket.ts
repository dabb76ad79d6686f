import { EventEmitter } from 'node:events';
import { EV_UDP } from './lwip.js';
import type { NetStack, SocketHandler } from './stack.js';

// A UDP port of the userspace stack, shaped like dgram.Socket where it matters:
// 'message' (msg, { address, port }), send(), close().

export class UdpSocket extends EventEmitter implements SocketHandler {
  private readonly id: number;
  readonly port: number;
  private closed = false;

  constructor(
    private readonly stack: NetStack,
    port = 0,
  ) {
    super();
    stack.checkRunning();
    const b = stack.lwip.udpBind(port);
    this.id = b.id;
    this.port = b.port;
    stack.register(this.id, this);
  }

  /** Sends one datagram; false when the stack refused it (closed, bad address, too large). */
  send(msg: Uint8Array, port: number, address: string): boolean {
    if (this.closed) return false;
    const ok = this.stack.lwip.udpSend(this.id, address, port, msg);
    this.stack.kick();
    return ok;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stack.unregister(this.id);
    this.stack.lwip.udpClose(this.id);
    this.emit('close');
  }

  onEvent(type: number, _num: number, data: Buffer | null, addr: string, port: number): void {
    if (type === EV_UDP && data) this.emit('message', data, { address: addr, port, family: addr.includes(':') ? 'IPv6' : 'IPv4', size: data.length });
  }

  onStop(): void {
    this.close();
  }
}
