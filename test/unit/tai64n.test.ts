import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tai64n, tai64nAfter } from '../../src/wireguard/tai64n.js';
import { toHex } from './helpers.js';

test('format: big-endian 2^62+10+secs, then whitened nanoseconds', () => {
  assert.equal(toHex(tai64n(0)), '400000000000000a' + '00000000');
  // 1234.567 s: secs 0x4d2 + 10 = 0x4dc; 567000000 ns = 0x21cbf7c0, low 24 bits cleared
  assert.equal(toHex(tai64n(1_234_567)), '40000000000004dc' + '21000000');
  assert.equal(tai64n(Date.UTC(2026, 0, 1)).length, 12);
});

test('whitening clears the low 24 bits of the nanoseconds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (ms) => {
      const t = tai64n(ms);
      return t[9] === 0 && t[10] === 0 && t[11] === 0;
    }),
  );
});

test('monotonic around the whitening granularity (wireguard-go tai64n_test semantics)', () => {
  const start = 123.456789; // time.Unix(0, 123456789)
  const cases: [string, number, boolean][] = [
    ['+1 s', start + 1000, true],
    ['-1 s', start - 1000, false],
    ['+1 ns', start + 1e-6, false],
    ['-1 ns', start - 1e-6, false],
    ['+1 ms', start + 1, false],
    ['-1 ms', start - 1, false],
    ['+2^24 ns', start + 16.777216, true],
    ['-2^24 ns', start - 16.777216, false],
  ];
  for (const [name, t2, wantAfter] of cases) assert.equal(tai64nAfter(tai64n(t2), tai64n(start)), wantAfter, name);
});

test('later wall time never yields an older timestamp; After is strict', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: 100_000 }), (a, d) => {
      const ta = tai64n(a);
      const tb = tai64n(a + d);
      return !tai64nAfter(ta, tb) && !tai64nAfter(ta, ta) && (d < 17 || tai64nAfter(tb, ta));
    }),
  );
});
