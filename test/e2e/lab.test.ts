// The lab itself: parsers, the cross-process lock, the stale-namespace sweep and
// cleanup of children and namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { acquireLock, lockPath } from '../../src/lab/lock.js';
import { Lab, listNs, runOk, spawn as nsSpawn, sweepStale, exec } from '../../src/lab/netns.js';
import { parsePcapUdp } from '../../src/lab/pcap.js';
import { parsePing, parseWgDump } from '../../src/lab/wg-pair.js';
import { e2eFile, pre } from './helpers.js';

e2eFile();

test('parseWgDump reads `wg show IF dump`', () => {
  const d = parseWgDump(
    'cHJpdg==\tcHVi\t51820\toff\n' +
      'cGVlcg==\t(none)\t192.0.2.1:51820\t10.77.0.1/32,fd77::1/128\t1795320495\t964\t908\toff\n' +
      'cGVlcjI=\tcHNr\t(none)\t(none)\t0\t0\t0\t25\n',
  );
  assert.equal(d.listenPort, 51820);
  assert.equal(d.peers.length, 2);
  assert.deepEqual(d.peers[0].allowedIps, ['10.77.0.1/32', 'fd77::1/128']);
  assert.equal(d.peers[0].endpoint, '192.0.2.1:51820');
  assert.equal(d.peers[0].presharedKey, null);
  assert.equal(d.peers[1].persistentKeepalive, 25);
  assert.equal(d.peers[1].endpoint, null);
});

test('parsePing reads iputils output', () => {
  const r = parsePing('64 bytes from 10.77.0.2: icmp_seq=1 ttl=64 time=0.409 ms\n\n3 packets transmitted, 2 received, 33% packet loss\n');
  assert.equal(r.transmitted, 3);
  assert.equal(r.received, 2);
  assert.deepEqual(r.rttsMs, [0.409]);
});

test('parsePcapUdp extracts UDP payloads from an Ethernet pcap', () => {
  const payload = Buffer.from('04000000deadbeef', 'hex');
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 17;
  Buffer.from([192, 0, 2, 1]).copy(ip, 12);
  Buffer.from([192, 0, 2, 2]).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(1234, 0);
  udp.writeUInt16BE(51820, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const frame = Buffer.concat([eth, ip, udp, payload]);
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt32LE(1, 20);
  const rh = Buffer.alloc(16);
  rh.writeUInt32LE(frame.length, 8);
  rh.writeUInt32LE(frame.length, 12);
  const pk = parsePcapUdp(Buffer.concat([gh, rh, frame]));
  assert.equal(pk.length, 1);
  assert.equal(pk[0].src, '192.0.2.1');
  assert.equal(pk[0].dstPort, 51820);
  assert.deepEqual(pk[0].payload, payload);
});

test('lock: a second process waits until the holder releases it; a dead holder is stale', async () => {
  // This file already holds the lock (e2eFile); a child must wait for us.
  assert.equal(Number.parseInt(readFileSync(lockPath(), 'utf8'), 10), process.pid);
  const lockJs = new URL('../../src/lab/lock.js', import.meta.url).href;
  const child = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    `import { acquireLock } from ${JSON.stringify(lockJs)};
     const t0 = Date.now();
     const l = await acquireLock('weft-e2e-selftest', { timeoutMs: 300 }).catch((e) => null);
     console.log(l ? 'got' : 'timeout');`,
  ]);
  const own = await acquireLock('weft-e2e-selftest');
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.on('close', r));
  assert.equal(out.trim(), 'timeout', 'second process could not take a held lock');
  own.release();
  assert.equal(existsSync(lockPath('weft-e2e-selftest')), false);
  // Stale: the file names a pid that is not running.
  const { writeFileSync } = await import('node:fs');
  writeFileSync(lockPath('weft-e2e-selftest'), '999999999\n');
  const again = await acquireLock('weft-e2e-selftest', { timeoutMs: 2000 });
  assert.equal(Number.parseInt(readFileSync(lockPath('weft-e2e-selftest'), 'utf8'), 10), process.pid);
  again.release();
});

test('lab: namespaces, veth with IPv4/IPv6, children killed, stale sweep', { timeout: 60_000 }, async (t) => {
  if (!pre(t, [])) return;
  const lab = new Lab();
  let names: string[] = [];
  try {
    const a = await lab.addNs();
    const b = await lab.addNs();
    names = [a, b];
    assert.match(a, new RegExp(`^weft-${process.pid}-\\d+$`));
    await lab.veth(a, { v4: '192.0.2.1/24', v6: '2001:db8::1/64' }, b, { v4: '192.0.2.2/24', v6: '2001:db8::2/64' });
    const p4 = await exec(a, ['ping', '-4', '-c', '1', '-W', '2', '192.0.2.2'], { timeoutMs: 10_000 });
    assert.equal(p4.code, 0, p4.stdout);
    const p6 = await exec(a, ['ping', '-6', '-c', '1', '-W', '2', '2001:db8::2'], { timeoutMs: 10_000 });
    assert.equal(p6.code, 0, `IPv6 usable at once (no DAD): ${p6.stdout}`);
    const loose = nsSpawn(a, ['sleep', '60']);
    assert.equal(loose.running, true);
    await loose.kill('SIGTERM', 1000);
    assert.equal(loose.running, false, 'module-level spawn: kill waits for the exit');
    const sleeper = lab.spawn(b, ['sleep', '60']);
    const to = await exec(a, ['sleep', '5'], { timeoutMs: 300 });
    assert.equal(to.timedOut, true);
    await lab.destroy();
    assert.equal(sleeper.running, false, 'child killed');
    const after = await listNs();
    assert.ok(!after.includes(a) && !after.includes(b), 'namespaces removed');
  } finally {
    await lab.destroy();
  }
  // A namespace named after a dead pid is swept.
  const stale = 'weft-999999999-0';
  await runOk(['ip', 'netns', 'add', stale]);
  const removed = await sweepStale();
  assert.ok(removed.includes(stale), `swept: ${removed.join(' ')}`);
  assert.ok(!(await listNs()).includes(stale));
  assert.ok(names.length === 2);
});
