// The coverage-guided loop: replay the corpus, then mutate a corpus input, run it, and
// keep the mutant when V8 block coverage (coverage.ts) shows a feature never seen.
// Bounded by time and by executions. A target that throws is a crash: the loop stops and
// reports the input as hex (add it to the corpus with the fix).
import { CoverageProbe } from './coverage.js';
import { mutate, Rng } from './mutate.js';

export interface FuzzOptions {
  /** Wall-clock bound for the mutation phase. */
  ms: number;
  /** Execution bound for the mutation phase. */
  maxRuns?: number;
  seed?: number;
  /** Scripts whose coverage guides the search; default: the shipped code (dist/src). */
  include?: (url: string) => boolean;
  /** false: never keep mutants (plain mutation fuzzing, the baseline guidance is measured against). */
  guided?: boolean;
}

export interface FuzzResult {
  runs: number;
  /** Mutants kept because they reached new coverage (the corpus grown this run). */
  found: Uint8Array[];
  features: number;
  crash?: { input: Uint8Array; error: unknown };
}

const MAX_CORPUS = 10_000;

export const shippedCode = (url: string): boolean => url.includes('/dist/src/');

export function fuzz(run: (input: Uint8Array) => void, seeds: Uint8Array[], opts: FuzzOptions): FuzzResult {
  const probe = new CoverageProbe(opts.include ?? shippedCode);
  const rng = new Rng(opts.seed ?? Date.now());
  const corpus = seeds.length ? seeds.slice() : [new Uint8Array(0)];
  const result: FuzzResult = { runs: 0, found: [], features: 0 };
  const attempt = (input: Uint8Array): boolean => {
    result.runs++;
    try {
      run(input);
    } catch (error) {
      result.crash = { input, error };
    }
    return probe.takeNew();
  };
  try {
    for (const s of corpus) {
      attempt(s);
      if (result.crash) return result;
    }
    const deadline = performance.now() + opts.ms;
    const maxRuns = result.runs + (opts.maxRuns ?? Number.MAX_SAFE_INTEGER);
    while (result.runs < maxRuns && performance.now() < deadline) {
      // Half the picks go to the newest finds, where the search is making progress.
      const pool = result.found.length && rng.below(2) === 0 ? result.found : corpus;
      const input = mutate(pool[rng.below(pool.length)], corpus[rng.below(corpus.length)], rng);
      const fresh = attempt(input);
      if (result.crash) return result;
      if (fresh && opts.guided !== false && corpus.length < MAX_CORPUS) {
        corpus.push(input);
        result.found.push(input);
      }
    }
    return result;
  } finally {
    result.features = probe.features;
  }
}
