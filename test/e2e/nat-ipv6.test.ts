// IPv6 underlay in the NAT lab: two sites whose IPv4 is behind endpoint-dependent NAT
// (EDM<->EDM stays on the relay over IPv4) but that have global IPv6 behind stateful
// firewalls (no NAT, new inbound dropped). Disco hole-punches through both firewalls and
// the pair goes direct over IPv6; `weft status` shows the IPv6 endpoint. A third EDM
// site without IPv6 stays on the relay with both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { NatLab, type SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'iptables', 'ip6tables', 'sysctl'];
const SITES: SiteSpec[] = [
  { name: 'v6A', kind: 'edm', nodes: ['v6a'], ipv6: true },
  { name: 'v6B', kind: 'edm', nodes: ['v6b'], ipv6: true },
  { name: 'v4C', kind: 'edm', nodes: ['v4c'] },
];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('NAT lab: global IPv6 behind stateful firewalls, IPv4 behind EDM NAT', { timeout: 180_000 }, () => {
  let lab: NatLab | null = null;

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    lab = new NatLab();
    await lab.startMesh(SITES);
  });

  after(async () => {
    await lab?.destroy();
  });

  const L = (): NatLab => {
    assert.ok(lab, 'lab set up');
    return lab;
  };

  test('the firewall passes outbound IPv6 and drops new inbound', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    assert.ok((await lab.ping('v6a', '2001:db8:0::1', 1)).received > 0, 'v6a reaches the inet side');
    const r = await lab.lab.exec(lab.inet, ['ping', '-n', '-q', '-c', '2', '-i', '0.2', '-W', '1', lab.node('v6a').lanIp6!], { timeoutMs: 10_000 });
    assert.match(r.stdout, / 0 received/, 'unsolicited inbound to v6a is dropped');
  });

  test('agents report global IPv6 candidates, no link-local', async (t) => {
    if (!pre(t)) return;
    const self = (await L().status('v6a')).self;
    assert.ok(self.endpoints.includes(`[${L().node('v6a').lanIp6!}]:${self.listenPort}`), JSON.stringify(self.endpoints));
    assert.ok(!self.endpoints.some((e) => /^\[fe80:/i.test(e)), JSON.stringify(self.endpoints));
  });

  test('EDM<->EDM with IPv6 on both goes direct over IPv6; without it, relay', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const deadline = Date.now() + 30_000;
    let text = '';
    for (;;) {
      await lab.ping('v6a', lab.node('v6b').ipv4, 1, 0.2);
      const r = await lab.weft(lab.node('v6a').ns, ['status', '--state-dir', lab.node('v6a').stateDir], 10_000);
      text = r.stdout;
      if (/v6b\s.*direct \[2001:db8:2::10\]:\d+/.test(text) || Date.now() > deadline) break;
      await sleep(500);
    }
    t.diagnostic(text);
    assert.match(text, /v6b\s.*direct \[2001:db8:2::10\]:\d+/, 'weft status shows the direct IPv6 endpoint');
    const back = (await lab.status('v6b')).peers.find((p) => p.name === 'v6a')!;
    assert.equal(back.path, 'direct');
    assert.match(back.endpoint ?? '', /^\[2001:db8:1::10\]:\d+$/);
    assert.ok((await lab.ping('v6a', lab.node('v6b').ipv4, 3, 0.2)).received > 0, 'traffic through the tunnel');
    for (const n of ['v6a', 'v6b']) {
      const p = (await lab.status(n)).peers.find((x) => x.name === 'v4c')!;
      assert.equal(p.path, 'relay', `${n} -> v4c: ${p.path} ${p.pathReason}`);
    }
  });
});
