import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as M from '../../src/wireguard/messages.js';

test('sizes and offsets add up', () => {
  assert.equal(M.INITIATION_STATIC_OFFSET, M.INITIATION_EPHEMERAL_OFFSET + 32);
  assert.equal(M.INITIATION_TIMESTAMP_OFFSET, M.INITIATION_STATIC_OFFSET + M.INITIATION_STATIC_SIZE);
  assert.equal(M.INITIATION_MAC1_OFFSET, M.INITIATION_TIMESTAMP_OFFSET + M.INITIATION_TIMESTAMP_SIZE);
  assert.equal(M.MESSAGE_INITIATION_SIZE, M.INITIATION_MAC2_OFFSET + 16);
  assert.equal(M.RESPONSE_EMPTY_OFFSET, M.RESPONSE_EPHEMERAL_OFFSET + 32);
  assert.equal(M.RESPONSE_MAC1_OFFSET, M.RESPONSE_EMPTY_OFFSET + M.RESPONSE_EMPTY_SIZE);
  assert.equal(M.MESSAGE_RESPONSE_SIZE, M.RESPONSE_MAC2_OFFSET + 16);
  assert.equal(M.MESSAGE_COOKIE_REPLY_SIZE, M.COOKIE_REPLY_COOKIE_OFFSET + M.COOKIE_REPLY_COOKIE_SIZE);
  assert.equal(M.MESSAGE_KEEPALIVE_SIZE, 32);
  assert.equal(M.MESSAGE_TRANSPORT_SIZE_MIN, 32);
  assert.equal(M.TRANSPORT_CONTENT_OFFSET, M.MESSAGE_TRANSPORT_HEADER_SIZE);
});

test('messageType accepts exact handshake sizes and transport >= 32 only', () => {
  const msg = (t: number, len: number, pad = 0) => {
    const b = new Uint8Array(len);
    if (len > 0) b[0] = t;
    if (len > 1) b[1] = pad;
    return b;
  };
  assert.equal(M.messageType(msg(1, 148)), 1);
  assert.equal(M.messageType(msg(2, 92)), 2);
  assert.equal(M.messageType(msg(3, 64)), 3);
  assert.equal(M.messageType(msg(4, 32)), 4);
  assert.equal(M.messageType(msg(4, 1500)), 4);
  for (const [t, len] of [[1, 147], [1, 149], [2, 91], [2, 93], [3, 63], [3, 65], [4, 31], [4, 0], [0, 148], [5, 148], [255, 64], [1, 3]]) {
    assert.equal(M.messageType(msg(t, len)), 0, `type ${t} len ${len}`);
  }
  for (const i of [1, 2, 3]) {
    const b = msg(1, 148);
    b[i] = 1;
    assert.equal(M.messageType(b), 0, `reserved byte ${i}`);
  }
});

test('u32 fields are little-endian', () => {
  const b = new Uint8Array(8);
  M.writeU32(b, 2, 0xdeadbeef);
  assert.deepEqual([...b], [0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0]);
  assert.equal(M.readU32(b, 2), 0xdeadbeef);
});
