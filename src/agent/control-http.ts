import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { readBody } from '../http-json.js';
import { AgentError } from './errors.js';

// The agent's HTTP requests to the coordinator (server key, register, status reports) on
// node:http, not fetch(): fetch is undici, which an agent would load only for these few
// small requests, and which costs ~10 MB of an idle agent's RSS (its JS, and the llhttp
// WebAssembly parser V8 compiles at the first request) and ~50 ms of `weft up`'s start
// (docs/BENCHMARKS.md, "Idle agent memory and time to connect, `rss` branch").

/** A coordinator's answers are small JSON documents; anything larger is refused. */
export const MAX_RESPONSE_BYTES = 4 << 20;

export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface HttpRequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  timeoutMs: number;
}

/** One request; the whole exchange is bounded by `timeoutMs`. Throws ERR_SERVER_UNREACHABLE when there is no answer. */
export async function requestText(url: URL, init: HttpRequestInit): Promise<HttpAnswer> {
  const send = url.protocol === 'https:' ? (await import('node:https')).request : url.protocol === 'http:' ? httpRequest : null;
  if (!send) throw new AgentError('ERR_SERVER_UNREACHABLE', `cannot reach ${url.href}: not an http(s) URL`);
  const headers = { ...init.headers, ...(init.body ? { 'content-length': String(init.body.byteLength) } : {}) };
  const opts: RequestOptions = { method: init.method, headers };
  return new Promise<HttpAnswer>((resolve, reject) => {
    // A system error names itself by its code (ECONNREFUSED), as elsewhere in the CLI.
    const fail = (err: Error & { code?: string }): void => {
      clearTimeout(timer);
      req.destroy();
      reject(new AgentError('ERR_SERVER_UNREACHABLE', `cannot reach ${url.origin}: ${err.code ?? err.message}`, { cause: err }));
    };
    const req = send(url, opts, (res) => {
      readBody(res, MAX_RESPONSE_BYTES).then((body) => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, text: body.toString('utf8') });
      }, (err: Error) => fail(new Error(`an answer: ${err.message}`)));
    });
    const timer = setTimeout(() => fail(new Error(`no answer in ${init.timeoutMs} ms`)), init.timeoutMs);
    req.on('error', fail);
    req.end(init.body);
  });
}
