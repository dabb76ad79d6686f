import type { PublicKey } from '../crypto/keys.js';
import { KEY_LEN } from '../crypto/keys.js';
import { TIMESTAMP_SIZE } from './messages.js';
import type { PrecomputedResponse } from './noise-protocol.js';

// What crosses between the device's thread and the handshake worker, one message per
// event-loop turn each way: flat buffers that are transferred (moved, not copied), so
// a turn of 100 initiations costs two small postMessage calls instead of structured
// clones of hundreds of objects and typed arrays. Jobs are the 148-byte initiations
// back to back with their ids; answers are fixed-size records in job order:
//   ok (1) | rs (32) | timestamp (12) | remoteIndex (u32 LE) | ePub (32) | ck (32) | h (32)

const RS = 1;
const TS = RS + KEY_LEN;
const RIDX = TS + TIMESTAMP_SIZE;
const EPUB = RIDX + 4;
const CK = EPUB + KEY_LEN;
const H = CK + KEY_LEN;
export const RESULT_SIZE = H + KEY_LEN;

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
  out.set(p.partial.ck, o + CK);
  out.set(p.partial.h, o + H);
}

/**
 * Answer i as the worker computed it. The keys are views of `results` (the device's
 * thread uses them at once); the timestamp, which a handshake keeps, is a copy.
 */
export function readResult(results: Uint8Array, i: number): PrecomputedResponse | null {
  const o = i * RESULT_SIZE;
  if (results.length < o + RESULT_SIZE || results[o] !== 1) return null;
  return {
    rs: results.subarray(o + RS, o + RS + KEY_LEN) as PublicKey,
    timestamp: results.slice(o + TS, o + TS + TIMESTAMP_SIZE),
    remoteIndex: new DataView(results.buffer, results.byteOffset).getUint32(o + RIDX, true),
    ePub: results.subarray(o + EPUB, o + EPUB + KEY_LEN),
    partial: { ck: results.subarray(o + CK, o + CK + KEY_LEN), h: results.subarray(o + H, o + H + KEY_LEN) },
  };
}
