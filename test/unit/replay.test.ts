import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayFilter, COUNTER_WINDOW_SIZE } from '../../src/wireguard/replay.js';
import { REJECT_AFTER_MESSAGES } from '../../src/wireguard/constants.js';

const W = BigInt(COUNTER_WINDOW_SIZE);
const T_LIM = W + 1n;

// Kernel src/selftest/counter.c (wireguard-linux-compat / wireguard-monolithic-historical),
// cases 1-34, run against a given reject limit. wireguard-go replay/replay_test.go
// reproduces the same list with limit 2^64 - 2^4 - 1; the kernel's REJECT_AFTER_MESSAGES
// is U64_MAX - COUNTER_WINDOW_SIZE - 1.
function selftestCases(R: bigint): Array<[bigint, boolean]> {
  return [
    [0n, true], [1n, true], [1n, false], [9n, true], [8n, true], [7n, true], [7n, false],
    [T_LIM, true], [T_LIM - 1n, true], [T_LIM - 1n, false], [T_LIM - 2n, true],
    [2n, true], [2n, false], [T_LIM + 16n, true], [3n, false], [T_LIM + 16n, false],
    [T_LIM * 4n, true], [T_LIM * 4n - (T_LIM - 1n), true], [10n, false],
    [T_LIM * 4n - T_LIM, false], [T_LIM * 4n - (T_LIM + 1n), false],
    [T_LIM * 4n - (T_LIM - 2n), true], [T_LIM * 4n + 1n - T_LIM, false], [0n, false],
    [R, false], [R - 1n, true], [R, false], [R - 1n, false], [R - 2n, true],
    [R + 1n, false], [R + 2n, false], [R - 2n, false], [R - 3n, true], [0n, false],
  ];
}

const LIMITS: Array<[string, bigint]> = [
  ['kernel U64_MAX-8128-1', (1n << 64n) - 1n - W - 1n],
  ['wireguard-go test 2^64-2^4-1', (1n << 64n) - (1n << 4n) - 1n],
  ['REJECT_AFTER_MESSAGES', REJECT_AFTER_MESSAGES],
];

for (const [name, R] of LIMITS) {
  test(`counter.c cases 1-34 with limit ${name}`, () => {
    const f = new ReplayFilter();
    selftestCases(R).forEach(([n, want], i) => assert.equal(f.validate(n, R), want, `case ${i + 1}: ${n}`));
  });
}

function run(f: ReplayFilter, seq: bigint[], want: boolean, label: string): void {
  for (const n of seq) assert.equal(f.validate(n, REJECT_AFTER_MESSAGES), want, `${label}: ${n}`);
}
const range = (from: bigint, to: bigint, step = 1n): bigint[] => {
  const out: bigint[] = [];
  for (let i = from; step > 0n ? i <= to : i >= to; i += step) out.push(i);
  return out;
};

test('counter.c bulk tests (kernel loop bounds)', () => {
  const f = new ReplayFilter();
  run(f, range(1n, W), true, 'bulk1'); run(f, [0n], true, 'bulk1'); run(f, [0n], false, 'bulk1');
  f.reset();
  run(f, range(2n, W + 1n), true, 'bulk2'); run(f, [1n], true, 'bulk2'); run(f, [0n], false, 'bulk2');
  f.reset();
  run(f, range(W, 0n, -1n), true, 'bulk3');
  f.reset();
  run(f, range(W + 1n, 1n, -1n), true, 'bulk4'); run(f, [0n], false, 'bulk4');
  f.reset();
  run(f, range(W, 1n, -1n), true, 'bulk5'); run(f, [W + 1n], true, 'bulk5'); run(f, [0n], false, 'bulk5');
  f.reset();
  run(f, range(W, 1n, -1n), true, 'bulk6'); run(f, [0n], true, 'bulk6'); run(f, [W + 1n], true, 'bulk6');
});

test('replay_test.go bulk tests (wireguard-go loop bounds)', () => {
  const f = new ReplayFilter();
  run(f, range(W + 1n, 1n, -1n), true, 'bulk3');
  f.reset();
  run(f, range(W + 2n, 2n, -1n), true, 'bulk4'); run(f, [0n], false, 'bulk4');
});

test('validateNumber agrees with validate across the 2^53 boundary', () => {
  const f = new ReplayFilter();
  assert.equal(f.validateNumber(5), true);
  assert.equal(f.validateNumber(5), false);
  assert.equal(f.validate(5n, REJECT_AFTER_MESSAGES), false);
  assert.equal(f.validate(2n ** 53n + 10n, REJECT_AFTER_MESSAGES), true);
  assert.equal(f.validateNumber(Number.MAX_SAFE_INTEGER), true); // 2^53-1 is 11 below
  assert.equal(f.validateNumber(Number.MAX_SAFE_INTEGER), false);
  assert.equal(f.validate(BigInt(Number.MAX_SAFE_INTEGER), REJECT_AFTER_MESSAGES), false);
  assert.equal(f.validateNumber(1000), false);
});

// Naive model: a counter is accepted iff below the limit, not more than the window
// behind the highest accepted counter (initially 0), and never accepted before.
class Model {
  seen = new Set<bigint>();
  last = 0n;
  validate(n: bigint, limit: bigint): boolean {
    if (n >= limit) return false;
    if (n <= this.last && this.last - n > W) return false;
    if (this.seen.has(n)) return false;
    this.seen.add(n);
    if (n > this.last) this.last = n;
    return true;
  }
}

test('property: matches a Set-based model across the whole u64 range', () => {
  const bases = [0n, 2n ** 53n - 9000n, 2n ** 64n - 40000n];
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 40000n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 1n << 20n }) },
  );
  fc.assert(
    fc.property(fc.constantFrom(...bases), fc.array(op, { maxLength: 400 }), fc.boolean(), (base, offs, stepwise) => {
      const f = new ReplayFilter();
      const m = new Model();
      const limit = REJECT_AFTER_MESSAGES;
      let cur = base;
      for (const o of offs) {
        // stepwise walks forward (mostly in order, like real traffic); otherwise jump around base
        let n = base + o;
        if (stepwise) {
          cur += o / 64n - 100n;
          n = cur = cur < 0n ? 0n : cur;
        }
        const want = m.validate(n, limit);
        if (f.validate(n, limit) !== want) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
});
