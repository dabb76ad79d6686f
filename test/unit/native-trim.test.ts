import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNative, nativeAvailable } from '../../src/io/native.js';

// The addon's malloc_trim, which `weft up` calls now and then (src/cli/agent-memory.ts).

test('trimMemory hands freed heap pages back and the process keeps allocating', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  const trim = loadNative().trimMemory;
  assert.equal(typeof trim, 'function', 'the addon exports trimMemory');
  assert.equal(typeof trim!(), 'boolean');
  // What it released is mapped again on use.
  const after = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
  assert.deepEqual(after.map((b) => b.at(-1)), after.map((_, i) => i));
});
