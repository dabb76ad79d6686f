import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { WeftError } from '../../src/errors.js';

test('IPv4 endpoint parse/format roundtrip and 18-byte layout', () => {
  const e = Endpoint.parse('192.0.2.7:51820');
  assert.equal(e.key, '192.0.2.7:51820');
  assert.equal(e.ip, '192.0.2.7');
  assert.equal(e.port, 51820);
  assert.equal(e.isV4, true);
  assert.equal(e.bytes.length, ENDPOINT_BYTES);
  assert.deepEqual([...e.bytes], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7, 51820 >> 8, 51820 & 0xff]);
  assert.ok(Endpoint.parse(e.key).equals(e));
});

test('IPv6 endpoint parse/format roundtrip', () => {
  for (const [input, key] of [
    ['[2001:db8::1]:443', '[2001:db8::1]:443'],
    ['[::1]:1', '[::1]:1'],
    ['[2001:0db8:0000:0000:0000:0000:0000:0001]:65535', '[2001:db8::1]:65535'],
    ['[fe80::1:2:3:4]:0', '[fe80::1:2:3:4]:0'],
  ] as const) {
    const e = Endpoint.parse(input);
    assert.equal(e.key, key);
    assert.equal(e.isV4, false);
    assert.ok(Endpoint.parse(e.key).equals(e));
    assert.ok(Endpoint.fromBytes(e.bytes).equals(e));
  }
});

test('IPv4-mapped IPv6 is the same endpoint as plain IPv4', () => {
  const mapped = Endpoint.parse('[::ffff:10.1.2.3]:9');
  const v4 = Endpoint.of('10.1.2.3', 9);
  assert.ok(mapped.equals(v4));
  assert.equal(mapped.isV4, true);
  assert.equal(mapped.key, '10.1.2.3:9');
});

test('fromBytes copies at an offset', () => {
  const buf = new Uint8Array(3 * ENDPOINT_BYTES);
  const e = Endpoint.of('2001:db8::5', 1234);
  buf.set(e.bytes, ENDPOINT_BYTES);
  const got = Endpoint.fromBytes(buf, ENDPOINT_BYTES);
  assert.ok(got.equals(e));
  assert.ok(e.equals(buf, ENDPOINT_BYTES));
  buf.fill(0);
  assert.equal(got.key, '[2001:db8::5]:1234'); // a copy, not a view
});

test('invalid endpoints throw WeftError ERR_INVALID_ARGUMENT', () => {
  for (const bad of ['', '1.2.3.4', '1.2.3.4:', '1.2.3.4:70000', '256.1.1.1:1', '::1:80', '[::1]', '[::1]:x', 'host.example:80', '[fe80::1%eth0]:1', '1.2.3:4', '[1.2.3.4]:5:6']) {
    assert.throws(
      () => Endpoint.parse(bad),
      (err: unknown) => err instanceof WeftError && err.code === 'ERR_INVALID_ARGUMENT',
      `expected ${JSON.stringify(bad)} to be rejected`,
    );
  }
  assert.throws(() => Endpoint.of('1.2.3.4', -1), (err: unknown) => err instanceof WeftError && err.code === 'ERR_INVALID_ARGUMENT');
  assert.throws(() => Endpoint.of('1.2.3.4', 1.5), (err: unknown) => err instanceof WeftError && err.code === 'ERR_INVALID_ARGUMENT');
});
