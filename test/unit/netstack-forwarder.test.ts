// The accept-any-destination forwarder (src/netstack/forwarder.ts) with a fake circuit:
// a client stack (standing in for the host's kernel behind the TUN) dials outside
// addresses; the forwarder's `dial` records the destination and connects to a loopback
// server instead. Run with the forwarder on the wasm lwIP, and on the addon where it loads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { TcpForwarder } from '../../src/netstack/forwarder.js';
import { WasmLwip } from '../../src/netstack/lwip-wasm.js';
import { addonLoads, loadStack, type StackKind } from '../../src/netstack/select.js';
import { NetStack } from '../../src/netstack/stack.js';
import { dialTcp, type TcpSocket } from '../../src/netstack/tcp-socket.js';
import { UdpSocket } from '../../src/netstack/udp-socket.js';

function readAll(s: TcpSocket): Promise<string> {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(text));
    s.once('error', reject);
  });
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

for (const kind of ['wasm', 'addon'] as StackKind[]) {
  const skip = kind === 'addon' && !addonLoads() ? 'the weft_lwip addon does not load here' : false;
  describe(`forwarder on the ${kind} lwIP`, { skip }, () => {
    let server: Server;
    let serverPort = 0;
    const dialled: string[] = [];
    let fail = false;
    let client: NetStack;
    let fwd: TcpForwarder;

    before(async () => {
      // "The destination": answers with the address the client meant, then closes.
      server = createServer((s) => {
        s.once('data', (d) => s.end(`${d.toString()} via ${dialled.at(-1)}`));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      serverPort = (server.address() as { port: number }).port;
      client = new NetStack({ addon: new WasmLwip() });
      client.setAddresses('100.64.0.1', 'fd7a:115c:a1e0::1');
      fwd = new TcpForwarder({
        addon: kind === 'wasm' ? new WasmLwip() : loadStack('addon'),
        maxConnections: 2,
        dial: async (host, port): Promise<Duplex> => {
          dialled.push(`${host}:${port}`);
          if (fail) throw Object.assign(new Error('circuit refused'), { code: 'ERR_ONION_STREAM' });
          const s = connect(serverPort, '127.0.0.1');
          await once(s, 'connect');
          return s;
        },
        output: (b) => void client.write(b),
      });
      // As the engine does, each packet is handed over in a buffer that is reused at once
      // (its TUN read batch): the forwarder must keep copies of what it needs.
      const slot = Buffer.alloc(client.mtu + 64);
      client.start({
        onPackets: (b) => {
          for (let i = 0; i < b.count; i++) {
            if (!b.lengths[i]) continue;
            b.data.copy(slot, 0, b.start(i), b.start(i) + b.lengths[i]);
            fwd.input(slot, 0, b.lengths[i]);
            slot.fill(0xee);
          }
        },
        onClose: () => {},
      });
    });

    after(async () => {
      await fwd.close();
      await client.stop();
      server.close();
    });

    test('a TCP connection to any IPv4 or IPv6 destination is dialled onward to that destination', async () => {
      for (const [addr, port, want] of [
        ['203.0.113.5', 80, '203.0.113.5:80'],
        ['2001:db8::5', 443, '2001:db8::5:443'],
      ] as const) {
        const s = dialTcp(client, addr, port, { allowHalfOpen: true });
        await once(s, 'connect');
        const text = readAll(s);
        s.end('hello');
        assert.equal(await text, `hello via ${want}`);
      }
      assert.equal(fwd.stats.accepted, 2);
      await until(() => fwd.stats.flows === 0);
    });

    test('UDP to the outside is dropped and counted', async () => {
      const before = fwd.stats.nonTcpDropped;
      const u = new UdpSocket(client);
      u.send(Buffer.from('dns?'), 53, '198.51.100.1');
      await until(() => fwd.stats.nonTcpDropped === before + 1);
      u.close();
    });

    test('a failed dial resets the client; the flow is forgotten', async () => {
      fail = true;
      const s = dialTcp(client, '203.0.113.9', 22);
      const err = await new Promise<Error>((resolve) => s.once('error', resolve).once('close', () => resolve(new Error('closed'))));
      fail = false;
      assert.ok(err, 'the client connection ends');
      assert.equal(fwd.stats.dialFailed, 1);
      await until(() => fwd.stats.flows === 0);
    });

    test('connections beyond the limit are refused and counted', async () => {
      // Two held open (the limit), a third SYN is dropped.
      const held: TcpSocket[] = [];
      for (const p of [7001, 7002]) {
        const s = dialTcp(client, '203.0.113.10', p);
        s.on('error', () => {});
        held.push(s);
        await once(s, 'connect');
      }
      await until(() => fwd.stats.flows === 2);
      const refused = fwd.stats.refused;
      const third = dialTcp(client, '203.0.113.10', 7003);
      third.on('error', () => {});
      await until(() => fwd.stats.refused > refused);
      assert.equal(fwd.stats.flows, 2);
      for (const s of [...held, third]) s.resetAndDestroy();
      await until(() => fwd.stats.flows === 0);
    });

    test('arbitrary bytes never throw out of input()', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 120 }), (bytes) => {
          fwd.input(bytes, 0, bytes.length);
        }),
        { numRuns: 500 },
      );
    });
  });
}
