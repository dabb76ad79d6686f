import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../src/control/admin-client.js';
import { ADMIN_SOCKET_NAME } from '../../src/control/defaults.js';
import type { DnsRecordView, NodeView } from '../../src/wire/control.js';
import { SimNode } from '../helpers/control.js';
import { WEFT_MAIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

// The README's admin examples, run in order as written (through sh, with `weft` on the
// PATH) against a fresh `weft server` started by the README's own line. Substituted:
// the state dir, the server URL, and the listen address (a free localhost port).

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const ADMIN = /^(?:WEFT_\w+=(?:\$\([^)]*\)|\S+) )*weft (keys|nodes|routes|policy|apikeys|version|users|admins|secrets|dns)\b/;

interface Block {
  lang: string;
  lines: string[];
}

function codeBlocks(md: string): Block[] {
  const out: Block[] = [];
  for (const m of md.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) out.push({ lang: m[1], lines: m[2].split('\n').filter((l) => l.trim() !== '') });
  return out;
}

/** A line without its trailing `# comment`. */
const stripComment = (l: string): string => l.replace(/\s+#(\s.*)?$/, '').trim();

test("the README's admin examples run in order on a fresh server", async () => {
  const md = readFileSync(README, 'utf8');
  const blocks = codeBlocks(md);
  const dir = mkdtempSync(join(tmpdir(), 'weft-readme-'));
  const stateDir = join(dir, 'state');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'weft'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(WEFT_MAIN)} "$@"\n`);
  chmodSync(join(bin, 'weft'), 0o755);
  const policy = blocks.find((b) => b.lang === 'jsonc');
  assert.ok(policy, 'the README shows a policy');
  writeFileSync(join(dir, 'acl.hujson'), policy.lines.join('\n'));
  // What the admin examples read passwords from.
  writeFileSync(join(dir, 'admin-password.txt'), 'first admin password\n', { mode: 0o600 });
  writeFileSync(join(dir, 'new-password.txt'), 'second admin password\n', { mode: 0o600 });

  const serverLine = blocks.flatMap((b) => b.lines).map(stripComment).find((l) => l.startsWith('weft server '));
  assert.ok(serverLine, 'the README shows how to start the server');
  const subst = (l: string): string => l.replaceAll('/var/lib/weft-server', stateDir).replaceAll(' ... ', ` --state-dir ${stateDir} `).replace(/ \.\.\.$/, ` --state-dir ${stateDir}`);
  const serverArgs = subst(serverLine).replace(/--listen \S+/, '--listen 127.0.0.1:0').split(/\s+/).slice(1);
  const server = spawn(process.execPath, [WEFT_MAIN, ...serverArgs, '--stun-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`weft server exited (${code})`)));
      createInterface({ input: server.stdout! }).on('line', (line) => {
        const m = /"url":"([^"]+)"/.exec(line);
        if (m) resolve(m[1]);
      });
    });
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, WEFT_STATE_DIR: stateDir };
    for (const k of Object.keys(env)) if (k.startsWith('WEFT_') && k !== 'WEFT_STATE_DIR') delete env[k];
    const sh = (line: string): { out: string; err: string } => {
      const cmd = subst(line).replaceAll('https://weft.example.com', url);
      const r = spawnSync('/bin/sh', ['-ec', cmd], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `README line failed: ${line}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^weft: /m, `README line complained: ${line}\n${r.stderr}`);
      return { out: r.stdout, err: r.stderr };
    };

    const admin = new AdminClient({ socketPath: join(stateDir, ADMIN_SOCKET_NAME) });
    const serverKey = ((await (await fetch(`${url}/api/v1/key`)).json()) as { publicKey: string }).publicKey;
    let ran = 0;
    let devices = false;
    for (const line of blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.lines).map(stripComment)) {
      if (!ADMIN.test(line)) continue;
      const { out } = sh(line);
      ran++;
      // The first pre-auth key stands for the devices that run `weft up` with it: the
      // README's laptop, router (10.77.0.0/24) and exit node gw.
      if (!devices && /^weft keys create --reusable\b/.test(line)) {
        devices = true;
        const key = out.trim();
        for (const [hostname, routes] of [['laptop', []], ['router', ['10.77.0.0/24']], ['gw', ['0.0.0.0/0', '::/0']]] as const) {
          const n = new SimNode(url, serverKey);
          const r = await n.register({ hostname, authKey: key });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          if (routes.length) {
            const map = await n.openMap();
            map.send({ type: 'routes', routes });
            assert.ok(await waitFor(async () => (await admin.request<NodeView>('GET', `/api/v1/admin/nodes/${hostname}`)).advertisedRoutes?.length === routes.length, 10_000));
            await map.close();
          }
        }
      }
    }
    assert.ok(devices, 'the README creates a reusable pre-auth key first');
    assert.ok(ran >= 15, `only ${ran} admin lines found in the README`);
    // What the examples did, seen through the API.
    const { nodes } = await admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
    assert.deepEqual(nodes.map((n) => n.name).sort(), ['gw', 'router'], 'laptop was removed by `weft nodes rm laptop`');
    assert.deepEqual(nodes.find((n) => n.name === 'gw')?.approvedRoutes, ['0.0.0.0/0', '::/0']);
    assert.deepEqual(nodes.find((n) => n.name === 'router')?.approvedRoutes, [], 'unapproved again');
    assert.match((await admin.request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy, /tag:server/);
    const { records } = await admin.request<{ records: DnsRecordView[] }>('GET', '/api/v1/admin/dns/records');
    assert.deepEqual(records.map((r) => `${r.source}: ${r.name} ${r.type} ${r.value}`), [
      'admin: _http._tcp.gw.weft.internal SRV 0 5 8080 gw.weft.internal',
      'admin: grafana.weft.internal A 100.64.0.50',
      'admin: gw.weft.internal TXT backup=nightly',
      'admin: gw.weft.internal TXT owner=ops',
      'policy: nas.weft.internal A 100.64.0.7',
      'admin: www.weft.internal CNAME gw.weft.internal',
    ]);
    // The identity examples: alice created, renamed and removed; root created and removed; a read-only key.
    const { users } = await admin.request<{ users: { login: string }[] }>('GET', '/api/v1/admin/users');
    assert.ok(!users.some((u) => u.login.startsWith('alice@')), JSON.stringify(users));
    assert.deepEqual((await admin.request<{ admins: unknown[] }>('GET', '/api/v1/admin/admins')).admins, []);
    const { apiKeys } = await admin.request<{ apiKeys: { scope: string }[] }>('GET', '/api/v1/admin/apikeys');
    assert.ok(apiKeys.some((k) => k.scope === 'read'));
    assert.equal(readFileSync(join(stateDir, 'secrets.key'), 'utf8').trim().split('\n').length, 1, 'rotated to one fresh key');
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
});
