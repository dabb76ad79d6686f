import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { isZeroKey, publicKeyFromPrivate, x25519, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { nativeOptional } from '../io/native.js';
import { preferShortSlices } from '../io/sched-slice.js';
import { precomputeResponse, type NoiseIdentity, type PrecomputedResponse, type ResponderPeer } from './noise-protocol.js';
import { RESULT_SIZE, writeResult } from './handshake-offload-wire.js';
import { MESSAGE_INITIATION_SIZE } from './messages.js';
import type { ToHandshakeWorker, FromHandshakeWorker } from './handshake-offload.js';

// The handshake worker thread (handshake-offload.ts starts it): the cryptography of
// answering initiations (X25519, the key schedule, the response's seal and the
// session's keys), so a handshake storm runs on the second core and the device's
// thread, which moves the established sessions' data, does little more per handshake
// than a replay check and an index. It holds our private key and the peers' public and
// pre-shared keys (the static-static DH computed once per peer, as the device does);
// timestamps of earlier handshakes, indices and sessions stay with the device.

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
// Between initiations the worker gives up its core to any thread waiting for it. A
// woken thread is usually queued on the core it last ran on, and the scheduler does not
// move it to the other one while it is cache-hot: without this, the device thread (or a
// local peer) could wait behind a whole batch of initiations, milliseconds, for its turn.
// Measured: ping p99 through an established session in a 1,024-peer storm 3.1 -> 2.1 ms
// (docs/BENCHMARKS.md), handshakes/s unchanged. A yield with nothing waiting costs one
// system call.
const yieldCpu = nativeOptional('yieldCpu') ?? ((): void => {});
// And it hands its core over after short slices, whoever started it (io/sched-slice.ts).
preferShortSlices();

let identity: NoiseIdentity | null = null;
/** Peer key (hex) -> its psk and DH(s, peer), ss empty until the first initiation needs it. */
const peers = new Map<string, { ss: Uint8Array | null; psk: Uint8Array }>();

function peerFor(rs: PublicKey): ResponderPeer | null {
  const p = peers.get(Buffer.from(rs).toString('hex'));
  if (!p) return null;
  if (!p.ss) {
    p.ss = x25519(identity!.privateKey, rs);
    if (!p.ss) return null;
  }
  return isZeroKey(p.ss) ? null : (p as ResponderPeer);
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
    for (const p of peers.values()) p.ss = null;
  } else if (m.type === 'peers') {
    for (const c of m.changes) {
      const hex = Buffer.from(c.key).toString('hex');
      const p = peers.get(hex);
      if (!c.psk) peers.delete(hex);
      else if (p) p.psk = c.psk;
      else peers.set(hex, { ss: null, psk: c.psk });
    }
  } else {
    const n = m.ids.length;
    const results = new Uint8Array(n * RESULT_SIZE);
    for (let i = 0; i < n; i++) {
      const msg = m.msgs.subarray(i * MESSAGE_INITIATION_SIZE, (i + 1) * MESSAGE_INITIATION_SIZE);
      let p: PrecomputedResponse | null = null;
      try {
        p = identity ? precomputeResponse(identity, msg, peerFor) : null;
      } catch {
        // A bug, not the sender's doing: the initiation fails like a bad one would.
      }
      writeResult(results, i, p);
      p?.sendKey.fill(0);
      p?.recvKey.fill(0);
      yieldCpu();
    }
    if (answers.length === 0) setImmediate(answer);
    answers.push({ gen: m.gen, ids: m.ids, results });
  }
});

