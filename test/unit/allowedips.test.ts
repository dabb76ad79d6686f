import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllowedIPs } from '../../src/wireguard/allowedips.js';
import { parsePrefix, formatPrefix, type Prefix } from '../../src/net/prefix.js';
import { WeftError } from '../../src/errors.js';

const ip4 = (a: number, b: number, c: number, d: number): Uint8Array => Uint8Array.of(a, b, c, d);
function ip6(a: number, b: number, c: number, d: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  [a, b, c, d].forEach((w, i) => v.setUint32(i * 4, w >>> 0));
  return out;
}
const pfx = (bytes: Uint8Array, bits: number): Prefix => ({ bytes, bits, family: bytes.length === 4 ? 4 : 6 });

test('parsePrefix / formatPrefix', () => {
  assert.equal(formatPrefix(parsePrefix('10.0.0.0/8')), '10.0.0.0/8');
  assert.equal(formatPrefix(parsePrefix('10.1.2.3/8')), '10.0.0.0/8'); // host bits masked
  assert.equal(formatPrefix(parsePrefix('192.168.1.7')), '192.168.1.7/32');
  assert.equal(formatPrefix(parsePrefix('0.0.0.0/0')), '0.0.0.0/0');
  assert.equal(formatPrefix(parsePrefix('fd00::1/64')), 'fd00::/64');
  assert.equal(formatPrefix(parsePrefix('FD00:0:0:0:0:0:0:1')), 'fd00::1/128');
  assert.equal(formatPrefix(parsePrefix('::/0')), '::/0');
  assert.equal(formatPrefix(parsePrefix('2001:db8::ffff/127')), '2001:db8::fffe/127');
  assert.equal(formatPrefix(parsePrefix('::ffff:1.2.3.4/128')), '::ffff:1.2.3.4/128');
  assert.deepEqual([...parsePrefix('::1.2.3.4').bytes], [...new Uint8Array(12), 1, 2, 3, 4]);
  assert.equal(formatPrefix(parsePrefix('64:ff9b::10.0.0.1/120')), '64:ff9b::a00:0/120');
  const p = parsePrefix('fd00::/64');
  assert.equal(p.family, 6);
  assert.equal(p.bytes.length, 16);
  for (const bad of ['', '10.0.0.0/33', 'fd00::/129', '10.0.0/8', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'fe80::1%eth0/64',
    'x', '010.0.0.1/8', '1.2.3.4/08x', '::g/64', '10.0.0.0 /8', '0x0a.0.0.0/8', '10.0.0.0/1e1']) {
    assert.throws(() => parsePrefix(bad), (e: unknown) => e instanceof WeftError && e.code === 'ERR_INVALID_PREFIX', bad);
  }
});

// Transcribed from the kernel's src/selftest/allowedips.c (wg_allowedips_selftest).
test('kernel allowedips.c selftest cases', () => {
  const t = new AllowedIPs<string>();
  const ins = (v: string, addr: Uint8Array, cidr: number): void => t.insert(pfx(addr, cidr), v);
  ins('a', ip4(192, 168, 4, 0), 24);
  ins('b', ip4(192, 168, 4, 4), 32);
  ins('c', ip4(192, 168, 0, 0), 16);
  ins('d', ip4(192, 95, 5, 64), 27);
  ins('c', ip4(192, 95, 5, 65), 27); // replaces previous entry, and maskself is required
  ins('d', ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128);
  ins('c', ip6(0x26075300, 0x60006b00, 0, 0), 64);
  ins('e', ip4(0, 0, 0, 0), 0);
  ins('e', ip6(0, 0, 0, 0), 0);
  ins('f', ip6(0, 0, 0, 0), 0); // replaces previous entry
  ins('g', ip6(0x24046800, 0, 0, 0), 32);
  ins('h', ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 64); // maskself is required
  ins('a', ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 128);
  ins('c', ip6(0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef), 128);
  ins('b', ip6(0x24446800, 0xf0e40800, 0xeeaebeef, 0), 98);
  ins('g', ip4(64, 15, 112, 0), 20);
  ins('h', ip4(64, 15, 123, 211), 25); // maskself is required
  ins('a', ip4(10, 0, 0, 0), 25);
  ins('b', ip4(10, 0, 0, 128), 25);
  ins('a', ip4(10, 1, 0, 0), 30);
  ins('b', ip4(10, 1, 0, 4), 30);
  ins('c', ip4(10, 1, 0, 8), 29);
  ins('d', ip4(10, 1, 0, 16), 29);

  const cases: Array<[string, Uint8Array]> = [
    ['a', ip4(192, 168, 4, 20)], ['a', ip4(192, 168, 4, 0)], ['b', ip4(192, 168, 4, 4)],
    ['c', ip4(192, 168, 200, 182)], ['c', ip4(192, 95, 5, 68)], ['e', ip4(192, 95, 5, 96)],
    ['d', ip6(0x26075300, 0x60006b00, 0, 0xc05f0543)], ['c', ip6(0x26075300, 0x60006b00, 0, 0xc02e01ee)],
    ['f', ip6(0x26075300, 0x60006b01, 0, 0)], ['g', ip6(0x24046800, 0x40040806, 0, 0x1006)],
    ['g', ip6(0x24046800, 0x40040806, 0x1234, 0x5678)], ['f', ip6(0x240467ff, 0x40040806, 0x1234, 0x5678)],
    ['f', ip6(0x24046801, 0x40040806, 0x1234, 0x5678)], ['h', ip6(0x24046800, 0x40040800, 0x1234, 0x5678)],
    ['h', ip6(0x24046800, 0x40040800, 0, 0)], ['h', ip6(0x24046800, 0x40040800, 0x10101010, 0x10101010)],
    ['a', ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef)],
    ['g', ip4(64, 15, 116, 26)], ['g', ip4(64, 15, 127, 3)], ['g', ip4(64, 15, 123, 1)],
    ['h', ip4(64, 15, 123, 128)], ['h', ip4(64, 15, 123, 129)],
    ['a', ip4(10, 0, 0, 52)], ['b', ip4(10, 0, 0, 220)], ['a', ip4(10, 1, 0, 2)],
    ['b', ip4(10, 1, 0, 6)], ['c', ip4(10, 1, 0, 10)], ['d', ip4(10, 1, 0, 20)],
  ];
  cases.forEach(([want, addr], i) => assert.equal(t.lookup(addr, addr.length === 4 ? 4 : 6), want, `case ${i + 1}`));

  for (const first of [1, 64, 128, 192, 255]) ins('a', ip4(first, 0, 0, 0), 32);
  t.removeByValue('a');
  for (const first of [1, 64, 128, 192, 255]) assert.notEqual(t.lookup(ip4(first, 0, 0, 0), 4), 'a');
  assert.deepEqual(t.entriesFor('a'), []);

  const t2 = new AllowedIPs<string>();
  t2.insert(parsePrefix('192.168.0.0/16'), 'a');
  t2.insert(parsePrefix('192.168.0.0/24'), 'a');
  t2.removeByValue('a');
  assert.equal(t2.lookup(ip4(192, 168, 0, 1), 4), undefined);

  // 128 host routes that differ in one bit each (the kernel's free_node depth check).
  for (let i = 0; i < 128; i++) {
    const ip = new Uint8Array(16).fill(0xff);
    ip[i >> 3] &= ~(0x80 >> (i & 7));
    t2.insert(pfx(ip, 128), 'a');
  }
  assert.equal(t2.entriesFor('a').length, 128);
  t2.removeByValue('a');
  assert.equal(t2.lookup(new Uint8Array(16).fill(0xff), 6), undefined);

  // walk_by_peer: insertion-stable listing, masked.
  const t3 = new AllowedIPs<string>();
  t3.insert(pfx(ip4(192, 95, 5, 93), 27), 'a');
  t3.insert(pfx(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128), 'a');
  t3.insert(pfx(ip4(10, 1, 0, 20), 29), 'a');
  t3.insert(pfx(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 83), 'a');
  t3.insert(pfx(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 21), 'a');
  assert.deepEqual(t3.entriesFor('a').map(formatPrefix), [
    '192.95.5.64/27', '2607:5300:6000:6b00::c05f:543/128', '10.1.0.16/29', '2607:5300:6d8a:6bf8:dab1:e000::/83', '2607:5000::/21',
  ]);
});

test('insert replaces owner, remove only by owner, entriesFor order', () => {
  const t = new AllowedIPs<string>();
  t.insert(parsePrefix('10.0.0.0/8'), 'a');
  t.insert(parsePrefix('10.1.0.0/16'), 'a');
  t.insert(parsePrefix('fd00::/64'), 'a');
  t.insert(parsePrefix('10.0.0.0/8'), 'b');
  assert.deepEqual(t.entriesFor('a').map(formatPrefix), ['10.1.0.0/16', 'fd00::/64']);
  assert.deepEqual(t.entriesFor('b').map(formatPrefix), ['10.0.0.0/8']);
  assert.equal(t.remove(parsePrefix('10.0.0.0/8'), 'a'), false);
  assert.equal(t.lookup(ip4(10, 9, 9, 9), 4), 'b');
  t.insert(parsePrefix('10.1.0.0/16'), 'a'); // re-insert keeps position
  assert.deepEqual(t.entriesFor('a').map(formatPrefix), ['10.1.0.0/16', 'fd00::/64']);
  assert.equal(t.remove(parsePrefix('10.0.0.0/8'), 'b'), true);
  assert.equal(t.remove(parsePrefix('10.0.0.0/8'), 'b'), false);
  assert.equal(t.lookup(ip4(10, 9, 9, 9), 4), undefined);
  assert.equal(t.lookup(ip4(10, 1, 9, 9), 4), 'a');
  assert.equal(t.lookup(Uint8Array.of(10, 1, 9), 4), undefined); // wrong length
});

test('lookupPacket reads the header in place', () => {
  const t = new AllowedIPs<string>();
  t.insert(parsePrefix('10.0.0.1'), 'src4');
  t.insert(parsePrefix('10.0.0.2'), 'dst4');
  t.insert(parsePrefix('fd00::1'), 'src6');
  t.insert(parsePrefix('fd00::2'), 'dst6');
  const buf = new Uint8Array(100);
  const off = 7;
  buf[off] = 0x45;
  buf.set([10, 0, 0, 1], off + 12);
  buf.set([10, 0, 0, 2], off + 16);
  assert.equal(t.lookupPacket(buf, off, 20, 'src'), 'src4');
  assert.equal(t.lookupPacket(buf, off, 20, 'dst'), 'dst4');
  assert.equal(t.lookupPacket(buf, off, 19, 'src'), undefined);
  assert.equal(t.lookupPacket(buf, 90, 20, 'src'), undefined); // runs past the buffer
  buf[off] = 0x60;
  buf.set(parsePrefix('fd00::1').bytes, off + 8);
  buf.set(parsePrefix('fd00::2').bytes, off + 24);
  assert.equal(t.lookupPacket(buf, off, 40, 'src'), 'src6');
  assert.equal(t.lookupPacket(buf, off, 40, 'dst'), 'dst6');
  assert.equal(t.lookupPacket(buf, off, 39, 'dst'), undefined);
  buf[off] = 0x55;
  assert.equal(t.lookupPacket(buf, off, 40, 'dst'), undefined);
  assert.equal(t.lookupPacket(buf, off, 0, 'dst'), undefined);
});

// Naive model: linear scan for the longest matching prefix.
function naiveLookup(entries: Map<string, { p: Prefix; v: number }>, ip: Uint8Array): number | undefined {
  let best: { p: Prefix; v: number } | undefined;
  for (const e of entries.values()) {
    if (e.p.bytes.length !== ip.length) continue;
    let ok = true;
    for (let i = 0; i < e.p.bits && ok; i++) ok = ((ip[i >> 3] ^ e.p.bytes[i >> 3]) & (0x80 >> (i & 7))) === 0;
    if (ok && (!best || e.p.bits > best.p.bits)) best = e;
  }
  return best?.v;
}

test('property: matches a linear scan with inserts and removals, both families', () => {
  const addr = (fam: 4 | 6) => fc.uint8Array({ minLength: fam === 4 ? 4 : 16, maxLength: fam === 4 ? 4 : 16 });
  // Addresses drawn near a few seeds so prefixes actually nest and collide.
  const near = (fam: 4 | 6) =>
    fc.tuple(addr(fam), fc.nat({ max: fam === 4 ? 32 : 128 })).map(([a, keep]) => {
      const base = fam === 4 ? ip4(10, 20, 30, 40) : ip6(0xfd000000, 0x12345678, 0, 1);
      const out = Uint8Array.from(base);
      for (let i = keep; i < out.length * 8; i++) {
        const m = 0x80 >> (i & 7);
        out[i >> 3] = (out[i >> 3] & ~m) | (a[i >> 3] & m);
      }
      return out;
    });
  const op = fc.constantFrom<4 | 6>(4, 6).chain((fam) =>
    fc.record({
      kind: fc.constantFrom('insert', 'insert', 'insert', 'remove', 'removeByValue'),
      ip: near(fam),
      bits: fc.nat({ max: fam === 4 ? 32 : 128 }),
      v: fc.nat({ max: 4 }),
    }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(fc.oneof(near(4), near(6), addr(4), addr(6)), { maxLength: 40 }), (ops, queries) => {
      const t = new AllowedIPs<number>();
      const model = new Map<string, { p: Prefix; v: number }>();
      for (const o of ops) {
        const p = parsePrefix(formatPrefix(pfx(o.ip, o.bits)));
        const key = formatPrefix(p);
        if (o.kind === 'insert') {
          t.insert(p, o.v);
          model.delete(key); // owner change moves it to the end of the new owner's list
          model.set(key, { p, v: o.v });
        } else if (o.kind === 'remove') {
          const owned = model.get(key)?.v === o.v;
          if (t.remove(p, o.v) !== owned) return false;
          if (owned) model.delete(key);
        } else {
          t.removeByValue(o.v);
          for (const [k, e] of model) if (e.v === o.v) model.delete(k);
        }
      }
      for (const q of [...queries, ...ops.map((o) => o.ip)]) {
        if (t.lookup(q, q.length === 4 ? 4 : 6) !== naiveLookup(model, q)) return false;
      }
      for (let v = 0; v <= 4; v++) {
        const want = [...model.values()].filter((e) => e.v === v).map((e) => formatPrefix(e.p)).sort();
        if (JSON.stringify(t.entriesFor(v).map(formatPrefix).sort()) !== JSON.stringify(want)) return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
});
