// End to end: five agents in serverless mode (no coordinator), each in its own network
// namespace on one bridged LAN, real TUN devices and real processes, driven only through
// the README's serverless commands (placeholders filled in, `--state-dir` added): the
// trust folder is written with `weft id` / `weft keys authorize`, members join by gossip
// through a seed, reach each other by address and by name (MagicDNS through the OS
// resolver), a killed member is declared dead everywhere, a restarted one rejoins with
// the same addresses, and a revoked one loses its tunnels everywhere.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusJson } from '../../src/agent/status.js';
import { WEFT_JS, type MeshNode } from '../../src/lab/mesh.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';
import { memberState, readmeLines, waitStatus as waitFor } from './serverless-helpers.js';

e2eFile();

const NAMES = ['amber', 'birch', 'cedar', 'dune', 'elm'];
const PORT = 41641;

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'ping', 'getent']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('serverless mesh of five agents in namespaces', { timeout: 300_000 }, () => {
  const fx = suiteMesh();
  const keys = new Map<string, string>();
  let adminDir = '';
  let adminKey = '';
  let readme: string[][] = [];
  /** The README line starting with these words. */
  const line = (...head: string[]): string[] => {
    const l = readme.find((x) => head.every((w, i) => x[i] === w) && (head[1] !== 'id' || x.length === head.length));
    assert.ok(l, `README shows ${head.join(' ')}`);
    return l;
  };

  /**
   * A README line in `ns` on `stateDir`: KEY is `key`, ADMINKEY the admin key, `laptop`
   * the member `name`, `nas` the member `target`, 192.168.1.20 the seed's LAN address.
   */
  function fill(words: string[], stateDir: string, v: { key?: string; name?: string; target?: string } = {}): string[] {
    const seed = fx.get().node(NAMES[0]).lanIp;
    const out = words.slice(1).map((w) => (w === 'KEY' ? v.key! : w === 'ADMINKEY' ? adminKey : w === 'laptop' ? v.name! : w === 'nas' ? v.target! : w.replace('192.168.1.20', seed)));
    assert.equal(words[0], 'weft');
    return [...out, '--state-dir', stateDir];
  }

  async function ok(ns: string, args: string[]): Promise<string> {
    const r = await fx.get().weft(ns, args);
    assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  async function upServerless(n: MeshNode): Promise<MeshNode> {
    const mesh = fx.get();
    // The first member is everyone's seed; it finds the others when they join through it.
    const words = n.name === NAMES[0] ? line('weft', 'up', '--serverless') : line('weft', 'up', '--serverless', '--seed');
    mesh.nsResolvConf(n);
    return mesh.startAgent(n, [...mesh.cli, ...fill(words, n.stateDir)], mesh.env);
  }

  const waitStatus = (name: string, done: (s: StatusJson) => boolean, what: string, timeoutMs?: number): Promise<StatusJson> => waitFor((n) => fx.get().status(n), name, done, what, timeoutMs);

  const stateOf = memberState;

  before(async () => {
    if (rootReason() !== null || missingTools(['ip', 'ping', 'getent']).length) return;
    readme = readmeLines();
    const mesh = fx.create();
    // Each namespace gets its own resolv.conf, which the agents point at MagicDNS.
    mesh.resolvConf = '# lab\nnameserver 127.0.0.2\n';
    await mesh.build(NAMES);
    fx.ready();
    // The admin machine (here the LAN namespace) signs revocations; it holds the folder too.
    adminDir = join(mesh.dir, 'admin');
    const lan = mesh.lanNs;
    adminKey = (await ok(lan, fill(line('weft', 'id', '--admin'), adminDir))).trim();
    for (const n of mesh.nodes) keys.set(n.name, (await ok(n.ns, fill(line('weft', 'id'), n.stateDir))).trim());
    const authorize = line('weft', 'keys', 'authorize', 'KEY');
    for (const [ns, dir] of [...mesh.nodes.map((n) => [n.ns, n.stateDir]), [lan, adminDir]]) {
      for (const m of NAMES) await ok(ns, fill(authorize, dir, { key: keys.get(m), name: m }));
      await ok(ns, fill(line('weft', 'keys', 'authorize', 'ADMINKEY'), dir));
    }
    for (const n of mesh.nodes) await upServerless(n);
  });

  async function assertPairs(names: string[], label: string): Promise<void> {
    const mesh = fx.get();
    for (const a of names)
      for (const b of names) {
        if (a === b) continue;
        for (const ip of [mesh.node(b).ipv4, mesh.node(b).ipv6]) {
          const r = await mesh.ping(a, ip, 2, 5);
          assert.ok(r.received >= 1, `${label}: ${a} -> ${b} (${ip}): ${r.output}`);
        }
      }
  }

  test('members join by gossip through a seed and every pair pings (system ping, IPv4 and IPv6)', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n), 30_000);
    await assertPairs(NAMES, 'initial');
    const s = await mesh.status(NAMES[0]);
    assert.equal(s.coordinator.url, 'serverless:');
    assert.deepEqual(s.members?.map((m) => m.state), NAMES.map(() => 'alive'));
    for (const p of s.peers) assert.match(p.ipv4, /^100\.(8[0-9]|9[0-5])\./, 'inside 100.80.0.0/12');
  });

  test('weft ping by name, weft status lists members with state and path, MagicDNS resolves member names', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const a = mesh.node(NAMES[0]);
    for (const b of NAMES.slice(1)) {
      const out = await ok(a.ns, fill(line('weft', 'ping'), a.stateDir, { target: b }));
      assert.match(out, new RegExp(`^pong from ${b} \\(${mesh.node(b).ipv4.replace(/\./g, '\\.')}\\) via direct ${mesh.node(b).lanIp.replace(/\./g, '\\.')}:${PORT} in [\\d.]+ ms$`, 'm'));
    }
    const text = await ok(a.ns, fill(line('weft', 'status'), a.stateDir));
    assert.match(text, /serverless, 5 of 5 members up/);
    for (const b of NAMES.slice(1)) assert.match(text, new RegExp(`${mesh.node(b).ipv4.replace(/\./g, '\\.')}\\s+${b}\\s+alive\\s+direct `));
    // The OS resolver (glibc) reaches MagicDNS: full names and short ones (search domain).
    for (const name of [`${NAMES[2]}.weft.internal`, NAMES[3]]) {
      const r = await mesh.lab.exec(a.ns, ['getent', 'ahostsv4', name], { timeoutMs: 15_000 });
      const want = mesh.node(name.split('.')[0]).ipv4;
      assert.match(r.stdout, new RegExp(`^${want.replace(/\./g, '\\.')}\\s`, 'm'), `${name}: ${r.stdout}${r.stderr}`);
    }
  });

  test('a killed member is declared dead everywhere and leaves every engine', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const victim = NAMES[4];
    await mesh.node(victim).agent!.kill('SIGKILL');
    for (const n of NAMES.slice(0, 4)) {
      const s = await waitStatus(n, (x) => stateOf(x, victim) === 'dead' && !x.peers.some((p) => p.name === victim), `${victim} dead`);
      assert.equal(s.peers.length, 3);
    }
    const text = await ok(mesh.node(NAMES[0]).ns, fill(line('weft', 'status'), mesh.node(NAMES[0]).stateDir));
    assert.match(text, new RegExp(`${victim}\\s+dead\\s+- \\(no answer to direct or indirect probes\\)`));
  });

  test('a restarted member rejoins with the same addresses', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node(NAMES[4]);
    const before = { ipv4: n.ipv4, ipv6: n.ipv6 };
    await upServerless(n);
    assert.deepEqual({ ipv4: n.ipv4, ipv6: n.ipv6 }, before);
    for (const x of NAMES) await mesh.waitPeers(x, NAMES.filter((y) => y !== x), 30_000);
    await assertPairs(NAMES, 'after restart');
  });

  test('a revocation pushed to one member spreads by gossip and drops the revoked tunnels everywhere', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const revoked = NAMES[3];
    await ok(mesh.lanNs, fill(line('weft', 'keys', 'revoke-node'), adminDir, { key: keys.get(revoked) }));
    // Pushed to one member only: its folder watch applies it, gossip carries it on.
    const [file] = readdirSync(join(adminDir, 'authorized_keys', 'revoked'));
    cpSync(join(adminDir, 'authorized_keys', 'revoked', file), join(mesh.node(NAMES[0]).stateDir, 'authorized_keys', 'revoked', file));
    const rest = NAMES.filter((x) => x !== revoked);
    for (const n of rest) {
      await waitStatus(n, (s) => !s.peers.some((p) => p.name === revoked) && stateOf(s, revoked) === undefined, `${revoked} revoked`, 30_000);
      // Learnt by gossip and kept for the next start.
      const dir = join(mesh.node(n).stateDir, 'authorized_keys', 'revoked');
      const deadline = Date.now() + 5000;
      while (!existsSync(join(dir, file)) && Date.now() < deadline) await sleep(100);
      assert.ok(existsSync(join(dir, file)), `${n} stored the revocation`);
    }
    for (const n of rest) {
      const r = await mesh.ping(n, mesh.node(revoked).ipv4, 2);
      assert.equal(r.received, 0, `${n} -> ${revoked} must fail: ${r.output}`);
      const back = await mesh.ping(revoked, mesh.node(n).ipv4, 2);
      assert.equal(back.received, 0, `${revoked} -> ${n} must fail: ${back.output}`);
    }
    await assertPairs(rest, 'after revocation');
  });

  test('weft down --logout has no coordinator to log out of; weft down stops the agent', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const n = mesh.node(NAMES[1]);
    const r = await mesh.weft(n.ns, ['down', '--logout', '--state-dir', n.stateDir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_NO_COORDINATOR/);
    assert.equal((await mesh.status(n.name)).self.name, n.name, 'still running');
    const down = await mesh.down(n.name);
    assert.equal(down.code, 0, down.stderr);
    // A graceful leave: dead at once, and said to have left rather than stopped answering.
    const s = await waitStatus(NAMES[0], (x) => !x.peers.some((p) => p.name === n.name) && stateOf(x, n.name) === 'dead', `${n.name} gone after weft down`);
    assert.equal(s.members?.find((m) => m.name === n.name)?.left, true);
    const text = await ok(mesh.node(NAMES[0]).ns, fill(line('weft', 'status'), mesh.node(NAMES[0]).stateDir));
    assert.match(text, new RegExp(`${n.name}\\s+dead\\s+- \\(left the mesh\\)`));
  });
});
