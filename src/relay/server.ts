import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { randomFillSync } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { generatePrivateKey, KEY_LEN, keyToBase64, keyToHex, publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { serveRelayPage } from './page.js';
import { FrameBatch, type BatchTarget, type FlushResult } from './batch.js';
import { applyHttpLimits, DEFAULT_HTTP_LIMITS, listenOn, type HttpLimits } from '../listen.js';
import { silentLogger, type Logger } from '../log.js';
import {
  CHALLENGE_LEN,
  CLOSE_AUTH_FAILED,
  CLOSE_REPLACED,
  CLOSE_REVOKED,
  FRAME,
  MAX_FRAME_SIZE,
  MAX_PACKET_SIZE,
  PEER_GONE_DISCONNECTED,
  PEER_GONE_NOT_HERE,
  RELAY_DEFAULT_PATH,
  RELAY_PROTOCOL_VERSION,
  encodeFrame,
  parseFrame,
  relayAuthKey,
  verifyRelayProof,
  type PeerGoneReason,
} from '../wire/relay.js';

// The relay: authenticated clients keyed by WireGuard public key; packets are forwarded
// as opaque bytes. Frames to a client are batched per event-loop turn (batch.ts: one
// socket write per destination per turn). Each client's queue is that turn's batch plus
// the socket's send buffer, bounded by maxQueueBytes: beyond it every frame to that
// client (packets, pongs, keepalives) is
// dropped and counted rather than buffered without limit, as WireGuard and TCP above it
// recover from loss — so a client that stops reading and floods pings costs the relay at
// most maxQueueBytes. Sockets not yet authenticated are capped (maxPending) and closed
// after authTimeoutMs; the standalone HTTP server has header/request/idle timeouts and a
// connection cap.

export interface RelayServerOptions {
  /** The relay's X25519 key; generated when absent (clients learn it from ServerHello). */
  privateKey?: PrivateKey;
  /** URL path of the WebSocket endpoint (default /relay). */
  path?: string;
  /** Per-client send-buffer bound in bytes (default 1 MiB). */
  maxQueueBytes?: number;
  /** Sockets still authenticating; more are answered 503 (default 256). */
  maxPending?: number;
  authTimeoutMs?: number;
  /** listen(): timeouts and connection cap of the standalone server (default DEFAULT_HTTP_LIMITS). */
  httpLimits?: Partial<HttpLimits>;
  keepaliveMs?: number;
  /** Admission hook after the key proof, e.g. "is this key in the netmap". */
  authorize?: (key: PublicKey) => boolean | Promise<boolean>;
  clock?: Clock;
  logger?: Logger;
}

export interface RelayServerStats {
  accepted: number;
  refused: number;
  replaced: number;
  packetsForwarded: number;
  bytesForwarded: number;
  droppedQueueFull: number;
  /** Pongs, keepalives and peer-gone notices dropped because the client's queue was full. */
  droppedControl: number;
  droppedNoPeer: number;
  /** Upgrades answered 503 because maxPending sockets were authenticating. */
  refusedBusy: number;
  /** Connections closed because the admission hook withdrew the key (node deleted or expired). */
  revoked: number;
  malformedFrames: number;
  /** Connections closed for a frame over MAX_FRAME_SIZE. */
  oversizeFrames: number;
}

interface Client extends BatchTarget {
  ws: WebSocket;
  key: PublicKey;
  hex: string;
  /** Peers this client sent to, told when they disconnect (bounded; created on the first packet). */
  sentTo: Set<string> | undefined;
  /** The destination of this client's last packet (most send to one peer in a row): no hex, no map lookup. */
  lastDst: Client | undefined;
  /** Set when it leaves the map (closed or replaced): cached lastDst references go stale. */
  gone: boolean;
}

const MAX_SENT_TO = 1024;

export class RelayServer {
  readonly publicKey: PublicKey;
  readonly path: string;
  readonly stats: RelayServerStats = {
    accepted: 0,
    refused: 0,
    replaced: 0,
    packetsForwarded: 0,
    bytesForwarded: 0,
    droppedQueueFull: 0,
    droppedControl: 0,
    droppedNoPeer: 0,
    refusedBusy: 0,
    revoked: 0,
    malformedFrames: 0,
    oversizeFrames: 0,
  };
  private readonly privateKey: PrivateKey;
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<string, Client>();
  private readonly batch = new FrameBatch<Client>((r) => this.countFlushDrops(r));
  private readonly sockets = new Set<WebSocket>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxQueueBytes: number;
  private readonly maxPending: number;
  private pending = 0;
  private readonly keepaliveMs: number;
  private keepaliveTimer: TimerHandle | undefined;
  private readonly attached: Array<{ server: http.Server | https.Server; fn: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void }> = [];
  private ownServer: http.Server | https.Server | undefined;
  private stopped = false;

  constructor(private readonly opts: RelayServerOptions = {}) {
    this.privateKey = opts.privateKey ?? generatePrivateKey();
    this.publicKey = publicKeyFromPrivate(this.privateKey);
    this.path = opts.path ?? RELAY_DEFAULT_PATH;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.maxQueueBytes = opts.maxQueueBytes ?? 1 << 20;
    this.maxPending = opts.maxPending ?? 256;
    this.keepaliveMs = opts.keepaliveMs ?? 60_000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_SIZE, perMessageDeflate: false });
    this.scheduleKeepalive();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Sockets connected but not (yet) authenticated. */
  get pendingCount(): number {
    return this.pending;
  }

  /** Keys of the authenticated clients (for admission re-checks). */
  connectedKeys(): PublicKey[] {
    return [...this.clients.values()].map((c) => c.key);
  }

  /** Closes the connection of `key`, whose admission was withdrawn (node deleted or expired). */
  revoke(key: Uint8Array): boolean {
    const c = this.clients.get(keyToHex(key));
    if (!c) return false;
    this.stats.revoked++;
    this.logger.info({ key: keyToBase64(c.key).slice(0, 8) }, 'relay client revoked');
    this.batch.flush(); // what was queued for it goes out before the close frame
    c.ws.close(CLOSE_REVOKED, 'node no longer admitted');
    this.onGone(c);
    return true;
  }

  /** Takes over WebSocket upgrades on `path` of an existing HTTP server (e.g. fastify's `app.server`). */
  attach(server: http.Server | https.Server): void {
    const fn = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== this.path) return;
      this.handleUpgrade(req, socket, head);
    };
    server.on('upgrade', fn);
    this.attached.push({ server, fn });
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.pending >= this.maxPending) {
      this.stats.refusedBusy++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.pending++;
    let pending = true;
    const settle = (): void => {
      if (pending) {
        this.pending--;
        socket.off('close', settle); // nothing of the handshake stays with an idle client
      }
      pending = false;
    };
    socket.once('close', settle);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, settle));
  }

  /**
   * Standalone HTTP server: the WebSocket endpoint, and for plain GETs (browsers, latency
   * probes, captive-portal checks) an ordinary page (page.ts). With `tls` it is HTTPS, so
   * the relay can sit on TCP 443 where nothing else passes.
   */
  async listen(host: string, port: number, tls?: { cert: string | Buffer; key: string | Buffer }): Promise<number> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => serveRelayPage(req.method, res);
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key, handshakeTimeout: DEFAULT_HTTP_LIMITS.headersTimeoutMs }, onRequest) : http.createServer(onRequest);
    applyHttpLimits(server, this.opts.httpLimits);
    this.attach(server);
    const addr = await listenOn(server, host, port, 'ERR_RELAY_LISTEN', 'relay');
    this.ownServer = server;
    return addr.port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.keepaliveTimer) this.clock.clearTimeout(this.keepaliveTimer);
    for (const { server, fn } of this.attached.splice(0)) server.off('upgrade', fn);
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    const own = this.ownServer;
    this.ownServer = undefined;
    if (own) {
      own.closeAllConnections();
      await new Promise<void>((resolve) => own.close(() => resolve()));
    }
  }

  private scheduleKeepalive(): void {
    this.keepaliveTimer = this.clock.setTimeout(() => {
      const ka = encodeFrame({ type: 'keepalive' });
      for (const c of this.clients.values()) this.sendControl(c, ka);
      this.scheduleKeepalive();
    }, this.keepaliveMs);
  }

  private onConnection(ws: WebSocket, socket: Duplex, authenticated: () => void): void {
    this.sockets.add(ws);
    // Handshake state, dropped when the handshake ends: an idle client keeps none of it.
    let hs: { challenge: Uint8Array; timer: TimerHandle; authenticated: () => void; busy: boolean } | undefined = {
      challenge: randomFillSync(new Uint8Array(CHALLENGE_LEN)),
      timer: this.clock.setTimeout(() => this.refuse(ws, 'auth timeout'), this.opts.authTimeoutMs ?? 5_000),
      authenticated,
      busy: false,
    };
    let client: Client | undefined;
    ws.on('close', () => {
      if (hs) this.clock.clearTimeout(hs.timer);
      hs = undefined;
      this.sockets.delete(ws);
      if (client) this.onGone(client);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws enforces maxPayload itself: the peer gets 1009 and the connection ends.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.stats.oversizeFrames++;
      ws.terminate();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      // The data path: a SendPacket frame goes to forward() without being parsed into an object.
      if (client && isBinary && Buffer.isBuffer(data) && data.length >= 1 + KEY_LEN && data[0] === FRAME.SEND_PACKET) return this.forward(client, data);
      const f = isBinary && Buffer.isBuffer(data) ? parseFrame(data) : null;
      if (client) {
        if (f) this.onFrame(client, f);
        else this.stats.malformedFrames++;
        return;
      }
      if (!hs || hs.busy) return;
      if (!f || f.type !== 'clientAuth') {
        if (!f) this.stats.malformedFrames++;
        this.refuse(ws, 'expected client auth');
        return;
      }
      const h = hs;
      h.busy = true;
      void this.authenticate(f.clientKey, f.proof, h.challenge).then((key) => {
        this.clock.clearTimeout(h.timer);
        hs = undefined;
        if (!key) return this.refuse(ws, 'bad proof or not authorized');
        if (ws.readyState !== ws.OPEN) return;
        h.authenticated();
        client = this.register(ws, socket, key);
      });
    });
    ws.send(encodeFrame({ type: 'serverHello', serverKey: this.publicKey, challenge: hs.challenge }));
  }

  private async authenticate(clientKey: Uint8Array, proof: Uint8Array, challenge: Uint8Array): Promise<PublicKey | null> {
    const k = relayAuthKey(this.privateKey, clientKey);
    if (!k || !verifyRelayProof(k, challenge, this.publicKey, clientKey, proof)) return null;
    const key = new Uint8Array(clientKey) as PublicKey;
    try {
      return !this.opts.authorize || (await this.opts.authorize(key)) ? key : null;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'relay authorize hook failed');
      return null;
    }
  }

  private refuse(ws: WebSocket, why: string): void {
    this.stats.refused++;
    this.logger.debug({ why }, 'relay client refused');
    ws.close(CLOSE_AUTH_FAILED, 'authentication failed');
  }

  private register(ws: WebSocket, socket: Duplex, key: PublicKey): Client {
    const hex = keyToHex(key);
    const old = this.clients.get(hex);
    if (old) {
      // The newest connection wins: the old one is usually a dead TCP path after roaming.
      this.stats.replaced++;
      this.clients.delete(hex);
      old.gone = true;
      this.sendControl(old, encodeFrame({ type: 'health', problem: 'replaced by a newer connection with the same key' }));
      this.batch.flush(); // the notice goes out before the close frame
      old.ws.close(CLOSE_REPLACED, 'replaced');
    }
    const c: Client = { ws, socket, key, hex, sentTo: undefined, lastDst: undefined, gone: false, batchBytes: 0, batchBuf: undefined, batchOff: 0 };
    this.clients.set(hex, c);
    this.stats.accepted++;
    this.logger.debug({ key: keyToBase64(key).slice(0, 8) }, 'relay client connected');
    ws.send(encodeFrame({ type: 'serverInfo', version: RELAY_PROTOCOL_VERSION, maxPacket: MAX_PACKET_SIZE, keepaliveMs: this.keepaliveMs }));
    return c;
  }

  private onFrame(c: Client, f: NonNullable<ReturnType<typeof parseFrame>>): void {
    switch (f.type) {
      case 'ping':
        if (this.roomFor(c)) this.batch.push(c, encodeFrame({ type: 'pong', data: f.data }));
        return;
      case 'keepalive':
      case 'pong':
        return;
      default:
        this.stats.malformedFrames++;
    }
  }

  /** `frame` is a whole SendPacket frame (type, destination key, packet); it goes out as RecvPacket. */
  private forward(from: Client, frame: Buffer): void {
    let dst = from.lastDst;
    if (!dst || dst.gone || !keyAt(frame, dst.key)) {
      const dstKey = frame.subarray(1, 1 + KEY_LEN);
      const hex = keyToHex(dstKey);
      dst = this.clients.get(hex);
      if (!dst) {
        this.stats.droppedNoPeer++;
        this.sendPeerGone(from, dstKey, PEER_GONE_NOT_HERE);
        return;
      }
      const sentTo = (from.sentTo ??= new Set());
      if (sentTo.size < MAX_SENT_TO) sentTo.add(hex);
      // Cached only while the peer is in sentTo, so it is told when dst leaves (and the cache dropped).
      from.lastDst = sentTo.has(hex) ? dst : undefined;
    }
    if (dst.ws.bufferedAmount + this.batch.queuedBytes(dst) > this.maxQueueBytes) {
      this.stats.droppedQueueFull++;
      return;
    }
    this.batch.push(dst, frame, from.key);
    this.stats.packetsForwarded++;
    this.stats.bytesForwarded += frame.length - 1 - KEY_LEN;
  }

  private sendPeerGone(to: Client, key: Uint8Array, reason: PeerGoneReason): void {
    if (this.roomFor(to)) this.batch.push(to, encodeFrame({ type: 'peerGone', key, reason }));
  }

  private sendControl(to: Client, frame: Uint8Array): void {
    if (this.roomFor(to)) this.batch.push(to, frame);
  }

  /** Every non-data frame to a client is bounded like packets: checked before it is even encoded. */
  private roomFor(to: Client): boolean {
    if (to.ws.bufferedAmount + this.batch.queuedBytes(to) <= this.maxQueueBytes) return true;
    this.stats.droppedControl++;
    return false;
  }

  /** Frames queued in a turn for a client that closed before the end of it. */
  private countFlushDrops(r: FlushResult): void {
    this.stats.droppedNoPeer += r.droppedPackets;
    this.stats.droppedControl += r.droppedControl;
  }

  private onGone(c: Client): void {
    if (this.clients.get(c.hex) !== c) return;
    c.gone = true;
    c.lastDst = undefined;
    this.clients.delete(c.hex);
    for (const other of this.clients.values()) {
      if (other.lastDst === c) other.lastDst = undefined;
      if (other.sentTo?.delete(c.hex)) this.sendPeerGone(other, c.key, PEER_GONE_DISCONNECTED);
    }
  }
}

/** Whether the destination key of SendPacket `frame` (bytes 1..33) is `key`. */
function keyAt(frame: Uint8Array, key: Uint8Array): boolean {
  for (let i = 0; i < KEY_LEN; i++) if (frame[i + 1] !== key[i]) return false;
  return true;
}
