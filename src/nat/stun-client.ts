import dgram from 'node:dgram';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { Endpoint } from '../io/endpoint.js';
import { PacketBatch } from '../io/batch.js';
import type { Bind } from '../io/bind.js';
import { WeftError } from '../errors.js';
import { STUN_METHOD_BINDING, encodeBindingRequest, isStunPacket, newTransactionId, parseStun } from './stun.js';

// STUN Binding client over an injected send seam: the owner of the UDP socket (the
// agent's WireGuard Bind, or the dgram helper below) sends with `send` and hands every
// datagram that passes isStunPacket() to handlePacket(). Retransmission follows RFC 8489
// §6.2.1: RTO starts at 500 ms and doubles, Rc = 7 transmissions, then wait Rm × RTO.

export const STUN_RTO_MS = 500;
export const STUN_RC = 7;
export const STUN_RM = 16;

export type StunSend = (pkt: Uint8Array, to: Endpoint) => void;

export interface StunClientOptions {
  send: StunSend;
  clock?: Clock;
  /** Initial retransmission timeout (ms). */
  rtoMs?: number;
  /** Total transmissions per request. */
  rc?: number;
  /** Final wait after the last transmission, in units of the initial RTO. */
  rm?: number;
  software?: string;
  newTransactionId?: () => Uint8Array;
}

export interface BindingOptions {
  signal?: AbortSignal;
  rtoMs?: number;
  rc?: number;
  rm?: number;
}

export interface BindingResult {
  server: Endpoint;
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from old servers). */
  mapped: Endpoint;
  /** From the transmission the answer most likely belongs to (the latest one). */
  rttMs: number;
  transmissions: number;
}

export interface StunClientStats {
  requests: number;
  transmissions: number;
  responses: number;
  timeouts: number;
  /** STUN datagrams handed in that matched no pending transaction. */
  unmatched: number;
  /** Datagrams that did not parse as STUN. */
  malformed: number;
}

interface Pending {
  server: Endpoint;
  lastSent: number;
  transmissions: number;
  resolve(r: BindingResult): void;
  reject(e: Error): void;
}

const txKey = (txid: Uint8Array): string => Buffer.from(txid.buffer, txid.byteOffset, txid.byteLength).toString('hex');

export class StunClient {
  readonly stats: StunClientStats = { requests: 0, transmissions: 0, responses: 0, timeouts: 0, unmatched: 0, malformed: 0 };
  private readonly clock: Clock;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly opts: StunClientOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Number of transactions in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * One Binding transaction. Rejects with ERR_STUN_TIMEOUT, ERR_ABORTED,
   * ERR_STUN_ERROR_RESPONSE (a StunErrorResponse) or ERR_STUN_BAD_RESPONSE.
   */
  binding(server: Endpoint, o: BindingOptions = {}): Promise<BindingResult> {
    const rto = o.rtoMs ?? this.opts.rtoMs ?? STUN_RTO_MS;
    const rc = Math.max(1, o.rc ?? this.opts.rc ?? STUN_RC);
    const rm = o.rm ?? this.opts.rm ?? STUN_RM;
    if (o.signal?.aborted) return Promise.reject(abortError());
    const txid = (this.opts.newTransactionId ?? newTransactionId)();
    const key = txKey(txid);
    const request = encodeBindingRequest(txid, this.opts.software);
    this.stats.requests++;
    return new Promise<BindingResult>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const onAbort = (): void => finish(() => reject(abortError()));
      const finish = (settle: () => void): void => {
        if (timer) this.clock.clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(key);
        settle();
      };
      const p: Pending = {
        server,
        lastSent: 0,
        transmissions: 0,
        resolve: (r) => finish(() => resolve(r)),
        reject: (e) => finish(() => reject(e)),
      };
      let wait = rto;
      const transmit = (): void => {
        p.transmissions++;
        p.lastSent = this.clock.now();
        this.stats.transmissions++;
        try {
          this.opts.send(request, server);
        } catch (err) {
          p.reject(new WeftError('ERR_STUN_SEND', `STUN send to ${server.key} failed`, { cause: err }));
          return;
        }
        if (p.transmissions < rc) {
          timer = this.clock.setTimeout(transmit, wait);
          wait *= 2;
        } else {
          timer = this.clock.setTimeout(() => {
            this.stats.timeouts++;
            p.reject(new WeftError('ERR_STUN_TIMEOUT', `no STUN answer from ${server.key} after ${rc} transmissions`));
          }, rm * rto);
        }
      };
      this.pending.set(key, p);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      transmit();
    });
  }

  /** Feeds a received datagram; true when it answered a pending transaction. Never throws. */
  handlePacket(pkt: Uint8Array): boolean {
    const msg = isStunPacket(pkt) ? parseStun(pkt) : null;
    if (!msg) {
      this.stats.malformed++;
      return false;
    }
    // Matched by transaction ID only (RFC 8489 §6.3.1): a NAT may change the reply's source.
    const p = msg.cls === 'success' || msg.cls === 'error' ? this.pending.get(txKey(msg.transactionId)) : undefined;
    if (!p || msg.method !== STUN_METHOD_BINDING) {
      this.stats.unmatched++;
      return false;
    }
    this.stats.responses++;
    if (msg.cls === 'error') {
      const code = msg.errorCode?.code ?? 0;
      p.reject(new StunErrorResponse(code, `STUN error ${code} ${msg.errorCode?.reason ?? ''} from ${p.server.key}`));
      return true;
    }
    const mapped = msg.xorMappedAddress ?? msg.mappedAddress;
    // RFC 8489 §6.3.1: unknown comprehension-required attributes fail the transaction.
    if (!mapped || msg.unknownRequired.length > 0) {
      p.reject(new WeftError('ERR_STUN_BAD_RESPONSE', `unusable STUN success from ${p.server.key}`));
      return true;
    }
    p.resolve({ server: p.server, mapped, rttMs: this.clock.now() - p.lastSent, transmissions: p.transmissions });
    return true;
  }

  /** Rejects every pending transaction with ERR_ABORTED. */
  close(): void {
    for (const p of [...this.pending.values()]) p.reject(abortError());
  }
}

export class StunErrorResponse extends WeftError {
  constructor(
    readonly stunCode: number,
    message: string,
  ) {
    super('ERR_STUN_ERROR_RESPONSE', message);
  }
}

function abortError(): WeftError {
  return new WeftError('ERR_ABORTED', 'operation aborted');
}

// Binding requests are < 100 bytes (header, SOFTWARE, FINGERPRINT).
const STUN_SLOT = 256;

/**
 * StunSend over the engine's Bind, so STUN shares the WireGuard port and the mapped
 * address is the one peers must use. The receive side is the owner's: for each received
 * packet, `isStunPacket(pkt) ? client.handlePacket(pkt) : <WireGuard>`.
 */
export function stunSendOverBind(bind: Bind): StunSend {
  const batch = new PacketBatch(1, STUN_SLOT);
  return (pkt, to) => {
    batch.reset();
    if (!batch.push(pkt) || bind.send(batch, to) !== 1) throw new WeftError('ERR_STUN_SEND', `bind did not send to ${to.key}`);
  };
}

export interface UdpStunClientOptions extends Omit<StunClientOptions, 'send'> {
  /** Local address; '::' (default) is dual-stack so one socket reaches v4 and v6 servers. */
  host?: string;
  port?: number;
}

/** A StunClient on its own dgram socket (netcheck, tools). stop() releases the socket. */
export class UdpStunClient {
  readonly client: StunClient;
  private socket: dgram.Socket | undefined;
  private v6 = false;

  constructor(private readonly opts: UdpStunClientOptions = {}) {
    this.client = new StunClient({ ...opts, send: (pkt, to) => this.send(pkt, to) });
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async start(): Promise<number> {
    if (this.socket) throw new WeftError('ERR_ALREADY_STARTED', 'STUN client already started');
    const host = this.opts.host ?? '::';
    this.v6 = host.includes(':');
    const socket = dgram.createSocket({ type: this.v6 ? 'udp6' : 'udp4', ipv6Only: false });
    socket.on('message', (pkt) => this.client.handlePacket(pkt));
    // Per-datagram errors (e.g. ICMP unreachable) surface here; the transaction times out.
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      socket.close();
      throw new WeftError('ERR_STUN_BIND', `cannot bind STUN client socket on ${host}: ${err.message}`, { cause: err });
    });
    this.socket = socket;
    return socket.address().port;
  }

  binding(server: Endpoint, o?: BindingOptions): Promise<BindingResult> {
    return this.client.binding(server, o);
  }

  async stop(): Promise<void> {
    this.client.close();
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private send(pkt: Uint8Array, to: Endpoint): void {
    const s = this.socket;
    if (!s) throw new WeftError('ERR_NOT_STARTED', 'STUN client socket not started');
    if (!this.v6 && !to.isV4) throw new WeftError('ERR_STUN_FAMILY', `IPv4 socket cannot reach ${to.key}`);
    // A dual-stack socket reaches IPv4 servers through their v4-mapped address.
    s.send(pkt, to.port, this.v6 && to.isV4 ? `::ffff:${to.ip}` : to.ip);
  }
}
