import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { isZeroKey, publicKeyFromPrivate, x25519, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { precomputeResponse, type NoiseIdentity, type PrecomputedResponse } from './noise-protocol.js';
import { RESULT_SIZE, writeResult } from './handshake-offload-wire.js';
import { MESSAGE_INITIATION_SIZE } from './messages.js';
import type { ToHandshakeWorker, FromHandshakeWorker } from './handshake-offload.js';

// The handshake worker thread (handshake-offload.ts starts it): the X25519 work of
// answering initiations, so a handshake storm runs on the second core and the device's
// thread keeps moving data. It holds our private key and the set of peer keys (for
// the static-static DH, computed once per peer as the device does); it never sees
// pre-shared keys, timestamps of earlier handshakes or sessions.

const port = parentPort!;

// On Linux a thread has its own nice value (setpriority with pid 0 is the calling
// thread): this one yields the CPU to the device's thread, which moves the data of
// established sessions, whenever both want it. Refused elsewhere: then no matter.
const HANDSHAKE_WORKER_NICE = 5;
try {
  setPriority(HANDSHAKE_WORKER_NICE);
} catch {
  // not permitted or not supported: the worker runs at the process's priority
}
let identity: NoiseIdentity | null = null;
/** Peer key (hex) -> DH(s, peer) once computed; null until the first initiation needs it. */
const peers = new Map<string, Uint8Array | null>();

function ssFor(rs: PublicKey): Uint8Array | null {
  const hex = Buffer.from(rs).toString('hex');
  if (!peers.has(hex)) return null;
  let ss = peers.get(hex) ?? null;
  if (!ss) {
    ss = x25519(identity!.privateKey, rs);
    if (!ss) return null;
    peers.set(hex, ss);
  }
  return isZeroKey(ss) ? null : ss;
}

// Answers to every jobs message read in this turn go back in one message.
let answers: FromHandshakeWorker['batches'] = [];
function answer(): void {
  const batches = answers;
  answers = [];
  port.postMessage({ type: 'done', batches } satisfies FromHandshakeWorker, batches.flatMap((b) => [b.ids.buffer as ArrayBuffer, b.results.buffer as ArrayBuffer]));
}

port.on('message', (m: ToHandshakeWorker) => {
  if (m.type === 'identity') {
    const key = m.privateKey as PrivateKey | null;
    identity = key ? { privateKey: key, publicKey: publicKeyFromPrivate(key) } : null;
    for (const k of peers.keys()) peers.set(k, null);
  } else if (m.type === 'peers') {
    for (const c of m.changes) {
      const hex = Buffer.from(c.key).toString('hex');
      if (!c.present) peers.delete(hex);
      else if (!peers.has(hex)) peers.set(hex, null);
    }
  } else {
    const n = m.ids.length;
    const results = new Uint8Array(n * RESULT_SIZE);
    for (let i = 0; i < n; i++) {
      const msg = m.msgs.subarray(i * MESSAGE_INITIATION_SIZE, (i + 1) * MESSAGE_INITIATION_SIZE);
      let p: PrecomputedResponse | null = null;
      try {
        p = identity ? precomputeResponse(identity, msg, ssFor) : null;
      } catch {
        // A bug, not the sender's doing: the initiation fails like a bad one would.
      }
      writeResult(results, i, p);
    }
    if (answers.length === 0) setImmediate(answer);
    answers.push({ gen: m.gen, ids: m.ids, results });
  }
});

