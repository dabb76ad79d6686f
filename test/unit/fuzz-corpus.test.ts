import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readCorpus } from '../fuzz/corpus.js';
import { fuzz } from '../fuzz/fuzzer.js';
import { fuzzTargets } from '../fuzz/targets.js';

// Coverage-guided fuzzing of every parser of untrusted input (test/fuzz/targets.ts):
// every checked-in input under test/fuzz/corpus/<target>/ is replayed, then mutants that
// reach new V8 block coverage grow the corpus for WEFT_FUZZ_MS per target (default 1500).
// Longer runs that save what they find: `npm run fuzz -- --ms 60000 --save`. A crash
// prints the input as hex: add it to the corpus with the fix.

const FUZZ_MS = Math.min(600_000, Number(process.env.WEFT_FUZZ_MS ?? 1500));

for (const target of fuzzTargets()) {
  test(`fuzz ${target.name}: corpus replay, then coverage-guided mutations for ${FUZZ_MS} ms`, () => {
    const seeds = readCorpus(target.name);
    assert.ok(seeds.length > 0, `no corpus for ${target.name}: run node dist/test/fuzz/seed.js`);
    const r = fuzz((b) => target.run(b), seeds, { ms: FUZZ_MS });
    if (r.crash) {
      const err = r.crash.error as Error;
      assert.fail(`${target.name} threw on ${Buffer.from(r.crash.input).toString('hex')}: ${err?.stack ?? err}`);
    }
    assert.ok(r.runs > 100, `only ${r.runs} runs`);
    assert.ok(r.features > 0, 'no coverage of the shipped code was seen');
  });
}
