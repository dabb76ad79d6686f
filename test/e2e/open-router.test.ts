// Open routers (docs/NAT.md, "Plain Linux routers that accept UDP to themselves"): two
// EIM sites whose routers have no INPUT drop, so the quick probe rounds poison each
// other's conntrack and the pair starts on the relay. The open-router punch
// (src/nat/open-punch.ts: a fresh socket on each side, TTL-1 refreshes, a quiet period
// past the UDP conntrack timeout, agreed through the relay) must then end it direct, with
// traffic on the relay meanwhile. The routers keep Linux's default UDP conntrack timeout (30 s), unknown to
// the agents.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import type { SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason } from '../../src/lab/require.js';
import { e2eFile, suiteNatLab } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'iptables', 'sysctl'];
const SITES: SiteSpec[] = [
  { name: 'openA', kind: 'eim', nodes: ['o1'], open: true },
  { name: 'openB', kind: 'eim', nodes: ['o2'], open: true },
];
/** Quick rounds (~8 s), then attempt 0: direct at W = 35 s (~45 s); one more attempt is ~45 s more. */
const DIRECT_WITHIN_MS = 100_000;

const ready = (): boolean => rootReason() === null && missingTools(TOOLS).length === 0 && existsSync(WEFT_JS);

describe('open routers: EIM <-> EIM ends direct through the open-router punch', { timeout: 160_000 }, () => {
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
    await Promise.all(['o1', 'o2'].map((n) => L.up(n)));
    for (const n of ['o1', 'o2']) await L.waitPeers(n, 1);
    const t0 = Math.max(L.node('o1').upAt, L.node('o2').upAt);
    assert.notEqual(await L.reach('o1', 'o2', 15_000), null, 'reachable at once (relay)');

    let direct: number | null = null;
    let relayChecks = 0;
    while (Date.now() - t0 < DIRECT_WITHIN_MS) {
      const [a, b] = await Promise.all([L.status('o1'), L.status('o2')]);
      if (a.peers[0]?.path === 'direct' && b.peers[0]?.path === 'direct') {
        direct = Date.now() - t0;
        break;
      }
      // While the punch runs, traffic keeps flowing on the relay.
      if ((await L.ping('o1', L.node('o2').ipv4, 1, 0.2)).received === 1) relayChecks++;
      await sleep(1000);
    }
    const logs = `${L.node('o1').agent?.stderr ?? ''}\n${L.node('o2').agent?.stderr ?? ''}`;
    const punch = logs.split('\n').filter((l) => l.includes('open-router punch'));
    t.diagnostic(`direct after ${direct} ms; relay pings answered ${relayChecks}; punch log:\n${punch.join('\n')}`);
    assert.ok(direct !== null, `direct within ${DIRECT_WITHIN_MS} ms`);
    assert.ok(relayChecks > 0, 'traffic went over the relay while the punch ran');
    // The pair went direct by the punch (the quick rounds alone never do on these routers).
    assert.ok(punch.some((l) => l.includes('attempt started')), 'an attempt was started');
    assert.ok(punch.some((l) => l.includes('direct path confirmed')), 'the attempt ended with the direct path');
    const s = await L.status('o1');
    assert.match(s.peers[0].endpoint ?? '', /^203\.0\.113\.12:\d+$/, 'direct to the peer router\'s public address');
    assert.ok((await L.ping('o1', L.node('o2').ipv4, 3, 0.2)).received >= 2, 'traffic flows on the direct path');
  });
});
