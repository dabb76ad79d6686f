// Open routers (docs/NAT.md, "Plain Linux routers that accept UDP to themselves"): two
// EIM sites and one EDM site whose routers have no INPUT drop, so the quick probe rounds
// poison each other's conntrack and every pair starts on the relay. The open-router punch
// (src/nat/open-punch.ts: fresh sockets, TTL-1 refreshes, a quiet period past the UDP
// conntrack timeout, agreed through the relay; the EDM side keeps with many sockets and
// the other sprays) must then end every pair direct, with traffic on the relay meanwhile.
// The routers keep Linux's default UDP conntrack timeout (30 s), unknown to the agents.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import type { StatusJson } from '../../src/agent/status.js';
import type { SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason } from '../../src/lab/require.js';
import { e2eFile, suiteNatLab } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'iptables', 'sysctl'];
const SITES: SiteSpec[] = [
  { name: 'openA', kind: 'eim', nodes: ['o1'], open: true },
  { name: 'openB', kind: 'eim', nodes: ['o2'], open: true },
  { name: 'openC', kind: 'edm', nodes: ['o3'], open: true },
];
const NODES = ['o1', 'o2', 'o3'];
const PAIRS: [string, string, string][] = [
  ['o1', 'o2', 'EIM <-> EIM'],
  ['o1', 'o3', 'EIM <-> EDM'],
  ['o2', 'o3', 'EIM <-> EDM'],
];
/** Quick rounds (~8 s), then attempt 0: direct at W = 35 s (~45 s); one more attempt (double NAT) is ~45 s more. */
const DIRECT_WITHIN_MS = 100_000;

const ready = (): boolean => rootReason() === null && missingTools(TOOLS).length === 0 && existsSync(WEFT_JS);

describe('open routers: every pair with an EIM side ends direct through the open-router punch', { timeout: 170_000 }, () => {
  const fx = suiteNatLab();

  before(async () => {
    if (!ready()) return;
    const lab = fx.create();
    lab.env.LOG_LEVEL = 'info';
    await lab.build(SITES);
    await lab.startServer();
    await lab.createAuthKey();
    fx.ready();
  });

  test('relay first, direct after the punch, traffic throughout', async (t) => {
    if (!requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`])) return;
    const L = fx.get();
    await Promise.all(NODES.map((n) => L.up(n)));
    for (const n of NODES) await L.waitPeers(n, 2);
    const t0 = Math.max(...NODES.map((n) => L.node(n).upAt));
    for (const [a, b] of PAIRS) assert.notEqual(await L.reach(a, b, 15_000), null, `${a} -> ${b} reachable at once (relay)`);

    const peer = (s: StatusJson, name: string) => s.peers.find((p) => p.name === name);
    const direct = new Map<string, number>();
    let relayChecks = 0;
    while (Date.now() - t0 < DIRECT_WITHIN_MS && direct.size < PAIRS.length) {
      const st = new Map(await Promise.all(NODES.map(async (n) => [n, await L.status(n)] as const)));
      for (const [a, b] of PAIRS) {
        if (!direct.has(`${a}-${b}`) && peer(st.get(a)!, b)?.path === 'direct' && peer(st.get(b)!, a)?.path === 'direct') direct.set(`${a}-${b}`, Date.now() - t0);
      }
      // While the punch runs, traffic keeps flowing on the relay.
      if ((await L.ping('o1', L.node('o3').ipv4, 1, 0.2)).received === 1) relayChecks++;
      await sleep(1000);
    }
    const logs = NODES.map((n) => L.node(n).agent?.stderr ?? '').join('\n');
    const punch = logs.split('\n').filter((l) => l.includes('open-router punch'));
    t.diagnostic(`direct after (ms): ${JSON.stringify(Object.fromEntries(direct))}; relay pings answered ${relayChecks}; punch log:\n${punch.join('\n')}`);
    for (const [a, b, label] of PAIRS) assert.ok(direct.has(`${a}-${b}`), `${label} (${a}-${b}) direct within ${DIRECT_WITHIN_MS} ms`);
    assert.ok(relayChecks > 0, 'traffic went over the relay while the punch ran');
    // The pairs went direct by the punch (the quick rounds alone never do on these routers).
    assert.ok(punch.some((l) => l.includes('attempt started')), 'an attempt was started');
    assert.ok(punch.some((l) => l.includes('many sockets')), 'the EDM side kept with many sockets');
    assert.ok(punch.some((l) => l.includes('direct path confirmed')), 'an attempt ended with the direct path');
    const s = await L.status('o1');
    assert.match(peer(s, 'o2')?.endpoint ?? '', /^203\.0\.113\.12:\d+$/, "direct to the peer router's public address");
    assert.match(peer(s, 'o3')?.endpoint ?? '', /^203\.0\.113\.13:\d+$/, "direct to the EDM router's public address");
    for (const n of ['o2', 'o3']) assert.ok((await L.ping('o1', L.node(n).ipv4, 3, 0.2)).received >= 2, `traffic flows on the direct path to ${n}`);
  });
});
