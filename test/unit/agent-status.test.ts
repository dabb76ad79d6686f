import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expiryWarning, formatStatus, type StatusJson } from '../../src/agent/status.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-05T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function status(expiresAt: string | null): StatusJson {
  return {
    self: { name: 'laptop', fqdn: 'laptop.weft.internal', ipv4: '100.64.0.1', ipv6: 'fd00::1', publicKey: 'k', online: true, endpoints: [], listenPort: 1, iface: 'weft0', expiresAt },
    coordinator: { url: 'http://c', connected: true },
    peers: [],
  };
}

test('weft status warns from 7 days before the node key expires, and after', () => {
  assert.equal(expiryWarning(null, 'laptop', NOW), null, 'never expires');
  assert.equal(expiryWarning(iso(NOW + 7 * DAY + 1000), 'laptop', NOW), null, 'more than a week left');
  assert.match(expiryWarning(iso(NOW + 7 * DAY - 1000), 'laptop', NOW)!, /^warning: this node's key expires in 7 days \(2026-12-12T11:59:59\.000Z\); .*weft up --force-reauth --auth-key KEY.*weft nodes extend laptop/);
  assert.match(expiryWarning(iso(NOW + 5 * 3_600_000), 'laptop', NOW)!, /expires in 5 hours/);
  assert.match(expiryWarning(iso(NOW + 60_000), 'laptop', NOW)!, /expires in less than an hour/);
  assert.match(expiryWarning(iso(NOW - DAY), 'laptop', NOW)!, /^warning: this node's key expired at 2026-12-04T12:00:00\.000Z; /);
  const text = formatStatus(status(iso(NOW + 2 * DAY)), NOW).split('\n');
  assert.match(text[0], /^warning: this node's key expires in 2 days/);
  assert.match(text[1], /^100\.64\.0\.1\s+laptop\s+self/);
  assert.doesNotMatch(formatStatus(status(iso(NOW + 30 * DAY)), NOW), /warning/);
});

test('weft status says when the tunnel is down while the agent runs', () => {
  assert.match(formatStatus({ ...status(null), coordinator: { url: 'http://c', connected: false }, tunnelDown: true }, NOW), /^100\.64\.0\.1\s+laptop\s+self\s+tunnel down/);
  assert.match(formatStatus(status(null), NOW), /self\s+coordinator connected$/);
});

test('weft status shows the DHT with --discovery dht|both: table, records, our record, lookups', () => {
  const dht = { contacts: 4, records: 5, published: { seq: 7, expiresAt: iso(NOW + DAY), stores: 2 }, lookups: 3, found: 2, rx: 40, tx: 41, dropped: 1 };
  const members = [{ publicKey: 'k', name: 'laptop', ipv4: '100.64.0.1', ipv6: 'fd00::1', incarnation: 0, state: 'alive' as const, endpoints: [], self: true }];
  const text = formatStatus({ ...status(null), members, dht }, NOW);
  assert.match(text, /^-\s+dht\s+4 contacts\s+5 records held, ours stored 2x \(seq 7\), lookups 3 \(found 2\), dropped 1$/m);
  assert.match(formatStatus({ ...status(null), dht: { ...dht, published: null } }, NOW), /ours not yet published/);
  assert.doesNotMatch(formatStatus(status(null), NOW), /dht/, 'no line without the DHT');
});

test('weft status shows the exit circuit and what its TUN path dropped', () => {
  const tun = { accepted: 4, refused: 1, dialFailed: 0, nonTcpDropped: 7, unknownFlow: 0, flows: 2, stack: 'addon' as const, toHost: 9, toHostFailed: 0 };
  assert.match(formatStatus({ ...status(null), circuit: { hops: 3, path: ['a', 'b', 'gw'], tun } }, NOW), /exit circuit\s+3 hops a -> b -> gw\s+TUN: 4 TCP streams, 1 refused, 0 failed, 7 non-TCP dropped$/m);
  assert.match(formatStatus({ ...status(null), circuit: { hops: 3, path: null } }, NOW), /exit circuit\s+3 hops, none built\s+SOCKS5 entry only$/m);
  assert.doesNotMatch(formatStatus(status(null), NOW), /exit circuit/);
});
