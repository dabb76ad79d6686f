import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { PeerPath, QUICK_ATTEMPTS } from '../../src/nat/peer-path.js';

// The per-peer path state machine on the fake clock: probing schedule, confirmation
// rules, expiry, and which pongs settle a probe.

const TIMING = { heartbeatMs: 1500, trustMs: 3500, retryMs: 30_000, activeMs: 45_000 };
const peer = () => new PeerPath(keyToBase64(publicKeyFromPrivate(generatePrivateKey())), 7, TIMING);
const txid = (n: number) => new Uint8Array(12).fill(n);

test('PeerPath: quick probe rounds every heartbeat, then every retryMs', () => {
  const clock = new FakeClock();
  const p = peer();
  let rounds = 0;
  for (let t = 0; t < 60_000; t += 500) {
    if (p.fullProbeDue(clock.now())) {
      rounds++;
      p.lastFull = clock.now();
    }
    clock.advance(500);
  }
  assert.equal(p.attempts, rounds);
  assert.equal(rounds, QUICK_ATTEMPTS + 1, 'five quick rounds in the first ~7.5 s, one more at retryMs');
});

test('PeerPath: a pong settles only the probe it answers, from where it went; the path expires after trustMs', () => {
  const clock = new FakeClock();
  const p = peer();
  const wan = Endpoint.of('198.51.100.7', 41641);
  const lan = Endpoint.of('10.0.0.7', 41641);
  p.probeSent(txid(1), wan, 0, clock.now());
  assert.equal(p.takeProbe(txid(2), wan, 0, false), 'unknown');
  assert.equal(p.takeProbe(txid(1), lan, 0, false), 'elsewhere');
  assert.equal(p.takeProbe(txid(1), wan, 3, false), 'elsewhere', 'another socket');
  assert.equal(p.takeProbe(txid(1), wan, 0, true), 'elsewhere', 'through the relay');
  clock.advance(40);
  const probe = p.takeProbe(txid(1), wan, 0, false);
  assert.ok(typeof probe === 'object');
  assert.equal(p.takeProbe(txid(1), wan, 0, false), 'unknown', 'settled once');
  assert.deepEqual(p.confirm(wan, 0, clock.now() - probe.sentAt, clock.now()), { was: null });
  assert.equal(p.firstDirectAt, clock.now());
  assert.ok(p.direct(clock.now()));
  // A LAN address of similar latency wins over the public one.
  assert.equal(p.confirm(lan, 0, 60, clock.now())?.was, wan);
  assert.ok(p.isBest(lan, 0));
  // A public path not clearly faster (> 20 %) does not displace it; the best one's pong refreshes it.
  assert.equal(p.confirm(wan, 0, 55, clock.now()), null);
  clock.advance(3000);
  assert.equal(p.confirm(lan, 0, 50, clock.now()), null);
  clock.advance(3000);
  assert.equal(p.expire(clock.now()), null, 'answered 3 s ago: still trusted');
  clock.advance(600);
  assert.equal(p.expire(clock.now()), null, 'idle (no traffic): the unpinged path is kept');
  p.lastActive = clock.now();
  assert.equal(p.expire(clock.now()), lan, 'active, no pong for > trustMs: dropped');
  assert.equal(p.best, null);
  assert.equal(p.attempts, QUICK_ATTEMPTS - 1, 'one immediate retry, then every retryMs');
  assert.ok(p.fullProbeDue(clock.now()));
  assert.match(p.whyNotDirect({ udp: true, hard: false }, clock.now()), /peer has no direct candidates/);
  p.addCandidate(wan);
  assert.match(p.whyNotDirect({ udp: true, hard: false }, clock.now()), /stopped answering/);
});

test('PeerPath: a peer waking from idle keeps its old path for trustMs, then drops it unless a pong came', () => {
  const clock = new FakeClock();
  const p = peer();
  const lan = Endpoint.of('10.0.0.7', 41641);
  p.lastActive = clock.now();
  p.confirm(lan, 0, 1, clock.now());
  clock.advance(60_000);
  assert.ok(p.idle(clock.now()) && p.kept(clock.now()) && !p.direct(clock.now()), 'idle: kept, not confirmed');
  p.lastActive = p.wokeAt = clock.now();
  clock.advance(TIMING.trustMs);
  assert.equal(p.expire(clock.now()), null, 'within trustMs of waking');
  clock.advance(1);
  assert.equal(p.expire(clock.now()), lan, 'no pong since waking');
});

test('PeerPath.wgEndpoint: the best path itself, or its address at the peer\'s own WireGuard port', () => {
  const p = peer();
  assert.equal(p.confirm(Endpoint.of('203.0.113.11', 50070), 0, 5, 0)?.was, null);
  assert.equal(p.wgEndpoint(p.best!).key, '203.0.113.11:50070', 'builtin peer: disco and WireGuard share the port');
  p.wgPort = 50069;
  const wg = p.wgEndpoint(p.best!, () => ({ hard: false }));
  assert.equal(wg.key, '203.0.113.11:50069', 'external engine: its WireGuard port');
  assert.equal(p.wgEndpoint(p.best!), wg, 'cached while the best path stays; unknown NAT counts as alike');
  assert.equal(p.wgEndpoint(p.best!, () => ({ hard: true })).key, '203.0.113.11:50070', 'behind our endpoint-dependent NAT: the peer\'s disco socket');
  assert.equal(p.wgPortAt(p.best!), wg, 'the address learnt for its WireGuard either way');
  p.confirm(Endpoint.of('192.168.1.5', 50070), 0, 0.5, 1);
  assert.equal(p.wgEndpoint(p.best!, () => ({ hard: false })).key, '192.168.1.5:50069');
});

test('PeerPath.reportedPath: a path at an endpoint the peer reported, not one found at another port', () => {
  const p = peer();
  p.setNetmapEndpoints(['203.0.113.11:50070', '192.168.1.5:50070']);
  p.confirm(Endpoint.of('203.0.113.11', 50070), 0, 5, 0);
  assert.ok(p.reportedPath(p.best!), 'its STUN address: the NAT maps alike');
  const q = peer();
  q.setNetmapEndpoints(['203.0.113.14:40001']);
  q.confirm(Endpoint.of('203.0.113.14', 51234), 0, 5, 0);
  assert.ok(!q.reportedPath(q.best!), 'found at another port (endpoint-dependent mapping)');
});
