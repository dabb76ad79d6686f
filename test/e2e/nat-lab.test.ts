// End to end NAT traversal: sites behind real iptables NAT routers in namespaces (see
// src/lab/nat-lab.ts), agents and the coordinator (embedded relay + STUN) as real
// processes driven through the `weft` CLI. Asserts the path every pair reaches and that
// traffic flows; mapping expiry; roaming; relay restart.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { NAT_LAB_SITES as SITES, type NatLab } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteNatLab } from './helpers.js';

e2eFile();

const NAMES = SITES.flatMap((s) => s.nodes);
const kindOf = (n: string) => SITES.find((s) => s.nodes.includes(n))!.kind;

/** The path a pair must reach: direct, relay, or either (not asserted). */
export function expectedPath(a: string, b: string): 'direct' | 'relay' {
  const ka = kindOf(a), kb = kindOf(b);
  if (ka === 'blocked' || kb === 'blocked') return 'relay';
  if (ka === 'edm' && kb === 'edm') return 'relay';
  if (ka === 'edm' || kb === 'edm') return process.env.WEFT_NO_BIRTHDAY === '1' ? 'relay' : 'direct';
  return 'direct';
}

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'ping', 'iptables', 'sysctl']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('NAT lab: real iptables NAT routers in namespaces', { timeout: 600_000 }, () => {
  const fx = suiteNatLab();

  before(async () => {
    if (rootReason() !== null || missingTools(['ip', 'ping', 'iptables', 'sysctl']).length) return;
    const lab = fx.create();
    await lab.build(SITES);
    await lab.startServer();
    await lab.createAuthKey();
    await Promise.all(NAMES.map((n) => lab.up(n)));
    for (const n of NAMES) await lab.waitPeers(n, NAMES.length - 1);
    fx.ready();
  });

  const L = fx.get;

  const reach = (a: string, b: string, ms: number): Promise<number | null> => L().reach(a, b, ms);

  test('pair matrix: every pair reachable, direct or relayed as the NATs allow', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const rows: string[] = [];
    const failures: string[] = [];
    for (const [i, a] of NAMES.entries())
      for (const b of NAMES.slice(i + 1)) {
        const ms = await reach(a, b, 15_000);
        if (ms === null) failures.push(`${a} -> ${b} unreachable`);
      }
    // paths settle: direct within a few heartbeats
    const deadline = Date.now() + 20_000;
    let statuses = new Map<string, Awaited<ReturnType<NatLab['status']>>>();
    for (;;) {
      statuses = new Map(await Promise.all(NAMES.map(async (n) => [n, await lab.status(n)] as const)));
      let ok = true;
      for (const a of NAMES)
        for (const b of NAMES) {
          if (a === b) continue;
          const p = statuses.get(a)!.peers.find((x) => x.name === b);
          if (p?.path !== expectedPath(a, b)) ok = false;
        }
      if (ok || Date.now() > deadline) break;
      // keep traffic flowing so relayed pairs have live sessions
      await sleep(1000);
    }
    for (const a of NAMES)
      for (const b of NAMES) {
        if (a === b) continue;
        const p = statuses.get(a)!.peers.find((x) => x.name === b)!;
        rows.push(`${a.padEnd(5)} -> ${b.padEnd(5)} ${p.path.padEnd(6)} ${p.path === 'direct' ? p.endpoint : `${p.relay ?? ''} (${p.pathReason})`}`);
        if (p.path !== expectedPath(a, b)) failures.push(`${a} -> ${b}: ${p.path}, expected ${expectedPath(a, b)} (${p.pathReason})`);
      }
    t.diagnostic(rows.join('\n'));
    const lan = statuses.get('lan1')!.peers.find((p) => p.name === 'lan2')!;
    if (lan.path === 'direct') assert.match(lan.endpoint!, /^192\.168\./, 'same LAN uses LAN addresses');
    // traffic on every pair after the paths settled
    for (const [i, a] of NAMES.entries())
      for (const b of NAMES.slice(i + 1)) {
        const r = await lab.ping(a, lab.node(b).ipv4, 3, 0.2);
        if (r.received < 1) failures.push(`${a} -> ${b} no traffic after settling`);
      }
    assert.deepEqual(failures, []);
  });

  test('weft ping says direct with the endpoint or relay with the relay and why', async (t) => {
    if (!pre(t)) return;
    const d = await L().weftPing('eim1', 'eim2');
    assert.ok(d && /^direct 203\.0\.113\.\d+:\d+$/.test(d.via), JSON.stringify(d));
    const r = await L().weftPing('edm1', 'edm2');
    assert.ok(r && /^relay default \(.+\)$/.test(r.via), JSON.stringify(r));
    const b = await L().weftPing('blk', 'eim1');
    assert.ok(b && /UDP blocked/.test(b.via), JSON.stringify(b));
  });

  test('weft netcheck without flags probes the running agent\'s relay map', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const run = async (name: string): Promise<{ udp: boolean; globalV4: string | null; relayLatency: Record<string, unknown> }> => {
      const r = await lab.weft(lab.node(name).ns, ['netcheck', '--json', '--timeout', '1500', '--state-dir', lab.node(name).stateDir], 20_000);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const eim = await run('eim1');
    assert.equal(eim.udp, true);
    assert.match(eim.globalV4 ?? '', /^203\.0\.113\.\d+:\d+$/, 'the NAT router\'s public address and port');
    assert.ok('default' in eim.relayLatency, JSON.stringify(eim.relayLatency));
    assert.equal((await run('blk')).udp, false, 'UDP blocked');
  });

  test('mapping expiry (UDP conntrack timeouts of 2 s) does not break tunnels', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    await lab.conntrackUdpTimeout(2);
    try {
      await sleep(8000);
      for (const [a, b] of [['eim1', 'eim2'], ['dbl', 'eim1'], ['edm1', 'edm2']]) {
        const ms = await reach(a, b, 5000);
        assert.ok(ms !== null, `${a} -> ${b} after idle with short conntrack timeouts`);
      }
    } finally {
      await lab.conntrackUdpTimeout(30);
    }
  });

  test('roaming: a node whose address changes is reachable again within 5 s', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    assert.ok((await reach('eim2', 'eim1', 5000)) !== null);
    await lab.moveNode('eim1', 77);
    const ms = await reach('eim2', 'eim1', 5000);
    t.diagnostic(`reachable again after ${ms} ms`);
    assert.ok(ms !== null && ms < 5000, `eim1 reachable again in ${ms} ms`);
  });

  test('relay restart: clients reconnect and relayed traffic resumes within 5 s', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    assert.ok((await reach('edm1', 'edm2', 5000)) !== null);
    await lab.stopServer();
    await lab.startServer();
    const ms = await reach('edm1', 'edm2', 5000);
    t.diagnostic(`relayed traffic resumed ${ms} ms after the relay came back`);
    assert.ok(ms !== null && ms < 5000, `edm1 -> edm2 resumed in ${ms} ms`);
    const ms2 = await reach('blk', 'eim1', 5000);
    assert.ok(ms2 !== null, 'blk -> eim1 resumed');
  });
});
