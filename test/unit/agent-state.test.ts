import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearIdentity, ensureStateDir, loadOrCreateKey, loadState, saveState, writeFileAtomic, type PersistedState } from '../../src/agent/state.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'weft-state-'));

test('key and state files are private and survive a reload', async () => {
  const root = tmp();
  const dir = join(root, 'state');
  try {
    await ensureStateDir(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const k1 = await loadOrCreateKey(dir);
    assert.equal(k1.created, true);
    assert.equal(statSync(join(dir, 'node.key')).mode & 0o777, 0o600);
    const k2 = await loadOrCreateKey(dir);
    assert.equal(k2.created, false);
    assert.deepEqual(k2.key, k1.key);
    assert.equal(await loadState(dir), null);
    const s = { serverUrl: 'http://x/', serverPublicKey: 'k', node: { ipv4: '100.64.0.1' }, domain: 'd', ipv4Range: 'r4', ipv6Range: 'r6' } as unknown as PersistedState;
    await saveState(dir, s);
    assert.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
    assert.deepEqual(await loadState(dir), s);
    await clearIdentity(dir);
    assert.equal(await loadState(dir), null);
    assert.equal((await loadOrCreateKey(dir)).created, true, 'a new identity after logout');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('writeFileAtomic replaces whole files and leaves no temp files behind', async () => {
  const dir = tmp();
  try {
    const p = join(dir, 'f');
    writeFileSync(p, 'old');
    // Many concurrent writers: the file always holds one complete version.
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeFileAtomic(p, `v${i}`.repeat(1000))));
    assert.match(readFileSync(p, 'utf8'), /^(v\d+)\1*$/);
    assert.deepEqual(readdirSync(dir), ['f']);
    assert.equal(statSync(p).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corrupt state is reported with a stable code', async () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'state.json'), '{"serverUrl": 1');
    await assert.rejects(loadState(dir), { code: 'ERR_STATE_CORRUPT' });
    writeFileSync(join(dir, 'node.key'), 'not a key');
    await assert.rejects(loadOrCreateKey(dir), { code: 'ERR_STATE_CORRUPT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
