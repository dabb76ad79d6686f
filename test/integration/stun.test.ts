import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn, spawnSync } from 'node:child_process';
import { Endpoint } from '../../src/io/endpoint.js';
import { StunServer } from '../../src/nat/stun-server.js';
import { UdpStunClient } from '../../src/nat/stun-client.js';
import { encodeBindingRequest, newTransactionId } from '../../src/nat/stun.js';

// STUN client and server over loopback UDP, and interop with coturn (Debian `coturn`:
// turnserver and turnutils_stunclient). Interop skips with a reason when coturn is missing,
// unless WEFT_E2E_REQUIRED=1.

const required = process.env.WEFT_E2E_REQUIRED === '1';
const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const skipUnless = (bin: string): string | false => (have(bin) || required ? false : `${bin} not installed (apt-get install coturn)`);

const handles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('client <-> server over 127.0.0.1 and ::1; malformed counted; stop leaves no UDP handle', async () => {
  const before = handles();
  for (const host of ['127.0.0.1', '::1']) {
    const server = new StunServer({ host, port: 0 });
    const port = await server.start();
    const client = new UdpStunClient({ host });
    const local = await client.start();
    const r = await client.binding(Endpoint.of(host, port), { rc: 3 });
    assert.equal(r.mapped.key, Endpoint.of(host, local).key);
    assert.ok(r.rttMs >= 0 && r.rttMs < 1000);

    const raw = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const junk = [Buffer.from('hello'), Buffer.alloc(20), Buffer.from(encodeBindingRequest(newTransactionId())).subarray(0, 24)];
    for (const j of junk) await new Promise<void>((res) => raw.send(j, port, host, () => res()));
    await new Promise<void>((res) => raw.close(() => res()));
    for (let i = 0; i < 100 && server.stats.malformed < junk.length; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(server.stats.malformed, junk.length);
    assert.equal(server.stats.responses, 1);
    await client.stop();
    await server.stop();
  }
  // libuv releases closed handles on a later loop turn.
  for (let i = 0; i < 50 && handles() > before; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(handles(), before);
});

test('interop: coturn turnutils_stunclient against the weft STUN server', { skip: skipUnless('turnutils_stunclient') }, async () => {
  const server = new StunServer({ host: '127.0.0.1', port: 0 });
  const port = await server.start();
  try {
    const child = spawn('turnutils_stunclient', ['-p', String(port), '127.0.0.1']);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    assert.equal(code, 0, out);
    assert.match(out, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
    assert.ok(server.stats.responses >= 1);
  } finally {
    await server.stop();
  }
});

test('interop: weft STUN client against coturn turnserver --stun-only', { skip: skipUnless('turnserver') }, async () => {
  const port = await freeUdpPort();
  const child = spawn('turnserver', ['-n', '--stun-only', '-L', '127.0.0.1', '--listening-port', String(port), '--no-cli', '--no-tls', '--no-dtls', '--log-file', 'stdout', '--simple-log'], { stdio: 'ignore' });
  const client = new UdpStunClient({ host: '127.0.0.1' });
  try {
    const local = await client.start();
    // turnserver needs a moment to bind; the RFC retransmission covers it.
    const r = await client.binding(Endpoint.of('127.0.0.1', port), { rtoMs: 200, rc: 6 });
    assert.equal(r.mapped.key, `127.0.0.1:${local}`);
  } finally {
    await client.stop();
    child.kill('SIGTERM');
    await new Promise((res) => child.on('close', res));
  }
});
