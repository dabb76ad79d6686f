import { Duplex } from 'node:stream';
import { NetstackError, type NetstackErrorCode } from './errors.js';
import { EV_CONNECTED, EV_DATA, EV_EOF, EV_ERROR, EV_SENT, ERR_ABRT, ERR_CLSD, ERR_RST } from './lwip.js';
import type { NetStack, SocketHandler } from './stack.js';

// A TCP connection of the userspace stack as a Duplex, shaped like net.Socket where code
// commonly looks (remoteAddress, setNoDelay, setKeepAlive, setTimeout, 'connect'), so
// http.Server and http.request can run over it.
//
// Flow control is lwIP's own: bytes we read are given back to lwIP (tcp_recved, which
// reopens the window) only once the consumer took them, and writes wait for EV_SENT
// when lwIP's send buffer is full.

export interface TcpSocketInit {
  stack: NetStack;
  id: number;
  remoteAddress: string;
  remotePort: number;
  connected: boolean;
  allowHalfOpen?: boolean;
}

export class TcpSocket extends Duplex implements SocketHandler {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  connecting: boolean;
  private readonly stack: NetStack;
  private readonly id: number;
  /** lwIP freed the connection (RST, abort) or we closed it: the id is dead. */
  private gone = false;
  /** The peer's FIN arrived / ours was queued: with both, lwIP's ERR_CLSD is a clean close. */
  private eof = false;
  private shutdown = false;
  /** Bytes pushed to the consumer that lwIP has not been told about (backpressure). */
  private held = 0;
  private pending: { chunk: Buffer; cb: (err?: Error | null) => void } | undefined;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(init: TcpSocketInit) {
    super({ allowHalfOpen: init.allowHalfOpen ?? false });
    this.stack = init.stack;
    this.id = init.id;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.remoteFamily = init.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.connecting = !init.connected;
    this.stack.register(this.id, this);
  }

  get localAddress(): string | undefined {
    return this.remoteFamily === 'IPv6' ? this.stack.ipv6 : this.stack.ipv4;
  }

  get localPort(): number | undefined {
    return this.gone ? undefined : this.stack.lwip.tcpInfo(this.id)?.localPort;
  }

  /** lwIP's view of the connection (MSS, send buffer, state); null once closed. */
  info() {
    return this.gone ? null : this.stack.lwip.tcpInfo(this.id);
  }

  setNoDelay(noDelay = true): this {
    this.options.noDelay = noDelay;
    this.applyOptions();
    return this;
  }

  setKeepAlive(enable = false, initialDelayMs = 0): this {
    this.options.keepAliveMs = enable ? Math.max(initialDelayMs, 1000) : 0;
    this.applyOptions();
    return this;
  }

  /** Emits 'timeout' after `ms` without traffic, like net.Socket (0 turns it off). */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  /** Closes with a RST instead of a FIN. */
  resetAndDestroy(): this {
    this.close(true);
    return this.destroy();
  }

  private readonly options = { noDelay: false, keepAliveMs: 0 };

  private applyOptions(): void {
    if (!this.gone) this.stack.lwip.tcpSetOptions(this.id, this.options.noDelay, this.options.keepAliveMs);
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = this.idleMs > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.idleMs).unref() : undefined;
  }

  onEvent(type: number, num: number, data: Buffer | null): void {
    this.touch();
    if (type === EV_DATA && data) {
      if (this.push(data)) this.stack.lwip.tcpRecved(this.id, data.length);
      else this.held += data.length;
      this.stack.kick();
    } else if (type === EV_SENT) {
      this.pump();
    } else if (type === EV_CONNECTED) {
      this.connecting = false;
      this.applyOptions();
      this.emit('connect');
      this.emit('ready');
      this.pump();
    } else if (type === EV_EOF) {
      this.eof = true;
      this.push(null);
    } else if (type === EV_ERROR) {
      this.gone = true;
      this.stack.unregister(this.id);
      // ERR_CLSD after FINs both ways (ours acked before the stream's own close ran,
      // e.g. a peer in the same process) is an orderly close, not an error.
      if (num === ERR_CLSD && this.eof && this.shutdown) this.destroy();
      else this.destroy(errorFor(num, this.connecting, this.remoteAddress, this.remotePort));
    }
  }

  onStop(): void {
    this.destroy(new NetstackError('ERR_NETSTACK_STOPPED', 'the userspace stack stopped'));
  }

  override _read(): void {
    if (this.held === 0 || this.gone) return;
    this.stack.lwip.tcpRecved(this.id, this.held);
    this.held = 0;
    this.stack.kick();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = { chunk, cb };
    this.pump();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.shutdown = true;
    if (!this.gone) {
      this.stack.lwip.tcpShutdown(this.id);
      this.stack.kick();
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    this.close(err !== null);
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      p.cb(err ?? new NetstackError('EPIPE', 'socket destroyed before the write was sent'));
    }
    cb(err);
  }

  private close(abort: boolean): void {
    if (this.gone) return;
    this.gone = true;
    this.stack.unregister(this.id);
    this.stack.lwip.tcpClose(this.id, abort);
    this.stack.kick();
  }

  /** Moves the pending chunk into lwIP's send buffer as far as it fits. */
  private pump(): void {
    const p = this.pending;
    if (!p || this.connecting) return;
    if (this.gone) {
      this.pending = undefined;
      p.cb(new NetstackError('EPIPE', 'write after the connection closed'));
      return;
    }
    const n = this.stack.lwip.tcpWrite(this.id, p.chunk);
    this.stack.kick();
    if (n < 0) {
      this.pending = undefined;
      p.cb(new NetstackError('EPIPE', 'write after the connection closed'));
      return;
    }
    this.touch();
    if (n < p.chunk.length) {
      p.chunk = p.chunk.subarray(n);
      return; // the rest goes on EV_SENT
    }
    this.pending = undefined;
    p.cb();
  }
}

function errorFor(err: number, connecting: boolean, addr: string, port: number): NetstackError {
  const where = `${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
  let code: NetstackErrorCode = 'ECONNABORTED';
  if (err === ERR_RST) code = connecting ? 'ECONNREFUSED' : 'ECONNRESET';
  else if (err === ERR_ABRT && connecting) code = 'ETIMEDOUT';
  return new NetstackError(code, `${code} ${where} (lwIP err ${err})`);
}

/** Opens a connection to `addr:port` (IP literal) over the stack; 'connect' follows, or an error. */
export function dialTcp(stack: NetStack, addr: string, port: number, opts: { allowHalfOpen?: boolean } = {}): TcpSocket {
  stack.checkRunning();
  const id = stack.lwip.tcpConnect(addr, port);
  const s = new TcpSocket({ stack, id, remoteAddress: addr, remotePort: port, connected: false, ...opts });
  stack.kick();
  return s;
}
