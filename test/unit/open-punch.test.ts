import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import type { Endpoint } from '../../src/io/endpoint.js';
import { silentLogger } from '../../src/log.js';
import { OpenPunch, PUNCH_TTL, PUNCH_WAITS_S, opensAttempt, punchTargets, type PunchSignal } from '../../src/nat/open-punch.js';
import { PeerPath, QUICK_ATTEMPTS } from '../../src/nat/peer-path.js';

// The open-router punch's schedule on a fake clock: two OpenPunch instances whose Punch
// messages cross a fake relay (20 ms), every probe recorded with its time and TTL.

const RELAY_MS = 20;
const TIMING = { heartbeatMs: 1500, trustMs: 3500, retryMs: 30_000, activeMs: 45_000 };

interface Sent {
  side: 'lo' | 'hi';
  t: number;
  ep: string;
  ttl: number | null;
}

function keyPair(): { lo: Uint8Array; hi: Uint8Array } {
  const a = publicKeyFromPrivate(generatePrivateKey());
  const b = publicKeyFromPrivate(generatePrivateKey());
  return Buffer.compare(a, b) < 0 ? { lo: a, hi: b } : { lo: b, hi: a };
}

function setup(opts: { hardHi?: boolean } = {}) {
  const clock = new FakeClock();
  const keys = keyPair();
  const sent: Sent[] = [];
  const signals: { side: 'lo' | 'hi'; m: PunchSignal }[] = [];
  // Each side's view of the other: a public (NAT) endpoint and a LAN one.
  const peerOf = {
    lo: new PeerPath(keyToBase64(keys.hi), 1, TIMING),
    hi: new PeerPath(keyToBase64(keys.lo), 1, TIMING),
  };
  peerOf.lo.setNetmapEndpoints(['203.0.113.12:50854', '192.168.2.10:50854']);
  peerOf.hi.setNetmapEndpoints(['203.0.113.11:40270', '192.168.1.10:40270']);
  const punch = {} as Record<'lo' | 'hi', OpenPunch>;
  for (const side of ['lo', 'hi'] as const) {
    const other = side === 'lo' ? 'hi' : 'lo';
    punch[side] = new OpenPunch({
      clock,
      logger: silentLogger,
      ownKey: keys[side],
      natInfo: () => ({ udp: true, hard: side === 'hi' && opts.hardHi === true }),
      canTtl: () => true,
      isCurrent: () => true,
      signal: (_p, m) => {
        signals.push({ side, m });
        clock.setTimeout(() => punch[other].receive(peerOf[other], m, clock.now()), RELAY_MS);
      },
      probe: (_p, ep: Endpoint, ttl) => sent.push({ side, t: clock.now(), ep: ep.key, ttl }),
    });
  }
  // The quick rounds are over on both sides.
  for (const p of Object.values(peerOf)) {
    p.attempts = QUICK_ATTEMPTS;
    p.lastFull = clock.now() - 2000;
  }
  const t0 = clock.now();
  /** Heartbeats (1.5 s) on both sides for `ms`. */
  const run = (ms: number): void => {
    for (let left = ms; left > 0; left -= 100) {
      // As the heartbeat: only for peers without a direct path.
      if ((clock.now() - t0) % 1500 === 0) for (const s of ['lo', 'hi'] as const) if (!peerOf[s].best) punch[s].consider(peerOf[s], clock.now());
      clock.advance(Math.min(100, left));
    }
  };
  return { clock, keys, sent, signals, peerOf, punch, run, t0 };
}

test('roles: the lower key opens the even attempts, the higher one the odd ones', () => {
  const { lo, hi } = keyPair();
  assert.equal(opensAttempt(lo, hi, 0), true);
  assert.equal(opensAttempt(hi, lo, 0), false);
  assert.equal(opensAttempt(lo, hi, 1), false);
  assert.equal(opensAttempt(hi, lo, 1), true);
});

test('punch targets: the public IPv4 candidates only', () => {
  const p = new PeerPath(keyToBase64(keyPair().lo), 1, TIMING);
  p.setNetmapEndpoints(['203.0.113.12:1', '192.168.2.10:1', '100.64.1.2:1', '[2001:db8::1]:1', '198.51.100.9:2']);
  assert.deepEqual(punchTargets(p).map((e) => e.key), ['203.0.113.12:1', '198.51.100.9:2']);
});

test('attempt 0: ask and ack through the relay; keeper refreshes at TTL 1, opener is quiet, one probe at W, keeper probes after 2W', () => {
  const { sent, signals, punch, peerOf, run, t0 } = setup();
  const W = PUNCH_WAITS_S[0] * 1000;
  run(2000);
  assert.deepEqual(signals.map((s) => [s.side, s.m.ack, s.m.attempt, s.m.waitS]), [['lo', false, 0, PUNCH_WAITS_S[0]], ['hi', true, 0, PUNCH_WAITS_S[0]]]);
  assert.deepEqual(punch.lo.phase(peerOf.lo), { role: 'opener', attempt: 0, phase: 'quiet' });
  assert.deepEqual(punch.hi.phase(peerOf.hi), { role: 'keeper', attempt: 0, phase: 'keep' });
  // Normal probes to the peer's public endpoint wait while the run lasts; the LAN one does not.
  assert.equal(punch.lo.holds(peerOf.lo, peerOf.lo.candidates.get('203.0.113.12:50854')!), true);
  assert.equal(punch.lo.holds(peerOf.lo, peerOf.lo.candidates.get('192.168.2.10:50854')!), false);
  run(2 * W + 12_000);
  const ask = signals[0];
  assert.ok(ask);
  const tAsk = t0; // the first heartbeat: the quick rounds ended 2 s before
  const rel = (s: Sent) => s.t - tAsk;
  for (const s of sent) assert.ok(s.ep === (s.side === 'lo' ? '203.0.113.12:50854' : '203.0.113.11:40270'), 'only the public endpoint');
  const lo = sent.filter((s) => s.side === 'lo');
  const hi = sent.filter((s) => s.side === 'hi');
  // Opener: nothing before W, one full-TTL probe at W (from the ack), then TTL-1 refreshes every second.
  assert.ok(lo.length > 0);
  assert.equal(lo[0].ttl, null);
  assert.ok(Math.abs(rel(lo[0]) - (W + 2 * RELAY_MS)) <= 100, `opener probes at W: ${rel(lo[0])}`);
  assert.ok(lo.slice(1).every((s) => s.ttl === PUNCH_TTL));
  assert.ok(lo.slice(1).length >= W / 1000 + 4, 'refreshes through the keeper probes');
  // Keeper: TTL-1 refreshes every second until W, silence until 2W, then full probes every 200 ms for 5 s.
  const keep = hi.filter((s) => rel(s) < W + 500);
  assert.ok(keep.length >= W / 1000 - 1 && keep.every((s) => s.ttl === PUNCH_TTL), 'keeper refreshes at TTL 1');
  assert.equal(hi.filter((s) => rel(s) >= W + 500 && rel(s) < 2 * W).length, 0, 'keeper silent while the poison ages');
  const probes = hi.filter((s) => rel(s) >= 2 * W);
  assert.ok(probes.length >= 24 && probes.length <= 26 && probes.every((s) => s.ttl === null), `keeper probes: ${probes.length}`);
  // No path: the attempt is over on both sides, and attempt 1 has the roles swapped.
  const next = signals.filter((s) => s.m.attempt === 1);
  assert.deepEqual(next.map((s) => [s.side, s.m.ack]), [['hi', false], ['lo', true]]);
  assert.equal(punch.hi.phase(peerOf.hi)?.role, 'opener');
  assert.equal(punch.lo.phase(peerOf.lo)?.role, 'keeper');
});

test('a confirmed direct path ends the run on both sides: no more probes', () => {
  const { sent, punch, peerOf, run, clock } = setup();
  run(PUNCH_WAITS_S[0] * 1000 + 3000); // the opener's probe went out
  assert.ok(sent.some((s) => s.side === 'lo' && s.ttl === null));
  for (const s of ['lo', 'hi'] as const) {
    const p = peerOf[s];
    p.confirm(punchTargets(p)[0], 0, 1, clock.now());
    punch[s].confirmed(p);
  }
  const n = sent.length;
  assert.equal(punch.lo.phase(peerOf.lo), null);
  assert.equal(punch.lo.holds(peerOf.lo, peerOf.lo.candidates.get('203.0.113.12:50854')!), false);
  run(10_000);
  assert.equal(sent.length, n);
});

test('attempts are bounded: waits grow, roles alternate, then it stops until the quick rounds run again', () => {
  const { signals, punch, peerOf, run, clock } = setup();
  const total = PUNCH_WAITS_S.reduce((a, w) => a + 2 * w * 1000 + 12_000, 0);
  run(total + 30_000);
  const asks = signals.filter((s) => !s.m.ack);
  assert.deepEqual(asks.map((s) => [s.m.attempt, s.m.waitS, s.side]), PUNCH_WAITS_S.map((w, i) => [i, w, i % 2 === 0 ? 'lo' : 'hi']));
  assert.equal(punch.lo.phase(peerOf.lo), null);
  assert.equal(punch.hi.phase(peerOf.hi), null);
  run(120_000);
  assert.equal(signals.filter((s) => !s.m.ack).length, PUNCH_WAITS_S.length, 'nothing after the last');
  // Quick rounds again (new endpoints, a lost path): the punch starts over from attempt 0.
  for (const s of ['lo', 'hi'] as const) punch[s].consider(Object.assign(peerOf[s], { attempts: 0 }), clock.now());
  for (const p of Object.values(peerOf)) Object.assign(p, { attempts: QUICK_ATTEMPTS, lastFull: clock.now() - 2000 });
  run(3000);
  assert.deepEqual(signals.at(-2)?.m, { attempt: 0, ack: false, waitS: PUNCH_WAITS_S[0] });
});

test('a peer behind an endpoint-dependent NAT does not keep: the opener asks 5 times and gives up', () => {
  const { signals, sent, punch, peerOf, run, clock } = setup({ hardHi: true });
  run(20_000);
  assert.equal(signals.filter((s) => s.side === 'lo' && !s.m.ack).length, 5);
  assert.equal(signals.filter((s) => s.m.ack).length, 0);
  assert.equal(sent.length, 0, 'no probe without an agreed schedule');
  assert.equal(punch.lo.phase(peerOf.lo), null);
  // Quick rounds again (its endpoints change often): still not asked again for 10 minutes.
  const again = (): void => {
    for (const s of ['lo', 'hi'] as const) punch[s].consider(Object.assign(peerOf[s], { attempts: 0 }), clock.now());
    for (const p of Object.values(peerOf)) Object.assign(p, { attempts: QUICK_ATTEMPTS, lastFull: clock.now() - 2000 });
  };
  again();
  run(200_000);
  assert.equal(signals.length, 5);
  run(400_000);
  assert.equal(signals.length, 10, 'asked again (5 times) once the 10 minutes passed');
});

test('an ask for an attempt that is ours to open, or older than our own run, is ignored', () => {
  const { signals, punch, peerOf, run, clock } = setup();
  run(2000); // lo opens attempt 0, hi keeps
  punch.lo.receive(peerOf.lo, { attempt: 0, ack: false, waitS: 35 }, clock.now()); // attempt 0 is lo's
  assert.equal(punch.lo.phase(peerOf.lo)?.role, 'opener');
  punch.hi.receive(peerOf.hi, { attempt: 0, ack: false, waitS: 35 }, clock.now()); // a repeat: acked again, run kept
  assert.equal(signals.filter((s) => s.side === 'hi' && s.m.ack).length, 2);
  assert.equal(punch.hi.phase(peerOf.hi)?.phase, 'keep');
  // An ack for another attempt, or outside the ask phase, changes nothing.
  punch.lo.receive(peerOf.lo, { attempt: 3, ack: true, waitS: 35 }, clock.now());
  assert.equal(punch.lo.phase(peerOf.lo)?.phase, 'quiet');
});
