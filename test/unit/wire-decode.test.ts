import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newDecodeStats, parseClientMessage, parseServerMessage, validRelays } from '../../src/wire/decode.js';
import { nodeView } from './helpers.js';

test('parseServerMessage drops malformed messages and invalid peers, and counts both', () => {
  const stats = newDecodeStats();
  const bad = ['', 'null', '{', '[]', '{"type":"full"}', '{"type":"delta","seq":"x","upserts":[],"removals":[]}', '{"type":"nope"}'];
  for (const b of bad) assert.equal(parseServerMessage(b, stats), null, b);
  assert.equal(stats.malformed, bad.length);
  const good = nodeView(1);
  const m = parseServerMessage(JSON.stringify({ type: 'delta', seq: 3, upserts: [good, { ...good, ipv4: 'x' }, { ...good, publicKey: 'short' }, 7], removals: ['k', 5] }), stats);
  assert.deepEqual(m, { type: 'delta', seq: 3, upserts: [good], removals: ['k'] });
  assert.deepEqual(stats, { malformed: bad.length, droppedItems: 4 });
  const full = parseServerMessage(JSON.stringify({ type: 'full', netmap: { seq: 1, domain: 'd', ipv4Range: 'r4', ipv6Range: 'r6', self: good, peers: [good, {}], dns: 5 } }), stats);
  assert.equal(full?.type === 'full' && full.netmap.peers.length, 1);
  assert.equal(full?.type === 'full' && 'dns' in full.netmap, false, 'an invalid dns config is dropped');
  assert.equal(stats.droppedItems, 5);
  assert.deepEqual(parseServerMessage('{"type":"pong","id":1}'), { type: 'pong', id: 1 }, 'works without stats');
  fc.assert(fc.property(fc.string(), (s) => void parseServerMessage(s, stats)));
  fc.assert(fc.property(fc.jsonValue(), (j) => void parseServerMessage(JSON.stringify({ type: 'full', netmap: j }))));
});

test('validRelays keeps well-formed relays only and counts the rest', () => {
  const stats = newDecodeStats();
  const ok = { id: 'default', url: 'wss://relay.test/relay', stun: ['192.0.2.1:3478'] };
  assert.deepEqual(validRelays([ok, { ...ok, url: 'http://x' }, { ...ok, stun: [1] }, null], stats), [ok]);
  assert.equal(stats.droppedItems, 3);
  assert.deepEqual(validRelays('nope', stats), []);
});

test('parseClientMessage: exact shapes only; every malformed message is an ERR_BAD_MESSAGE and counted', () => {
  const stats = newDecodeStats();
  assert.deepEqual(parseClientMessage('{"type":"ping","id":4}', stats), { type: 'ping', id: 4 });
  assert.deepEqual(parseClientMessage('{"type":"endpoints","endpoints":["x"]}', stats), { type: 'endpoints', endpoints: ['x'] });
  assert.deepEqual(parseClientMessage('{"routes":7,"type":"routes"}', stats), { type: 'routes', routes: 7 }, 'contents are the coordinator\'s to check');
  assert.equal(stats.malformed, 0);
  const cases: Array<[string | null, string]> = [
    [null, 'messages must be JSON text'],
    ['{', 'messages must be JSON text'],
    ['[]', 'message must be a JSON object'],
    ['{"type":"ping","id":1.5}', 'ping needs exactly an integer id'],
    ['{"type":"ping","id":1,"x":2}', 'ping needs exactly an integer id'],
    ['{"type":"endpoints"}', 'endpoints needs exactly an endpoints array'],
    ['{"type":"routes","routes":[],"extra":1}', 'routes needs exactly a routes array'],
    ['{"type":"other"}', 'unknown message type'],
  ];
  for (const [text, message] of cases) assert.deepEqual(parseClientMessage(text, stats), { error: { code: 'ERR_BAD_MESSAGE', message } }, String(text));
  assert.equal(stats.malformed, cases.length);
  fc.assert(fc.property(fc.string(), (s) => void parseClientMessage(s, stats)));
});
