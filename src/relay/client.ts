import { randomFillSync } from 'node:crypto';
import WebSocket, { type RawData } from 'ws';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { KEY_LEN, publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { WeftError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import {
  CLOSE_AUTH_FAILED,
  CLOSE_REVOKED,
  MAX_FRAME_SIZE,
  MAX_PACKET_SIZE,
  PING_DATA_LEN,
  RELAY_SUBPROTOCOL,
  encodeFrame,
  parseFrame,
  relayAuthKey,
  relayProof,
  type Frame,
  type PeerGoneReason,
} from '../wire/relay.js';

// A relay client holds one authenticated WebSocket to a relay and keeps it up: on any
// loss it reconnects with exponential backoff and jitter (so a restarted relay is not hit
// by every client at once). Packets sent while disconnected are dropped and counted;
// WireGuard retransmits its handshakes and the transports above it recover.

export type RelayClientState = 'idle' | 'connecting' | 'connected' | 'stopped';

export interface RelayClientOptions {
  /** ws:// or wss:// URL of the relay endpoint, e.g. wss://relay.example.com/relay */
  url: string;
  privateKey: PrivateKey;
  /** `packet` is the callee's to keep (a fresh buffer per message). */
  onPacket?: (src: PublicKey, packet: Uint8Array) => void;
  onPeerGone?: (key: PublicKey, reason: PeerGoneReason) => void;
  onStateChange?: (state: RelayClientState) => void;
  /** Relay-reported problems ('' = healthy). */
  onHealth?: (problem: string) => void;
  /** Stops the client for good when aborted. */
  signal?: AbortSignal;
  clock?: Clock;
  logger?: Logger;
  /** Uniform [0, 1), injectable for deterministic jitter. */
  random?: () => number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Latency probe interval; a missing pong within pingTimeoutMs drops the connection. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Bound on our own unsent bytes before send() drops. */
  maxQueueBytes?: number;
  /** Extra trust roots for wss:// (a self-hosted relay with a private CA). */
  ca?: string | Buffer;
}

export interface RelayClientStats {
  connects: number;
  disconnects: number;
  authFailures: number;
  /** Closed by the relay because our node was deleted or expired (CLOSE_REVOKED). */
  revoked: number;
  packetsSent: number;
  packetsReceived: number;
  droppedNotConnected: number;
  droppedQueueFull: number;
  malformedFrames: number;
}

interface PendingPing {
  sentAt: number;
  resolve(ms: number): void;
  reject(e: Error): void;
  timer: TimerHandle;
}

export class RelayClient {
  readonly publicKey: PublicKey;
  readonly stats: RelayClientStats = {
    connects: 0,
    disconnects: 0,
    authFailures: 0,
    revoked: 0,
    packetsSent: 0,
    packetsReceived: 0,
    droppedNotConnected: 0,
    droppedQueueFull: 0,
    malformedFrames: 0,
  };
  private readonly clock: Clock;
  private readonly logger: Logger;
  private ws: WebSocket | undefined;
  private authed = false;
  private stateValue: RelayClientState = 'idle';
  private attempt = 0;
  private retryTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private readonly pings = new Map<string, PendingPing>();
  private waiters: Array<() => void> = [];
  private lastLatency: number | undefined;
  private relayKey: PublicKey | undefined;
  private readonly onAbort = (): void => void this.stop();

  constructor(private readonly opts: RelayClientOptions) {
    if (!/^wss?:\/\/[^/]/.test(opts.url) || !URL.canParse(opts.url)) throw new WeftError('ERR_INVALID_ARGUMENT', `relay URL must be ws:// or wss://, got ${JSON.stringify(opts.url)}`);
    this.publicKey = publicKeyFromPrivate(opts.privateKey);
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get state(): RelayClientState {
    return this.stateValue;
  }

  /** Round-trip time of the last answered ping, in ms. */
  get latencyMs(): number | undefined {
    return this.lastLatency;
  }

  /** Bytes accepted by send() but not yet written to the socket (backpressure signal). */
  get queuedBytes(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** The relay's public key as learnt in the last handshake. */
  get serverKey(): PublicKey | undefined {
    return this.relayKey;
  }

  /** Starts connecting (idempotent) and resolves once authenticated to the relay. */
  connect(signal?: AbortSignal): Promise<void> {
    if (this.stateValue === 'stopped' || this.opts.signal?.aborted) return Promise.reject(new WeftError('ERR_STOPPED', 'relay client stopped'));
    if (this.stateValue === 'idle') this.dial();
    if (this.stateValue === 'connected') return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new WeftError('ERR_ABORTED', 'operation aborted'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new WeftError('ERR_ABORTED', 'operation aborted'));
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (this.stateValue === 'connected') resolve();
        else reject(new WeftError('ERR_STOPPED', 'relay client stopped'));
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Queues a packet for `dst` via the relay; false (and counted) when it was dropped. */
  send(dst: Uint8Array, packet: Uint8Array): boolean {
    const ws = this.ws;
    if (dst.length !== KEY_LEN || packet.length > MAX_PACKET_SIZE) throw new WeftError('ERR_INVALID_ARGUMENT', 'relay send: bad key or oversized packet');
    if (!ws || !this.authed) {
      this.stats.droppedNotConnected++;
      return false;
    }
    if (this.queueFull(ws)) {
      this.stats.droppedQueueFull++;
      return false;
    }
    ws.send(encodeFrame({ type: 'sendPacket', key: dst, packet }));
    this.stats.packetsSent++;
    return true;
  }

  /** Every send path (packets, pings, pongs) respects the same bound on unsent bytes. */
  private queueFull(ws: WebSocket): boolean {
    return ws.bufferedAmount > (this.opts.maxQueueBytes ?? 1 << 20);
  }

  /** Measures one round trip to the relay (ms). Rejects with ERR_RELAY_PING_TIMEOUT, ERR_NOT_CONNECTED, ERR_RELAY_QUEUE_FULL or ERR_ABORTED. */
  ping(signal?: AbortSignal): Promise<number> {
    const ws = this.ws;
    if (!ws || !this.authed) return Promise.reject(new WeftError('ERR_NOT_CONNECTED', 'relay client not connected'));
    if (this.queueFull(ws)) return Promise.reject(new WeftError('ERR_RELAY_QUEUE_FULL', 'relay send queue is full'));
    const data = randomFillSync(new Uint8Array(PING_DATA_LEN));
    const id = Buffer.from(data).toString('hex');
    return new Promise<number>((resolve, reject) => {
      const settle = (fn: () => void): void => {
        this.clock.clearTimeout(p.timer);
        this.pings.delete(id);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => settle(() => reject(new WeftError('ERR_ABORTED', 'operation aborted')));
      const p: PendingPing = {
        sentAt: this.clock.now(),
        resolve: (ms) => settle(() => resolve(ms)),
        reject: (e) => settle(() => reject(e)),
        timer: this.clock.setTimeout(() => p.reject(new WeftError('ERR_RELAY_PING_TIMEOUT', 'relay ping timed out')), this.opts.pingTimeoutMs ?? 5_000),
      };
      this.pings.set(id, p);
      signal?.addEventListener('abort', onAbort, { once: true });
      ws.send(encodeFrame({ type: 'ping', data }));
    });
  }

  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.setState('stopped');
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.teardown(new WeftError('ERR_STOPPED', 'relay client stopped'));
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.terminate();
      await closed;
    }
  }

  private setState(s: RelayClientState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.opts.onStateChange?.(s);
    if (s === 'connected' || s === 'stopped') for (const w of this.waiters.splice(0)) w();
  }

  private dial(): void {
    this.setState('connecting');
    const ws = new WebSocket(this.opts.url, RELAY_SUBPROTOCOL, {
      maxPayload: MAX_FRAME_SIZE,
      perMessageDeflate: false,
      handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.ws = ws;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const f = isBinary && Buffer.isBuffer(data) ? parseFrame(data) : null;
      if (!f) {
        this.stats.malformedFrames++;
        return;
      }
      this.onFrame(ws, f);
    });
    ws.on('close', (code: number) => this.onClose(ws, code));
    // 'close' always follows; errors are logged, never thrown to the caller.
    ws.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'relay connection error'));
  }

  private onFrame(ws: WebSocket, f: Frame): void {
    if (!this.authed) {
      if (f.type === 'serverHello' && !this.relayKey) {
        const k = relayAuthKey(this.opts.privateKey, f.serverKey);
        if (!k) return void ws.terminate();
        this.relayKey = new Uint8Array(f.serverKey) as PublicKey;
        ws.send(encodeFrame({ type: 'clientAuth', clientKey: this.publicKey, proof: relayProof(k, f.challenge, f.serverKey, this.publicKey) }));
      } else if (f.type === 'serverInfo' && this.relayKey) {
        this.authed = true;
        this.attempt = 0;
        this.stats.connects++;
        this.setState('connected');
        this.schedulePing();
      } else {
        this.stats.malformedFrames++;
      }
      return;
    }
    switch (f.type) {
      case 'recvPacket':
        this.stats.packetsReceived++;
        this.opts.onPacket?.(new Uint8Array(f.key) as PublicKey, f.packet);
        return;
      case 'peerGone':
        this.opts.onPeerGone?.(new Uint8Array(f.key) as PublicKey, f.reason);
        return;
      case 'ping':
        if (this.queueFull(ws)) this.stats.droppedQueueFull++;
        else ws.send(encodeFrame({ type: 'pong', data: f.data }));
        return;
      case 'pong': {
        const p = this.pings.get(Buffer.from(f.data).toString('hex'));
        if (p) {
          this.lastLatency = this.clock.now() - p.sentAt;
          p.resolve(this.lastLatency);
        }
        return;
      }
      case 'health':
        this.opts.onHealth?.(f.problem);
        return;
      case 'keepalive':
        return;
      default:
        this.stats.malformedFrames++;
    }
  }

  private schedulePing(): void {
    this.pingTimer = this.clock.setTimeout(() => {
      const ws = this.ws;
      // A relay that does not answer within pingTimeoutMs is treated as gone (half-open TCP).
      this.ping().then(
        () => this.ws === ws && this.schedulePing(),
        (err: WeftError) => {
          if (this.ws !== ws) return;
          if (err.code === 'ERR_RELAY_PING_TIMEOUT') ws?.terminate();
          else if (err.code === 'ERR_RELAY_QUEUE_FULL') this.schedulePing(); // busy, not dead: the queue drains or the TCP connection fails
        },
      );
    }, this.opts.pingIntervalMs ?? 15_000);
  }

  private teardown(err: Error): void {
    if (this.pingTimer) this.clock.clearTimeout(this.pingTimer);
    for (const p of [...this.pings.values()]) p.reject(err);
    this.ws = undefined;
    this.authed = false;
    this.relayKey = undefined;
  }

  private onClose(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    const wasConnected = this.authed;
    if (code === CLOSE_AUTH_FAILED) this.stats.authFailures++;
    if (code === CLOSE_REVOKED) this.stats.revoked++;
    if (wasConnected) this.stats.disconnects++;
    this.teardown(new WeftError('ERR_NOT_CONNECTED', 'relay connection lost'));
    if (this.stateValue === 'stopped') return;
    this.setState('connecting');
    const base = Math.min(this.opts.backoffMaxMs ?? 5_000, (this.opts.backoffInitialMs ?? 100) * 2 ** Math.min(this.attempt, 16));
    const delay = base * (0.5 + 0.5 * (this.opts.random ?? Math.random)());
    this.attempt++;
    this.logger.debug({ code, delayMs: Math.round(delay) }, 'relay disconnected, reconnecting');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stateValue !== 'stopped') this.dial();
    }, delay);
  }
}
