import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, test } from 'node:test';
import { openSqliteStore } from '../../src/control/store/sqlite.js';
import { storeCompliance } from './store-compliance.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
storeCompliance({ open: async () => openSqliteStore(join(dir, `s${++n}.db`)) });

// Group commit: concurrent writes share one COMMIT, yet each is acknowledged only once
// durable: another connection sees every row the moment its promise resolves.
test('grouped writes are committed before they are acknowledged', async () => {
  const file = join(dir, 'group.db');
  const s = openSqliteStore(file);
  await s.init();
  const other = new Database(file, { readonly: true });
  try {
    const seen = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        await s.getOrCreateMeta(`k${i}`, () => `v${i}`);
        return (other.prepare('SELECT value FROM meta WHERE key = ?').get(`k${i}`) as { value: string } | undefined)?.value;
      }),
    );
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => `v${i}`));
  } finally {
    other.close();
    await s.close();
  }
});
