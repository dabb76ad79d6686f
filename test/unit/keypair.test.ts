import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeypairPool } from '../../src/wireguard/keypair.js';
import type { SessionKeys } from '../../src/wireguard/noise-protocol.js';

function keys(byte: number, localIndex: number): SessionKeys {
  return { sendKey: new Uint8Array(32).fill(byte), recvKey: new Uint8Array(32).fill(byte + 1), isInitiator: true, localIndex, remoteIndex: 7 };
}

test('keypair pool: a reused keypair starts clean, and a released one is wiped', () => {
  const pool = new KeypairPool();
  const a = pool.take(keys(5, 100), 10);
  a.sendNonce = 77;
  assert.ok(a.replay.validateNumber(3));
  pool.release(a);
  assert.ok(a.sendKey.every((b) => b === 0) && a.recvKey.every((b) => b === 0));
  const k = keys(9, 200);
  const b = pool.take(k, 20);
  assert.equal(b, a, 'the released keypair is reused');
  assert.deepEqual([b.sendNonce, b.localIndex, b.created, b.sendKey[0], b.recvKey[0]], [0, 200, 20, 9, 10]);
  assert.ok(b.replay.validateNumber(3), 'the replay window was reset');
  assert.ok(k.sendKey.every((x) => x === 0), 'the derived key arrays are wiped once copied');
  // Released twice by mistake, a keypair still goes to one session only.
  pool.release(b);
  pool.release(b);
  const c = pool.take(keys(3, 300), 30);
  const d = pool.take(keys(4, 400), 40);
  assert.equal(c, b);
  assert.notEqual(d, c);
  assert.equal(c.localIndex, 300);
});
