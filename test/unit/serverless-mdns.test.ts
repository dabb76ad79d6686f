import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Answer, Packet } from 'dns-packet';
import { FakeClock } from '../../src/clock.js';
import { keyToBase64 } from '../../src/crypto/keys.js';
import { LanDiscovery, MDNS_QUERY_INTERVAL_MS, MDNS_SERVICE, type MdnsSocket } from '../../src/serverless/mdns.js';

// A shared multicast bus of fake mDNS sockets: what one sends, every other one receives.
class Bus {
  readonly sockets: FakeSocket[] = [];
  add(address: string): FakeSocket {
    const s = new FakeSocket(this, address);
    this.sockets.push(s);
    return s;
  }
}

class FakeSocket extends EventEmitter implements MdnsSocket {
  queries = 0;
  constructor(
    private readonly bus: Bus,
    private readonly address: string,
  ) {
    super();
  }
  query(q: { questions: { name: string; type: 'PTR' }[] }): void {
    this.queries++;
    for (const s of this.bus.sockets) if (s !== this) s.emit('query', { type: 'query', questions: q.questions } as Packet, { address: this.address, port: 5353 });
  }
  respond(r: { answers: Answer[] }): void {
    for (const s of this.bus.sockets) if (s !== this) s.emit('response', { type: 'response', answers: r.answers } as Packet, { address: this.address, port: 5353 });
  }
  destroy(): void {
    this.removeAllListeners();
  }
}

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

test('mDNS: members announce and find each other; untrusted and malformed announcements are ignored', () => {
  const clock = new FakeClock();
  const bus = new Bus();
  const found: string[] = [];
  const trusted = new Set([keyToBase64(key(1)), keyToBase64(key(2))]);
  const mk = (n: number, address: string, port: number): LanDiscovery =>
    new LanDiscovery({ publicKey: key(n), port, clock, socket: bus.add(address), trusted: (k) => trusted.has(keyToBase64(k)), onPeer: (k, ep) => found.push(`${n}<-${k[0]}@${ep.key}`) });
  const a = mk(1, '192.168.1.10', 41641);
  const b = mk(2, '192.168.1.11', 41642);
  const stranger = mk(3, '192.168.1.12', 41643);
  a.start();
  b.start();
  stranger.start();
  assert.ok(found.includes('1<-2@192.168.1.11:41642'));
  assert.ok(found.includes('2<-1@192.168.1.10:41641'));
  assert.ok(!found.some((f) => f.includes('<-3@')), 'the stranger is never reported');
  assert.ok(found.some((f) => f.startsWith('3<-')), 'the stranger may see us, but gossip will refuse it');
  assert.ok(a.counters.ignored > 0);
  // Junk: a TXT without a key, an SRV with a bad key.
  const before = found.length;
  bus.sockets[1].emit('response', { type: 'response', answers: [{ name: `x.${MDNS_SERVICE}`, type: 'SRV', data: { port: 1, target: 'x.local' } }, { name: `x.${MDNS_SERVICE}`, type: 'TXT', data: ['pk=AAAA'] }] } as Packet, { address: '192.168.1.66', port: 5353 });
  assert.equal(found.length, before);
  // Repeat answers for the same endpoint are reported once; queries repeat on the clock.
  const q = bus.sockets[0].queries;
  clock.advance(MDNS_QUERY_INTERVAL_MS);
  assert.equal(bus.sockets[0].queries, q + 1);
  assert.equal(found.filter((f) => f === '1<-2@192.168.1.11:41642').length, 1);
  a.stop();
  b.stop();
  stranger.stop();
});
