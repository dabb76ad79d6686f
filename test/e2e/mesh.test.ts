// End to end: a coordinator and three agents, each in its own network namespace, real
// TUN devices and real processes, driven only through the `weft` CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';
import { parseExposition } from '../helpers/prom-text.js';
import { kernelTakesSlices, threadSlice } from '../../src/lab/sched.js';
import { SHORT_SLICE_NS } from '../../src/io/sched-slice.js';
import { nativeAvailable } from '../../src/io/native.js';

e2eFile();

const NAMES = ['alpha', 'beta', 'gamma'];
const METRICS_LISTEN = '127.0.0.1:9101';

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'ping']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('mesh of three agents and a coordinator in namespaces', { timeout: 240_000 }, () => {
  const fx = suiteMesh();

  before(async () => {
    if (rootReason() !== null || missingTools(['ip', 'ping']).length) return;
    const mesh = fx.create();
    await mesh.build(NAMES);
    await mesh.startServer();
    await mesh.createAuthKey();
    // alpha as the README shows it: Prometheus metrics on its loopback.
    for (const n of NAMES) await mesh.up(n, n === 'alpha' ? ['--metrics-listen', METRICS_LISTEN] : []);
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n));
    fx.ready();
  });

  const m = fx.get;

  async function assertAllPairs(label: string): Promise<void> {
    const mesh = m();
    for (const a of NAMES)
      for (const b of NAMES) {
        if (a === b) continue;
        for (const ip of [mesh.node(b).ipv4, mesh.node(b).ipv6]) {
          const r = await mesh.ping(a, ip);
          assert.ok(r.received >= 1, `${label}: ${a} -> ${b} (${ip}): ${r.output}`);
        }
      }
  }

  test('every node reaches every other by mesh address (system ping, IPv4 and IPv6)', async (t) => {
    if (!pre(t)) return;
    await assertAllPairs('initial');
  });

  test('weft ping goes through the engine and names the path', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    for (const a of NAMES)
      for (const b of NAMES) {
        if (a === b) continue;
        const r = await mesh.weft(mesh.node(a).ns, ['ping', b, '--count', '1', '--state-dir', mesh.node(a).stateDir]);
        assert.equal(r.code, 0, `${a} -> ${b}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^pong from ${b} \\(${mesh.node(b).ipv4.replace(/\./g, '\\.')}\\) via direct ${mesh.node(b).lanIp.replace(/\./g, '\\.')}:\\d+ in [\\d.]+ ms$`, 'm'));
      }
    const s = await mesh.status('alpha');
    for (const p of s.peers) {
      assert.equal(p.path, 'direct', `${p.name}: ${p.pathReason}`);
      assert.ok(p.latestHandshake && p.rxBytes > 0 && p.txBytes > 0, JSON.stringify(p));
      assert.match(p.fqdn, new RegExp(`^${p.name}\\.`));
    }
    // The agent's thread, which moves the packets, asks for short scheduler slices (io/sched-slice.ts).
    if (kernelTakesSlices && nativeAvailable()) for (const n of NAMES) assert.equal(threadSlice(mesh.node(n).agent!.pid), SHORT_SLICE_NS, `${n}: the agent thread's slice`);
    const bad = await mesh.weft(mesh.node('alpha').ns, ['ping', 'nobody', '--count', '1', '--state-dir', mesh.node('alpha').stateDir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ERR_PEER_NOT_FOUND/);
  });

  test('weft up --metrics-listen: the agent serves its series inside its namespace', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const fetchJs = `fetch('http://${METRICS_LISTEN}/metrics').then(async (r) => process.stdout.write(r.status + ' ' + r.headers.get('content-type') + '\\n' + (await r.text())))`;
    const r = await mesh.lab.exec(mesh.node('alpha').ns, [process.execPath, '-e', fetchJs], { timeoutMs: 10_000 });
    const [head, ...body] = r.stdout.split('\n');
    assert.match(head, /^200 text\/plain; version=0\.0\.4/, r.stderr);
    const e = parseExposition(body.join('\n'));
    assert.equal(e.value('weft_agent_peers'), 2);
    assert.equal(e.value('weft_agent_coordinator_connected'), 1);
    for (const peer of ['beta', 'gamma']) {
      assert.ok(e.value('weft_agent_peer_handshakes_total', { peer })! >= 1, peer);
      assert.ok(e.value('weft_agent_peer_received_packets_total', { peer })! >= 1, peer);
      assert.equal(e.value('weft_agent_peer_path', { peer, path: 'direct' }), 1, peer);
    }
    // Not reachable from another namespace: it listens on alpha's loopback only.
    const other = await mesh.lab.exec(mesh.node('beta').ns, [process.execPath, '-e', `fetch('http://${METRICS_LISTEN}/metrics').then(() => process.exit(0), () => process.exit(3))`], { timeoutMs: 10_000 });
    assert.equal(other.code, 3);
  });

  test('a restarted node keeps its key, addresses and name', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const before = await mesh.status('beta');
    const key = readFileSync(join(mesh.node('beta').stateDir, 'node.key'), 'utf8');
    await mesh.node('beta').agent!.kill('SIGTERM');
    const n = await mesh.up('beta');
    const after = await mesh.status('beta');
    assert.equal(readFileSync(join(n.stateDir, 'node.key'), 'utf8'), key);
    for (const f of ['name', 'fqdn', 'ipv4', 'ipv6', 'publicKey'] as const) assert.equal(after.self[f], before.self[f], f);
    await mesh.waitPeers('beta', ['alpha', 'gamma']);
    await assertAllPairs('after node restart');
  });

  test('a restarted coordinator keeps every node', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const before = await mesh.status('alpha');
    await mesh.stopServer();
    await mesh.startServer();
    for (const n of NAMES) {
      const s = await mesh.waitPeers(n, NAMES.filter((x) => x !== n), 20_000);
      if (n === 'alpha') {
        assert.deepEqual(s.peers.map((p) => [p.name, p.ipv4, p.ipv6, p.publicKey]), before.peers.map((p) => [p.name, p.ipv4, p.ipv6, p.publicKey]));
        assert.equal(s.self.ipv4, before.self.ipv4);
      }
    }
    // Every agent reconnected its stream.
    const deadline = Date.now() + 20_000;
    for (const n of NAMES) {
      while (!(await mesh.status(n)).coordinator.connected) {
        assert.ok(Date.now() < deadline, `${n} reconnects to the coordinator`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  test('with the coordinator stopped, existing tunnels keep carrying traffic', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    await mesh.stopServer();
    try {
      await assertAllPairs('coordinator down');
      const s = await mesh.status('gamma');
      assert.equal(s.coordinator.connected, false);
    } finally {
      await mesh.startServer();
    }
  });

  test('weft down --logout removes the node from the others\' netmaps and its interface', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    await mesh.waitPeers('gamma', ['alpha', 'beta'], 20_000);
    const r = await mesh.down('gamma', true);
    assert.equal(r.code, 0, r.stderr);
    await mesh.waitPeers('alpha', ['beta'], 10_000);
    await mesh.waitPeers('beta', ['alpha'], 10_000);
    const link = await mesh.lab.exec(mesh.node('gamma').ns, ['ip', 'link', 'show', 'weft0']);
    assert.notEqual(link.code, 0, 'weft0 removed');
    assert.equal(existsSync(join(mesh.node('gamma').stateDir, 'state.json')), false, 'identity forgotten');
    const st = await mesh.weft(mesh.node('gamma').ns, ['status', '--state-dir', mesh.node('gamma').stateDir]);
    assert.match(st.stderr, /ERR_AGENT_NOT_RUNNING/);
  });
});
