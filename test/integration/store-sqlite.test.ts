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

// Durability off the event loop: a write is acknowledged only after the WAL's fsync, which
// runs on the thread pool (held back here), and the event loop keeps turning meanwhile.
test('a write is acknowledged only after the WAL file is flushed, and the loop runs meanwhile', async () => {
  const held: Array<() => void> = [];
  const s = openSqliteStore(join(dir, 'fsync.db'), (_fd, done) => held.push(() => done(null)));
  const init = s.init();
  let acked = false;
  const write = init.then(() => s.getOrCreateMeta('k', () => 'v')).then(() => (acked = true));
  let turns = 0;
  while (held.length === 0 || !acked) {
    await new Promise((r) => setImmediate(r));
    if (++turns > 200) break;
    if (held.length > 0 && turns % 20 === 0) held.shift()!();
    if (turns === 10) assert.equal(acked, false, 'not acknowledged before its fsync');
  }
  await write;
  assert.ok(turns > 10, `the event loop turned ${turns} times while fsyncs were held`);
  while (held.length) held.shift()!();
  await s.close();
});

// Two groups whose fsyncs finish in reverse order are still acknowledged in commit order:
// the registry applies each write's result to memory, and an older one landing last
// would undo a newer one (it did: a node's advertised routes vanished from memory).
test('groups are acknowledged in commit order when their fsyncs finish out of order', async () => {
  let hold = false;
  const held: Array<() => void> = [];
  const s = openSqliteStore(join(dir, 'order.db'), (_fd, done) => (hold ? held.push(() => done(null)) : setImmediate(() => done(null))));
  await s.init();
  hold = true;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const order: string[] = [];
  const first = s.getOrCreateMeta('first', () => '1').then(() => order.push('first'));
  while (held.length < 1) await turn();
  const second = s.getOrCreateMeta('second', () => '2').then(() => order.push('second'));
  while (held.length < 2) await turn();
  held.pop()!(); // the second group's fsync finishes first
  for (let i = 0; i < 20; i++) await turn();
  assert.deepEqual(order, [], 'nothing acknowledged before the first group is durable');
  held.pop()!();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
  hold = false;
  await s.close();
});
