// A simulated node for tests and the control bench: signs requests the way an agent
// does (node-auth.ts) and holds a map stream.
import WebSocket from 'ws';
import { generatePrivateKey, keyFromBase64, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { nodeAuthKey, signNodeRequest } from '../../src/wire/node-auth.js';
import type { ServerMessage } from '../../src/wire/control.js';
import { RESUME_HEADER, VERSION_HEADER } from '../../src/wire/version.js';

export interface HttpResult {
  status: number;
  json: any;
  headers: Headers;
  text: string;
}

export async function http(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const raw = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await fetch(url, {
    method,
    headers: { ...(raw !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: raw,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers, text };
}

export class SimNode {
  readonly priv: PrivateKey;
  readonly publicKey: string;
  private readonly key: Uint8Array;

  /** `nowMs` is the wall clock the signature's timestamp comes from (a FakeClock in tests). */
  constructor(readonly baseUrl: string, serverPublicKey: string, private readonly nowMs: () => number = Date.now, priv: PrivateKey = generatePrivateKey()) {
    this.priv = priv;
    this.publicKey = keyToBase64(publicKeyFromPrivate(priv));
    this.key = nodeAuthKey(priv, keyFromBase64(serverPublicKey))!;
  }

  authHeader(method: string, path: string, body: string | Buffer = '', tsSeconds = Math.floor(this.nowMs() / 1000)): string {
    return signNodeRequest(this.key, keyFromBase64(this.publicKey), method, path, Buffer.from(body), tsSeconds);
  }

  /** A signed request; `body` is sent byte for byte as signed. */
  async call(method: string, path: string, body?: unknown, opts: { ts?: number; auth?: string } = {}): Promise<HttpResult> {
    const raw = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const auth = opts.auth ?? this.authHeader(method, path, raw, opts.ts);
    return http(this.baseUrl + path, method, body === undefined ? undefined : raw, { authorization: auth });
  }

  register(req: Record<string, unknown>): Promise<HttpResult> {
    return this.call('POST', '/api/v1/register', { version: 2, ...req });
  }

  logout(): Promise<HttpResult> {
    return this.call('POST', '/api/v1/logout', {});
  }

  /** `version`: announced in VERSION_HEADER (v5 agents); absent = an older agent. `resume`: RESUME_HEADER (v8). */
  openMap(version?: number, resume?: string): Promise<MapClient> {
    const headers = { ...(version === undefined ? {} : { [VERSION_HEADER]: String(version) }), ...(resume === undefined ? {} : { [RESUME_HEADER]: resume }) };
    return MapClient.open(this.baseUrl.replace(/^http/, 'ws') + '/api/v1/map', this.authHeader('GET', '/api/v1/map'), headers);
  }
}

type Waiter = { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void };

export class MapClient {
  readonly messages: ServerMessage[] = [];
  private waiters: Waiter[] = [];
  onMessage: ((m: ServerMessage) => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as ServerMessage;
      this.messages.push(m);
      this.onMessage?.(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }

  static open(url: string, authorization: string, headers: Record<string, string> = {}): Promise<MapClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization, ...headers } });
      const client = new MapClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        // The server may reset after its refusal: that is this request's end, not a crash.
        res.socket.on('error', reject);
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body || 'null') })));
      });
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
    const have = this.messages.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a map message')), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export const isUpsertOf = (publicKey: string, pred: (v: any) => boolean = () => true) => (m: ServerMessage): boolean =>
  m.type === 'delta' && m.upserts.some((u) => u.publicKey === publicKey && pred(u));
export const isRemovalOf = (publicKey: string) => (m: ServerMessage): boolean => m.type === 'delta' && m.removals.includes(publicKey);
