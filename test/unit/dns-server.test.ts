import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import net from 'node:net';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicDnsResolver } from '../../src/dns/resolver.js';
import { DnsServer } from '../../src/dns/server.js';
import { networkExchange } from '../../src/dns/upstream.js';
import { detectDnsConfigurator, ResolvConfConfigurator, ResolvedConfigurator } from '../../src/dns/os-config.js';
import { parseResolvConf } from '../../src/dns/resolv-conf.js';

const config = (upstreams: string[] = []) => ({
  domain: 'weft.internal',
  hosts: [{ name: 'alpha', ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' }],
  meshRanges: ['100.64.0.0/10'],
  routes: {},
  upstreams,
});

const q = (name: string, id = 7): Buffer => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });

/** Open sockets and servers of this process. */
function sockets(): string[] {
  return process.getActiveResourcesInfo().filter((r) => /TCP|UDP|Pipe/.test(r));
}

test('UDP and TCP on one port; forwarding through a second server; stop leaves no handles', async () => {
  const before = sockets().length;
  // "Upstream": another MagicDNS instance serving its own domain.
  const upstream = new DnsServer(new MagicDnsResolver({ ...config(), domain: 'up.test', hosts: [{ name: 'www', ipv4: '192.0.2.10' }] }), { host: '127.0.0.1', port: 0 });
  const up = await upstream.start();
  const server = new DnsServer(new MagicDnsResolver(config([`127.0.0.1:${up.port}`])), { host: '127.0.0.1', port: 0 });
  const { port } = await server.start();
  assert.ok(port > 0);

  for (const [name, want] of [['alpha.weft.internal', '100.64.0.1'], ['www.up.test', '192.0.2.10']]) {
    const udp = await networkExchange({ host: '127.0.0.1', port }, q(name), 'udp', 2000);
    assert.deepEqual(dnsPacket.decode(Buffer.from(udp)).answers!.map((a) => (a as { data: string }).data), [want]);
    const tcp = await networkExchange({ host: '127.0.0.1', port }, q(name), 'tcp', 2000);
    assert.deepEqual(dnsPacket.decode(Buffer.from(tcp)).answers!.map((a) => (a as { data: string }).data), [want]);
  }

  // Two pipelined queries on one TCP connection, split across writes; then junk.
  const answers = await new Promise<number[]>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const frames = Buffer.concat([q('alpha.weft.internal', 1), q('alpha', 2)].map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m])));
    let buf = Buffer.alloc(0);
    const ids: number[] = [];
    sock.on('error', reject);
    sock.on('connect', () => {
      sock.write(frames.subarray(0, 7));
      setTimeout(() => sock.write(frames.subarray(7)), 20);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        ids.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))).id!);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (ids.length === 2) {
        sock.end();
        resolve(ids.sort());
      }
    });
  });
  assert.deepEqual(answers, [1, 2]);
  const junk = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => junk.on('connect', resolve));
  junk.write(Buffer.from([0, 3, 1, 2, 3]));
  await new Promise((resolve) => junk.on('close', resolve));

  // A connection left open is closed by stop().
  const idle = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => idle.on('connect', resolve));
  await server.stop();
  await upstream.stop();
  await new Promise((resolve) => idle.on('close', resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sockets().length, before, sockets().join(','));
});

test('a taken port fails start() and leaves nothing open', async () => {
  const a = new DnsServer(new MagicDnsResolver(config()), { host: '127.0.0.1', port: 0 });
  const { port } = await a.start();
  const b = new DnsServer(new MagicDnsResolver(config()), { host: '127.0.0.1', port });
  await assert.rejects(b.start(), { code: 'EADDRINUSE' });
  await a.stop();
});

test('resolv.conf: replaced with MagicDNS, previous resolvers returned, restored exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-dns-'));
  try {
    const path = join(dir, 'resolv.conf');
    const original = '# from DHCP\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lan example\noptions edns0 trust-ad\n';
    writeFileSync(path, original);
    const c = new ResolvConfConfigurator({ path });
    const { upstreams } = await c.apply({ iface: 'weft0', nameserver: '100.100.100.100', domain: 'weft.internal' });
    assert.deepEqual(upstreams, ['192.0.2.1', '192.0.2.2']);
    const now = parseResolvConf(readFileSync(path, 'utf8'));
    assert.deepEqual(now, { nameservers: ['100.100.100.100'], search: ['weft.internal', 'lan', 'example'], options: ['edns0', 'trust-ad'] });
    // A crashed agent's second apply keeps the original backup.
    const again = await new ResolvConfConfigurator({ path }).apply({ iface: 'weft0', nameserver: '100.100.100.100', domain: 'weft.internal' });
    assert.deepEqual(again.upstreams, ['192.0.2.1', '192.0.2.2']);
    await c.restore();
    assert.equal(readFileSync(path, 'utf8'), original);
    assert.equal(existsSync(c.backupPath), false);
    await c.restore(); // idempotent
    assert.equal(readFileSync(path, 'utf8'), original);

    // A symlinked resolv.conf comes back as the same symlink.
    rmSync(path);
    writeFileSync(join(dir, 'real.conf'), 'nameserver 192.0.2.9\n');
    symlinkSync('real.conf', path);
    const s = new ResolvConfConfigurator({ path });
    assert.deepEqual((await s.apply({ iface: 'weft0', nameserver: '100.100.100.100', domain: 'weft.internal' })).upstreams, ['192.0.2.9']);
    assert.ok(lstatSync(path).isFile());
    await s.restore();
    assert.equal(readlinkSync(path), 'real.conf');

    // No file before: restore removes ours.
    rmSync(path);
    const n = new ResolvConfConfigurator({ path });
    assert.deepEqual((await n.apply({ iface: 'weft0', nameserver: '100.100.100.100', domain: 'weft.internal' })).upstreams, []);
    await n.restore();
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd-resolved: per-link DNS and routing domains, reverted on restore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-dns-'));
  try {
    const upstreamsFile = join(dir, 'resolv.conf');
    writeFileSync(upstreamsFile, 'nameserver 192.0.2.1\n');
    const calls: string[] = [];
    const r = new ResolvedConfigurator(async (argv) => {
      calls.push(argv.join(' '));
      return '';
    }, upstreamsFile);
    const { upstreams } = await r.apply({ iface: 'weft0', nameserver: '100.100.100.100', domain: 'weft.internal', routeDomains: ['corp.example'] });
    assert.deepEqual(upstreams, ['192.0.2.1']);
    await r.restore();
    await r.restore();
    assert.deepEqual(calls, [
      'resolvectl dns weft0 100.100.100.100',
      'resolvectl domain weft0 weft.internal ~weft.internal ~corp.example',
      'resolvectl revert weft0',
    ]);
    assert.equal(detectDnsConfigurator({ resolvedRunning: () => true }).kind, 'systemd-resolved');
    assert.equal(detectDnsConfigurator({ resolvedRunning: () => false }).kind, 'resolv.conf');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an upstream answer is only taken from the address and port asked (a spoofed one with the right id is ignored)', async () => {
  const bind = (host: string, port: number): Promise<dgram.Socket> =>
    new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(port, host, () => resolve(s));
    });
  const upstream = await bind('127.0.0.1', 0);
  const port = upstream.address().port;
  const spoofer = await bind('127.0.0.2', port);
  const answer = (query: Buffer, ip: string): Buffer =>
    dnsPacket.encode({ type: 'response', id: dnsPacket.decode(query).id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'x.test' }], answers: [{ type: 'A', name: 'x.test', data: ip }] });
  upstream.on('message', (query, rinfo) => {
    // The forgery (same port, same id, another address) arrives first.
    spoofer.send(answer(query, '203.0.113.66'), rinfo.port, rinfo.address);
    setTimeout(() => upstream.send(answer(query, '192.0.2.1'), rinfo.port, rinfo.address), 100);
  });
  try {
    const res = await networkExchange({ host: '127.0.0.1', port }, q('x.test', 4242), 'udp', 2000);
    assert.deepEqual(dnsPacket.decode(Buffer.from(res)).answers!.map((a) => (a as { data: string }).data), ['192.0.2.1']);
  } finally {
    upstream.close();
    spoofer.close();
  }
});
