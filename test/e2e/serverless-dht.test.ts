// End to end: serverless members that find each other through the DHT (`--discovery
// dht`), as the README's dht commands say (placeholders filled in, `--state-dir` added).
// Three agents in namespaces on one LAN, with mDNS dropped by iptables in every
// namespace, so the only way the DHT members learn about the others is a lookup of
// their signed records: `--seed` is a DHT bootstrap there, not a SWIM seed.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS, type MeshNode } from '../../src/lab/mesh.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';
import { readmeLine, readmeLines } from './serverless-helpers.js';

e2eFile();

const NAMES = ['alder', 'beech', 'hazel'];
const TOOLS = ['ip', 'ping', 'iptables'];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('serverless members found through the DHT', { timeout: 180_000 }, () => {
  const fx = suiteMesh();
  const keys = new Map<string, string>();
  let base: string[][] = [];
  let dht: string[][] = [];

  /** A README line run in `n`'s namespace: KEY / laptop filled in, the seed's LAN address, `--state-dir` added. */
  function fill(words: string[], n: MeshNode, v: { key?: string; name?: string } = {}): string[] {
    assert.equal(words[0], 'weft');
    const seed = fx.get().node(NAMES[0]).lanIp;
    return [...words.slice(1).map((w) => (w === 'KEY' ? v.key! : w === 'laptop' ? v.name! : w.replace('192.168.1.20', seed))), '--state-dir', n.stateDir];
  }

  async function ok(n: MeshNode, args: string[]): Promise<string> {
    const r = await fx.get().weft(n.ns, args);
    assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    base = readmeLines();
    dht = readmeLines('dht-commands');
    const mesh = fx.create();
    await mesh.build(NAMES);
    fx.ready();
    for (const n of mesh.nodes) {
      // No mDNS in or out: members can only meet through the bootstrap's DHT.
      for (const chain of [['OUTPUT', '--dport'], ['INPUT', '--dport']]) await mesh.lab.exec(n.ns, ['iptables', '-A', chain[0], '-p', 'udp', chain[1], '5353', '-j', 'DROP'], { timeoutMs: 5000, check: true });
      keys.set(n.name, (await ok(n, fill(readmeLine(base, 'weft', 'id'), n))).trim());
    }
    const authorize = readmeLine(base, 'weft', 'keys', 'authorize', 'KEY', '--name', 'laptop');
    for (const n of mesh.nodes) for (const m of NAMES) await ok(n, fill(authorize, n, { key: keys.get(m), name: m }));
    const [first, ...rest] = mesh.nodes;
    await mesh.startAgent(first, [...mesh.cli, ...fill(readmeLine(dht, 'weft', 'up', '--serverless', '--discovery', 'both'), first)], mesh.env);
    const join = readmeLine(dht, 'weft', 'up', '--serverless', '--discovery', 'dht', '--seed', '192.168.1.20:41641');
    for (const n of rest) await mesh.startAgent(n, [...mesh.cli, ...fill(join, n)], mesh.env);
  });

  test('every member reaches every other: the DHT members found each other by records, not by mDNS or a SWIM seed', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n), 60_000);
    for (const a of NAMES)
      for (const b of NAMES) if (a !== b) assert.ok((await mesh.ping(a, mesh.node(b).ipv4, 2, 5)).received >= 1, `${a} -> ${b}`);
    // beech and hazel were given only alder's address, as a DHT bootstrap: each looked up
    // the records of members it did not have, and found them.
    for (const n of NAMES.slice(1)) {
      const s = await mesh.status(n);
      assert.ok(s.dht, `${n}: dht in status`);
      assert.ok(s.dht.contacts >= 1 && s.dht.published !== null && s.dht.published.stores >= 1, `${n}: ${JSON.stringify(s.dht)}`);
      assert.ok(s.dht.found >= 1, `${n} found members by lookups: ${JSON.stringify(s.dht)}`);
      assert.equal(s.dht.dropped, 0);
    }
  });

  test('weft status shows the DHT line', async (t) => {
    if (!pre(t)) return;
    const n = fx.get().node(NAMES[1]);
    const out = await ok(n, fill(readmeLine(dht, 'weft', 'status'), n));
    assert.match(out, /^-\s+dht\s+\d+ contacts\s+\d+ records held, ours stored \d+x \(seq \d+\), lookups \d+ \(found [1-9]\d*\), dropped 0$/m);
    assert.match(out, /self\s+serverless, 3 of 3 members up/);
  });
});
