// A stub coordinator for bench/relay.ts --admission: answers the relay check
// (src/wire/relay-check.ts) on 127.0.0.1, vouching for every key, so the bench measures
// the relay's admission path (CoordinatorAdmission), not a coordinator.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MAX_RELAY_CHECK_KEYS, RELAY_CHECK_PATH, type RelayCheckRequest, type RelayCheckResponse } from '../src/wire/relay-check.js';

const MAX_BODY = 64 * MAX_RELAY_CHECK_KEYS;

export async function startStubCoordinator(): Promise<{ url: string; secret: string; stop(): Promise<void> }> {
  const secret = randomBytes(32).toString('hex');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(d);
    });
    req.on('end', () => {
      const ok = req.url === RELAY_CHECK_PATH && req.headers.authorization === `Bearer ${secret}`;
      const body = ok ? (JSON.parse(Buffer.concat(chunks).toString()) as RelayCheckRequest) : null;
      res.statusCode = body ? 200 : 401;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body ? ({ active: body.keys } satisfies RelayCheckResponse) : { error: { code: 'ERR_RELAY_SECRET_INVALID' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secret,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
