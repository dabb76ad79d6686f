import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIntArg, parseUpArgs } from '../../src/cli/node-args.js';
import { backoffDelay } from '../../src/agent/control-client.js';
import { buildEcho, echoReplyFor, parseEcho } from '../../src/agent/icmp.js';
import { ipCommands } from '../../src/agent/os-config.js';

test('weft up arguments are validated with stable codes', () => {
  const ok = parseUpArgs({ server: 'https://c.example:8443', authKey: 'k', hostname: 'laptop-1', port: '41641' });
  assert.deepEqual(ok, { server: 'https://c.example:8443/', authKey: 'k', insecureHttp: false, resetServerKey: false, forceReauth: false, hostname: 'laptop-1', stateDir: '/var/lib/weft', iface: 'weft0', port: 41641,
    advertiseRoutes: [], advertiseExitNode: false, snatSubnetRoutes: true, portMapping: true, exitPolicy: { allowPorts: [], block: [] },
    exitNode: undefined, exitNodeAllowLanAccess: false, exitNodeFallback: 'block', metricsListen: undefined, tun: 'kernel', backend: 'builtin', socks5: undefined, httpProxy: undefined });
  assert.equal(parseUpArgs({ forceReauth: true, authKey: 'k' }).forceReauth, true);
  assert.equal(parseUpArgs({ portMapping: false }).portMapping, false, '--no-port-mapping');
  const us = parseUpArgs({ tun: 'userspace', socks5: '127.0.0.1:1080', httpProxy: '[::1]:3128' });
  assert.deepEqual([us.tun, us.socks5, us.httpProxy], ['userspace', { host: '127.0.0.1', port: 1080 }, { host: '::1', port: 3128 }]);
  assert.equal(parseUpArgs({ backend: 'wireguard-go' }).backend, 'wireguard-go');
  assert.deepEqual([parseUpArgs({ insecureHttp: true, resetServerKey: true })].map((a) => [a.insecureHttp, a.resetServerKey]), [[true, true]]);
  for (const bad of [
    { server: 'not a url' },
    { server: 'ftp://x' },
    { authKey: '  ' },
    { hostname: 'bad name' },
    { hostname: '-x' },
    { iface: 'this-name-is-too-long' },
    { port: '70000' },
    { port: '12ab' },
    { forceReauth: true },
    { tun: 'tap' },
    { socks5: '127.0.0.1:1080' }, // proxies need --tun=userspace
    { tun: 'userspace', socks5: '1080' },
    { tun: 'userspace', httpProxy: 'localhost:99999' },
    { backend: 'boringtun' },
    { backend: 'wireguard-go', tun: 'userspace' }, // the external engine owns a real interface
  ]) {
    assert.throws(() => parseUpArgs(bad), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
  assert.throws(() => parseIntArg('--count', '0', 1, 10), { code: 'ERR_INVALID_ARGUMENT' });
});

test('backoff starts fast, doubles, is capped at 30 s and jittered', () => {
  assert.equal(backoffDelay(0, () => 0.999999), 250);
  assert.equal(backoffDelay(0, () => 0), 125);
  assert.equal(backoffDelay(3, () => 0.999999), 2000);
  assert.equal(backoffDelay(50, () => 0.999999), 30_000);
  assert.ok(backoffDelay(50, () => 0) >= 15_000);
});

test('ICMP echo packets round-trip for both families with valid checksums', () => {
  for (const [src, dst] of [['100.64.0.1', '100.64.0.2'], ['fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2']]) {
    const req = buildEcho({ src, dst, request: true, id: 77, seq: 9, payload: new Uint8Array([1, 2, 3]) });
    const e = parseEcho(req)!;
    assert.deepEqual({ ...e, payload: [...e.payload] }, { version: src.includes(':') ? 6 : 4, src, dst, request: true, id: 77, seq: 9, payload: [1, 2, 3] });
    const rep = parseEcho(echoReplyFor(req)!)!;
    assert.equal(rep.request, false);
    assert.equal(rep.src, dst);
    assert.equal(echoReplyFor(echoReplyFor(req)!), null, 'replies are not answered');
  }
  // Known-good IPv4 checksum: a header that sums to 0xffff verifies.
  const p = buildEcho({ src: '10.0.0.1', dst: '10.0.0.2', request: true, id: 1, seq: 1, payload: new Uint8Array(0) });
  let acc = 0;
  for (let i = 0; i < 20; i += 2) acc += (p[i] << 8) | p[i + 1];
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  assert.equal(acc, 0xffff);
});

test('os config: addresses, link up and one route per mesh range, each undoable', () => {
  const cmds = ipCommands({ iface: 'weft0', ipv4: '100.64.0.5', ipv6: 'fd7a::5', routes: ['100.64.0.0/10', 'fd7a::/48'] });
  assert.deepEqual(cmds.map((c) => c.add.join(' ')), [
    'ip -4 addr replace 100.64.0.5/32 dev weft0',
    'ip -6 addr replace fd7a::5/128 dev weft0 nodad',
    'ip link set dev weft0 up',
    'ip -4 route replace 100.64.0.0/10 dev weft0',
    'ip -6 route replace fd7a::/48 dev weft0',
  ]);
  assert.deepEqual(cmds[3].del, ['ip', '-4', 'route', 'del', '100.64.0.0/10', 'dev', 'weft0']);
});

test('weft up --metrics-listen takes HOST:PORT', () => {
  assert.deepEqual(parseUpArgs({ metricsListen: '127.0.0.1:9101' }).metricsListen, { host: '127.0.0.1', port: 9101 });
  assert.deepEqual(parseUpArgs({ metricsListen: '[::1]:0' }).metricsListen, { host: '::1', port: 0 });
  for (const bad of ['9101', '127.0.0.1:70000', 'localhost:']) assert.throws(() => parseUpArgs({ metricsListen: bad }), (e: { code: string }) => e.code === 'ERR_INVALID_ARGUMENT', bad);
});

test('weft up --serverless takes seeds and a trust folder, and refuses coordinator flags', () => {
  const a = parseUpArgs({ serverless: true, seed: '10.0.0.1:41641, [fd00::1]:41641,seed.lan:7', authorizedKeys: '/etc/weft/keys' });
  assert.deepEqual(a.serverless, { seeds: ['10.0.0.1:41641', '[fd00::1]:41641', 'seed.lan:7'], authorizedKeys: '/etc/weft/keys', relay: false, discovery: 'swim' });
  assert.deepEqual(parseUpArgs({ serverless: true }).serverless, { seeds: [], authorizedKeys: undefined, relay: false, discovery: 'swim' });
  assert.equal(parseUpArgs({ serverless: true, discovery: 'dht' }).serverless?.discovery, 'dht');
  assert.equal(parseUpArgs({ serverless: true, discovery: 'both' }).serverless?.discovery, 'both');
  assert.equal(parseUpArgs({ serverless: true, relay: true }).serverless?.relay, true);
  assert.equal(parseUpArgs({}).serverless, undefined);
  for (const bad of [
    { serverless: true, server: 'https://c.example' },
    { serverless: true, authKey: 'k' },
    { serverless: true, seed: '10.0.0.1' },
    { serverless: true, seed: '10.0.0.1:0' },
    { serverless: true, seed: 'a b:1' },
    { seed: '10.0.0.1:41641' },
    { authorizedKeys: '/x' },
    { relay: true },
    { discovery: 'dht' },
    { serverless: true, discovery: 'kademlia' },
  ]) {
    assert.throws(() => parseUpArgs(bad), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT', JSON.stringify(bad));
  }
});
