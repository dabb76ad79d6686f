// Real processes: 200 registrations over HTTP, 50 in flight at a time, SIGKILL mid-way,
// restart on the same SQLite file. Every acknowledged registration must survive with the same
// addresses, no address may be shared, and the database must pass integrity_check.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../../src/control/admin-client.js';
import { sqliteIntegrityCheck } from '../../src/control/store/sqlite.js';
import type { NodeView } from '../../src/wire/control.js';
import { http, SimNode } from '../helpers/control.js';
import { exited, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const TOTAL = 200;
const KILL_AFTER = 70;
// Registrations in flight at once. With all 200 sent together the server could answer every
// one before the kill landed; a bounded window keeps some unsent when it does.
const IN_FLIGHT = 50;
// All 200 registrations come from 127.0.0.1 at once: no per-source limit here (its own test is control-hardening).
const startServer = (stateDir: string): Promise<ServerProcess> => startServerProcess(['--state-dir', stateDir, '--register-rate', '0']);

test('coordinator survives SIGKILL during 200 registrations, 50 in flight', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-crash-'));
  const stateDir = join(dir, 'state');
  let proc: ChildProcess | null = null;
  try {
    const first = await startServer(stateDir);
    proc = first.proc;
    const admin = new AdminClient({ socketPath: join(stateDir, 'admin.sock') });
    const { key } = await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true });
    const serverKey = (await http(`${first.url}/api/v1/key`, 'GET')).json.publicKey as string;

    const acked = new Map<string, NodeView>();
    let killed = false;
    const nodes = Array.from({ length: TOTAL }, () => new SimNode(first.url, serverKey));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!killed && next < TOTAL) {
        const i = next++;
        const r = await nodes[i]!.register({ hostname: `crash-${i}`, authKey: key }).catch(() => null);
        if (r === null) return; // the connection died with the server
        if (r.status === 200) acked.set(nodes[i]!.publicKey, r.json.node);
        else assert.fail(`unexpected ${r.status} ${JSON.stringify(r.json)}`);
        if (acked.size >= KILL_AFTER && !killed) {
          killed = true;
          first.proc.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    if (!killed) first.proc.kill('SIGKILL');
    await exited(first.proc);
    assert.ok(acked.size >= KILL_AFTER && acked.size < TOTAL, `killed mid-way (acked ${acked.size})`);

    const second = await startServer(stateDir);
    proc = second.proc;
    const { nodes: after } = await admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
    const byKey = new Map(after.map((n) => [n.publicKey, n]));
    for (const [pk, v] of acked) {
      const got = byKey.get(pk);
      assert.ok(got, `acknowledged node ${v.name} survived`);
      assert.deepEqual([got.ipv4, got.ipv6, got.name], [v.ipv4, v.ipv6, v.name]);
    }
    assert.equal(new Set(after.map((n) => n.ipv4)).size, after.length, 'no IPv4 assigned twice');
    assert.equal(new Set(after.map((n) => n.ipv6)).size, after.length, 'no IPv6 assigned twice');

    // Nodes whose registration was cut off retry; acknowledged ones re-register idempotently.
    const retried = await Promise.all(nodes.map((n) => new SimNode(second.url, serverKey, Date.now, n.priv).register({ hostname: 'retry', authKey: key })));
    for (const r of retried) assert.equal(r.status, 200);
    for (const r of retried) {
      const before = acked.get(r.json.node.publicKey);
      if (before) assert.equal(r.json.node.ipv4, before.ipv4);
    }
    const all = (await admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes')).nodes;
    assert.equal(all.length, TOTAL);
    assert.equal(new Set(all.map((n) => n.ipv4)).size, TOTAL);

    second.proc.kill('SIGTERM');
    await exited(second.proc);
    proc = null;
    assert.equal(sqliteIntegrityCheck(join(stateDir, 'weft.db')), 'ok');
  } finally {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await exited(proc);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
