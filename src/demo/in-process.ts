// The non-root demo: the real coordinator on a random 127.0.0.1 port (SQLite in a temp
// dir) and three agents in this process, each on an in-memory TUN whose "kernel"
// answers pings, joined by an in-memory UDP network. Pings every pair through the
// engines and prints the status table of one node.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthKey } from '../control/auth-keys.js';
import { createCoordinator } from '../control/server.js';
import { formatStatus } from '../agent/status.js';
import { FakeNetwork } from '../io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../lab/in-process.js';

const NAMES = ['alpha', 'beta', 'gamma'];

export async function inProcessDemo(say: (line: string) => void): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  mkdirSync(join(dir, 'server'), { mode: 0o700 });
  const coord = createCoordinator({ stateDir: join(dir, 'server'), listen: '127.0.0.1:0', adminSocket: false });
  const net = new FakeNetwork();
  const nodes: InProcessNode[] = [];
  try {
    await coord.start();
    say(`coordinator   ${coord.url} (SQLite in ${dir})`);
    const { key } = await createAuthKey(coord.store, { reusable: true, expirySeconds: 600 }, Date.now());
    for (const [i, name] of NAMES.entries()) {
      const n = createInProcessNode(net, `10.99.0.${11 + i}`, { stateDir: join(dir, name), serverUrl: coord.url, authKey: key, hostname: name, localApi: false });
      await n.agent.start();
      nodes.push(n);
      const self = n.agent.self!;
      say(`node          ${name.padEnd(6)} -> ${self.ipv4.padEnd(11)} ${self.ipv6}  (LAN ${n.lanIp})`);
    }
    const deadline = Date.now() + 5000;
    while (nodes.some((n) => n.agent.peers.size < NAMES.length - 1)) {
      if (Date.now() > deadline) throw new Error('the netmap did not converge in 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    say('\nping (ICMP echo through the WireGuard engines):');
    let ok = true;
    for (const a of nodes)
      for (const b of nodes) {
        if (a === b) continue;
        const from = a.agent.self!.name;
        const to = b.agent.self!;
        try {
          const r = await a.agent.ping(to.name, 2000);
          say(`  ${from.padEnd(5)} -> ${to.name.padEnd(5)}  pong from ${r.name} (${r.ip}) via ${r.endpoint} in ${r.ms} ms`);
        } catch (err) {
          ok = false;
          say(`  ${from.padEnd(5)} -> ${to.name.padEnd(5)}  FAILED: ${(err as Error).message}`);
        }
      }
    say('\nstatus (on alpha):');
    say(formatStatus(nodes[0].agent.status()).replace(/^/gm, '  '));
    return ok;
  } finally {
    for (const n of nodes) await n.agent.stop();
    await coord.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
