import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { callAgent } from '../agent/local-client.js';
import { equalBytes } from '../crypto/constant-time.js';
import { WeftError } from '../errors.js';
import { applyHttpLimits } from '../listen.js';
import { readJsonBody } from '../http-json.js';
import { loadStatic, SECURITY_HEADERS } from '../static-files.js';

// `weft web`: a page for this device (as `tailscale web`), served on loopback and
// talking to the agent's local API (its unix socket, mode 0600: only users who could
// run the CLI can reach the agent, and this process acts as whoever started it). Every
// request must carry the per-start random token as the first path segment, printed
// only to the terminal that started it, so other local users (who can open loopback
// TCP) and web pages (which cannot learn it) cannot act; the Host header must name
// the listen address (DNS rebinding) and writes must be JSON (no simple cross-site forms).
//
//   GET  /<token>/                 the page
//   GET  /<token>/static/<file>    its assets
//   GET  /<token>/api/status       agent GET /v1/status
//   POST /<token>/api/prefs        agent POST /v1/prefs {exitNode?}
//   POST /<token>/api/down         agent POST /v1/tunnel {up: false} (the agent keeps running)
//   POST /<token>/api/up           agent POST /v1/tunnel {up: true}

export const DEFAULT_WEB_LISTEN = '127.0.0.1:8088';
const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
const MAX_BODY = 4096;

export interface WebUiOptions {
  /** The agent's local API socket. */
  socket: string;
  host: string;
  port: number;
}

const ERR_STATUS: Record<string, number> = { ERR_AGENT_NOT_RUNNING: 503, ERR_PEER_NOT_FOUND: 404 };

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json' }).end(JSON.stringify(body));
}
const fail = (res: ServerResponse, status: number, code: string, message: string, field?: string): void => json(res, status, { error: { code, message, ...(field ? { field } : {}) } });

export class WebUi {
  readonly token = randomBytes(24).toString('base64url');
  private readonly files = loadStatic(STATIC_DIR);
  private server: Server | null = null;
  private hostHeader = '';
  url = '';

  constructor(private readonly o: WebUiOptions) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    applyHttpLimits(server, {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, resolve);
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.hostHeader = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    this.url = `http://${this.hostHeader}/${this.token}/`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    s?.closeAllConnections();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, token = '', ...rest] = url.pathname.split('/');
      const given = Buffer.from(token), want = Buffer.from(this.token);
      if (given.length !== want.length || !equalBytes(given, want)) return fail(res, 403, 'ERR_TOKEN', 'open the URL `weft web` printed (it carries this run\'s token)');
      if (req.headers.host !== this.hostHeader) return fail(res, 403, 'ERR_HOST', `Host must be ${this.hostHeader}`, 'host');
      const path = rest.join('/');
      if (req.method === 'GET' && (path === '' || path.startsWith('static/'))) {
        const f = this.files.get(path === '' ? 'index.html' : path.slice('static/'.length));
        if (!f) return fail(res, 404, 'ERR_NOT_FOUND', 'no such file');
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': f.type }).end(f.body);
        return;
      }
      if (req.method === 'GET' && path === 'api/status') return json(res, 200, await callAgent(this.o.socket, 'GET', '/v1/status'));
      if (req.method === 'POST' && (path === 'api/prefs' || path === 'api/down' || path === 'api/up')) {
        if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return fail(res, 415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'writes are application/json', 'content-type');
        const body = await readJsonBody(req, MAX_BODY);
        if (path !== 'api/prefs') return json(res, 200, await callAgent(this.o.socket, 'POST', '/v1/tunnel', { up: path === 'api/up' }));
        const exitNode = (body as { exitNode?: unknown }).exitNode;
        if (typeof exitNode !== 'string' || exitNode.length > 255) return fail(res, 400, 'ERR_VALIDATION', 'exitNode must be a peer name or "" for none', 'exitNode');
        return json(res, 200, await callAgent(this.o.socket, 'POST', '/v1/prefs', { exitNode }));
      }
      return fail(res, 404, 'ERR_NOT_FOUND', `no route ${req.method} /${path}`);
    } catch (err) {
      const code = err instanceof WeftError ? err.code : 'ERR_INTERNAL';
      const status = ERR_STATUS[code] ?? (code === 'ERR_BAD_JSON' || code === 'ERR_BODY_TOO_LARGE' ? 400 : code === 'ERR_INTERNAL' ? 500 : 502);
      if (!res.headersSent) fail(res, status, code, status === 500 ? 'internal error' : (err as Error).message);
    }
  }
}
