import { request } from 'node:http';
import { AgentError } from '../agent/errors.js';
import { WeftError } from '../errors.js';

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
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(new WeftError('ERR_LOCAL_API', `bad answer from the agent (${res.statusCode})`));
            return;
          }
          if ((res.statusCode ?? 500) < 300) resolve(json as T);
          else {
            const e = (json as { error?: { code?: string; message?: string } }).error;
            reject(new WeftError(e?.code ?? 'ERR_LOCAL_API', e?.message ?? `agent answered ${res.statusCode}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new WeftError('ERR_LOCAL_API', 'the agent did not answer in time')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new AgentError('ERR_AGENT_NOT_RUNNING', `no agent is running (no socket at ${socket}); start one with \`weft up\``));
      } else reject(err);
    });
    req.end(payload);
  });
}
