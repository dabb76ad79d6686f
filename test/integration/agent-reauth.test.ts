// `weft up --force-reauth`: an agent whose node key expired re-registers the same key
// with a new pre-auth key and keeps its name and addresses; it learns the new expiry.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { RestartableCoordinator } from '../helpers/agent-coordinator.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-reauth-'));
const coord = new RestartableCoordinator(join(dir, 'server'));
const net = new FakeNetwork();
const running: InProcessNode[] = [];
after(async () => {
  for (const n of running) await n.agent.stop();
  await coord.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function up(name: string, lanIp: string, extra: { authKey?: string; forceReauth?: boolean; logger?: Logger } = { authKey: coord.authKey }): Promise<InProcessNode> {
  const n = createInProcessNode(net, lanIp, { stateDir: join(dir, name), serverUrl: coord.url, hostname: name, localApi: false, random: () => 0.999, endpointPollMs: 200, ...extra });
  await n.agent.start();
  running.push(n);
  return n;
}

async function down(n: InProcessNode): Promise<void> {
  await n.agent.stop();
  running.splice(running.indexOf(n), 1);
}

test('an expired node comes back with --force-reauth: same key, name and addresses, new expiry', async () => {
  await coord.start();
  const peer = await up('peer', '10.9.0.2');
  let r = await up('roamer', '10.9.0.1');
  const before = r.agent.status().self;
  assert.ok(Date.parse(before.expiresAt!) > Date.now() + 179 * 86_400_000, 'default 180-day key lifetime');
  await down(r);

  const registry = coord.running.registry;
  await registry.expire(registry.find('roamer'));
  assert.ok(await waitFor(() => !peer.agent.peers.has(before.publicKey), 5000), 'peers drop the expired node');

  // A plain restart reuses the saved identity; the coordinator refuses it.
  r = await up('roamer', '10.9.0.1', {});
  assert.ok(await waitFor(() => r.agent.status().coordinator.error?.code === 'ERR_NODE_EXPIRED', 5000), JSON.stringify(r.agent.status().coordinator));
  await down(r);

  const noKey = createInProcessNode(net, '10.9.0.1', { stateDir: join(dir, 'roamer'), forceReauth: true, localApi: false });
  await assert.rejects(noKey.agent.start(), (e: { code?: string }) => e.code === 'ERR_NEEDS_LOGIN');

  const fresh = (await createAuthKey(coord.running.store, { reusable: false, expirySeconds: 3600 }, Date.now())).key!;
  const warnings: string[] = [];
  const logger = { ...silentLogger, warn: (_o: object | string, msg?: string) => void (msg && warnings.push(msg)) };
  r = await up('roamer', '10.9.0.1', { authKey: fresh, forceReauth: true, logger });
  const after = r.agent.status().self;
  assert.deepEqual([after.publicKey, after.name, after.ipv4, after.ipv6], [before.publicKey, before.name, before.ipv4, before.ipv6]);
  assert.ok(Date.parse(after.expiresAt!) > Date.now() + 179 * 86_400_000, after.expiresAt!);
  assert.ok(await waitFor(() => peer.agent.peers.has(before.publicKey) && r.agent.connected, 5000), 'back in the mesh');
  await r.agent.ping(peer.agent.self!.ipv4, 3000);
  assert.deepEqual(warnings.filter((w) => /key expire/.test(w)), [], 'a fresh key: no warning');

  // Two days left: the agent hears it from its netmap and says so.
  await registry.expire(registry.find('roamer'));
  await registry.extend(registry.find('roamer'), 2 * 86_400_000);
  assert.ok(await waitFor(() => warnings.some((w) => /^warning: this node's key expires in 2 days/.test(w)), 10_000), warnings.join('\n'));
  assert.match(r.agent.status().self.expiresAt!, /^\d{4}-/);
});
