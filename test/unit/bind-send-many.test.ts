import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { PacketBatch } from '../../src/io/batch.js';
import type { Bind } from '../../src/io/bind.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { nativeAvailable } from '../../src/io/native.js';
import { CONTROL_BATCH, ControlSender } from '../../src/wireguard/control-out.js';

// Handshake messages of one turn leave in one sendmmsg, each to its own address
// (LinuxBind.sendMany, used by the device's ControlSender).

const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built' : false;

async function receiver(type: 'udp4' | 'udp6'): Promise<{ sock: Socket; to: Endpoint; got: Promise<string> }> {
  const sock = createSocket(type);
  sock.bind(0, type === 'udp6' ? '::1' : '127.0.0.1');
  await once(sock, 'listening');
  const to = Endpoint.of(type === 'udp6' ? '::1' : '127.0.0.1', sock.address().port);
  return { sock, to, got: once(sock, 'message').then(([m]) => String(m)) };
}

test('LinuxBind.sendMany: each datagram to its own endpoint (IPv4-mapped and IPv6) in one call', { skip }, async () => {
  const a = await receiver('udp4');
  const b = await receiver('udp6');
  const bind = new LinuxBind();
  await bind.open(0, { onReceive() {} });
  try {
    const batch = new PacketBatch(2, 64);
    const dests = new Uint8Array(2 * ENDPOINT_BYTES);
    batch.push(Buffer.from('to-a'));
    dests.set(a.to.bytes, 0);
    batch.push(Buffer.from('to-b'), 5); // offsets inside the slot are honoured
    dests.set(b.to.bytes, ENDPOINT_BYTES);
    assert.equal(bind.sendMany(batch, dests), 2);
    assert.deepEqual(await Promise.all([a.got, b.got]), ['to-a', 'to-b']);
    // Too few destinations: refused, nothing sent.
    assert.equal(bind.sendMany(batch, new Uint8Array(ENDPOINT_BYTES)), 0);
    assert.match(String(bind.lastSendError), /18 bytes per datagram/);
  } finally {
    await bind.close();
    a.sock.close();
    b.sock.close();
  }
});

/** A bind that records what it is asked to send. */
function recordingBind(many: boolean): Bind & { calls: string[][] } {
  const calls: string[][] = [];
  const packets = (batch: PacketBatch): string[] => Array.from({ length: batch.count }, (_, i) => String(batch.packet(i)));
  const bind = {
    calls,
    port: 0,
    open: () => Promise.resolve(0),
    setMark() {},
    close: () => Promise.resolve(),
    send(batch: PacketBatch, to: Endpoint) {
      calls.push(packets(batch).map((p) => `${p}>${to}`));
      return batch.count;
    },
    ...(many && {
      sendMany(batch: PacketBatch, dests: Uint8Array) {
        calls.push(packets(batch).map((p, i) => `${p}>${Endpoint.fromBytes(dests, i * ENDPOINT_BYTES)}`));
        return batch.count;
      },
    }),
  };
  return bind;
}

test('ControlSender: the messages of one turn go in one sendMany at its end, in order, with their own endpoints', async () => {
  const bind = recordingBind(true);
  const out = new ControlSender(bind, (err) => assert.fail(String(err)));
  const x = Endpoint.of('10.0.0.1', 1);
  const y = Endpoint.of('10.0.0.2', 2);
  out.send(x, Buffer.from('r1'));
  out.send(y, Buffer.from('r2'));
  out.send(x, Buffer.from('r3'));
  assert.equal(bind.calls.length, 0, 'nothing before the turn ends');
  await Promise.resolve();
  assert.deepEqual(bind.calls, [[`r1>${x}`, `r2>${y}`, `r3>${x}`]]);
  // A full batch goes at once; the rest at the end of the turn.
  bind.calls.length = 0;
  for (let i = 0; i <= CONTROL_BATCH; i++) out.send(x, Buffer.from(`m${i}`));
  assert.equal(bind.calls.length, 1);
  assert.equal(bind.calls[0].length, CONTROL_BATCH);
  await Promise.resolve();
  assert.deepEqual(bind.calls[1], [`m${CONTROL_BATCH}>${x}`]);
});

test('ControlSender: a bind without sendMany sends each message at once; a throwing sendMany is reported, not thrown', async () => {
  const bind = recordingBind(false);
  const out = new ControlSender(bind, (err) => assert.fail(String(err)));
  const x = Endpoint.of('10.0.0.1', 1);
  out.send(x, Buffer.from('a'));
  out.send(x, Buffer.from('b'));
  assert.deepEqual(bind.calls, [[`a>${x}`], [`b>${x}`]]);
  const errors: unknown[] = [];
  const broken = { ...recordingBind(true), sendMany: () => { throw new Error('boom'); } };
  const out2 = new ControlSender(broken, (err) => errors.push(err));
  out2.send(x, Buffer.from('c'));
  await Promise.resolve();
  assert.equal(errors.length, 1);
});
