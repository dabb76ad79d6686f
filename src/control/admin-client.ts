import http from 'node:http';
import https from 'node:https';
import { ControlError } from './errors.js';
import type { ErrorBody } from '../wire/control.js';
import { readJsonResponse } from '../http-json.js';

/** Where admin commands reach the coordinator: its local socket, or a URL plus API key. */
export type AdminTarget = { socketPath: string } | { server: string; apiKey: string };

export class AdminClient {
  constructor(private readonly target: AdminTarget) {}

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
    let req: http.ClientRequest;
    const t = this.target;
    // agent: false: a fresh connection per request. A pooled keep-alive socket the server
    // has already closed (its FIN not yet read by a busy or spawnSync-blocked caller) would
    // fail the next request with EPIPE.
    if ('socketPath' in t) {
      // A fresh connection each time: a pooled one the server has since closed (idle) fails with EPIPE.
      req = http.request({ socketPath: t.socketPath, path, method, headers, agent: false });
    } else {
      const url = new URL(path, t.server);
      headers.authorization = `Bearer ${t.apiKey}`;
      req = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: false });
    }
    return new Promise<T>((resolve, reject) => {
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(new ControlError(0, 'ERR_UNREACHABLE', `cannot reach the coordinator${'socketPath' in t ? ` at ${t.socketPath}` : ''}: ${err.code ?? err.message}`)),
      );
      req.on('response', (res) => {
        readJsonResponse(res).then(({ status, json }) => {
          if (json === undefined) return reject(new ControlError(status, 'ERR_BAD_RESPONSE', `coordinator answered ${status} without JSON`));
          if (status >= 400) {
            const e = (json as ErrorBody).error ?? { code: 'ERR_BAD_RESPONSE', message: 'error without body' };
            const ce = new ControlError(status, e.code, e.message, e.field);
            if (typeof e.line === 'number') (ce.line = e.line), (ce.column = e.column);
            return reject(ce);
          }
          resolve(json as T);
        }, reject);
      });
      req.end(payload);
    });
  }
}
