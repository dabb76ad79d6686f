import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import WebSocket from 'ws';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { keyFromBase64, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { checkResponseMac, nodeAuthKey, openFrame, RESPONSE_MAC_HEADER, sealFrame, sessionKeys, signNodeRequest, type SessionKeys } from '../wire/node-auth.js';
import type { ClientMessage, ErrorBody, RegisterRequest, RegisterLoginResponse, RegisterResponse, ServerKeyResponse, ServerMessage } from '../wire/control.js';
import { CONTROL_PROTOCOL_VERSION, RESUME_HEADER } from '../wire/version.js';
import { AgentError } from './errors.js';
import { requestText, type HttpAnswer, type HttpRequestInit } from './control-http.js';
import { parseServerMessage } from '../wire/decode.js';
import type { NetmapSink, NetmapSource } from './netmap-source.js';

// The agent's side of the coordinator protocol (src/wire/control.ts): signed HTTP
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

/** True for URLs whose host is a loopback address or `localhost`. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

/**
 * Plain HTTP to a coordinator anywhere but loopback lets anyone on the path swap the
 * server key we are about to pin; only `--insecure-http` (a lab, a trusted LAN) allows it.
 */
export function checkServerUrl(serverUrl: string, insecureHttp: boolean): void {
  const url = new URL(serverUrl);
  if (url.protocol === 'https:' || insecureHttp || isLoopbackUrl(url)) return;
  throw new AgentError('ERR_INSECURE_SERVER_URL', `refusing plain http:// to ${url.host}: use https://, or pass --insecure-http on a network you trust`);
}

export async function fetchServerKey(serverUrl: string): Promise<string> {
  const res = await request(new URL('/api/v1/key', serverUrl), { method: 'GET' });
  let body: ServerKeyResponse | undefined;
  try {
    body = JSON.parse(res.text) as ServerKeyResponse;
  } catch {
    // not JSON: reported below
  }
  if (typeof body?.publicKey !== 'string') throw new AgentError('ERR_SERVER', 'GET /api/v1/key: no publicKey in the answer');
  keyFromBase64(body.publicKey);
  return body.publicKey;
}

async function request(url: URL, init: Omit<HttpRequestInit, 'timeoutMs'>): Promise<HttpAnswer> {
  const res = await requestText(url, { ...init, timeoutMs: HTTP_TIMEOUT_MS });
  if (res.status >= 200 && res.status < 300) return res;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const body = JSON.parse(res.text) as ErrorBody;
    if (body?.error?.code) detail = `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: keep the status line
  }
  throw new AgentError('ERR_SERVER', `${init.method} ${url.pathname}: ${detail}`, { status: res.status });
}

export interface ControlClientOptions {
  serverUrl: string;
  serverPublicKey: string;
  privateKey: PrivateKey;
  clock: Clock;
  logger: Logger;
  random: () => number;
}

export class ControlClient implements NetmapSource {
  private readonly authKey: Uint8Array;
  private readonly publicKey: Uint8Array;
  private ws: WebSocket | null = null;
  /** The open stream's keys and frame counters (v7: every frame is sealed). */
  private stream: { keys: SessionKeys; sent: number; received: number } | null = null;
  private sink: NetmapSink | null = null;
  private retryTimer: TimerHandle | null = null;
  private heartbeat: TimerHandle | null = null;
  private attempt = 0;
  /** v8: the last change applied (netmap epoch + seq): a reconnect asks for only what it missed. */
  private resume: { epoch: string; seq: number } | null = null;
  private stopped = true;
  private awaitingPong = false;
  connected = false;

  constructor(private readonly opts: ControlClientOptions) {
    const k = nodeAuthKey(opts.privateKey, keyFromBase64(opts.serverPublicKey));
    if (!k) throw new AgentError('ERR_SERVER', 'the server public key is not a usable X25519 key');
    this.authKey = k;
    this.publicKey = publicKeyFromPrivate(opts.privateKey);
  }

  /** The signed header (v7: with our version) and the keys the answer must be authenticated with. */
  private authorization(method: string, path: string, body: Uint8Array): { header: string; keys: SessionKeys } {
    const nonce = randomBytes(12).toString('base64');
    const header = signNodeRequest(this.authKey, this.publicKey, method, path, body, Math.floor(this.opts.clock.wallNow() / 1000), { nonce, version: CONTROL_PROTOCOL_VERSION });
    return { header, keys: sessionKeys(this.authKey, nonce) };
  }

  private async post<T>(path: string, payload: unknown): Promise<T> {
    const url = new URL(path, this.opts.serverUrl);
    const body = Buffer.from(JSON.stringify(payload));
    const auth = this.authorization('POST', url.pathname, body);
    const res = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: auth.header },
    });
    const text = res.text;
    const mac = res.headers[RESPONSE_MAC_HEADER.toLowerCase()];
    // Only the coordinator holding the pinned key can produce this: an on-path rewrite fails here.
    if (!checkResponseMac(auth.keys, res.status, text, typeof mac === 'string' ? mac : null)) {
      throw new AgentError('ERR_SERVER_UNAUTHENTICATED', `${path}: the answer is not authenticated by the pinned server key`);
    }
    return JSON.parse(text) as T;
  }

  register(req: Omit<RegisterRequest, 'version' | 'interactive'>): Promise<RegisterResponse> {
    return this.post<RegisterResponse>('/api/v1/register', { version: CONTROL_PROTOCOL_VERSION, ...req });
  }

  /** Without a pre-auth key: the answer may be a login URL to show instead (OIDC). */
  registerInteractive(req: Omit<RegisterRequest, 'version' | 'interactive' | 'authKey'>): Promise<RegisterResponse | RegisterLoginResponse> {
    return this.post<RegisterResponse | RegisterLoginResponse>('/api/v1/register', { version: CONTROL_PROTOCOL_VERSION, ...req, interactive: true });
  }

  async logout(): Promise<void> {
    await this.post('/api/v1/logout', {});
  }

  /** Starts the map stream (NetmapSource); it reconnects until stop(). */
  start(sink: NetmapSink): void {
    this.sink = sink;
    this.stopped = false;
    this.connect();
  }

  reportEndpoints(endpoints: readonly string[]): boolean {
    return this.send({ type: 'endpoints', endpoints: [...endpoints] });
  }

  reportRoutes(routes: readonly string[]): boolean {
    return this.send({ type: 'routes', routes: [...routes] });
  }

  send(msg: ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.stream) return false;
    ws.send(sealFrame(this.stream.keys.up, this.stream.sent++, JSON.stringify(msg)));
    return true;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    const url = new URL('/api/v1/map', this.opts.serverUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const auth = this.authorization('GET', url.pathname, new Uint8Array(0));
    const resume = this.resume ? { [RESUME_HEADER]: `${this.resume.epoch}.${this.resume.seq}` } : {};
    const ws = new WebSocket(url, { headers: { authorization: auth.header, ...resume }, handshakeTimeout: HTTP_TIMEOUT_MS });
    this.ws = ws;
    const stream = (this.stream = { keys: auth.keys, sent: 0, received: 0 });
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
        // e.g. 401: this node was deleted; retries go on with backoff.
        this.sink?.onError(err.code ?? `HTTP_${status}`, err.message ?? `the coordinator refused the map stream (HTTP ${status})`);
        ws.terminate();
      });
      res.on('error', () => ws.terminate());
    });
    ws.on('pong', () => (this.awaitingPong = false));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? openFrame(stream.keys.down, stream.received++, data as Buffer) : null;
      if (text === null) {
        // Not from the coordinator we pinned, or replayed/reordered: drop the stream, reconnect.
        this.opts.logger.warn({ binary: isBinary }, 'map stream frame failed authentication; reconnecting');
        ws.terminate();
        return;
      }
      const msg = parseServerMessage(text);
      if (!msg) {
        this.opts.logger.warn({ bytes: text.length }, 'ignoring malformed message from the coordinator');
        return;
      }
      if (msg.type === 'full') this.attempt = 0; // a healthy stream resets the backoff
      try {
        this.deliver(msg);
        this.applied(msg);
      } catch (err) {
        // What we hold may now differ from what the coordinator thinks: ask for a full map next time.
        this.resume = null;
        this.opts.logger.error({ err }, 'applying a coordinator message failed');
      }
    });
    ws.on('error', (err) => this.opts.logger.debug({ err: err.message }, 'map stream error'));
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stream = null;
      this.disarmHeartbeat();
      this.setConnected(false);
      this.scheduleReconnect();
    });
  }

  private applied(msg: ServerMessage): void {
    if (msg.type === 'full') this.resume = typeof msg.netmap.epoch === 'string' ? { epoch: msg.netmap.epoch, seq: msg.netmap.seq } : null;
    else if (msg.type === 'delta' && this.resume) {
      // A resumed stream's first delta is healthy too.
      this.attempt = 0;
      this.resume.seq = Math.max(this.resume.seq, msg.seq);
    }
  }

  private deliver(msg: ServerMessage): void {
    if (msg.type === 'full' || msg.type === 'delta') this.sink?.onUpdate(msg);
    else if (msg.type === 'error') {
      this.opts.logger.warn({ code: msg.code, message: msg.message }, 'coordinator reported an error');
      this.sink?.onError(msg.code, msg.message);
    }
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
    this.sink?.onConnectedChange(c);
  }

  /** Closes the stream and cancels reconnects; leaves no handles. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.disarmHeartbeat();
    const ws = this.ws;
    this.ws = null;
    this.stream = null;
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
