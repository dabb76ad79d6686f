import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildEcho } from '../../src/agent/icmp.js';
import { AdminClient } from '../../src/control/admin-client.js';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { scrape, type Exposition } from '../helpers/prom-text.js';
import { waitFor } from '../helpers/wait.js';

// An agent in-process with --metrics-listen on 127.0.0.1:0 (NAT traversal on, the
// coordinator's embedded relay on loopback): the per-peer, path, relay and filter series
// move with the traffic the test makes.

describe('agent /metrics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-metrics-'));
  const net = new FakeNetwork();
  let coord: Coordinator;
  let a: InProcessNode, b: InProcessNode;
  let metrics: string;

  before(async () => {
    mkdirSync(join(dir, 'server'), { recursive: true, mode: 0o700 });
    coord = createCoordinator({ stateDir: join(dir, 'server'), listen: '127.0.0.1:0' });
    await coord.start();
    const authKey = (await createAuthKey(coord.store, { reusable: true, expirySeconds: 3600 }, Date.now())).key!;
    const node = (name: string, ip: string, extra = {}) =>
      createInProcessNode(net, ip, { stateDir: join(dir, name), serverUrl: coord.url, authKey, hostname: name, localApi: false, endpointPollMs: 300, nat: { heartbeatMs: 300, trustMs: 1000, retryMs: 3000 }, ...extra });
    a = node('a', '10.9.0.1', { metricsListen: { host: '127.0.0.1', port: 0 } });
    b = node('b', '10.9.0.2');
    await a.agent.start();
    await b.agent.start();
    metrics = `${a.agent.metricsUrl}/metrics`;
    assert.ok(await waitFor(() => a.agent.peers.size === 1 && b.agent.peers.size === 1, 3000));
  });

  after(async () => {
    await a?.agent.stop();
    await b?.agent.stop();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // A loaded machine may lose the first ping to the handshake; a few tries, bounded.
  const ping = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) if (await a.agent.ping('b', 2000).then(() => true, () => false)) return;
    assert.fail('no pong from b in 5 tries');
  };

  test('handshakes, packets and bytes per peer; path, path changes and relay use', async () => {
    const first = await scrape(metrics);
    assert.equal(first.value('weft_agent_coordinator_connected'), 1);
    assert.equal(first.value('weft_agent_peers'), 1);
    for (let i = 0; i < 4; i++) await ping();
    assert.ok(await waitFor(() => a.agent.status().peers[0].path === 'direct', 8000), 'a direct path between LAN neighbours');
    const m = await scrape(metrics);
    const peer = { peer: 'b' };
    assert.ok(m.value('weft_agent_peer_handshakes_total', peer)! >= 1);
    assert.ok(m.value('weft_agent_peer_sent_packets_total', peer)! >= 4 + 1, 'four pings and a handshake');
    assert.ok(m.value('weft_agent_peer_received_packets_total', peer)! >= 4 + 1);
    assert.ok(m.value('weft_agent_peer_last_handshake_timestamp_seconds', peer)! > Date.now() / 1000 - 60);
    assert.equal(m.value('weft_agent_peer_path', { peer: 'b', path: 'direct' }), 1);
    assert.equal(m.value('weft_agent_peer_path', { peer: 'b', path: 'relay' }), 0);
    assert.ok(m.value('weft_agent_path_changes_total', { to: 'direct' })! >= 1);
    assert.ok(m.sum('weft_agent_relay_packets_total') >= 1, 'the first packets went over the relay');
    const peerStatus = a.agent.status().peers[0];
    assert.equal(m.value('weft_agent_peer_received_bytes_total', peer), peerStatus.rxBytes, 'the same counters as weft status');

    const sent = m.value('weft_agent_peer_sent_packets_total', peer)!;
    const direct = m.value('weft_agent_direct_sent_packets_total')!;
    for (let i = 0; i < 3; i++) await ping();
    const m2 = await scrape(metrics);
    assert.ok(m2.value('weft_agent_peer_sent_packets_total', peer)! >= sent + 3);
    assert.ok(m2.value('weft_agent_direct_sent_packets_total')! >= direct + 3);
  });

  test('filter verdicts and drop reasons', async () => {
    const ipA = a.agent.self!.ipv4, ipB = b.agent.self!.ipv4;
    const verdict = (e: Exposition, verdict: string, reason: string) => e.value('weft_agent_filter_packets_total', { verdict, reason })!;
    const echo = (seq: number) => buildEcho({ src: ipB, dst: ipA, request: true, id: 77, seq, payload: new Uint8Array(8) });
    const m0 = await scrape(metrics);
    b.tun.inject(echo(1));
    assert.ok(await waitFor(() => acceptedByRule(a) > verdict(m0, 'accepted', 'rule'), 3000));
    const m1 = await scrape(metrics);
    // At least: a late echo reply to one of a's pings is judged here too.
    assert.ok(verdict(m1, 'accepted', 'rule') >= verdict(m0, 'accepted', 'rule') + 1);
    assert.equal(verdict(m1, 'dropped', 'no_rule'), 0);

    // a may reach b, b may not reach a: a's filter drops b's echo request.
    const admin = new AdminClient({ socketPath: coord.adminSocketPath! });
    await admin.request('PUT', '/api/v1/admin/policy', { policy: JSON.stringify({ hosts: { ha: `${ipA}/32`, hb: `${ipB}/32` }, acls: [{ action: 'accept', src: ['ha'], dst: ['hb:*'] }] }) });
    assert.ok(await waitFor(() => a.agent.status().filter?.rules === 0, 3000), 'the new filter (nothing may reach a) reached a');
    const m2 = await scrape(metrics);
    b.tun.inject(echo(2));
    assert.ok(await waitFor(() => a.agent.filter!.stats.droppedNoRule > m2.value('weft_agent_filter_packets_total', { verdict: 'dropped', reason: 'no_rule' })!, 3000));
    const m3 = await scrape(metrics);
    assert.equal(verdict(m3, 'dropped', 'no_rule'), verdict(m2, 'dropped', 'no_rule') + 1);
    assert.equal(m3.value('weft_agent_engine_dropped_packets_total', { reason: 'decrypt_failed' }), 0);
    assert.ok(m3.types.get('weft_agent_engine_dropped_packets_total') === 'counter');
  });
});

function acceptedByRule(n: InProcessNode): number {
  const s = n.agent.filter!.stats;
  return s.accepted - s.acceptedNonSyn - s.acceptedTracked - s.acceptedFragments;
}
