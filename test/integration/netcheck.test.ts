import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Endpoint } from '../../src/io/endpoint.js';
import { StunServer } from '../../src/nat/stun-server.js';
import { UdpStunClient } from '../../src/nat/stun-client.js';
import { RelayServer } from '../../src/relay/server.js';
import { netcheck, type NetcheckReport } from '../../src/nat/netcheck.js';
import { collect, relayRunning, stopChild, weftRelayCli as weft } from '../helpers/relay-cli.js';

// netcheck over real loopback sockets, and the `weft relay` / `weft netcheck` commands.

test('netcheck from one socket to two STUN servers and a relay on 127.0.0.1', async () => {
  const s1 = new StunServer({ host: '127.0.0.1', port: 0 });
  const s2 = new StunServer({ host: '127.0.0.1', port: 0 });
  const [p1, p2] = [await s1.start(), await s2.start()];
  const relay = new RelayServer();
  const rport = await relay.listen('127.0.0.1', 0);
  const client = new UdpStunClient({ host: '127.0.0.1' });
  const local = await client.start();
  try {
    const r = await netcheck({
      stun: client.client,
      relays: [
        { id: 'r1', stun: [Endpoint.of('127.0.0.1', p1)], url: `ws://127.0.0.1:${rport}/relay` },
        { id: 'r2', stun: [Endpoint.of('127.0.0.1', p2)] },
      ],
      timeoutMs: 2000,
    });
    assert.equal(r.udp, true);
    assert.equal(r.globalV4, `127.0.0.1:${local}`);
    assert.equal(r.mappingVariesByDestIP, false);
    assert.equal(r.relayLatency.r1.via, 'stun');
    assert.ok(r.preferredRelay === 'r1' || r.preferredRelay === 'r2');

    // A STUN port nobody answers on: UDP "blocked", latency measured over HTTP to the relay.
    const blocked = await netcheck({ stun: client.client, relays: [{ id: 'r1', stun: [Endpoint.of('127.0.0.1', 9)], url: `ws://127.0.0.1:${rport}/relay` }], timeoutMs: 300 });
    assert.equal(blocked.udp, false);
    assert.equal(blocked.relayLatency.r1.via, 'tcp');
    assert.equal(blocked.preferredRelay, 'r1');
  } finally {
    await client.stop();
    await Promise.all([s1.stop(), s2.stop(), relay.stop()]);
  }
});

/** Starts `weft relay ARGS` (an open relay, for the lab) and resolves with its 'relay running' log line. */
async function startRelay(args: string[]): Promise<{ relay: ReturnType<typeof weft>; ready: { url: string; stunPort: number | null } }> {
  const relay = weft(['relay', '--listen', '127.0.0.1:0', '--allow-any-key', ...args]);
  return { relay, ready: await relayRunning(relay) };
}

function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }));
}

test('`weft relay --stun-port 0` runs no STUN server, as `weft server --stun-port 0`', async () => {
  const { relay, ready } = await startRelay(['--stun-port', '0']);
  await stopChild(relay);
  assert.equal(ready.stunPort, null);
});

test('`weft relay` serves relay + STUN; `weft netcheck --json` reports against it', async () => {
  const { relay, ready } = await startRelay(['--stun-port', String(await freeUdpPort())]);
  try {
    const nc = await collect(weft(['netcheck', '--relay', ready.url, '--relay-stun-port', String(ready.stunPort), '--stun', `127.0.0.1:${ready.stunPort}`, '--timeout', '2000', '--json']));
    assert.equal(nc.code, 0, nc.err);
    const report = JSON.parse(nc.out) as NetcheckReport;
    assert.equal(report.udp, true);
    assert.equal(report.preferredRelay, ready.url);
    assert.match(report.globalV4 ?? '', /^127\.0\.0\.1:\d+$/);

    const human = await collect(weft(['netcheck', '--stun', `127.0.0.1:${ready.stunPort}`, '--timeout', '2000']));
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /UDP: true/);

    const bad = await collect(weft(['netcheck', '--stun', 'nonsense']));
    assert.notEqual(bad.code, 0);
  } finally {
    await stopChild(relay);
  }
});

test('`weft relay` refuses to run as an open relay unless asked: --coordinator or --allow-any-key', async () => {
  const r = await collect(weft(['relay', '--listen', '127.0.0.1:0', '--no-stun']));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--coordinator URL/);
  const noSecret = await collect(weft(['relay', '--listen', '127.0.0.1:0', '--no-stun', '--coordinator', 'http://127.0.0.1:9'], { ...process.env, WEFT_RELAY_SECRET: '' }));
  assert.notEqual(noSecret.code, 0);
  assert.match(noSecret.err, /relay secret/);
});
