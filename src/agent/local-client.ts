import { request } from 'node:http';
import { AgentError } from './errors.js';
import { WeftError } from '../errors.js';
import { readJsonResponse } from '../http-json.js';

// Client of the agent's local API (src/agent/local-api.ts) over its unix socket.

const TIMEOUT_MS = 70_000;

export async function callAgent<T>(socket: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        timeout: TIMEOUT_MS,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => {
        readJsonResponse(res).then(({ status, json }) => {
          if (json === undefined) reject(new WeftError('ERR_LOCAL_API', `bad answer from the agent (${status})`));
          else if (status < 300) resolve(json as T);
          else {
            const e = (json as { error?: { code?: string; message?: string } }).error;
            reject(new WeftError(e?.code ?? 'ERR_LOCAL_API', e?.message ?? `agent answered ${status}`));
          }
        }, reject);
      },
    );
    req.on('timeout', () => req.destroy(new WeftError('ERR_LOCAL_API', 'the agent did not answer in time')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new AgentError('ERR_AGENT_NOT_RUNNING', `no agent is running (no socket at ${socket})`));
      } else reject(err);
    });
    req.end(payload);
  });
}
