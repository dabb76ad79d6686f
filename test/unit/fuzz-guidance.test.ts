import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz } from '../fuzz/fuzzer.js';
import { toyParser } from '../fuzz/toy-target.js';

// The coverage feedback is what finds bugs behind nested checks: with it the planted bug
// (six nested 1/16 checks) is reached within the run bound, without it it is not.
const seeds = [new Uint8Array(8)];
const include = (url: string): boolean => url.includes('toy-target');

test('fuzz: coverage guidance reaches a bug behind six nested checks', () => {
  const r = fuzz(toyParser, seeds, { ms: 60_000, maxRuns: 60_000, seed: 1, include });
  assert.ok(r.crash, `not reached in ${r.runs} runs (${r.found.length} kept, ${r.features} features)`);
  assert.match(String(r.crash.error), /planted bug/);
  assert.ok(r.found.length >= 5, 'each nested level is kept as a new corpus input');
});

test('fuzz: the same run without guidance does not reach it', () => {
  const r = fuzz(toyParser, seeds, { ms: 60_000, maxRuns: 10_000, seed: 1, include, guided: false });
  assert.equal(r.crash, undefined);
  assert.equal(r.found.length, 0);
});
