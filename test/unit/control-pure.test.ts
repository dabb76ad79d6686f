import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseDuration } from '../../src/control/durations.js';
import { canonicalEndpoint, parseEndpoints } from '../../src/control/endpoints.js';
import { wireguardPortOf } from '../../src/wire/control.js';
import { generateUla48, Ipam, parseIpv4Range } from '../../src/control/ipam.js';
import { generatedName, NameAllocator, sanitizeHostname } from '../../src/control/names.js';
import { hashSecret, isSecretOf, mintSecret, secretMatches, secretPrefix } from '../../src/control/secrets.js';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
};

test('durations', () => {
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('90d'), 90 * 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('2w'), 14 * 86_400_000);
  assert.equal(parseDuration('45s'), 45_000);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '1', 'h', '1y', '-1h', '1.5h', '1 h', 'abc', '99999999999999999999d']) assert.equal(codeOf(() => parseDuration(bad)), 'ERR_INVALID_ARGUMENT', bad);
});

test('hostnames become DNS labels', () => {
  assert.equal(sanitizeHostname('Laptop'), 'laptop');
  assert.equal(sanitizeHostname('My_Mac Book.local'), 'my-mac-book');
  assert.equal(sanitizeHostname('--edge--'), 'edge');
  assert.equal(sanitizeHostname('a'.repeat(100)), 'a'.repeat(63));
  assert.equal(sanitizeHostname(`${'a'.repeat(62)}-b`), 'a'.repeat(62));
  assert.equal(sanitizeHostname('ÄÖÜ'), null);
  assert.equal(sanitizeHostname('---'), null);
  assert.equal(sanitizeHostname(''), null);
  assert.equal(sanitizeHostname(undefined), null);
  fc.assert(
    fc.property(fc.string(), (s) => {
      const l = sanitizeHostname(s);
      return l === null || (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(l) && l.length <= 63);
    }),
  );
});

test('names are unique with numeric suffixes, and generated ones look like adjective-noun', () => {
  const names = new NameAllocator();
  assert.deepEqual([names.allocate('laptop'), names.allocate('laptop'), names.allocate('laptop')], ['laptop', 'laptop-2', 'laptop-3']);
  names.release('laptop');
  assert.equal(names.allocate('laptop'), 'laptop');
  const long = 'x'.repeat(63);
  assert.equal(names.allocate(long), long);
  assert.equal(names.allocate(long), `${'x'.repeat(61)}-2`);
  assert.match(generatedName(), /^[a-z]+-[a-z]+$/);
  const many = new NameAllocator();
  const seen = new Set(Array.from({ length: 5000 }, () => many.allocate('host')));
  assert.equal(seen.size, 5000);
  // One candidate per suffixed name; a rescan from -2 every time would try ~12.5M.
  assert.equal(many.probes, 4999, 'suffix allocation does not rescan from -2 every time');
});

test('ipam skips network/broadcast-like addresses and never hands one out twice', () => {
  const ipam = new Ipam('100.64.0.0/10', 'fd12:3456:789a::/48');
  const first = Array.from({ length: 300 }, () => ipam.allocate());
  assert.equal(first[0].ipv4, '100.64.0.1');
  assert.equal(first[0].ipv6, 'fd12:3456:789a::1');
  for (const a of first) assert.doesNotMatch(a.ipv4, /\.(0|255)$/);
  assert.equal(new Set(first.map((a) => a.ipv4)).size, 300);
  assert.equal(new Set(first.map((a) => a.ipv6)).size, 300);
  ipam.release(first[10].ipv4);
  ipam.release(first[5].ipv4);
  assert.equal(ipam.allocate().ipv4, first[5].ipv4, 'lowest freed address first');
  assert.equal(ipam.allocate().ipv4, first[10].ipv4);
});

test('ipam: allocation never duplicates under random allocate/release/markUsed', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant('a'), fc.nat(40), fc.constant('m')), { maxLength: 200 }), (ops) => {
      const ipam = new Ipam('10.0.0.0/24', 'fd00:1:2::/48');
      const held: string[] = [];
      for (const op of ops) {
        if (op === 'a') {
          let a;
          try {
            a = ipam.allocate();
          } catch (err) {
            assert.equal((err as { code: string }).code, 'ERR_ADDRESSES_EXHAUSTED');
            continue;
          }
          assert.ok(!held.includes(a.ipv4));
          held.push(a.ipv4);
        } else if (op === 'm') {
          ipam.markUsed('10.0.0.77');
          if (!held.includes('10.0.0.77')) held.push('10.0.0.77');
        } else if (held.length > 0) {
          ipam.release(held.splice(op % held.length, 1)[0]);
        }
      }
    }),
  );
});

test('ipam exhaustion has a stable code; ranges are validated', () => {
  const ipam = new Ipam('192.168.7.0/29', 'fdaa:bbbb:cccc::/48');
  const got = [];
  for (;;) {
    try {
      got.push(ipam.allocate().ipv4);
    } catch (err) {
      assert.equal((err as { code: string }).code, 'ERR_ADDRESSES_EXHAUSTED');
      break;
    }
  }
  assert.deepEqual(got, ['192.168.7.1', '192.168.7.2', '192.168.7.3', '192.168.7.4', '192.168.7.5', '192.168.7.6']);
  assert.equal(parseIpv4Range('100.100.1.2/10').text, '100.64.0.0/10');
  assert.equal(codeOf(() => parseIpv4Range('nonsense')), 'ERR_INVALID_ARGUMENT');
  assert.equal(codeOf(() => parseIpv4Range('10.0.0.0/31')), 'ERR_INVALID_ARGUMENT');
  assert.equal(codeOf(() => new Ipam('10.0.0.0/24', 'fe80::/48')), 'ERR_INVALID_ARGUMENT');
});

test('ipam allocation at 100k nodes examines each offset about once (no scan per allocation)', () => {
  const ipam = new Ipam('100.64.0.0/10', generateUla48());
  for (let i = 0; i < 50_000; i++) ipam.markUsed(ipam.addresses(i + 1).ipv4);
  const seen = new Set<string>();
  for (let i = 0; i < 50_000; i++) seen.add(ipam.allocate().ipv4);
  assert.equal(seen.size, 50_000);
  // 100k offsets in use, 1/128 of them .0 or .255 and skipped: a scan per allocation would examine ~2.5e9.
  assert.ok(ipam.probes <= 100_000 * 1.01, `probes ${ipam.probes}`);
  for (const ip of [...seen].slice(0, 1000)) ipam.release(ip);
  const before = ipam.probes;
  for (let i = 0; i < 1000; i++) ipam.allocate();
  assert.equal(ipam.probes - before, 1000, 'released addresses come back from the heap, one probe each');
});

test('generated ULA /48s are fdXX:XXXX:XXXX::/48', () => {
  for (let i = 0; i < 50; i++) assert.match(generateUla48(), /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);
});

test('secrets: shape, prefix, hashing and constant-time match', () => {
  const m = mintSecret('weftkey');
  assert.match(m.secret, /^weftkey-[A-Za-z0-9_-]{43}$/);
  assert.equal(m.prefix, m.secret.slice(0, 16));
  assert.equal(secretPrefix(m.secret), m.prefix);
  assert.equal(m.hash, hashSecret(m.secret));
  assert.ok(!m.hash.includes(m.secret));
  assert.ok(secretMatches(m.secret, m.hash));
  assert.ok(!secretMatches(m.secret + 'x', m.hash));
  assert.ok(!secretMatches(m.secret, 'abcd'));
  assert.ok(isSecretOf('weftkey', m.secret));
  assert.ok(!isSecretOf('weftapi', m.secret));
  assert.ok(!isSecretOf('weftkey', m.secret.slice(1)));
  assert.notEqual(mintSecret('weftkey').secret, m.secret);
});

test('endpoints are validated and canonicalised', () => {
  assert.equal(canonicalEndpoint('1.2.3.4:51820'), '1.2.3.4:51820');
  assert.equal(canonicalEndpoint('[2001:DB8:0::1]:443'), '[2001:db8::1]:443');
  for (const bad of ['1.2.3.4', '1.2.3.400:1', '1.2.3.4:0', '1.2.3.4:70000', '[zz::1]:1', 'host:80', '::1:80', '']) assert.equal(canonicalEndpoint(bad), null, bad);
  assert.deepEqual(parseEndpoints(['1.2.3.4:1', '1.2.3.4:1']), ['1.2.3.4:1']);
  fc.assert(fc.property(fc.string(), (x) => canonicalEndpoint(x) === null || canonicalEndpoint(canonicalEndpoint(x)!) === canonicalEndpoint(x)));
  fc.assert(fc.property(fc.ipV6(), fc.integer({ min: 1, max: 65535 }), (ip, port) => canonicalEndpoint(`[${ip}]:${port}`) !== null));
  assert.equal(codeOf(() => parseEndpoints(['1.2.3.4:1', 'nope'])), 'ERR_INVALID_ENDPOINT');
  assert.equal(codeOf(() => parseEndpoints('x')), 'ERR_VALIDATION');
  assert.equal(codeOf(() => parseEndpoints(Array(33).fill('1.2.3.4:1'))), 'ERR_VALIDATION');
  // An external engine's WireGuard port beside its disco endpoints: one, 1..65535.
  assert.deepEqual(parseEndpoints(['1.2.3.4:1', 'wgport:51820', 'wgport:51821']), ['1.2.3.4:1', 'wgport:51820']);
  for (const bad of ['wgport:0', 'wgport:65536', 'wgport:', 'wgport:1x', 'wgport:-1']) assert.equal(codeOf(() => parseEndpoints([bad])), 'ERR_INVALID_ENDPOINT', bad);
  assert.equal(wireguardPortOf(['1.2.3.4:1', 'relay:x', 'wgport:51820']), 51820);
  assert.equal(wireguardPortOf(['1.2.3.4:1']), null);
});
