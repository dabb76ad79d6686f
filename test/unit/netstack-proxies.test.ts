// SOCKS5 and HTTP proxy front doors with an injected dialer (loopback TCP instead of the
// userspace stack): request parsing, replies for each failure, data both ways, half-close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetstackError } from '../../src/netstack/errors.js';
import { HttpProxy } from '../../src/netstack/http-proxy.js';
import { parseRequest, REP_COMMAND_NOT_SUPPORTED, Socks5Server, type Dial } from '../../src/netstack/socks5.js';
import { socksConnect } from '../../src/netstack/socks5-client.js';

/** Dials loopback for the peer named "peer"; refuses port 1; anything else is unknown. */
function loopbackDial(port: () => number): Dial {
  return async (host, p) => {
    if (host !== 'peer' && host !== '127.0.0.1') throw new NetstackError('ERR_UNKNOWN_HOST', `${host} unknown`);
    if (p === 1) throw new NetstackError('ECONNREFUSED', 'refused');
    const s = connect(port(), '127.0.0.1');
    await new Promise((r, j) => s.once('connect', r).once('error', j));
    return s;
  };
}

async function listening(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

test('parseRequest: never throws, and reads back what a client encodes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void parseRequest(Buffer.from(b))));
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9.-]{1,60}$/), fc.integer({ min: 0, max: 65535 }), (host, port) => {
      const name = Buffer.from(host);
      const req = Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 255, 9])]);
      assert.deepEqual(parseRequest(req), { host, port, rest: Buffer.from([9]) });
      assert.equal(parseRequest(req.subarray(0, req.length - 3)), null); // incomplete
    }),
  );
  assert.deepEqual(parseRequest(Buffer.from([5, 2, 0, 1, 1, 2, 3, 4, 0, 80])), { error: REP_COMMAND_NOT_SUPPORTED });
  assert.deepEqual(parseRequest(Buffer.from([5, 1, 0, 4, ...new Array(15).fill(0), 1, 0, 80])), { host: '0:0:0:0:0:0:0:1', port: 80, rest: Buffer.alloc(0) });
});

test('SOCKS5: data both ways with half-close; refused and unknown hosts map to their codes', async () => {
  const echo = createTcpServer({ allowHalfOpen: true }, (c) => {
    const parts: Buffer[] = [];
    c.on('data', (d) => parts.push(d));
    c.on('end', () => c.end(Buffer.concat(parts).toString().toUpperCase()));
  });
  const port = await listening(echo);
  const socks = new Socks5Server(loopbackDial(() => port));
  const path = join(mkdtempSync(join(tmpdir(), 'weft-socks-')), 's.sock');
  await socks.listenPath(path);
  try {
    const s = await socksConnect(path, 'peer', 7);
    s.end('hello');
    let got = '';
    for await (const d of s) got += d;
    assert.equal(got, 'HELLO');
    await assert.rejects(socksConnect(path, 'peer', 1), { code: 'ECONNREFUSED' });
    await assert.rejects(socksConnect(path, 'elsewhere', 80), { code: 'ERR_UNKNOWN_HOST' });
    assert.equal(socks.stats.connected, 1);
    assert.equal(socks.stats.failedDials, 2);
  } finally {
    await socks.close();
    echo.close();
  }
});

test('HTTP proxy: plain requests, CONNECT, 400 and 502 with a JSON error naming the field', async () => {
  const origin = createServer((q, s) => s.end(`${q.method} ${q.url} host=${q.headers.host}`));
  const port = await listening(origin);
  const proxy = new HttpProxy(loopbackDial(() => port));
  const at = await proxy.listen(0);
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port: at.port, path }, (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode!, body }));
      })
        .on('error', reject)
        .end();
    });
  try {
    assert.deepEqual(await get('http://peer:8080/x?y=1'), { status: 200, body: 'GET /x?y=1 host=peer:8080' });
    const bad = await get('/relative');
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).error.field, 'url');
    const refused = await get('http://peer:1/');
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body).error.field, 'host');
    // CONNECT, then HTTP inside the tunnel.
    const c = connect(at.port, '127.0.0.1');
    c.write('CONNECT peer:8080 HTTP/1.1\r\nhost: peer:8080\r\n\r\n');
    let buf = '';
    for await (const d of c) {
      buf += d;
      if (buf.includes('\r\n\r\n') && !buf.includes('GET')) c.write('GET /in HTTP/1.1\r\nhost: peer\r\nconnection: close\r\n\r\n');
      if (buf.includes('GET /in')) break;
    }
    c.destroy();
    assert.match(buf, /^HTTP\/1.1 200 Connection Established\r\n\r\nHTTP\/1.1 200 OK[^]*GET \/in host=peer$/);
    assert.equal(proxy.stats.connects, 1);
  } finally {
    await proxy.close();
    origin.close();
  }
});
