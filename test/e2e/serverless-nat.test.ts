// End to end: serverless mode across real NAT routers (src/lab/nat-lab.ts). Five members:
// `hub` on the lab's internet bridge (the README's `weft up --serverless --relay`: seed,
// relay and STUN), two behind endpoint-independent NATs and two behind
// endpoint-dependent (random port) NATs, driven through the README's serverless commands
// (placeholders filled in, `--state-dir` and `--no-accept-dns` added). Every pair pings;
// NATed members learn their public address from the hub's STUN and the EIM pair punches
// through to a direct path, while the EDM pair stays on the hub's relay; a killed member
// is dead everywhere, a restarted one rejoins with the same addresses; with the hub back
// as a plain member (no relay, no STUN) the EIM pair finds a direct path again from the
// mappings members observe and disco passed on by the hub; a revoked member loses its
// tunnels everywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusJson } from '../../src/agent/status.js';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { NatLab, type SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';
import { memberState, readmeLine, readmeLines, waitStatus } from './serverless-helpers.js';

e2eFile();

const SITES: SiteSpec[] = [
  { name: 'eimA', kind: 'eim', nodes: ['eim1'] },
  { name: 'eimB', kind: 'eim', nodes: ['eim2'] },
  { name: 'edmA', kind: 'edm', nodes: ['edm1'] },
  { name: 'edmB', kind: 'edm', nodes: ['edm2'] },
];
const HUB = 'hub';
const NAMES = [HUB, ...SITES.flatMap((s) => s.nodes)];
const TOOLS = ['ip', 'ping', 'iptables', 'sysctl'];

/** Pairs whose path is asserted once settled (others only have to carry traffic). */
const EXPECTED: Array<[string, string, 'direct' | 'relay']> = [
  ...NAMES.slice(1).map((n) => [HUB, n, 'direct'] as [string, string, 'direct']),
  ['eim1', 'eim2', 'direct'],
  ['edm1', 'edm2', 'relay'],
];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('serverless mesh across NAT routers: STUN, hole punching and relay through a member', { timeout: 300_000 }, () => {
  let lab: NatLab | null = null;
  let ready = false;
  let readme: string[][] = [];
  let adminDir = '';
  let adminKey = '';
  const keys = new Map<string, string>();

  const L = (): NatLab => {
    assert.ok(lab && ready, 'lab set up');
    return lab;
  };
  const status = (n: string): Promise<StatusJson> => L().status(n);

  /** A README line in `ns` on `stateDir`, placeholders filled in. */
  function fill(words: string[], stateDir: string, v: { key?: string; name?: string } = {}): string[] {
    assert.equal(words[0], 'weft');
    const out = words.slice(1).map((w) => (w === 'KEY' ? v.key! : w === 'ADMINKEY' ? adminKey : w === 'laptop' ? v.name! : w.replace('192.168.1.20', lab!.serverIp)));
    return [...out, '--state-dir', stateDir];
  }

  async function ok(ns: string, args: string[]): Promise<string> {
    const r = await lab!.weft(ns, args);
    assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  async function up(name: string, relay = true): Promise<void> {
    const n = lab!.node(name);
    const hub = relay ? readmeLine(readme, 'weft', 'up', '--serverless', '--relay') : readmeLine(readme, 'weft', 'up', '--serverless');
    const words = name === HUB ? hub : readmeLine(readme, 'weft', 'up', '--serverless', '--seed', '192.168.1.20:41641');
    // --no-accept-dns: the lab's namespaces share the host's /etc/resolv.conf.
    await lab!.spawnAgent(name, [...fill(words, n.stateDir), '--no-accept-dns']);
  }

  /** Pings a -> b (IPv4) until one reply or `ms`; false when none came. */
  async function reach(a: string, b: string, ms = 20_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) if ((await L().ping(a, L().node(b).ipv4, 1, 0.2)).received > 0) return true;
    return false;
  }

  async function allPairs(names: string[], label: string): Promise<void> {
    const failures: string[] = [];
    for (const a of names) for (const b of names) if (a !== b && !(await reach(a, b))) failures.push(`${a} -> ${b}`);
    assert.deepEqual(failures, [], `${label}: unreachable pairs`);
  }

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    readme = readmeLines();
    lab = new NatLab();
    await lab.build(SITES);
    lab.addPublicNode(HUB);
    const inet = lab.inet;
    adminDir = join(lab.dir, 'admin');
    adminKey = (await ok(inet, fill(readmeLine(readme, 'weft', 'id', '--admin'), adminDir))).trim();
    await Promise.all(NAMES.map(async (n) => keys.set(n, (await ok(lab!.node(n).ns, fill(readmeLine(readme, 'weft', 'id'), lab!.node(n).stateDir))).trim())));
    // The admin machine writes the folder with the README's commands and hands a copy to
    // every member (serverless-mesh.test.ts runs them on each member instead).
    for (const m of NAMES) await ok(inet, fill(readmeLine(readme, 'weft', 'keys', 'authorize', 'KEY', '--name', 'laptop'), adminDir, { key: keys.get(m), name: m }));
    await ok(inet, fill(readmeLine(readme, 'weft', 'keys', 'authorize', 'ADMINKEY', '--admin', '--name', 'ops'), adminDir));
    for (const n of NAMES) cpSync(join(adminDir, 'authorized_keys'), join(lab.node(n).stateDir, 'authorized_keys'), { recursive: true });
    await up(HUB);
    await Promise.all(NAMES.slice(1).map((n) => up(n)));
    ready = true;
  });

  after(async () => {
    await lab?.destroy();
  });

  test('every pair pings; the EIM pair and the hub go direct, the EDM pair goes through the relay member', async (t) => {
    if (!pre(t)) return;
    for (const n of NAMES) await waitStatus(status, n, (s) => s.peers.length === NAMES.length - 1, 'all members are peers', 30_000);
    await allPairs(NAMES, 'initial');
    // NATed members learnt their public address from the hub's STUN and gossiped it.
    const hubView = await status(HUB);
    const eim1 = hubView.members!.find((m) => m.name === 'eim1')!;
    assert.ok(eim1.endpoints.includes(`${L().site('eimA').wanIp}:41641`), `eim1 advertises its NAT mapping: ${eim1.endpoints.join(' ')}`);
    // Paths settle while traffic flows (hole punching needs a few disco rounds).
    const wrong = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const [a, b, want] of EXPECTED) {
        for (const [x, y] of [[a, b], [b, a]]) {
          const p = (await status(x)).peers.find((q) => q.name === y);
          if (p?.path !== want) out.push(`${x} -> ${y}: ${p?.path} (${p?.pathReason}), expected ${want}`);
        }
      }
      return out;
    };
    const deadline = Date.now() + 30_000;
    let bad = await wrong();
    while (bad.length > 0 && Date.now() < deadline) {
      for (const [a, b] of EXPECTED) await L().ping(a, L().node(b).ipv4, 1, 0.2);
      bad = await wrong();
    }
    assert.deepEqual(bad, []);
    const eimPeer = (await status('eim1')).peers.find((p) => p.name === 'eim2')!;
    assert.equal(eimPeer.endpoint, `${L().site('eimB').wanIp}:41641`, 'direct to the peer NAT mapping');
    const text = await ok(L().node('edm1').ns, fill(readmeLine(readme, 'weft', 'status'), L().node('edm1').stateDir));
    assert.match(text, /\sedm2\s+alive\s+relay hub \(.+\)/, text);
    for (const p of (await status('edm1')).peers.filter((q) => q.path === 'relay')) assert.ok(p.pathReason, `relay path of ${p.name} says why`);
  });

  test('a killed member is declared dead everywhere and leaves every engine', async (t) => {
    if (!pre(t)) return;
    const victim = 'edm2';
    await L().node(victim).agent!.kill('SIGKILL');
    for (const n of NAMES.filter((x) => x !== victim)) {
      await waitStatus(status, n, (s) => memberState(s, victim) === 'dead' && !s.peers.some((p) => p.name === victim), `${victim} dead`);
    }
  });

  test('a restarted member rejoins with the same addresses and reaches everyone again', async (t) => {
    if (!pre(t)) return;
    const n = L().node('edm2');
    const before = { ipv4: n.ipv4, ipv6: n.ipv6 };
    await up('edm2');
    assert.deepEqual({ ipv4: n.ipv4, ipv6: n.ipv6 }, before);
    for (const x of NAMES) await waitStatus(status, x, (s) => s.peers.length === NAMES.length - 1, 'edm2 back', 30_000);
    const failures: string[] = [];
    for (const x of NAMES.filter((y) => y !== 'edm2')) for (const [a, b] of [[x, 'edm2'], ['edm2', x]]) if (!(await reach(a, b))) failures.push(`${a} -> ${b}`);
    assert.deepEqual(failures, []);
  });

  test('without a relay member, the EIM pair goes direct again: mappings observed, disco through the hub', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const pair = ['eim1', 'eim2'];
    const noRelays = (s: StatusJson): boolean => ((s.nat?.relays as unknown[] | undefined) ?? []).length === 0;
    // The hub comes back as a plain member (the README's first-member line): no relay, no STUN.
    await lab.down(HUB);
    await up(HUB, false);
    // Both ends restart once their routers forgot the old mappings: nothing of the old path is left.
    await lab.conntrackUdpTimeout(2);
    await Promise.all(pair.map((n) => lab.down(n)));
    await sleep(4000);
    await lab.conntrackUdpTimeout(120);
    await Promise.all(pair.map((n) => up(n)));
    // Only the hub and the other end matter here (the EDM members, which reach nobody
    // else without a relay, may take longer to find the restarted hub again).
    for (const [n, other] of [pair, [...pair].reverse()]) await waitStatus(status, n, (s) => [HUB, other].every((x) => s.peers.some((p) => p.name === x)) && noRelays(s), 'hub and peer, no relay', 30_000);
    const direct = async (x: string, y: string): Promise<boolean> => (await status(x)).peers.find((p) => p.name === y)?.path === 'direct';
    const deadline = Date.now() + 40_000;
    while (!((await direct('eim1', 'eim2')) && (await direct('eim2', 'eim1'))) && Date.now() < deadline) await lab.ping('eim1', lab.node('eim2').ipv4, 1, 0.2);
    const p = (await status('eim1')).peers.find((q) => q.name === 'eim2')!;
    assert.equal(p.path, 'direct', `eim1 -> eim2: ${p.pathReason}`);
    assert.equal(p.endpoint, `${lab.site('eimB').wanIp}:41641`, 'at the mapping eim2 learnt from what members observe');
    assert.ok(await reach('eim2', 'eim1'));
    // The relay member again, for the EDM pair in the next test.
    await lab.down(HUB);
    await up(HUB);
    for (const n of NAMES) await waitStatus(status, n, (s) => s.peers.length === NAMES.length - 1, 'every member again', 90_000);
    await waitStatus(status, 'edm1', (s) => s.peers.find((q) => q.name === 'edm2')?.path === 'relay', 'edm2 through the relay again', 60_000);
  });

  test('a revoked member loses its tunnels everywhere, direct and relayed', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const revoked = 'eim2';
    await ok(lab.inet, fill(readmeLine(readme, 'weft', 'keys', 'revoke-node', 'KEY'), adminDir, { key: keys.get(revoked) }));
    const [file] = readdirSync(join(adminDir, 'authorized_keys', 'revoked'));
    cpSync(join(adminDir, 'authorized_keys', 'revoked', file), join(lab.node(HUB).stateDir, 'authorized_keys', 'revoked', file));
    const rest = NAMES.filter((x) => x !== revoked);
    for (const n of rest) await waitStatus(status, n, (s) => !s.peers.some((p) => p.name === revoked) && memberState(s, revoked) === undefined, `${revoked} revoked`, 30_000);
    for (const n of rest) {
      assert.equal((await lab.ping(n, lab.node(revoked).ipv4, 2)).received, 0, `${n} -> ${revoked} must fail`);
      assert.equal((await lab.ping(revoked, lab.node(n).ipv4, 2)).received, 0, `${revoked} -> ${n} must fail`);
    }
    await allPairs(rest, 'after revocation');
  });
});
