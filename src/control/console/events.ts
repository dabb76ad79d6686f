import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { tooManyRequests } from '../errors.js';
import type { NodeView } from '../../wire/control.js';

// Live node changes for the console's topology and nodes pages, as Server-Sent Events
// on GET /api/v1/admin/events (behind the admin API's auth). Each event carries the
// whole NodeView (`node`) or the removed node's id (`remove`). A viewer that cannot
// keep up (its socket buffer over MAX_BUFFERED) is dropped and reconnects for a fresh
// list, so a slow browser never grows the coordinator's memory.

export const MAX_VIEWERS = 64;
const MAX_BUFFERED = 1 << 20;
const KEEPALIVE_MS = 25_000;

export class ConsoleEvents {
  private readonly viewers = new Set<ServerResponse>();
  private keepalive: NodeJS.Timeout | null = null;

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Takes over `reply` as an event stream until the client goes away. */
  attach(reply: FastifyReply): void {
    if (this.viewers.size >= MAX_VIEWERS) throw tooManyRequests('ERR_TOO_MANY_VIEWERS', `at most ${MAX_VIEWERS} live views at once`);
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
    res.write(': weft\n\n');
    this.viewers.add(res);
    res.on('close', () => this.viewers.delete(res));
    this.keepalive ??= setInterval(() => this.send(': keepalive\n\n'), KEEPALIVE_MS).unref();
  }

  node(view: NodeView): void {
    if (this.viewers.size) this.send(`event: node\ndata: ${JSON.stringify(view)}\n\n`);
  }

  removed(id: number): void {
    if (this.viewers.size) this.send(`event: remove\ndata: ${JSON.stringify({ id })}\n\n`);
  }

  stop(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
    for (const r of this.viewers) r.destroy();
    this.viewers.clear();
  }

  private send(chunk: string): void {
    for (const r of this.viewers) {
      if (r.writableLength > MAX_BUFFERED) {
        r.destroy();
        this.viewers.delete(r);
      } else r.write(chunk);
    }
  }
}
