import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { fuzzTargets } from '../fuzz/targets.js';
import { CORPUS_DIR } from '../fuzz/seed.js';

// Corpus fuzzing of every parser of untrusted input (test/fuzz/targets.ts): first every
// checked-in input under test/fuzz/corpus/<target>/ is replayed, then mutations of them
// (byte flips and sets, truncation, extension, splices of two inputs) run for a bounded
// time. Coverage-guided fuzzing (jazzer.js) cannot run here: its prebuilt native part
// needs glibc 2.38, these machines have 2.36. A crash found here is added to the corpus
// (the failure prints the input as hex) so it is replayed first from then on.
// WEFT_FUZZ_MS (default 1500) bounds the mutation time per target.

const FUZZ_MS = Math.min(600_000, Number(process.env.WEFT_FUZZ_MS ?? 1500));

function corpus(target: string): Uint8Array[] {
  const dir = join(CORPUS_DIR, target);
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), flip: fc.boolean() });
  return fc.oneof(
    fc.tuple(seed, fc.array(edit, { minLength: 1, maxLength: 8 })).map(([s, edits]) => {
      const m = s.slice();
      for (const e of edits) if (m.length) m[e.at % m.length] = e.flip ? m[e.at % m.length] ^ (1 << (e.byte & 7)) : e.byte;
      return m;
    }),
    fc.tuple(seed, fc.nat()).map(([s, n]) => s.slice(0, s.length ? n % s.length : 0)),
    fc.tuple(seed, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([s, tail]) => Uint8Array.from([...s, ...tail])),
    fc.tuple(seed, seed, fc.nat(), fc.nat()).map(([x, y, i, j]) => Uint8Array.from([...x.subarray(0, x.length ? i % x.length : 0), ...y.subarray(y.length ? j % y.length : 0)])),
    fc.uint8Array({ maxLength: 512 }),
  );
}

for (const target of fuzzTargets()) {
  test(`fuzz ${target.name}: corpus replay, then mutations for ${FUZZ_MS} ms`, () => {
    const seeds = corpus(target.name);
    assert.ok(seeds.length > 0, `no corpus for ${target.name}: run node dist/test/fuzz/seed.js`);
    for (const s of seeds) target.run(s);
    const run = (input: Uint8Array): void => {
      try {
        target.run(input);
      } catch (err) {
        throw new Error(`${target.name} threw on ${Buffer.from(input).toString('hex')}: ${(err as Error).stack}`);
      }
    };
    const stats = fc.check(fc.property(mutated(seeds), run), { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false });
    assert.equal(stats.failed, false, fc.defaultReportMessage(stats));
    assert.ok(stats.numRuns > 100, `only ${stats.numRuns} runs`);
  });
}
