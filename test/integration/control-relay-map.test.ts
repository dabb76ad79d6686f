// Where the netmap says the embedded relay and STUN are: --public-url, the listen
// address, or (on a wildcard listen address) what each device dialled.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { NetMap, RelayInfo, ServerMessage } from '../../src/wire/control.js';
import { createCoordinator } from '../../src/control/server.js';
import { RELAY_PAGE } from '../../src/relay/page.js';
import { RelayServer } from '../../src/relay/server.js';
import { MapClient, SimNode } from '../helpers/control.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

/** A UDP port P with P+1 free as well (the embedded STUN takes both). */
async function freeStunPorts(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const a = createSocket('udp4');
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const p = (a.address() as AddressInfo).port;
    const b = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      b.once('error', () => r(false));
      b.bind(p + 1, '127.0.0.1', () => r(true));
    });
    a.close();
    b.close();
    if (ok && p < 65535) return p;
  }
  throw new Error('no free UDP port pair');
}

/** The relay map a node that connects to 127.0.0.1 with this Host header receives. */
async function relaysSeen(t: TestCoordinator, host?: string): Promise<RelayInfo[] | undefined> {
  const port = new URL(t.url).port;
  const node = new SimNode(`http://127.0.0.1:${port}`, t.c.publicKey, () => t.clock.wallNow());
  const r = await node.register({ hostname: 'dialler', authKey: await t.authKey() });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const map = await MapClient.open(`ws://127.0.0.1:${port}/api/v1/map`, node.authHeader('GET', '/api/v1/map'), host ? { host } : {});
  const full = (await map.waitFor((m) => m.type === 'full')) as Extract<ServerMessage, { type: 'full' }>;
  await map.close();
  return (full.netmap as NetMap).relays;
}

test('wildcard listen address: each node gets the relay and STUN at the host it dialled', async () => {
  const stun = await freeStunPorts();
  const t = await startTestCoordinator({ listen: '0.0.0.0:0', nat: { stunPort: stun } });
  try {
    const port = new URL(t.url).port;
    const stunAt = (ip: string) => [`${ip}:${stun}`, `${ip}:${stun + 1}`];
    assert.deepEqual(await relaysSeen(t), [{ id: 'default', url: `ws://127.0.0.1:${port}/relay`, stun: stunAt('127.0.0.1') }]);
    // A name: the relay by that name; STUN (which needs an address) at the address the connection reached.
    assert.deepEqual(await relaysSeen(t, `Weft.Example.com:${port}`), [{ id: 'default', url: `ws://weft.example.com:${port}/relay`, stun: stunAt('127.0.0.1') }]);
    assert.deepEqual(await relaysSeen(t, `[::1]:${port}`), [{ id: 'default', url: `ws://[::1]:${port}/relay`, stun: [`[::1]:${stun}`, `[::1]:${stun + 1}`] }]);
    // A Host that is no host, or the wildcard itself: the connection's local address.
    for (const bad of ['bad/host', `0.0.0.0:${port}`, 'weft.example.com:99999', '[::ffff:0.0.0.0]:1']) {
      assert.deepEqual(await relaysSeen(t, bad), [{ id: 'default', url: `ws://127.0.0.1:${port}/relay`, stun: stunAt('127.0.0.1') }], bad);
    }
  } finally {
    await t.stop();
  }
});

test('--public-url fixes the relay and STUN addresses for every node; a bad one is refused', async () => {
  const stun = await freeStunPorts();
  const t = await startTestCoordinator({ listen: '0.0.0.0:0', nat: { stunPort: stun, publicUrl: 'https://203.0.113.7:8443' } });
  try {
    const want = [{ id: 'default', url: 'wss://203.0.113.7:8443/relay', stun: [`203.0.113.7:${stun}`, `203.0.113.7:${stun + 1}`] }];
    assert.deepEqual(await relaysSeen(t), want);
    assert.deepEqual(await relaysSeen(t, 'elsewhere.example:1'), want);
  } finally {
    await t.stop();
  }
  for (const bad of ['ftp://x', 'https://x/path', 'not a url', 'https://u:p@x']) {
    assert.throws(() => createCoordinator({ stateDir: '/nonexistent', nat: { publicUrl: bad } }), (e: { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT', bad);
  }
});

test('a specific listen address is advertised as it is', async () => {
  const t = await startTestCoordinator({ nat: { stunPort: 0 } });
  try {
    assert.deepEqual(await relaysSeen(t, 'weft.example.com'), [{ id: 'default', url: `ws://127.0.0.1:${new URL(t.url).port}/relay`, stun: [] }]);
  } finally {
    await t.stop();
  }
});

test('a browser opening the relay URL (standalone or embedded) gets an ordinary page', async (t) => {
  const standalone = new RelayServer();
  t.after(() => standalone.stop());
  const port = await standalone.listen('127.0.0.1', 0);
  const coordinator = await startTestCoordinator();
  t.after(() => coordinator.stop());
  for (const url of [`http://127.0.0.1:${port}/relay`, `http://127.0.0.1:${port}/`, `${coordinator.url}/relay`]) {
    const r = await fetch(url);
    assert.equal(r.status, 200, url);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/, url);
    assert.equal(await r.text(), RELAY_PAGE, url);
    assert.equal((await fetch(url, { method: 'POST' })).status >= 400, true, `${url}: POST refused`);
  }
  const head = await fetch(`${coordinator.url}/relay`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});
