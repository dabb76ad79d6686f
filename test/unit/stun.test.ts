import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hex } from './helpers.js';
import { Endpoint } from '../../src/io/endpoint.js';
import {
  STUN_ATTR,
  STUN_METHOD_BINDING,
  encodeBindingError,
  encodeBindingRequest,
  encodeBindingSuccess,
  encodeStun,
  isStunPacket,
  newTransactionId,
  parseStun,
  softwareAttr,
  errorCodeAttr,
  unknownAttributesAttr,
  verifyMessageIntegrity,
  xorMappedAddressAttr,
} from '../../src/nat/stun.js';
import { answerStun } from '../../src/nat/stun-server.js';
import { MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, MESSAGE_COOKIE_REPLY_SIZE } from '../../src/wireguard/messages.js';

// RFC 5769 test vectors. The password for all three is "VOkJxbRl1RmTxUk/WvJxBt".
const PASSWORD = new TextEncoder().encode('VOkJxbRl1RmTxUk/WvJxBt');
const TXID = hex('b7e7a701bc34d686fa87dfae');

const REQUEST = hex(`
  000100582112a442b7e7a701bc34d686fa87dfae
  802200105354554e207465737420636c69656e74
  002400046e0001ff80290008932ff9b151263b36
  000600096576746a3a68367659202020
  000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  80280004e57a3bcf`);

const RESPONSE_V4 = hex(`
  0101003c2112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000080001a147e112a643
  000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
  80280004c07d4c96`);

const RESPONSE_V6 = hex(`
  010100482112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
  00080014a382954e4be67bf11784c97c8292c275bfe3ed41
  80280004c8fb0b4c`);

test('RFC 5769 §2.1 sample request: parses, fingerprint and integrity verify', () => {
  assert.ok(isStunPacket(REQUEST));
  const m = parseStun(REQUEST);
  assert.ok(m);
  assert.equal(m.cls, 'request');
  assert.equal(m.method, STUN_METHOD_BINDING);
  assert.deepEqual(m.transactionId, TXID);
  assert.equal(m.software, 'STUN test client');
  assert.ok(m.hasFingerprint);
  // PRIORITY (0x0024) is comprehension-required and unknown to us: a server answers 420.
  assert.deepEqual(m.unknownRequired, [0x0024]);
  assert.ok(verifyMessageIntegrity(REQUEST, m, PASSWORD));
  assert.ok(!verifyMessageIntegrity(REQUEST, m, new TextEncoder().encode('wrong')));
});

test('RFC 5769 §2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
  const m = parseStun(RESPONSE_V4);
  assert.ok(m);
  assert.equal(m.cls, 'success');
  assert.equal(m.software, 'test vector');
  assert.equal(m.xorMappedAddress?.key, '192.0.2.1:32853');
  assert.ok(m.hasFingerprint);
  assert.ok(verifyMessageIntegrity(RESPONSE_V4, m, PASSWORD));
});

test('RFC 5769 §2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
  const m = parseStun(RESPONSE_V6);
  assert.ok(m);
  assert.equal(m.xorMappedAddress?.key, '[2001:db8:1234:5678:11:2233:4455:6677]:32853');
  assert.ok(verifyMessageIntegrity(RESPONSE_V6, m, PASSWORD));
});

test('encoder reproduces the RFC 5769 IPv4 and IPv6 responses byte for byte', () => {
  for (const [vec, ep] of [
    [RESPONSE_V4, Endpoint.of('192.0.2.1', 32853)],
    [RESPONSE_V6, Endpoint.of('2001:db8:1234:5678:11:2233:4455:6677', 32853)],
  ] as const) {
    // The vectors pad SOFTWARE with a space; our encoder pads with zero, so patch it.
    const out = encodeStun(
      { method: STUN_METHOD_BINDING, cls: 'success', transactionId: TXID, attributes: [softwareAttr('test vector'), xorMappedAddressAttr(ep, TXID)] },
      { integrityKey: PASSWORD },
    );
    const expected = Uint8Array.from(vec);
    expected[20 + 4 + 11] = 0;
    assert.equal(parseStun(expected), null, 'FINGERPRINT covers the padding byte');
    const miOffset = vec.length - 32;
    assert.equal(out.length, vec.length);
    assert.deepEqual(out.subarray(0, miOffset), expected.subarray(0, miOffset));
    const m = parseStun(out);
    assert.ok(m && verifyMessageIntegrity(out, m, PASSWORD));
    assert.equal(m.xorMappedAddress?.key, ep.key);
  }
});

test('corrupted fingerprint, trailing attribute after FINGERPRINT, truncation -> null', () => {
  const bad = Uint8Array.from(RESPONSE_V4);
  bad[bad.length - 1] ^= 1;
  assert.equal(parseStun(bad), null);
  assert.equal(parseStun(RESPONSE_V4.subarray(0, RESPONSE_V4.length - 4)), null);
  const trailing = new Uint8Array(RESPONSE_V4.length + 8);
  trailing.set(RESPONSE_V4);
  trailing.set([0x80, 0x22, 0, 4, 0x61, 0x62, 0x63, 0x64], RESPONSE_V4.length);
  trailing[3] += 8;
  assert.equal(parseStun(trailing), null);
});

test('Binding round trip: request, success (v4 and v6), error with UNKNOWN-ATTRIBUTES', () => {
  const txid = newTransactionId();
  const req = parseStun(encodeBindingRequest(txid, 'weft'));
  assert.ok(req && req.cls === 'request' && req.hasFingerprint && req.software === 'weft');
  for (const ep of [Endpoint.of('203.0.113.9', 1), Endpoint.of('::1', 65535)]) {
    const ok = parseStun(encodeBindingSuccess(txid, ep));
    assert.equal(ok?.xorMappedAddress?.key, ep.key);
    assert.deepEqual(ok?.transactionId, txid);
  }
  const err = parseStun(encodeBindingError(txid, 420, 'Unknown Attribute', [0x0024, 0x7fff]));
  assert.equal(err?.cls, 'error');
  assert.deepEqual(err?.errorCode, { code: 420, reason: 'Unknown Attribute' });
  assert.deepEqual(err?.unknownAttributes, [0x0024, 0x7fff]);
});

test('MAPPED-ADDRESS (RFC 3489 servers) is read', () => {
  const txid = newTransactionId();
  const value = hex('0001 1f90 c0000201');
  const m = parseStun(encodeStun({ method: STUN_METHOD_BINDING, cls: 'success', transactionId: txid, attributes: [{ type: STUN_ATTR.MAPPED_ADDRESS, value }] }));
  assert.equal(m?.mappedAddress?.key, '192.0.2.1:8080');
});

test('answerStun: success to the source, 420 for unknown comprehension-required attributes, malformed counted', () => {
  const from = Endpoint.of('198.51.100.1', 4242);
  const ans = answerStun(encodeBindingRequest(TXID), from);
  assert.equal(ans.kind, 'response');
  assert.ok(ans.kind === 'response' && !ans.error);
  assert.equal(parseStun(ans.bytes)?.xorMappedAddress?.key, from.key);
  const e = answerStun(REQUEST, from);
  assert.ok(e.kind === 'response' && e.error);
  const m = parseStun(e.bytes);
  assert.equal(m?.errorCode?.code, 420);
  assert.deepEqual(m?.unknownAttributes, [0x0024]);
  assert.deepEqual(m?.transactionId, TXID);
  assert.equal(answerStun(RESPONSE_V4, from).kind, 'ignored');
  assert.equal(answerStun(hex('00010000'), from).kind, 'malformed');
});

test('demux: WireGuard messages never pass isStunPacket; STUN always does', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 32, max: 1500 }), fc.uint8Array({ minLength: 1500, maxLength: 1500 }), (type, size, body) => {
      const sizes = { 1: MESSAGE_INITIATION_SIZE, 2: MESSAGE_RESPONSE_SIZE, 3: MESSAGE_COOKIE_REPLY_SIZE, 4: size } as Record<number, number>;
      const wg = body.slice(0, sizes[type]);
      wg.set([type, 0, 0, 0]);
      wg.set([0x21, 0x12, 0xa4, 0x42], 4); // the worst case: an index equal to the cookie
      return !isStunPacket(wg);
    }),
    { numRuns: 2000 },
  );
  assert.ok(isStunPacket(encodeBindingRequest(newTransactionId())));
});

test('fuzz: parseStun and answerStun never throw (100k inputs)', () => {
  const from = Endpoint.of('127.0.0.1', 1);
  let parsed = 0;
  // Without FINGERPRINT too, so mutations reach every attribute decoder instead of failing the CRC.
  const noFp = encodeStun(
    {
      method: STUN_METHOD_BINDING,
      cls: 'success',
      transactionId: TXID,
      attributes: [
        xorMappedAddressAttr(Endpoint.of('192.0.2.1', 1), TXID),
        xorMappedAddressAttr(Endpoint.of('2001:db8::1', 2), TXID),
        { type: STUN_ATTR.MAPPED_ADDRESS, value: hex('0001 1f90 c0000201') },
        softwareAttr('weft'),
        errorCodeAttr(420, 'Unknown'),
        unknownAttributesAttr([0x24]),
      ],
    },
    { fingerprint: false, integrityKey: PASSWORD },
  );
  const valid = [REQUEST, RESPONSE_V4, RESPONSE_V6, encodeBindingError(TXID, 420, 'x', [1, 2, 3]), noFp];
  // Random bytes, random bytes behind a valid STUN header, and bit flips of valid messages
  // with the length field kept consistent so the attribute walker runs.
  const withHeader = fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => {
    const len = b.length & ~3;
    const out = new Uint8Array(20 + len);
    out.set(b.subarray(0, len), 20);
    out.set([0x01, 0x01, len >> 8, len & 0xff, 0x21, 0x12, 0xa4, 0x42]);
    return out;
  });
  const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([v, flips]) => {
    const b = Uint8Array.from(v);
    for (const [pos, val] of flips) b[20 + (pos % (b.length - 20))] = val;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), withHeader, mutated), (b) => {
      const m = parseStun(b);
      if (m && m.integrityOffset >= 0) verifyMessageIntegrity(b, m, PASSWORD);
      if (m) parsed++;
      answerStun(b, from);
    }),
    { numRuns: 100_000 },
  );
  assert.ok(parsed > 1000, `only ${parsed} fuzz inputs parsed: the decoders were barely exercised`);
});
