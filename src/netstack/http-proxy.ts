import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenOn } from '../listen.js';
import type { Logger } from '../log.js';
import type { Dial } from './socks5.js';

// HTTP proxy into the mesh: CONNECT host:port tunnels (any TCP, e.g. HTTPS or SSH) and
// plain requests in absolute form (`GET http://peer:8080/x`). Hosts resolve to mesh peers
// only; errors answer 502 (dial failed) or 400 (not a proxy request) with a JSON body.

const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const MAX_CLIENTS = 1024;

export class HttpProxy {
  readonly stats = { connects: 0, requests: 0, failedDials: 0, rejected: 0 };
  private readonly server: Server;

  constructor(
    private readonly dial: Dial,
    private readonly logger?: Logger,
  ) {
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.maxConnections = MAX_CLIENTS;
    this.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.onConnect(req, socket, head));
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
    const a = await listenOn(this.server, host, port, 'EADDRINUSE', 'HTTP proxy');
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async onConnect(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => {});
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(req.url ?? '');
    if (!m || Number(m[2]) > 65535) {
      this.stats.rejected++;
      return void client.end(plainError(400, 'url', 'CONNECT wants host:port'));
    }
    let up;
    try {
      up = await this.dial(m[1], Number(m[2]));
    } catch (err) {
      this.stats.failedDials++;
      return void client.end(plainError(502, 'host', (err as Error).message));
    }
    this.stats.connects++;
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) up.write(head);
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.pipe(up);
    up.pipe(client);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let u: URL;
    try {
      u = new URL(req.url ?? '');
      if (u.protocol !== 'http:') throw new Error('not http');
    } catch {
      this.stats.rejected++;
      return jsonError(res, 400, 'url', 'a proxy request needs an absolute http:// URL');
    }
    let up;
    try {
      up = await this.dial(u.hostname.replace(/^\[(.*)\]$/, '$1'), Number(u.port || 80));
    } catch (err) {
      this.stats.failedDials++;
      this.logger?.debug({ host: u.host, err: (err as Error).message }, 'http proxy: dial failed');
      return jsonError(res, 502, 'host', (err as Error).message);
    }
    this.stats.requests++;
    const headers = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const out = request({ createConnection: () => up as never, method: req.method, path: u.pathname + u.search, headers: { ...headers, host: u.host, connection: 'close' } }, (r) => {
      for (const h of HOP_BY_HOP) delete r.headers[h];
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on('error', (err) => (res.headersSent ? res.destroy() : jsonError(res, 502, 'host', err.message)));
    req.pipe(out);
  }
}

function jsonError(res: ServerResponse, status: number, field: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ error: { code: status === 400 ? 'ERR_BAD_REQUEST' : 'ERR_BAD_GATEWAY', field, message } }));
}

function plainError(status: number, field: string, message: string): string {
  const body = JSON.stringify({ error: { code: status === 400 ? 'ERR_BAD_REQUEST' : 'ERR_BAD_GATEWAY', field, message } });
  return `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Bad Gateway'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
