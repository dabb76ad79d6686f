import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLoopbackOnion } from '../../src/lab/onion.js';
import { CELL_SIZE } from '../../src/onion/cells.js';
import type { CircuitStream } from '../../src/onion/stream.js';

const POLICY = { allow: ['127.0.0.0/8'], block: [], ports: [] };

async function httpServer(body: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

async function httpGet(s: CircuitStream, host: string): Promise<string> {
  s.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test('3-hop circuit carries an HTTP exchange; every cell on the wire is CELL_SIZE bytes', async () => {
  const sizes = new Set<number>();
  let cells = 0;
  const net = await startLoopbackOnion({ relays: 3, exitPolicy: POLICY, wireTap: (_d, _l, c) => (sizes.add(c.length), cells++) });
  const body = 'x'.repeat(200_000);
  const { server, port } = await httpServer(body);
  try {
    const c = await net.client.buildCircuit(net.relays.map((r) => r.hop));
    const s = await c.openStream('127.0.0.1', port);
    const res = await httpGet(s, `127.0.0.1:${port}`);
    assert.ok(res.startsWith('HTTP/1.1 200'), res.slice(0, 40));
    assert.ok(res.endsWith(body));
    assert.ok(cells > 200, `only ${cells} cells seen`);
    assert.deepEqual([...sizes], [CELL_SIZE]);
    c.destroy();
  } finally {
    server.close();
    await net.close();
  }
});
