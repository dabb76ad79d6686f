import dgram from 'node:dgram';
import { Endpoint } from '../io/endpoint.js';
import { WeftError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { STUN_DEFAULT_PORT, STUN_METHOD_BINDING, encodeBindingError, encodeBindingSuccess, parseStun } from './stun.js';

export const STUN_SOFTWARE = 'weft';

export type StunAnswer =
  | { kind: 'response'; bytes: Uint8Array; error: boolean }
  /** Valid STUN that needs no answer (indications, responses, other methods). */
  | { kind: 'ignored' }
  | { kind: 'malformed' };

/**
 * The server's decision for one datagram, without I/O, so the agent can answer STUN on
 * its WireGuard port too. Binding requests get XOR-MAPPED-ADDRESS of `from`; requests
 * with comprehension-required attributes we do not know get 420 + UNKNOWN-ATTRIBUTES.
 */
export function answerStun(pkt: Uint8Array, from: Endpoint, software: string | undefined = STUN_SOFTWARE): StunAnswer {
  const msg = parseStun(pkt);
  if (!msg) return { kind: 'malformed' };
  if (msg.cls !== 'request' || msg.method !== STUN_METHOD_BINDING) return { kind: 'ignored' };
  if (msg.unknownRequired.length > 0) {
    return { kind: 'response', error: true, bytes: encodeBindingError(msg.transactionId, 420, 'Unknown Attribute', msg.unknownRequired, software) };
  }
  return { kind: 'response', error: false, bytes: encodeBindingSuccess(msg.transactionId, from, software) };
}

export interface StunServerOptions {
  /** Listen address; '::' (default) is dual-stack on Linux. */
  host?: string;
  /** UDP port (default 3478; 0 = random). */
  port?: number;
  software?: string;
  logger?: Logger;
}

export interface StunServerStats {
  requests: number;
  responses: number;
  errors: number;
  ignored: number;
  malformed: number;
}

/** A UDP STUN server answering Binding requests (the relay runs one beside it). */
export class StunServer {
  readonly stats: StunServerStats = { requests: 0, responses: 0, errors: 0, ignored: 0, malformed: 0 };
  private socket: dgram.Socket | undefined;
  private boundPort = 0;
  private readonly logger: Logger;

  constructor(private readonly opts: StunServerOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds and starts answering; resolves to the bound port. */
  async start(): Promise<number> {
    if (this.socket) throw new WeftError('ERR_ALREADY_STARTED', 'STUN server already started');
    const host = this.opts.host ?? '::';
    const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
    socket.on('message', (pkt, rinfo) => this.onMessage(socket, pkt, rinfo));
    socket.on('error', (err) => this.logger.warn({ err: err.message }, 'stun server socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port ?? STUN_DEFAULT_PORT, host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      socket.close();
      throw new WeftError('ERR_STUN_BIND', `STUN server cannot bind ${host}:${this.opts.port ?? STUN_DEFAULT_PORT}: ${err.message}`, { cause: err });
    });
    this.socket = socket;
    this.boundPort = socket.address().port;
    this.logger.info({ host, port: this.boundPort }, 'stun server listening');
    return this.boundPort;
  }

  async stop(): Promise<void> {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private onMessage(socket: dgram.Socket, pkt: Buffer, rinfo: dgram.RemoteInfo): void {
    let from: Endpoint;
    try {
      from = Endpoint.of(rinfo.address, rinfo.port);
    } catch {
      this.stats.malformed++;
      return;
    }
    const ans = answerStun(pkt, from, this.opts.software ?? STUN_SOFTWARE);
    if (ans.kind === 'malformed') {
      this.stats.malformed++;
      return;
    }
    if (ans.kind === 'ignored') {
      this.stats.ignored++;
      return;
    }
    this.stats.requests++;
    if (ans.error) this.stats.errors++;
    else this.stats.responses++;
    socket.send(ans.bytes, rinfo.port, rinfo.address);
  }
}
