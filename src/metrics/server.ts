import http from 'node:http';
import type { Registry } from 'prom-client';
import { listenOn } from '../listen.js';
import { silentLogger, type Logger } from '../log.js';

// `--metrics-listen HOST:PORT`: Prometheus text on GET /metrics and nothing else, on an
// address of its own (off by default), so scrapers never reach the API or the relay.

const MAX_CONNECTIONS = 32;

export class MetricsServer {
  private server: http.Server | null = null;

  constructor(private readonly registry: Registry, private readonly log: Logger = silentLogger) {}

  /** Starts listening; returns `http://host:port` (port 0 picks a free one). */
  async listen(host: string, port: number): Promise<string> {
    const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => void this.handle(req, res));
    server.maxConnections = MAX_CONNECTIONS;
    const a = await listenOn(server, host, port, 'ERR_METRICS_LISTEN', 'metrics');
    this.server = server;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    try {
      const text = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'collecting metrics failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
