import type { PublicKey } from '../crypto/keys.js';
import { AEAD_TAG_LEN } from '../crypto/aead.js';
import { KEY_LEN } from '../crypto/keys.js';
import { TIMESTAMP_SIZE } from './messages.js';
import type { PrecomputedResponse } from './noise-protocol.js';

// What crosses between the device's thread and the handshake worker, one message per
// event-loop turn each way: flat buffers that are transferred (moved, not copied), so
// a turn of 100 initiations costs two small postMessage calls instead of structured
// clones of hundreds of objects and typed arrays. Jobs are the 148-byte initiations
// back to back with their ids; answers are fixed-size records in job order:
//   ok (1) | rs (32) | timestamp (12) | remoteIndex (u32 LE) | ePub (32) | empty tag (16) | send key (32) | receive key (32)
// The keys are wiped where they lie once the device has copied them (Keypair.init).

const RS = 1;
const TS = RS + KEY_LEN;
const RIDX = TS + TIMESTAMP_SIZE;
const EPUB = RIDX + 4;
const TAG = EPUB + KEY_LEN;
const SEND = TAG + AEAD_TAG_LEN;
const RECV = SEND + KEY_LEN;
export const RESULT_SIZE = RECV + KEY_LEN;

/** Writes answer i (null: no answer) into a results buffer of RESULT_SIZE records. */
export function writeResult(out: Uint8Array, i: number, p: PrecomputedResponse | null): void {
  const o = i * RESULT_SIZE;
  if (!p) {
    out[o] = 0;
    return;
  }
  out[o] = 1;
  out.set(p.rs, o + RS);
  out.set(p.timestamp, o + TS);
  new DataView(out.buffer, out.byteOffset).setUint32(o + RIDX, p.remoteIndex, true);
  out.set(p.ePub, o + EPUB);
  out.set(p.emptyTag, o + TAG);
  out.set(p.sendKey, o + SEND);
  out.set(p.recvKey, o + RECV);
}

/**
 * Answer i as the worker computed it: views of `results`, which the device's thread
 * uses at once (a handshake keeps the timestamp by copying it).
 */
export function readResult(results: Uint8Array, i: number): PrecomputedResponse | null {
  const o = i * RESULT_SIZE;
  if (results.length < o + RESULT_SIZE || results[o] !== 1) return null;
  return {
    rs: results.subarray(o + RS, o + RS + KEY_LEN) as PublicKey,
    timestamp: results.subarray(o + TS, o + TS + TIMESTAMP_SIZE),
    remoteIndex: new DataView(results.buffer, results.byteOffset).getUint32(o + RIDX, true),
    ePub: results.subarray(o + EPUB, o + EPUB + KEY_LEN),
    emptyTag: results.subarray(o + TAG, o + TAG + AEAD_TAG_LEN),
    sendKey: results.subarray(o + SEND, o + SEND + KEY_LEN),
    recvKey: results.subarray(o + RECV, o + RECV + KEY_LEN),
  };
}
