// Runs inside a fresh network namespace (spawned by test/e2e/tun-linux.test.ts via
// `ip netns exec`). Exercises LinuxTun against the kernel and prints one JSON line of
// results; any failed assertion exits non-zero.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { PacketBatch } from '../../src/io/batch.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { loadNative } from '../../src/io/native.js';
import { LinuxTun } from '../../src/io/tun-linux.js';
import { l4ChecksumOk, parseUdp, udp4, udp6, type ParsedUdp } from './packets.js';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const fdCount = () => readdirSync('/proc/self/fd').length;

function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = f();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

const result: Record<string, unknown> = {};

// 1. create / configure
const fdsBefore = fdCount();
const tun = await LinuxTun.create('wefttest%d', { mtu: 1400, up: true, mtuPollMs: 0, uso: true });
result.name = tun.name;
assert.match(tun.name, /^wefttest\d+$/);
assert.equal(tun.mtu, 1400);
assert.equal(tun.headroom, 16);
ip('addr', 'add', '10.9.0.1/24', 'dev', tun.name);
ip('addr', 'add', 'fd00::1/64', 'dev', tun.name, 'nodad');

const seen: ParsedUdp[] = [];
let closeErr: Error | undefined | null = null;
let badOffsets = 0;
let badChecksums = 0;
tun.start({
  onPackets(batch: PacketBatch) {
    for (let i = 0; i < batch.count; i++) {
      if (batch.offsets[i] < tun.headroom) badOffsets++;
      const p = Uint8Array.prototype.slice.call(batch.packet(i)) as Uint8Array;
      const u = parseUdp(p);
      if (u && !l4ChecksumOk(p)) badChecksums++;
      if (u) seen.push(u);
    }
  },
  onClose(err) {
    closeErr = err;
  },
});

// 2. kernel -> TUN, IPv4 and IPv6
const s4 = dgram.createSocket('udp4');
const s6 = dgram.createSocket('udp6');
await new Promise<void>((r) => s4.bind(0, '10.9.0.1', r));
await new Promise<void>((r) => s6.bind(0, 'fd00::1', r));
const rx4: { msg: Buffer; from: string; port: number }[] = [];
const rx6: { msg: Buffer; from: string; port: number }[] = [];
s4.on('message', (msg, r) => rx4.push({ msg, from: r.address, port: r.port }));
s6.on('message', (msg, r) => rx6.push({ msg, from: r.address, port: r.port }));
// Resent until seen: right after the link comes up the kernel may still drop (the qdisc
// is attached by linkwatch, up to a second later on a busy machine).
const probe = (): void => {
  s4.send('ping4', 7777, '10.9.0.2');
  s6.send('ping6', 7777, 'fd00::2');
};
probe();
const resend = setInterval(probe, 100);

const p4 = await until('IPv4 packet on TUN', () => seen.find((u) => u.version === 4 && u.dport === 7777));
assert.equal(p4.src, '10.9.0.1');
assert.equal(p4.dst, '10.9.0.2');
assert.equal(p4.sport, s4.address().port);
assert.equal(Buffer.from(p4.payload).toString(), 'ping4');
const p6 = await until('IPv6 packet on TUN', () => seen.find((u) => u.version === 6 && u.dport === 7777));
assert.equal(p6.src, 'fd00:0:0:0:0:0:0:1');
assert.equal(p6.dst, 'fd00:0:0:0:0:0:0:2');
assert.equal(Buffer.from(p6.payload).toString(), 'ping6');
clearInterval(resend);
assert.equal(badOffsets, 0, 'packets start after the headroom');
result.read = { v4: p4.dst, v6: p6.dst, packetsSeen: seen.length };

// 3. TUN -> kernel: crafted replies (valid checksums) reach the sockets
const out = new PacketBatch(4, 2048);
out.push(udp4('10.9.0.2', 7777, '10.9.0.1', s4.address().port, Buffer.from('pong4')), 16);
out.push(udp6('fd00::2', 7777, 'fd00::1', s6.address().port, Buffer.from('pong6')), 32);
assert.equal(tun.write(out), 2);
const r4 = await until('IPv4 reply on socket', () => rx4[0]);
assert.equal(r4.msg.toString(), 'pong4');
assert.equal(r4.from, '10.9.0.2');
assert.equal(r4.port, 7777);
const r6 = await until('IPv6 reply on socket', () => rx6[0]);
assert.equal(r6.msg.toString(), 'pong6');
assert.equal(r6.from, 'fd00::2');
result.write = { v4: r4.msg.toString(), v6: r6.msg.toString() };

// 4. a burst larger than one batch is drained completely
seen.length = 0;
for (let i = 0; i < 300; i++) s4.send(`burst${i}`, 7778, '10.9.0.2');
await until('300 burst packets', () => (seen.filter((u) => u.dport === 7778).length >= 300 ? true : undefined));
result.burst = seen.filter((u) => u.dport === 7778).length;

// 4b. USO (Linux >= 6.2): a run of UDP datagrams written as one UDP_L4 super-packet
// reaches the socket as the datagrams; a UDP_SEGMENT send comes out of the TUN split.
if (tun.uso) {
  rx4.length = 0;
  const run = new PacketBatch(40, 2048);
  for (let i = 0; i < 40; i++) {
    const body = Buffer.alloc(i === 39 ? 300 : 1000, i);
    body.write(`uso${i}:`);
    run.push(udp4('10.9.0.2', 7781, '10.9.0.1', s4.address().port, body), 16);
  }
  assert.equal(tun.write(run), 40);
  await until('40 USO datagrams', () => (rx4.length >= 40 ? true : undefined));
  rx4.forEach((r, i) => assert.ok(r.msg.toString().startsWith(`uso${i}:`) && r.msg.length === (i === 39 ? 300 : 1000), `datagram ${i}`));
  seen.length = 0;
  const n = loadNative();
  const u = n.udpOpen(0, 4);
  const tx = new PacketBatch(20, 2048);
  for (let i = 0; i < 20; i++) tx.push(Buffer.alloc(1000, i));
  const abs = Uint32Array.from({ length: 20 }, (_, i) => tx.start(i));
  assert.equal(n.udpSend(u.fd, tx.data, abs, tx.lengths, 20, Endpoint.of('10.9.0.2', 7780).bytes, true), 20);
  const got = await until('20 segments from the TUN', () => {
    const g = seen.filter((p) => p.dport === 7780);
    return g.length >= 20 ? g : undefined;
  });
  got.forEach((p, i) => assert.ok(p.payload.length === 1000 && p.payload[0] === i, `segment ${i}`));
  n.close(u.fd);
  result.uso = { written: rx4.length, read: got.length, badChecksums };
} else {
  result.uso = 'not granted';
}

// 5. MTU follows `ip link set mtu`; a packet larger than the slots (MTU raised before a
// refresh) is dropped, not delivered truncated, and makes the device re-read the MTU.
ip('link', 'set', 'dev', tun.name, 'mtu', '9000');
seen.length = 0;
s4.send(Buffer.alloc(8000, 7), 7779, '10.9.0.2');
await until('truncation noticed', () => (tun.truncatedDrops > 0 ? true : undefined));
assert.equal(tun.mtu, 9000);
assert.equal(seen.filter((u) => u.dport === 7779).length, 0, 'truncated packet not delivered');
s4.send(Buffer.alloc(8000, 7), 7779, '10.9.0.2');
const big = await until('jumbo packet', () => seen.find((u) => u.dport === 7779));
assert.equal(big.payload.length, 8000);
result.jumbo = { truncatedDrops: tun.truncatedDrops, len: big.payload.length };
ip('link', 'set', 'dev', tun.name, 'mtu', '1300');
assert.equal(tun.refreshMtu(), 1300);
assert.equal(tun.mtu, 1300);
tun.setMtu(1420);
assert.equal(tun.mtu, 1420);
result.mtu = tun.mtu;

// 6. deleting the interface fires onClose(err) and releases everything
s4.close();
s6.close();
ip('link', 'del', 'dev', tun.name);
const err = await until('onClose', () => (closeErr === null ? undefined : closeErr));
assert.ok(err instanceof Error, 'onClose got an error');
result.onClose = (err as Error & { code?: string }).code ?? String(err);
assert.equal(tun.isOpen, false);
await tun.stop(); // idempotent after close
assert.equal(tun.write(out), 0);

// 7. a second device: stop() leaves no fds or handles behind
const tun2 = await LinuxTun.create('wefttest%d', { up: true });
tun2.start({ onPackets() {}, onClose() {} });
await tun2.stop();
await tun2.stop();
assert.equal(fdCount(), fdsBefore, 'all fds closed');
result.fdsLeaked = fdCount() - fdsBefore;

console.log(JSON.stringify(result));
// No explicit exit: if a handle leaked the process would hang and the parent's timeout fires.
