import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { GUARD_FILE, GUARD_LIFETIME_MS, loadGuard, networkFamily, saveGuard, selectPath, type RelayCandidate } from '../../src/onion/path.js';

const relay = (name: string, ip: string, exit = false): RelayCandidate => ({
  name,
  address: `100.64.0.${name.length}:7301`,
  publicKey: publicKeyFromPrivate(generatePrivateKey()),
  underlayIp: ip,
  exit,
});

const POOL = [
  relay('a', '198.51.100.1'),
  relay('b', '198.51.7.2'), // same /16 as a
  relay('c', '203.0.113.3'),
  relay('d', '192.0.2.4'),
  relay('e', '2001:db8:1::5'),
  relay('x', '10.9.0.1', true),
  relay('y', '10.9.200.1', true), // same /16 as x
];

test('network families: /16 for IPv4, /32 for IPv6', () => {
  assert.equal(networkFamily('198.51.100.1'), networkFamily('198.51.7.2'));
  assert.notEqual(networkFamily('198.51.100.1'), networkFamily('198.52.100.1'));
  assert.equal(networkFamily('2001:db8:1::5'), networkFamily('2001:db8:ffff::1'));
  assert.notEqual(networkFamily('2001:db8::1'), networkFamily('2001:db9::1'));
});

test('paths: exit last, named exit honoured, never two hops in one /16', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.constantFrom(undefined, 'x', 'y'), fc.infiniteStream(fc.nat()), (hops, exitName, rs) => {
      const random = (n: number) => rs.next().value % n;
      let sel;
      try {
        sel = selectPath(POOL, { hops, exitName, random });
      } catch (err) {
        assert.equal((err as { code: string }).code, 'ERR_ONION_PATH');
        assert.ok(hops === 5, 'only 5 hops can run out of distinct networks here');
        return;
      }
      assert.equal(sel.path.length, hops);
      const exit = sel.path[hops - 1];
      assert.ok(exit.exit);
      if (exitName) assert.equal(exit.name, exitName);
      const fams = sel.path.map((r) => networkFamily(r.underlayIp));
      assert.equal(new Set(fams).size, hops);
    }),
    { numRuns: 300 },
  );
});

test('guard pinning: kept while valid, replaced when expired or gone, persisted 0600', async () => {
  const first = selectPath(POOL, { hops: 3, exitName: 'x', now: 1000 });
  const guardKey = keyToBase64(first.path[0].publicKey);
  assert.deepEqual(first.guard, { publicKey: guardKey, chosenAt: 1000 });
  for (let i = 0; i < 20; i++) {
    const again = selectPath(POOL, { hops: 3, exitName: 'x', guard: first.guard, now: 2000 });
    assert.equal(keyToBase64(again.path[0].publicKey), guardKey);
    assert.deepEqual(again.guard, first.guard);
  }
  const expired = selectPath(POOL, { hops: 3, exitName: 'x', guard: first.guard, now: 1000 + GUARD_LIFETIME_MS, random: () => 0 });
  assert.equal(expired.guard?.chosenAt, 1000 + GUARD_LIFETIME_MS);
  const without = POOL.filter((r) => keyToBase64(r.publicKey) !== guardKey);
  assert.notEqual(keyToBase64(selectPath(without, { hops: 3, exitName: 'x', guard: first.guard, now: 2000 }).path[0].publicKey), guardKey);
  const dir = await mkdtemp(join(tmpdir(), 'weft-guard-'));
  try {
    assert.equal(await loadGuard(dir), null);
    await saveGuard(dir, first.guard!);
    assert.deepEqual(await loadGuard(dir), first.guard);
    assert.equal((await stat(join(dir, GUARD_FILE))).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
