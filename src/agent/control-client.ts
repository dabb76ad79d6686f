import WebSocket from 'ws';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { keyFromBase64, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { nodeAuthKey, signNodeRequest } from '../control/node-auth.js';
import {
  CONTROL_PROTOCOL_VERSION,
  VERSION_HEADER,
  type ClientMessage,
  type ErrorBody,
  type RegisterRequest,
  type RegisterResponse,
  type ServerKeyResponse,
  type ServerMessage,
} from '../control/wire.js';
import { AgentError } from './errors.js';
import { parseServerMessage } from './netmap.js';

// The agent's side of the coordinator protocol (src/control/wire.ts): signed HTTP
// requests (node-auth.ts) and the map stream, which reconnects by itself with
// exponential backoff and jitter until stopped.

const HTTP_TIMEOUT_MS = 10_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 30_000;
const HEARTBEAT_MS = 15_000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 250 ms, capped at 30 s, 50-100% jitter. */
export function backoffDelay(attempt: number, random: () => number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + random() / 2));
}

export async function fetchServerKey(serverUrl: string): Promise<string> {
  const res = await request(new URL('/api/v1/key', serverUrl), { method: 'GET' });
  const body = (await res.json()) as ServerKeyResponse;
  if (typeof body.publicKey !== 'string') throw new AgentError('ERR_SERVER', 'GET /api/v1/key: no publicKey in the answer');
  keyFromBase64(body.publicKey);
  return body.publicKey;
}

async function request(url: URL, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (err) {
    throw new AgentError('ERR_SERVER_UNREACHABLE', `cannot reach ${url.origin}: ${(err as Error).message}`, { cause: err });
  }
  if (res.ok) return res;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as ErrorBody;
    if (body?.error?.code) detail = `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: keep the status line
  }
  throw new AgentError('ERR_SERVER', `${init.method} ${url.pathname}: ${detail}`, { status: res.status });
}

export interface StreamHandlers {
  onMessage(msg: ServerMessage): void;
  onConnectedChange(connected: boolean): void;
  /** The coordinator refused the stream (e.g. 401: this node was deleted); retries go on with backoff. */
  onRefused?(status: number, code: string | null, message: string | null): void;
}

export interface ControlClientOptions {
  serverUrl: string;
  serverPublicKey: string;
  privateKey: PrivateKey;
  clock: Clock;
  logger: Logger;
  random: () => number;
}

export class ControlClient {
  private readonly authKey: Uint8Array;
  private readonly publicKey: Uint8Array;
  private ws: WebSocket | null = null;
  private handlers: StreamHandlers | null = null;
  private retryTimer: TimerHandle | null = null;
  private heartbeat: TimerHandle | null = null;
  private attempt = 0;
  private stopped = true;
  private awaitingPong = false;
  connected = false;

  constructor(private readonly opts: ControlClientOptions) {
    const k = nodeAuthKey(opts.privateKey, keyFromBase64(opts.serverPublicKey));
    if (!k) throw new AgentError('ERR_SERVER', 'the server public key is not a usable X25519 key');
    this.authKey = k;
    this.publicKey = publicKeyFromPrivate(opts.privateKey);
  }

  private authorization(method: string, path: string, body: Uint8Array): string {
    return signNodeRequest(this.authKey, this.publicKey, method, path, body, Math.floor(this.opts.clock.wallNow() / 1000));
  }

  private async post<T>(path: string, payload: unknown): Promise<T> {
    const url = new URL(path, this.opts.serverUrl);
    const body = Buffer.from(JSON.stringify(payload));
    const res = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: this.authorization('POST', url.pathname, body) },
    });
    return (await res.json()) as T;
  }

  register(req: Omit<RegisterRequest, 'version'>): Promise<RegisterResponse> {
    return this.post<RegisterResponse>('/api/v1/register', { version: CONTROL_PROTOCOL_VERSION, ...req });
  }

  async logout(): Promise<void> {
    await this.post('/api/v1/logout', {});
  }

  /** Starts the map stream; it reconnects until stop(). */
  startStream(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.stopped = false;
    this.connect();
  }

  send(msg: ClientMessage): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    const url = new URL('/api/v1/map', this.opts.serverUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, {
      headers: { authorization: this.authorization('GET', url.pathname, new Uint8Array(0)), [VERSION_HEADER]: String(CONTROL_PROTOCOL_VERSION) },
      handshakeTimeout: HTTP_TIMEOUT_MS,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.awaitingPong = false;
      this.setConnected(true);
      this.armHeartbeat();
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () => {
        const err = parseErrorBody(body);
        this.opts.logger.warn({ status, code: err.code }, 'map stream refused');
        this.handlers?.onRefused?.(status, err.code, err.message);
        ws.terminate();
      });
      res.on('error', () => ws.terminate());
    });
    ws.on('pong', () => (this.awaitingPong = false));
    ws.on('message', (data) => {
      const msg = parseServerMessage(data.toString());
      if (!msg) {
        this.opts.logger.warn({ bytes: data.toString().length }, 'ignoring malformed message from the coordinator');
        return;
      }
      if (msg.type === 'full') this.attempt = 0; // a healthy stream resets the backoff
      try {
        this.handlers?.onMessage(msg);
      } catch (err) {
        this.opts.logger.error({ err }, 'applying a coordinator message failed');
      }
    });
    ws.on('error', (err) => this.opts.logger.debug({ err: err.message }, 'map stream error'));
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.disarmHeartbeat();
      this.setConnected(false);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = backoffDelay(this.attempt++, this.opts.random);
    this.opts.logger.info({ delayMs: delay }, 'map stream closed; reconnecting');
    this.retryTimer = this.opts.clock.setTimeout(() => this.connect(), delay);
  }

  // A dead TCP path (coordinator host gone without a FIN) shows up as a missing pong.
  private armHeartbeat(): void {
    this.heartbeat = this.opts.clock.setTimeout(() => {
      const ws = this.ws;
      if (!ws) return;
      if (this.awaitingPong) {
        ws.terminate();
        return;
      }
      this.awaitingPong = true;
      ws.ping();
      this.armHeartbeat();
    }, HEARTBEAT_MS);
  }

  private disarmHeartbeat(): void {
    if (this.heartbeat) this.opts.clock.clearTimeout(this.heartbeat);
    this.heartbeat = null;
  }

  private setConnected(c: boolean): void {
    if (this.connected === c) return;
    this.connected = c;
    this.handlers?.onConnectedChange(c);
  }

  /** Closes the stream and cancels reconnects; leaves no handles. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.disarmHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.terminate();
      await closed;
    }
    this.setConnected(false);
  }
}

/** `{ error: { code, message } }` as the coordinator sends it; nulls for anything else. */
function parseErrorBody(text: string): { code: string | null; message: string | null } {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return { code: typeof e?.code === 'string' ? e.code : null, message: typeof e?.message === 'string' ? e.message : null };
  } catch {
    return { code: null, message: null };
  }
}
