// The userspace stack sleeps while idle: it arms one timer for lwIP's next timeout instead
// of polling, so an idle stack sleeps through lwIP's 1 s housekeeping period, a stack with
// a TCP connection wakes for lwIP's TCP timer (which still retransmits a lost segment),
// and once the connection is gone the stack sleeps again. Two stacks back to back as in
// netstack-pair.test.ts, each lwIP build on either side where the addon loads.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { NetStack } from '../../src/netstack/stack.js';
import { addonLoads, type StackKind } from '../../src/netstack/select.js';
import { B, stackPair } from '../helpers/stack-pair.js';
import { TcpServer } from '../../src/netstack/tcp-server.js';
import { dialTcp, type TcpSocket } from '../../src/netstack/tcp-socket.js';

/** lwIP's TCP timer period (TCP_TMR_INTERVAL), plus the 1 ms the stack adds to each sleep. */
const TCP_TICK_MS = 251;

/** IPv4 TCP packets with a payload (data segments, not bare ACKs, SYNs or FINs). */
function isTcpData(p: Uint8Array): boolean {
  if (p.length < 40 || p[0] >> 4 !== 4 || p[9] !== 6) return false;
  const ihl = (p[0] & 15) * 4;
  const total = (p[2] << 8) | p[3];
  return total - ihl - (p[ihl + 12] >> 4) * 4 > 0;
}

/** Wires a and b back to back; `drop` may lose a's packets on the way to b. */
function wire(a: NetStack, b: NetStack, drop: (p: Uint8Array) => boolean): void {
  a.start({
    onPackets: (batch) => {
      for (let i = 0; i < batch.count; i++) if (drop(batch.packet(i))) batch.lengths[i] = 0;
      b.write(batch);
    },
    onClose: () => {},
  });
  b.start({ onPackets: (batch) => void a.write(batch), onClose: () => {} });
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), what);
}

// The addon's lwIP is process-global and keeps a's TIME_WAIT: the addon is a last.
const pairs: Array<[StackKind, StackKind]> = [['wasm', 'wasm'], ['wasm', 'addon'], ['addon', 'wasm']];

for (const [ka, kb] of pairs) {
  const skip = (ka === 'addon' || kb === 'addon') && !addonLoads() ? 'the weft_lwip addon does not load here' : false;
  describe(`an idle userspace stack sleeps: ${ka} -> ${kb}`, { skip, timeout: 60_000 }, () => {
    let dropped = 0;
    // Loses a's first data segment: only a retransmission by a's TCP timer delivers it.
    const pair = stackPair(ka, kb, (x, y) => wire(x, y, (p) => isTcpData(p) && dropped++ === 0));
    let a: NetStack;
    let b: NetStack;
    before(() => ({ a, b } = pair));

    test('idle, then a lost segment retransmitted, then asleep again after the close', async () => {
      const server = new TcpServer(b);
      const got: Buffer[] = [];
      const accepted = new Promise<TcpSocket>((resolve) => server.once('connection', resolve));
      server.listen(5101);
      await new Promise((r) => setImmediate(r));
      // Only lwIP's long-period housekeeping timers: no wake-up per TCP tick, let alone 25 ms.
      for (const s of [a, b]) assert.ok((s.sleepMs ?? 0) > TCP_TICK_MS, `idle stack sleeps ${s.sleepMs} ms`);

      const c = dialTcp(a, B.v4, 5101);
      c.resume(); // reads the server's FIN, so the socket closes by itself
      const closed = once(c, 'close');
      await once(c, 'connect');
      const s = await accepted;
      s.on('data', (d: Buffer) => got.push(d));
      const ended = once(s, 'end');
      // A connection needs lwIP's TCP timer (delayed ACKs, retransmission, keepalive).
      for (const st of [a, b]) assert.ok((st.sleepMs ?? Infinity) <= TCP_TICK_MS, `stack with a connection sleeps ${st.sleepMs} ms`);

      c.end(Buffer.from('hello through a lost segment'));
      await ended;
      assert.equal(Buffer.concat(got).toString(), 'hello through a lost segment');
      assert.equal(dropped >= 2, true, 'the first data segment was lost and sent again');
      server.close();
      await closed;

      // b closed passively (LAST_ACK -> CLOSED): nothing left for the TCP timer. a holds its
      // TIME_WAIT (2 MSL, lwIP's own timing), so it keeps ticking.
      await until('b sleeps again after the close', () => (b.sleepMs ?? 0) > TCP_TICK_MS);
      assert.ok((a.sleepMs ?? Infinity) <= TCP_TICK_MS, 'a still runs its TIME_WAIT timer');
    });
  });
}
