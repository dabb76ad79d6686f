// Two userspace stacks wired back to back in one process (each one's output is the
// other's input): TCP connect, transfer, FIN and RST both ways, refused ports, UDP and
// ICMP echo. Run for every pair of stack kinds that can share a process: wasm-wasm
// (each wasm stack is its own lwIP), and addon-wasm where the weft_lwip addon loads (the
// addon's lwIP is process-global, so there is no addon-addon pair). The same tests run
// against Linux's TCP in test/e2e/netstack-tcp.test.ts.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PacketBatch } from '../../src/io/batch.js';
import type { NetStack } from '../../src/netstack/stack.js';
import { WasmLwip } from '../../src/netstack/lwip-wasm.js';
import { addonLoads, type StackKind } from '../../src/netstack/select.js';
import { A, B, stackPair } from '../helpers/stack-pair.js';
import { TcpServer } from '../../src/netstack/tcp-server.js';
import { dialTcp, type TcpSocket } from '../../src/netstack/tcp-socket.js';
import { UdpSocket } from '../../src/netstack/udp-socket.js';
import { buildEcho, parseEcho } from '../../src/agent/icmp.js';


/** Stack a's packets go to b and back; `tap` sees each of b's output packets first. */
function wire(a: NetStack, b: NetStack, tap: { fromB?: (p: Buffer) => void }): void {
  a.start({ onPackets: (batch) => void b.write(batch), onClose: () => {} });
  b.start({
    onPackets: (batch) => {
      for (let i = 0; i < batch.count; i++) tap.fromB?.(Buffer.from(batch.packet(i)));
      a.write(batch);
    },
    onClose: () => {},
  });
}

function readAll(s: TcpSocket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

async function connected(s: TcpSocket): Promise<void> {
  await once(s, 'connect');
}

const pairs: Array<[StackKind, StackKind]> = [['wasm', 'wasm'], ['addon', 'wasm'], ['wasm', 'addon']];

for (const [ka, kb] of pairs) {
  const skip = (ka === 'addon' || kb === 'addon') && !addonLoads() ? 'the weft_lwip addon does not load here' : false;
  describe(`userspace stacks back to back: ${ka} -> ${kb}`, { skip, timeout: 60_000 }, () => {
    const tap: { fromB?: (p: Buffer) => void } = {};
    const pair = stackPair(ka, kb, (x, y) => wire(x, y, tap));
    let a: NetStack;
    let b: NetStack;
    before(() => ({ a, b } = pair));

    test('TCP: 3 MB each way intact over IPv4 and IPv6, MSS from the MTU, FIN both ways', async () => {
      const server = new TcpServer(b, { allowHalfOpen: true });
      // The server hashes what it gets, then answers with as many bytes of its own.
      server.on('connection', (s: TcpSocket) => {
        void readAll(s).then((got) => s.end(Buffer.concat([createHash('sha256').update(got).digest(), randomBytes(got.length)])));
      });
      server.listen(5001);
      try {
        for (const [addr, mss] of [[B.v4, 1360], [B.v6, 1340]] as const) {
          const data = randomBytes(3_000_000);
          const c = dialTcp(a, addr, 5001, { allowHalfOpen: true });
          const closed = once(c, 'close');
          await connected(c);
          assert.equal(c.info()?.mss, mss);
          assert.equal(c.info()?.state, 'ESTABLISHED');
          const reply = readAll(c);
          c.end(data);
          const got = await reply;
          assert.equal(got.length, 32 + data.length);
          assert.deepEqual(got.subarray(0, 32), createHash('sha256').update(data).digest());
          await closed;
        }
      } finally {
        server.close();
      }
    });

    test('TCP: refused port, RST from either side', async () => {
      const refused = dialTcp(a, B.v4, 5999);
      const [err] = await once(refused, 'error');
      assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');

      const server = new TcpServer(b);
      const accepted: TcpSocket[] = [];
      server.on('connection', (s: TcpSocket) => {
        accepted.push(s);
        s.on('error', () => {});
        s.on('data', () => {});
      });
      server.listen(5002);
      try {
        // The server resets: the client's socket fails with ECONNRESET.
        const c1 = dialTcp(a, B.v4, 5002);
        await connected(c1);
        while (accepted.length < 1) await new Promise((r) => setImmediate(r));
        const c1err = once(c1, 'error');
        accepted[0].resetAndDestroy();
        assert.equal(((await c1err)[0] as NodeJS.ErrnoException).code, 'ECONNRESET');
        // The client resets: the server's socket fails with ECONNRESET.
        const c2 = dialTcp(a, B.v6, 5002);
        await connected(c2);
        while (accepted.length < 2) await new Promise((r) => setImmediate(r));
        const s2err = new Promise<Error>((r) => accepted[1].once('error', r));
        c2.resetAndDestroy();
        assert.equal(((await s2err) as NodeJS.ErrnoException).code, 'ECONNRESET');
      } finally {
        server.close();
      }
    });

    test('TCP: 200 connections with their send buffers full, then every byte arrives (wasm memory grows)', async () => {
      const N = 200;
      const SIZE = 100_000;
      const memBefore = a.lwip instanceof WasmLwip ? a.lwip.memoryBytes() : 0;
      const held: TcpSocket[] = [];
      const server = new TcpServer(b, { allowHalfOpen: true });
      server.on('connection', (s: TcpSocket) => {
        s.pause(); // nothing is read until every client has filled its send buffer
        held.push(s);
      });
      server.listen(5003);
      try {
        const clients = Array.from({ length: N }, (_, i) => {
          const c = dialTcp(a, B.v4, 5003, { allowHalfOpen: true });
          c.on('connect', () => c.end(Buffer.alloc(SIZE, i & 0xff))).resume();
          return c;
        });
        const closed = clients.map((c) => once(c, 'close'));
        await Promise.all(clients.map((c) => once(c, 'connect')));
        while (held.length < N) await new Promise((r) => setTimeout(r, 10));
        if (a.lwip instanceof WasmLwip) assert.ok(a.lwip.memoryBytes() > memBefore, 'linear memory grew');
        const got = await Promise.all(
          held.map((s) => {
            const all = readAll(s);
            s.resume();
            return all;
          }),
        );
        const byFill = got.map((g) => [g.length, g.every((x) => x === g[0]) ? g[0] : -1]).sort((x, y) => x[1] - y[1]);
        assert.deepEqual(byFill, Array.from({ length: N }, (_, i) => [SIZE, i & 0xff]).sort((x, y) => x[1] - y[1]));
        for (const s of held) s.end();
        await Promise.all(closed);
      } finally {
        server.close();
      }
    });

    test('UDP: a datagram each way, IPv4 and IPv6', async () => {
      const echo = new UdpSocket(b, 7);
      echo.on('message', (msg: Buffer, from: { address: string; port: number }) => echo.send(msg, from.port, from.address));
      const client = new UdpSocket(a, 0);
      try {
        for (const addr of [B.v4, B.v6]) {
          const got = once(client, 'message');
          client.send(Buffer.from(`hello ${addr}`), 7, addr);
          const [msg, from] = (await got) as [Buffer, { address: string; port: number }];
          assert.equal(msg.toString(), `hello ${addr}`);
          assert.equal(from.address.toLowerCase(), addr); // lwIP prints IPv6 in upper case
        }
      } finally {
        echo.close();
        client.close();
      }
    });

    test('ICMP echo: the stack answers pings, IPv4 and IPv6', async () => {
      for (const [src, dst] of [[A.v4, B.v4], [A.v6, B.v6]]) {
        const req = buildEcho({ src, dst, request: true, id: 0x4242, seq: 7, payload: Buffer.from('weft ping') });
        const reply = new Promise<Buffer>((resolve) => {
          tap.fromB = (p) => {
            const r = parseEcho(p);
            if (r && !r.request && r.id === 0x4242) resolve(p);
          };
        });
        const batch = new PacketBatch(1, 2048);
        batch.push(req, 16);
        b.write(batch);
        const r = parseEcho(await reply)!;
        tap.fromB = undefined;
        assert.deepEqual({ src: r.src, dst: r.dst, seq: r.seq, payload: Buffer.from(r.payload).toString() }, { src: dst, dst: src, seq: 7, payload: 'weft ping' });
      }
    });
  });
}
