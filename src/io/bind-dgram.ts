import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { PacketBatch } from './batch.js';
import type { Bind, BindEvents } from './bind.js';
import { ENDPOINT_BYTES, Endpoint } from './endpoint.js';
import { WeftError } from '../errors.js';

// The portable bind: Node's dgram, for hosts where the weft_native addon is missing or
// turned off (WEFT_NATIVE=0). One dual-stack socket (IPv4-only where the host has no
// IPv6), one datagram per receive batch, and a copy per send because dgram sends
// asynchronously while the engine reuses its batch arena at once. It is the slow path:
// no recvmmsg, no GSO, no SO_MARK (so no wg-quick full tunnel), but it runs wherever
// Node does.

export interface DgramBindOptions {
  /** Largest datagram accepted, bytes (default 2048, as LinuxBind). */
  slotSize?: number;
}

export class DgramBind implements Bind {
  /** The last error a send reported (send() counts what it queued). */
  lastSendError: Error | undefined;
  private socket: Socket | null = null;
  private boundPort = 0;
  private dualStack = false;
  private events: BindEvents | undefined;
  private readonly batch: PacketBatch;
  private readonly sources = new Uint8Array(ENDPOINT_BYTES);
  /** Datagrams dropped because they did not fit a slot. */
  oversize = 0;

  constructor(opts: DgramBindOptions = {}) {
    this.batch = new PacketBatch(1, opts.slotSize ?? 2048);
  }

  get port(): number {
    return this.boundPort;
  }

  get v6(): boolean {
    return this.dualStack;
  }

  get isOpen(): boolean {
    return this.socket !== null;
  }

  async open(port: number, events: BindEvents): Promise<number> {
    if (this.socket) throw new WeftError('ERR_BIND_OPEN', 'bind already open');
    let socket: Socket;
    try {
      socket = await listen('udp6', port);
      this.dualStack = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
      socket = await listen('udp4', port);
      this.dualStack = false;
    }
    this.socket = socket;
    this.events = events;
    this.boundPort = socket.address().port;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => {
      // Errors after bind are send-side (ICMP unreachable and the like) on Linux: keep going.
      this.lastSendError = err;
    });
    return this.boundPort;
  }

  setMark(mark: number): void {
    if (!this.socket) throw new WeftError('ERR_BIND_CLOSED', 'bind is not open');
    if (mark !== 0) throw new WeftError('ERR_BIND_MARK_UNSUPPORTED', 'SO_MARK needs the weft_native addon (the dgram fallback cannot set it)');
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const b = this.batch;
    if (msg.length > b.slotSize) {
      this.oversize++;
      return;
    }
    let from: Endpoint;
    try {
      from = Endpoint.of(rinfo.address, rinfo.port);
    } catch {
      return; // a scoped link-local source (fe80::1%eth0) has no 18-byte form
    }
    this.sources.set(from.bytes);
    b.count = 0;
    b.push(msg);
    try {
      this.events!.onReceive(b, this.sources);
    } finally {
      b.count = 0;
    }
  }

  /** Queues each packet of the batch to `to`; returns how many were queued. */
  send(batch: PacketBatch, to: Endpoint): number {
    const socket = this.socket;
    if (!socket || batch.count === 0) return 0;
    if (!this.dualStack && !to.isV4) {
      this.lastSendError = new WeftError('ERR_BIND_FAMILY', `${to.key}: an IPv6 destination from an IPv4-only socket`);
      return 0;
    }
    // A dual-stack socket reaches IPv4 through the mapped form.
    const address = this.dualStack && to.isV4 ? `::ffff:${to.ip}` : to.ip;
    for (let i = 0; i < batch.count; i++) {
      socket.send(Buffer.from(batch.packet(i)), to.port, address, (err) => {
        if (err) this.lastSendError = err;
      });
    }
    return batch.count;
  }

  /** Closes the socket; idempotent; does not call onClose. The bind can be opened again. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

function listen(type: 'udp4' | 'udp6', port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type, ipv6Only: false, recvBufferSize: 7 << 20, sendBufferSize: 7 << 20 });
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
