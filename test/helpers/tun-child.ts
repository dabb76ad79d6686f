// Runs inside a fresh network namespace (spawned by test/e2e/tun-linux.test.ts via
// `ip netns exec`). Exercises LinuxTun against the kernel and prints one JSON line of
// results; any failed assertion exits non-zero.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { PacketBatch } from '../../src/io/batch.js';
import { LinuxTun } from '../../src/io/tun-linux.js';
import { parseUdp, udp4, udp6, type ParsedUdp } from './packets.js';

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
const tun = await LinuxTun.create('wefttest%d', { mtu: 1400, up: true, mtuPollMs: 0 });
result.name = tun.name;
assert.match(tun.name, /^wefttest\d+$/);
assert.equal(tun.mtu, 1400);
assert.equal(tun.headroom, 16);
ip('addr', 'add', '10.9.0.1/24', 'dev', tun.name);
ip('addr', 'add', 'fd00::1/64', 'dev', tun.name, 'nodad');

const seen: ParsedUdp[] = [];
let closeErr: Error | undefined | null = null;
let badOffsets = 0;
tun.start({
  onPackets(batch: PacketBatch) {
    for (let i = 0; i < batch.count; i++) {
      if (batch.offsets[i] < tun.headroom) badOffsets++;
      const u = parseUdp(Uint8Array.prototype.slice.call(batch.packet(i)) as Uint8Array);
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
