import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, type PublicKey } from '../../src/crypto/keys.js';
import { PacketBatch } from '../../src/io/batch.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { isDiscoPacket } from '../../src/nat/disco.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { RecordingBind } from '../helpers/recording-bind.js';

// MagicBind's rendezvous hook (serverless mode without a relay member): with no relay,
// the disco it would send through the relay (call-me-maybe, pings) goes to the hook, here
// wired straight to the other node as the mutual member would; the other node pings the
// endpoints the call-me-maybe names. WireGuard packets never take the hook.

test('without a relay, call-me-maybe goes through the rendezvous hook and the peer pings back', async () => {
  const clock = new FakeClock();
  const keys = [generatePrivateKey(), generatePrivateKey()];
  const pubs = keys.map((k) => publicKeyFromPrivate(k)) as PublicKey[];
  const own = [Endpoint.of('203.0.113.11', 41641), Endpoint.of('203.0.113.12', 41641)];
  const inners = [new RecordingBind(), new RecordingBind()];
  const magics = keys.map((k, i) => new MagicBind({ inner: inners[i], privateKey: k, clock, heartbeatMs: 200, retryMs: 1000, ownEndpoints: () => [own[i]] }));
  await Promise.all(magics.map((m) => m.open(0, { onReceive: () => {} })));
  const hooked: Uint8Array[][] = [[], []];
  magics.forEach((m, i) => {
    m.rendezvous = (key, pkt) => {
      assert.equal(keyToBase64(key), keyToBase64(pubs[1 - i]));
      hooked[i].push(pkt.slice());
      magics[1 - i].receiveRendezvous(pubs[i], pkt);
      return true;
    };
  });
  // Each knows the other only at an address that does not answer (behind its NAT).
  const synth = magics.map((m, i) => m.setPeers([{ publicKey: keyToBase64(pubs[1 - i]), endpoints: ['192.168.9.9:41641'], homeRelay: null }]).get(keyToBase64(pubs[1 - i]))!);
  const pinged = (): boolean => inners[1].sent.some((s) => s.to === own[0].key && isDiscoPacket(s.pkt));
  // Discovery is lazy: WireGuard traffic to the peer starts it. That packet has no relay
  // to go to: dropped, never handed to the hook (only disco is, below).
  const wg = new PacketBatch(1, 2048);
  const pkt = new Uint8Array(64);
  pkt[0] = 4;
  wg.push(pkt);
  magics[0].send(wg, synth[0]);
  for (let t = 0; t < 50 && !pinged(); t++) clock.advance(200);
  assert.ok(hooked[0].length > 0 && hooked[0].every(isDiscoPacket), 'disco through the hook, WireGuard never');
  assert.ok(pinged(), 'the peer pinged the endpoint the call-me-maybe named');
  // Only disco is taken from the hook's other end.
  const rx = magics[1].stats.relayRx;
  magics[1].receiveRendezvous(pubs[0], pkt);
  assert.equal(magics[1].stats.relayRx, rx);
  await Promise.all(magics.map((m) => m.close()));
});
