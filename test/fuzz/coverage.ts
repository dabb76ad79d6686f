// Coverage feedback for the fuzzer from V8's own block coverage, read through the
// in-process inspector (no native instrumentation: jazzer.js's prebuilt part needs
// glibc 2.38 and these machines have 2.36). Precise coverage with call counts resets its
// counters on every take, so each take is exactly what the last input executed.
// Coverage is started once per process and never stopped: V8 instruments a function for
// block counts when it is compiled, and after a stop a restart leaves functions already
// compiled uncounted.
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: CoverageRange[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

/** Hit counts are bucketed as AFL does, so a loop running 5 or 6 times is one feature. */
function bucket(count: number): number {
  return count < 4 ? count : 32 - Math.clz32(count);
}

let session: Session | undefined;

/** Same-thread inspector sessions answer synchronously. */
function post(method: string, params?: object): unknown {
  if (!session) {
    session = new Session();
    session.connect();
    post('Profiler.enable');
    post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }
  let out: unknown;
  let error: Error | null = null;
  let answered = false;
  session.post(method, params, (err, res) => {
    error = err;
    out = res;
    answered = true;
  });
  if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
  if (error) throw error;
  return out;
}

export class CoverageProbe {
  private readonly seen = new Set<string>();

  /** `include` picks the scripts whose coverage counts (by URL). Drops what ran before. */
  constructor(private readonly include: (url: string) => boolean) {
    post('Profiler.takePreciseCoverage');
  }

  /** Features seen so far: covered blocks by hit-count bucket, and per function the set of blocks it skipped. */
  get features(): number {
    return this.seen.size;
  }

  /** Takes the coverage of what ran since the last call; true when it holds a feature never seen before. */
  takeNew(): boolean {
    const { result } = post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    let fresh = false;
    for (const script of result) {
      if (!this.include(script.url)) continue;
      for (const fn of script.functions) {
        const [whole, ...blocks] = fn.ranges;
        if (!whole || whole.count === 0) continue;
        // A block run as often as its function is not listed, so a newly covered block
        // can show only as a missing zero range: the skipped set is a feature of its own.
        let skipped = `${script.scriptId}:${whole.startOffset}:z`;
        const keys = [`${script.scriptId}:${whole.startOffset}:${bucket(whole.count)}`];
        for (const b of blocks) {
          if (b.count === 0) skipped += `,${b.startOffset}`;
          else keys.push(`${script.scriptId}:${b.startOffset}-${b.endOffset}:${bucket(b.count)}`);
        }
        keys.push(skipped);
        for (const k of keys) {
          if (this.seen.has(k)) continue;
          this.seen.add(k);
          fresh = true;
        }
      }
    }
    return fresh;
  }
}
