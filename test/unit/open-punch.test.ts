import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import type { Endpoint } from '../../src/io/endpoint.js';
import { silentLogger } from '../../src/log.js';
import { MANY_SOCKETS, OpenPunch, PUNCH_TTL, PUNCH_WAITS_S, opensAttempt, punchSock, punchTargets, type PunchSignal } from '../../src/nat/open-punch.js';
import { PeerPath, QUICK_ATTEMPTS } from '../../src/nat/peer-path.js';

// The open-router punch's schedule on a fake clock: two OpenPunch instances whose Punch
// messages cross a fake relay (20 ms), every probe recorded with its time, socket and TTL.

const RELAY_MS = 20;
const TIMING = { heartbeatMs: 1500, trustMs: 3500, retryMs: 30_000, activeMs: 45_000 };
/** Each side's punch socket port (what its host's openSocket gives). */
const PORT = { lo: 41001, hi: 51001 };

interface Sent {
  side: 'lo' | 'hi';
  t: number;
  ep: string;
  sock: number;
  ttl: number | null;
}

function keyPair(): { lo: Uint8Array; hi: Uint8Array } {
  const a = publicKeyFromPrivate(generatePrivateKey());
  const b = publicKeyFromPrivate(generatePrivateKey());
  return Buffer.compare(a, b) < 0 ? { lo: a, hi: b } : { lo: b, hi: a };
}

function setup(opts: { hard?: { lo?: boolean; hi?: boolean }; noSocketLo?: boolean } = {}) {
  const clock = new FakeClock();
  const keys = keyPair();
  const sent: Sent[] = [];
  const signals: { side: 'lo' | 'hi'; m: PunchSignal }[] = [];
  /** Open punch sockets per side, and every close. */
  const socks = { lo: new Set<number>(), hi: new Set<number>() };
  const closes: { side: 'lo' | 'hi'; sock: number }[] = [];
  // Each side's view of the other: a public (NAT) endpoint and a LAN one.
  const peerOf = {
    lo: new PeerPath(keyToBase64(keys.hi), 7, TIMING),
    hi: new PeerPath(keyToBase64(keys.lo), 9, TIMING),
  };
  peerOf.lo.setNetmapEndpoints(['203.0.113.12:50854', '192.168.2.10:50854']);
  peerOf.hi.setNetmapEndpoints(['203.0.113.11:40270', '192.168.1.10:40270']);
  const current = { lo: true, hi: true };
  const punch = {} as Record<'lo' | 'hi', OpenPunch>;
  for (const side of ['lo', 'hi'] as const) {
    const other = side === 'lo' ? 'hi' : 'lo';
    punch[side] = new OpenPunch({
      clock,
      logger: silentLogger,
      ownKey: keys[side],
      natInfo: () => ({ udp: true, hard: opts.hard?.[side] === true }),
      canPunch: () => true,
      isCurrent: () => current[side],
      signal: (_p, m) => {
        signals.push({ side, m });
        clock.setTimeout(() => punch[other].receive(peerOf[other], m, clock.now()), RELAY_MS);
      },
      openSocket: async (k) => {
        if (side === 'lo' && opts.noSocketLo) return null;
        socks[side].add(k);
        return PORT[side] + k - punchSock(peerOf[side]);
      },
      closeSockets: (ks) => {
        for (const k of ks) {
          if (socks[side].delete(k)) closes.push({ side, sock: k });
        }
      },
      probe: (_p, ep: Endpoint, sock, ttl) => sent.push({ side, t: clock.now(), ep: ep.key, sock, ttl }),
    });
  }
  // The quick rounds are over on both sides.
  for (const p of Object.values(peerOf)) {
    p.attempts = QUICK_ATTEMPTS;
    p.lastFull = clock.now() - 2000;
  }
  const t0 = clock.now();
  /** Heartbeats (1.5 s) on both sides for `ms`; socket opens resolve between steps. */
  const run = async (ms: number): Promise<void> => {
    for (let left = ms; left > 0; left -= 100) {
      // As the heartbeat: only for peers without a direct path.
      if ((clock.now() - t0) % 1500 === 0) for (const s of ['lo', 'hi'] as const) if (!peerOf[s].best) punch[s].consider(peerOf[s], clock.now());
      await new Promise((r) => setImmediate(r));
      clock.advance(Math.min(100, left));
    }
  };
  return { clock, keys, sent, signals, socks, closes, current, peerOf, punch, run, t0 };
}

test('roles: the lower key opens the even attempts, the higher one the odd ones', () => {
  const { lo, hi } = keyPair();
  assert.equal(opensAttempt(lo, hi, 0), true);
  assert.equal(opensAttempt(hi, lo, 0), false);
  assert.equal(opensAttempt(lo, hi, 1), false);
  assert.equal(opensAttempt(hi, lo, 1), true);
});

test('punch targets: the peer\'s punch port at each of its public IPv4 addresses', () => {
  const p = new PeerPath(keyToBase64(keyPair().lo), 1, TIMING);
  p.setNetmapEndpoints(['203.0.113.12:1', '192.168.2.10:1', '100.64.1.2:1', '[2001:db8::1]:1', '198.51.100.9:2', '203.0.113.12:3']);
  assert.deepEqual(punchTargets(p, 40001).map((e) => e.key), ['203.0.113.12:40001', '198.51.100.9:40001']);
});

test('attempt 0: fresh sockets; the keeper probes once and refreshes at TTL 1, the opener is quiet, then probes at W', async () => {
  const { sent, signals, socks, closes, punch, peerOf, run, t0 } = setup();
  const W = PUNCH_WAITS_S[0] * 1000;
  await run(2000);
  assert.deepEqual(
    signals.map((s) => [s.side, s.m.ack, s.m.attempt, s.m.waitS, s.m.port, s.m.hard]),
    [['lo', false, 0, PUNCH_WAITS_S[0], PORT.lo, false], ['hi', true, 0, PUNCH_WAITS_S[0], PORT.hi, false]],
  );
  assert.deepEqual(punch.lo.phase(peerOf.lo), { role: 'opener', attempt: 0, phase: 'quiet' });
  assert.deepEqual(punch.hi.phase(peerOf.hi), { role: 'keeper', attempt: 0, phase: 'keep' });
  assert.deepEqual([...socks.lo], [punchSock(peerOf.lo)]);
  assert.deepEqual([...socks.hi], [punchSock(peerOf.hi)]);
  await run(W + 12_000);
  const rel = (s: Sent) => s.t - t0; // the first heartbeat asked: the quick rounds ended 2 s before
  for (const s of sent) {
    assert.equal(s.ep, s.side === 'lo' ? `203.0.113.12:${PORT.hi}` : `203.0.113.11:${PORT.lo}`, 'only the peer\'s punch socket');
    assert.equal(s.sock, punchSock(peerOf[s.side]), 'from our punch socket');
  }
  // Attempt 0 only (attempt 1, roles swapped, starts after it).
  const lo = sent.filter((s) => s.side === 'lo' && rel(s) <= W + 2 * RELAY_MS + 5000);
  const hi = sent.filter((s) => s.side === 'hi');
  // Keeper: one full-TTL probe as it acks, then TTL-1 refreshes every second past the opener's probes.
  assert.equal(hi[0].ttl, 64);
  assert.ok(rel(hi[0]) <= 2 * RELAY_MS + 100, `keeper probes at once: ${rel(hi[0])}`);
  assert.ok(hi.slice(1).every((s) => s.ttl === PUNCH_TTL));
  assert.ok(hi.slice(1).length >= W / 1000 + 6, `refreshes through the opener's probes: ${hi.length}`);
  // Opener: nothing before W (from the ack), then full probes every 200 ms for 5 s.
  assert.ok(Math.abs(rel(lo[0]) - (W + 2 * RELAY_MS)) <= 100, `opener probes at W: ${rel(lo[0])}`);
  assert.ok(lo.length >= 24 && lo.length <= 26 && lo.every((s) => s.ttl === null), `opener probes: ${lo.length}`);
  // No path: both sockets closed, and attempt 1 has the roles swapped.
  assert.ok(closes.some((c) => c.side === 'lo') && closes.some((c) => c.side === 'hi'));
  const next = signals.filter((s) => s.m.attempt === 1);
  assert.deepEqual(next.map((s) => [s.side, s.m.ack]), [['hi', false], ['lo', true]]);
  assert.equal(punch.hi.phase(peerOf.hi)?.role, 'opener');
  assert.equal(punch.lo.phase(peerOf.lo)?.role, 'keeper');
});

test('a confirmed direct path ends the run and keeps the punch socket it runs on; a path elsewhere closes it', async () => {
  const { sent, socks, punch, peerOf, run, clock } = setup();
  await run(PUNCH_WAITS_S[0] * 1000 + 3000); // the opener's probes went out
  assert.ok(sent.some((s) => s.side === 'lo' && s.ttl === null && s.t > PUNCH_WAITS_S[0] * 1000));
  for (const s of ['lo', 'hi'] as const) {
    const p = peerOf[s];
    p.confirm(punchTargets(p, PORT[s === 'lo' ? 'hi' : 'lo'])[0], punchSock(p), 1, clock.now());
    punch[s].confirmed(p);
  }
  const n = sent.length;
  assert.equal(punch.lo.phase(peerOf.lo), null);
  assert.equal(socks.lo.size + socks.hi.size, 2, 'the sockets carry the path');
  await run(10_000);
  assert.equal(sent.length, n);
  // A better path on the main socket: the punch socket goes.
  peerOf.lo.confirm(peerOf.lo.candidates.get('192.168.2.10:50854')!, 0, 0.1, clock.now());
  punch.lo.confirmed(peerOf.lo);
  assert.equal(socks.lo.size, 0);
});

test('attempts are bounded: waits grow, roles alternate, then it stops until the quick rounds run again', async () => {
  const { signals, socks, punch, peerOf, run, clock } = setup();
  const total = PUNCH_WAITS_S.reduce((a, w) => a + w * 1000 + 12_000, 0);
  await run(total + 30_000);
  const asks = signals.filter((s) => !s.m.ack);
  assert.deepEqual(asks.map((s) => [s.m.attempt, s.m.waitS, s.side]), PUNCH_WAITS_S.map((w, i) => [i, w, i % 2 === 0 ? 'lo' : 'hi']));
  assert.equal(punch.lo.phase(peerOf.lo), null);
  assert.equal(punch.hi.phase(peerOf.hi), null);
  assert.equal(socks.lo.size + socks.hi.size, 0, 'no socket left open');
  await run(120_000);
  assert.equal(signals.filter((s) => !s.m.ack).length, PUNCH_WAITS_S.length, 'nothing after the last');
  // Quick rounds again (new endpoints, a lost path): the punch starts over from attempt 0.
  for (const s of ['lo', 'hi'] as const) punch[s].consider(Object.assign(peerOf[s], { attempts: 0 }), clock.now());
  for (const p of Object.values(peerOf)) Object.assign(p, { attempts: QUICK_ATTEMPTS, lastFull: clock.now() - 2000 });
  await run(3000);
  assert.deepEqual(signals.at(-2)?.m, { attempt: 0, ack: false, waitS: PUNCH_WAITS_S[0], port: PORT.lo, hard: false });
});

test('a keeper behind an endpoint-dependent NAT keeps with many sockets; the opener sprays its address at W', async () => {
  const { sent, signals, socks, punch, peerOf, run, t0 } = setup({ hard: { hi: true } });
  const W = PUNCH_WAITS_S[0] * 1000;
  await run(2000);
  assert.deepEqual(signals.map((s) => [s.side, s.m.ack, s.m.port, s.m.hard]), [['lo', false, PORT.lo, false], ['hi', true, PORT.hi, true]]);
  assert.equal(socks.hi.size, MANY_SOCKETS);
  const rel = (s: Sent) => s.t - t0;
  const hi = sent.filter((s) => s.side === 'hi');
  // One real probe from every socket to the opener's punch socket, then TTL-1 refreshes from every socket.
  const first = hi.filter((s) => s.ttl === 64);
  assert.equal(first.length, MANY_SOCKETS);
  assert.equal(new Set(first.map((s) => s.sock)).size, MANY_SOCKETS);
  assert.ok(first.every((s) => s.ep === `203.0.113.11:${PORT.lo}`));
  await run(W + 4000);
  const lo = sent.filter((s) => s.side === 'lo');
  assert.ok(lo.length > 0 && rel(lo[0]) >= W, 'the opener is quiet until W');
  assert.equal(lo.length, 2048, 'the spray is bounded');
  assert.ok(lo.every((s) => s.ttl === 64 && s.sock === punchSock(peerOf.lo) && s.ep.startsWith('203.0.113.12:')));
  assert.ok(new Set(lo.map((s) => s.ep)).size > 1900, 'random ports');
  assert.ok(rel(lo.at(-1)!) - rel(lo[0]) < 1000, 'sprayed within a second');
  const refreshes = sent.filter((s) => s.side === 'hi' && s.ttl === PUNCH_TTL);
  assert.ok(refreshes.length >= MANY_SOCKETS * (W / 1000), `refreshes from every socket: ${refreshes.length}`);
  assert.deepEqual(punch.hi.phase(peerOf.hi), { role: 'keeper', attempt: 0, phase: 'keep' });
});

test('attempt 1 (the endpoint-dependent side would open): it invites, the other side opens', async () => {
  const { signals, socks, punch, peerOf, run } = setup({ hard: { hi: true } });
  await run(2000 + PUNCH_WAITS_S[0] * 1000 + 12_000);
  const one = signals.filter((s) => s.m.attempt === 1).map((s) => [s.side, s.m.ack, s.m.hard]);
  assert.deepEqual(one.slice(0, 3), [['hi', false, true], ['lo', false, false], ['hi', true, true]]);
  assert.deepEqual(punch.lo.phase(peerOf.lo), { role: 'opener', attempt: 1, phase: 'quiet' });
  assert.deepEqual(punch.hi.phase(peerOf.hi), { role: 'keeper', attempt: 1, phase: 'keep' });
  assert.equal(socks.hi.size, MANY_SOCKETS);
});

test('two endpoint-dependent NATs: invitations go unanswered 5 times, then it gives up for 10 minutes', async () => {
  const { signals, sent, socks, punch, peerOf, run, clock } = setup({ hard: { lo: true, hi: true } });
  await run(20_000);
  assert.deepEqual(signals.map((s) => [s.side, s.m.hard]), Array(5).fill(['lo', true]));
  assert.equal(sent.length, 0, 'no probe without an agreed schedule');
  assert.equal(punch.lo.phase(peerOf.lo), null);
  assert.equal(socks.lo.size + socks.hi.size, 0);
  // Quick rounds again (its endpoints change often): still not asked again for 10 minutes.
  const again = (): void => {
    for (const s of ['lo', 'hi'] as const) punch[s].consider(Object.assign(peerOf[s], { attempts: 0 }), clock.now());
    for (const p of Object.values(peerOf)) Object.assign(p, { attempts: QUICK_ATTEMPTS, lastFull: clock.now() - 2000 });
  };
  again();
  await run(200_000);
  assert.equal(signals.length, 5);
  await run(400_000);
  assert.equal(signals.length, 10, 'asked again (5 times) once the 10 minutes passed');
});

test('no punch socket: the attempt ends before any ask', async () => {
  const { signals, sent, punch, peerOf, run } = setup({ noSocketLo: true });
  await run(5000);
  assert.equal(signals.length, 0);
  assert.equal(sent.length, 0);
  assert.equal(punch.lo.phase(peerOf.lo), null);
});

test('a peer gone from the peer set: its punch socket closes', async () => {
  const { socks, current, punch, run } = setup();
  await run(2000);
  assert.equal(socks.lo.size, 1);
  current.lo = false;
  punch.lo.retain();
  assert.equal(socks.lo.size, 0);
});

test('an ask for an attempt that is ours to open, or older than our own run, is ignored', async () => {
  const { signals, punch, peerOf, run, clock } = setup();
  await run(2000); // lo opens attempt 0, hi keeps
  punch.lo.receive(peerOf.lo, { attempt: 0, ack: false, waitS: 35, port: 9, hard: false }, clock.now()); // attempt 0 is lo's
  assert.equal(punch.lo.phase(peerOf.lo)?.role, 'opener');
  punch.hi.receive(peerOf.hi, { attempt: 0, ack: false, waitS: 35, port: PORT.lo, hard: false }, clock.now()); // a repeat: acked again, run kept
  assert.deepEqual(signals.filter((s) => s.side === 'hi' && s.m.ack).map((s) => s.m.port), [PORT.hi, PORT.hi]);
  assert.equal(punch.hi.phase(peerOf.hi)?.phase, 'keep');
  // An ack for another attempt, or outside the ask phase, changes nothing.
  punch.lo.receive(peerOf.lo, { attempt: 3, ack: true, waitS: 35, port: 9, hard: false }, clock.now());
  assert.equal(punch.lo.phase(peerOf.lo)?.phase, 'quiet');
});
