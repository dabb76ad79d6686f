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

function capturingLogger(lines: string[]) {
  const rec = (level: string) => (obj: object | string, msg?: string) => lines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`);
  return { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

test('the middle hop learns neither the source nor the destination (its state and its logs)', async () => {
  const middleLog: string[] = [];
  const net = await startLoopbackOnion({ relays: 3, exitPolicy: POLICY, loggerFor: (n) => (n === 'relay2' ? capturingLogger(middleLog) : undefined) });
  const { server, port } = await httpServer('secret-page');
  try {
    const c = await net.client.buildCircuit(net.relays.map((r) => r.hop));
    const s = await c.openStream('127.0.0.1', port);
    assert.match(await httpGet(s, 'dest'), /secret-page$/);
    const [guard, middle, exit] = net.relays.map((r) => r.node);
    // The client's transport address as the guard sees it: the source.
    const source = guard.relay.circuits()[0].prev.link.remote();
    const mc = middle.relay.circuits();
    assert.equal(mc.length, 1);
    const view = mc[0];
    assert.equal(view.depth, 2);
    assert.deepEqual(Object.keys(view).sort(), ['cipher', 'depth', 'extending', 'next', 'prev']);
    // Its neighbours only: the guard's link in, the exit's link out.
    assert.equal(view.prev.link.remote().split(':')[0], '127.0.0.1');
    assert.notEqual(view.prev.link.remote(), source);
    assert.equal(view.next?.link.id, `out:${net.relays[2].hop.address}`);
    const known = JSON.stringify({ prev: { id: view.prev.link.id, circId: view.prev.circId }, next: { id: view.next?.link.id, circId: view.next?.circId }, depth: view.depth });
    assert.ok(middleLog.length > 0, 'the middle logged nothing to check');
    for (const text of [known, ...middleLog]) {
      assert.ok(!text.includes(source), `middle knows the source: ${text}`);
      assert.ok(!text.includes(`:${port}`) && !text.includes('secret-page'), `middle knows the destination: ${text}`);
    }
    // The exit saw the destination (it opened the stream); the middle opened nothing.
    assert.equal(exit.exit?.counters.opened, 1);
    assert.equal(middle.exit?.counters.opened, 0);
    // Circuit ids are hop-local: each link carries its own.
    assert.notEqual(view.prev.circId, view.next?.circId);
    c.destroy();
  } finally {
    server.close();
    await net.close();
  }
});

test('the exit enforces its policy; a refused stream leaves the circuit usable', async () => {
  const net = await startLoopbackOnion({ relays: 2, exitPolicy: { allow: ['127.0.0.0/8'], block: [], ports: ['1-1023'] } });
  const { server, port } = await httpServer('ok');
  try {
    const c = await net.client.buildCircuit(net.relays.map((r) => r.hop));
    await assert.rejects(c.openStream('127.0.0.1', port), { code: 'ERR_ONION_EXIT_POLICY' });
    await assert.rejects(c.openStream('localhost', port), { code: 'ERR_ONION_EXIT_POLICY' });
    assert.equal(net.relays[1].node.exit?.counters.refusedPolicy, 2);
    assert.ok(c.isOpen);
    c.destroy();
  } finally {
    server.close();
    await net.close();
  }
});

test('destroying a circuit frees it at every hop; a wrong hop key fails the build', async () => {
  const net = await startLoopbackOnion({ relays: 3, exitPolicy: POLICY });
  try {
    const c = await net.client.buildCircuit(net.relays.map((r) => r.hop));
    assert.deepEqual(net.relays.map((r) => r.node.relay.circuits().length), [1, 1, 1]);
    c.destroy();
    for (let i = 0; i < 100 && net.relays.some((r) => r.node.relay.circuits().length > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(net.relays.map((r) => r.node.relay.circuits().length), [0, 0, 0]);
    // Hop 2 named with hop 3's key: hop 2 cannot answer the handshake.
    const bad = [net.relays[0].hop, { ...net.relays[1].hop, publicKey: net.relays[2].hop.publicKey }, net.relays[2].hop];
    await assert.rejects(net.client.buildCircuit(bad, { timeoutMs: 2000 }), { code: 'ERR_ONION_DESTROYED' });
  } finally {
    await net.close();
  }
});
