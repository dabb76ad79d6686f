import { EventEmitter } from 'node:events';
import { EV_ACCEPT } from './lwip.js';
import type { NetStack, SocketHandler } from './stack.js';
import { TcpSocket } from './tcp-socket.js';

// A listening TCP port of the userspace stack, shaped like net.Server: 'listening',
// 'connection' (a TcpSocket), 'close', address(), close(). To serve HTTP on it, hand
// its connections to an http.Server: `srv.on('connection', (s) => http.emit('connection', s))`.

const BACKLOG = 128;

export interface TcpServerOptions {
  allowHalfOpen?: boolean;
}

export class TcpServer extends EventEmitter implements SocketHandler {
  private id: number | undefined;
  private port = 0;
  private readonly sockets = new Set<TcpSocket>();
  private closeEmitted = false;

  constructor(
    private readonly stack: NetStack,
    private readonly opts: TcpServerOptions = {},
  ) {
    super();
  }

  get listening(): boolean {
    return this.id !== undefined;
  }

  /** Listens on `port` (0 picks one) on every address of the stack. */
  listen(port: number, cb?: () => void): this {
    this.stack.checkRunning();
    const { id, port: bound } = this.stack.lwip.tcpListen(port, BACKLOG);
    this.closeEmitted = false;
    this.id = id;
    this.port = bound;
    this.stack.register(id, this);
    if (cb) this.once('listening', cb);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  address(): { address: string; family: string; port: number } | null {
    return this.id === undefined ? null : { address: '::', family: 'IPv6', port: this.port };
  }

  /** Stops accepting; 'close' follows once every accepted connection has closed too. */
  close(cb?: (err?: Error) => void): this {
    if (cb) this.once('close', cb);
    if (this.id !== undefined) {
      this.stack.unregister(this.id);
      this.stack.lwip.tcpClose(this.id, false);
      this.id = undefined;
    }
    this.maybeClosed();
    return this;
  }

  /** Aborts every accepted connection (RST). */
  closeAllConnections(): void {
    for (const s of this.sockets) s.resetAndDestroy();
  }

  onEvent(type: number, num: number, _data: Buffer | null, addr: string, port: number): void {
    if (type !== EV_ACCEPT) return;
    const s = new TcpSocket({ stack: this.stack, id: num, remoteAddress: addr, remotePort: port, connected: true, allowHalfOpen: this.opts.allowHalfOpen });
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      this.maybeClosed();
    });
    this.emit('connection', s);
  }

  onStop(): void {
    this.id = undefined;
    this.closeAllConnections();
    this.maybeClosed();
  }

  private maybeClosed(): void {
    if (this.id !== undefined || this.sockets.size > 0 || this.closeEmitted) return;
    this.closeEmitted = true;
    queueMicrotask(() => this.emit('close'));
  }
}
