import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, publicKeyFromPrivate, x25519, type PrivateKey } from '../../src/crypto/keys.js';
import { HandshakeOffload, OFFLOAD_START_RATE, type OffloadedInitiation } from '../../src/wireguard/handshake-offload.js';
import { readResult, RESULT_SIZE, writeResult } from '../../src/wireguard/handshake-offload-wire.js';
import {
  acceptPrecomputedResponse,
  consumeResponse,
  createInitiation,
  deriveSessionKeys,
  Handshake,
  precomputeResponse,
  type NoiseIdentity,
  type PrecomputedResponse,
  type ResponderPeer,
} from '../../src/wireguard/noise-protocol.js';
import { tai64n } from '../../src/wireguard/tai64n.js';

const ident = (k: PrivateKey = generatePrivateKey()): NoiseIdentity => ({ privateKey: k, publicKey: publicKeyFromPrivate(k) });

/** DH(responder static, initiator static), as the device caches it. */
const sharedStatic = (a: NoiseIdentity, b: NoiseIdentity): Uint8Array => x25519(a.privateKey, b.publicKey)!;
const NO_PSK = new Uint8Array(32);
/** The worker's view of initiator `b`: the DH and the psk (none unless given). */
const known = (a: NoiseIdentity, b: NoiseIdentity, psk: Uint8Array = NO_PSK): ResponderPeer => ({ ss: sharedStatic(a, b), psk });

/** An initiator towards `responder`, and the responder's handshake state for it (optionally with a psk). */
function pair(responder: NoiseIdentity, psk?: Uint8Array) {
  const me = ident();
  const mine = new Handshake(responder.publicKey, psk as never);
  mine.setIdentity(me);
  const theirs = new Handshake(me.publicKey, psk as never);
  theirs.setIdentity(responder);
  return { me, mine, theirs };
}

test('a precomputed response is the response: the initiator accepts it and both derive the same keys (psk too)', () => {
  const responder = ident();
  for (const psk of [undefined, new Uint8Array(32).fill(7)]) {
    const { me, mine, theirs } = pair(responder, psk);
    const init = createInitiation(me, mine, 11, tai64n(Date.now()))!;
    const p = precomputeResponse(responder, init, (rs) => (Buffer.from(rs).equals(Buffer.from(me.publicKey)) ? known(responder, me, psk) : null))!;
    assert.ok(p);
    const accepted = acceptPrecomputedResponse(theirs, p, 22, 1000)!;
    assert.ok(accepted);
    const rKeys = accepted.keys;
    assert.equal(theirs.state, 'zeroed', 'nothing of the handshake is left but its replay state');
    const ih = consumeResponse(me, accepted.response, (i) => (i === 11 ? mine : undefined))!;
    assert.ok(ih, 'initiator accepts the response');
    const iKeys = deriveSessionKeys(ih)!;
    assert.deepEqual(Buffer.from(iKeys.sendKey), Buffer.from(rKeys.recvKey));
    assert.deepEqual(Buffer.from(iKeys.recvKey), Buffer.from(rKeys.sendKey));
    assert.equal(rKeys.remoteIndex, 11);
    assert.equal(iKeys.remoteIndex, 22);
  }
  // Sealed with a psk the initiator does not hold: the initiator refuses the response.
  const { me, mine, theirs } = pair(responder);
  const init = createInitiation(me, mine, 12, tai64n(Date.now()))!;
  const wrong = acceptPrecomputedResponse(theirs, precomputeResponse(responder, init, () => known(responder, me, new Uint8Array(32).fill(9)))!, 23, 1000)!;
  assert.equal(consumeResponse(me, wrong.response, (i) => (i === 12 ? mine : undefined)), null);
});

test('accepting a precomputed response keeps the replay and flood checks and changes nothing when it refuses', () => {
  const responder = ident();
  const { me, mine, theirs } = pair(responder);
  const init = createInitiation(me, mine, 1, tai64n(Date.now()))!;
  const ss = (): ResponderPeer => known(responder, me);
  const p = precomputeResponse(responder, init, ss)!;
  assert.ok(acceptPrecomputedResponse(theirs, p, 2, 1000));
  // The same initiation again (same timestamp): a replay.
  assert.equal(acceptPrecomputedResponse(theirs, precomputeResponse(responder, init, ss)!, 3, 5000), null);
  assert.equal(theirs.state, 'zeroed');
  // A newer one within the flood interval: refused too.
  const again = createInitiation(me, mine, 4, tai64n(Date.now() + 1000))!;
  assert.equal(acceptPrecomputedResponse(theirs, precomputeResponse(responder, again, ss)!, 5, 1005), null);
  // Another peer's precomputation never lands on this handshake.
  const other = pair(responder);
  const foreign = precomputeResponse(responder, createInitiation(other.me, other.mine, 6, tai64n(Date.now()))!, () => known(responder, other.me))!;
  assert.equal(acceptPrecomputedResponse(theirs, foreign, 7, 9000), null);
  // An unknown key is refused before any further work.
  assert.equal(precomputeResponse(responder, again, () => null), null);
  // Garbage is refused, not thrown.
  assert.equal(precomputeResponse(responder, new Uint8Array(148).fill(1), ss), null);
  assert.equal(precomputeResponse(responder, new Uint8Array(3), ss), null);
});

test('the offload answers here below the start rate, then on the worker; stale and unknown initiations come back empty', async () => {
  const responder = ident();
  const peers = Array.from({ length: OFFLOAD_START_RATE + 8 }, () => pair(responder));
  const stranger = pair(responder);
  const results: { job: OffloadedInitiation; result: PrecomputedResponse | null }[] = [];
  let waiting: (() => void) | null = null;
  let keys = peers.map((p) => p.me.publicKey);
  const off = new HandshakeOffload({
    identity: () => responder.privateKey,
    peers: () => keys.map((key) => ({ key, psk: NO_PSK })),
    done: (job, result) => {
      results.push({ job: { ...job, src: job.src.slice() }, result }); // src is valid during the call only
      waiting?.();
    },
    failed: (err) => assert.fail(err),
  });
  const until = async (n: number): Promise<void> => {
    while (results.length < n) await new Promise<void>((r) => (waiting = r));
  };
  try {
    const answers = peers.map((p, i) => off.submit(createInitiation(p.me, p.mine, i + 1, tai64n(Date.now()))!, Uint8Array.of(i), 10));
    assert.deepEqual(answers.slice(0, OFFLOAD_START_RATE - 1), new Array(OFFLOAD_START_RATE - 1).fill('here'));
    assert.deepEqual(answers.slice(OFFLOAD_START_RATE - 1), new Array(peers.length - OFFLOAD_START_RATE + 1).fill('queued'));
    assert.ok(off.running);
    await until(answers.filter((a) => a === 'queued').length);
    for (const { job, result } of results) {
      const i = job.src[0];
      assert.ok(result, `peer ${i} answered`);
      assert.ok(acceptPrecomputedResponse(peers[i].theirs, result, 100 + i, 10));
    }
    // Jobs of several turns while the worker is busy: held back, sent in fewer messages, every one answered.
    results.length = 0;
    for (let k = 0; k < 6; k++) {
      off.submit(createInitiation(peers[k].me, peers[k].mine, 200 + k, tai64n(Date.now() + 10 + k))!, Uint8Array.of(k), 15);
      await Promise.resolve();
    }
    await until(6);
    assert.deepEqual(results.map((r) => [r.job.src[0], r.result !== null]), [0, 1, 2, 3, 4, 5].map((k) => [k, true]));
    // A key outside the peer set: no answer (as the device's own path refuses it).
    results.length = 0;
    off.submit(createInitiation(stranger.me, stranger.mine, 99, tai64n(Date.now()))!, Uint8Array.of(0), 20);
    await until(1);
    assert.equal(results[0].result, null);
    // Added later, it is answered; an identity change makes answers in flight stale.
    off.peerChanged(stranger.me.publicKey, NO_PSK);
    keys = [...keys, stranger.me.publicKey];
    results.length = 0;
    off.submit(createInitiation(stranger.me, stranger.mine, 98, tai64n(Date.now() + 1))!, Uint8Array.of(0), 30);
    await until(1);
    assert.ok(results[0].result);
    results.length = 0;
    off.submit(createInitiation(peers[0].me, peers[0].mine, 97, tai64n(Date.now() + 2))!, Uint8Array.of(0), 40);
    off.setIdentity(generatePrivateKey());
    await until(1);
    assert.equal(results[0].result, null);
  } finally {
    await off.close();
  }
  assert.equal(off.running, false);
});

test('answers cross as flat records: every field survives, a refusal reads back as null', () => {
  const responder = ident();
  const { me, mine } = pair(responder);
  const init = createInitiation(me, mine, 0xfedcba98, tai64n(Date.now()))!;
  const p = precomputeResponse(responder, init, () => known(responder, me))!;
  const buf = new Uint8Array(3 * RESULT_SIZE);
  writeResult(buf, 0, null);
  writeResult(buf, 2, p);
  assert.equal(readResult(buf, 0), null);
  assert.equal(readResult(buf, 1), null, 'a record never written');
  assert.equal(readResult(buf, 3), null, 'past the end');
  const back = readResult(buf, 2)!;
  const plain = (r: PrecomputedResponse): Record<string, unknown> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v) : v]));
  assert.deepEqual(plain(back), plain(p));
  assert.equal(back.remoteIndex, 0xfedcba98);
});

test('answers are finished in slices with I/O between them, and closing finishes the rest as refused, each once', async () => {
  const responder = ident();
  const peers = Array.from({ length: OFFLOAD_START_RATE + 24 }, () => pair(responder));
  const events: string[] = [];
  const done = new Map<number, PrecomputedResponse | null>();
  let closing = false;
  let waiting: (() => void) | null = null;
  // Budget 0: one answer per event-loop turn; the turn's I/O is stood in for by a setImmediate.
  const off = new HandshakeOffload(
    {
      identity: () => responder.privateKey,
      peers: () => peers.map((p) => ({ key: p.me.publicKey, psk: NO_PSK })),
      done: (job, result) => {
        assert.ok(!done.has(job.src[0]), 'finished once');
        done.set(job.src[0], result);
        if (!closing) {
          events.push('done');
          setImmediate(() => events.push('io'));
        }
        waiting?.();
      },
      failed: (err) => assert.fail(err),
    },
    0,
  );
  const queued: number[] = [];
  peers.forEach((p, i) => {
    if (off.submit(createInitiation(p.me, p.mine, i + 1, tai64n(Date.now()))!, Uint8Array.of(i), 10) === 'queued') queued.push(i);
  });
  assert.ok(queued.length >= 24);
  while (done.size < 12) await new Promise<void>((r) => (waiting = r));
  closing = true;
  await off.close();
  assert.deepEqual([...done.keys()].sort((a, b) => a - b), queued, 'every queued job finished');
  const answered = [...done.values()].filter((r) => r !== null).length;
  assert.ok(answered >= 12 && answered < queued.length, `some answered (${answered}), the rest refused at close`);
  assert.ok(!events.join(' ').includes('done done'), `I/O between answers: ${events.join(' ')}`);
});
