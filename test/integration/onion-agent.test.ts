import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CircuitAgent, circuitSocksPath } from '../../src/agent/circuits.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import { socksConnect } from '../../src/netstack/socks5-client.js';
import { GUARD_FILE } from '../../src/onion/path.js';
import type { NodeView } from '../../src/wire/control.js';
import { runWeft } from '../helpers/cli.js';

// Five agents' circuit sides on loopback addresses 127.0.0.2-6 (one port number, as on
// mesh addresses): a client with --exit-circuit and four relays, the last an exit. The
// CLI command from the README drives the client's agent; a TCP client then reaches an
// HTTP server through the client's SOCKS5 entry and a 3-hop circuit.

const PORT = 20_000 + Math.floor(Math.random() * 20_000);

function view(name: string, i: number, key: PrivateKey, exit: boolean): NodeView {
  return {
    id: i,
    name,
    fqdn: `${name}.mesh`,
    ipv4: `127.0.0.${i}`,
    ipv6: `fd00::${i}`,
    publicKey: keyToBase64(publicKeyFromPrivate(key)),
    endpoints: [`198.${10 + i}.0.1:51820`], // distinct /16s on the "underlay"
    online: true,
    lastSeen: null,
    createdAt: '2026-12-06T00:00:00Z',
    expiresAt: null,
    ephemeral: false,
    tags: [],
    user: null,
    approvedRoutes: exit ? ['0.0.0.0/0', '::/0'] : [],
  };
}

test('weft circuit build drives the agent; connections go through its SOCKS5 entry, routeOutside and the circuit', async () => {
  const names = ['client', 'r1', 'r2', 'r3', 'exit'];
  const keys = names.map(() => generatePrivateKey());
  const views = names.map((n, i) => view(n, i + 2, keys[i], n === 'exit'));
  const dirs = await Promise.all(names.map(() => mkdtemp(join(tmpdir(), 'weft-circ-'))));
  const http = createServer((_q, res) => res.end('behind the exit'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const httpPort = (http.address() as AddressInfo).port;
  const agents = names.map(
    (n, i) =>
      new CircuitAgent({
        stateDir: dirs[i],
        privateKey: keys[i],
        listenHost: views[i].ipv4,
        port: PORT,
        peers: () => views.filter((v) => v !== views[i]),
        exitPolicy: n === 'exit' ? { allow: ['127.0.0.0/8'], block: [], ports: [] } : undefined,
        exitCircuit: n === 'client' ? { hops: 3, exit: 'exit' } : undefined,
        blocked: ['100.64.0.0/10', 'fc00::/7'],
        isMeshName: (h) => names.includes(h),
        logger: silentLogger,
      }),
  );
  try {
    for (const a of agents) await a.start();
    const r = await runWeft(['circuit', 'build', '--hops', '3', '--exit', 'exit', '--state-dir', dirs[0]]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^weft: circuit r\d -> r\d -> exit built in [\d.]+ ms\n$/);
    const guard = r.stdout.split(' ')[2];
    assert.equal((await stat(join(dirs[0], GUARD_FILE))).mode & 0o777, 0o600);
    // The guard is pinned: the next build starts at the same member.
    const again = await runWeft(['circuit', 'build', '--hops', '3', '--exit', 'exit', '--state-dir', dirs[0], '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).path[0], guard);
    const s = await socksConnect(circuitSocksPath(dirs[0]), '127.0.0.1', httpPort);
    s.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let text = '';
    for await (const c of s) text += c;
    assert.match(text, /^HTTP\/1\.1 200[\s\S]*behind the exit$/);
    assert.equal(agents[4].node.exit?.counters.opened, 1);
    // The userspace stack's front doors: mesh names and blocked ranges stay direct (null),
    // anything else goes into the circuit.
    assert.equal(agents[0].routeOutside('100.64.0.9', 80), null);
    assert.equal(agents[0].routeOutside('[fd7a:115c:a1e0::9]', 80), null);
    assert.equal(agents[0].routeOutside('r1', 80), null);
    const viaRoute = await agents[0].routeOutside('127.0.0.1', httpPort)!;
    viaRoute.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let routed = '';
    for await (const c of viaRoute) routed += c;
    assert.match(routed, /behind the exit$/);
    assert.equal(agents[4].node.exit?.counters.opened, 2);
    // An exit that is not a member is refused before anything is sent.
    const bad = await runWeft(['circuit', 'build', '--hops', '2', '--exit', 'nobody', '--state-dir', dirs[0]]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no exit named nobody/);
  } finally {
    http.close();
    for (const a of agents) await a.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});
