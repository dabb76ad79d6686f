// The README's server command on a wildcard address (`weft server --listen 0.0.0.0:8080`)
// behind real iptables NAT routers (src/lab/nat-lab.ts): the netmap must name the relay
// and STUN at the address the devices dialled, not 0.0.0.0, so nodes behind
// endpoint-dependent NATs and a UDP-blocked site (which need the relay) reach each other.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { NatLab, type SiteSpec } from '../../src/lab/nat-lab.js';
import { missingTools, requireOrSkip, rootReason } from '../../src/lab/require.js';
import { waitForAsync } from '../helpers/wait.js';
import { e2eFile } from './helpers.js';

e2eFile();

const SITES: SiteSpec[] = [
  { name: 'eimA', kind: 'eim', nodes: ['eim1'] },
  { name: 'edmA', kind: 'edm', nodes: ['edm1'] },
  { name: 'edmB', kind: 'edm', nodes: ['edm2'] },
  { name: 'blk', kind: 'blocked', nodes: ['blk'] },
];
const NAMES = SITES.flatMap((s) => s.nodes);
const TOOLS = ['ip', 'ping', 'iptables', 'sysctl'];

describe('weft server --listen 0.0.0.0:8080 behind NATs', { timeout: 180_000 }, () => {
  let lab: NatLab | null = null;

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    lab = new NatLab();
    await lab.build(SITES);
    // As the README's "Run a mesh" says (the state dir aside).
    await lab.startServer(['--listen', '0.0.0.0:8080']);
    await lab.createAuthKey();
    await Promise.all(NAMES.map((n) => lab!.up(n)));
    for (const n of NAMES) await lab.waitPeers(n, NAMES.length - 1);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('every node gets the relay and STUN at the address it dialled; all pairs reach each other', async (t) => {
    if (!requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`])) return;
    assert.ok(lab);
    for (const n of NAMES) {
      const cached = readFileSync(join(lab.node(n).stateDir, 'netmap.json'), 'utf8');
      assert.match(cached, /"url":"ws:\/\/203\.0\.113\.1:8080\/relay"/, `${n}'s relay map`);
      assert.match(cached, /"stun":\["203\.0\.113\.1:3478","203\.0\.113\.1:3479"\]/, `${n}'s STUN servers`);
      assert.doesNotMatch(cached, /0\.0\.0\.0:/);
    }
    const failures: string[] = [];
    for (const [i, a] of NAMES.entries())
      for (const b of NAMES.slice(i + 1)) {
        let ok = false;
        for (const deadline = Date.now() + 15_000; !ok && Date.now() < deadline; ) ok = (await lab.ping(a, lab.node(b).ipv4, 1, 0.2)).received > 0;
        if (!ok) failures.push(`${a} -> ${b} unreachable`);
      }
    assert.deepEqual(failures, []);
    const blk = await lab.weftPing('blk', 'edm1');
    assert.ok(blk && /^relay default/.test(blk.via), `blk reaches edm1 over the relay: ${JSON.stringify(blk)}`);
  });

  test('weft nodes expire cuts a node off; weft up --force-reauth brings it back with the same name and addresses', async (t) => {
    if (!requireOrSkip(t, [rootReason(), ...missingTools(TOOLS)])) return;
    assert.ok(lab);
    const admin = async (args: string[]): Promise<string> => {
      const r = await lab!.weft(lab!.inet, [...args, '--state-dir', lab!.serverStateDir]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const n = lab.node('edm1');
    const before = { ipv4: n.ipv4, ipv6: n.ipv6 };
    assert.match(await admin(['nodes', 'expire', 'edm1']), /^edm1: key expired at /);
    assert.ok(await waitForAsync(async () => /refused: .*ERR_NODE_EXPIRED/.test((await lab!.weft(n.ns, ['status', '--state-dir', n.stateDir])).stdout), 10_000), 'status says the key expired');
    assert.match((await lab.weft(n.ns, ['status', '--state-dir', n.stateDir])).stdout, /^warning: this node's key expired at /);
    await lab.down('edm1');
    await lab.createAuthKey();
    await lab.up('edm1', ['--force-reauth', '--auth-key', lab.authKey]);
    assert.deepEqual({ ipv4: n.ipv4, ipv6: n.ipv6 }, before);
    assert.doesNotMatch((await lab.weft(n.ns, ['status', '--state-dir', n.stateDir])).stdout, /warning/);
    assert.ok(await waitForAsync(async () => (await lab!.ping('edm1', lab!.node('blk').ipv4, 1, 0.2)).received > 0, 15_000), 'edm1 reaches blk again');
  });
});
