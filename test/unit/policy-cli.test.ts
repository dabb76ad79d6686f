import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerPolicyCommands, type PolicyAdmin } from '../../src/cli/policy-commands.js';
import { DEFAULT_POLICY_TEXT, PolicyError } from '../../src/policy/index.js';

async function run(args: string[], admin: PolicyAdmin): Promise<{ out: string; err: string; code: number }> {
  const io = { out: '', err: '' };
  const program = new Command().exitOverride();
  registerPolicyCommands(program, admin, (c) => c, { out: (s) => (io.out += s), err: (s) => (io.err += s) });
  const saved = process.exitCode;
  process.exitCode = 0;
  await program.parseAsync(['node', 'weft', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = saved;
  return { ...io, code };
}

test('policy get/set/check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-policy-cli-'));
  try {
    let running = DEFAULT_POLICY_TEXT;
    const admin: PolicyAdmin = {
      get: async () => running,
      set: async (text) => {
        if (text.includes('"server-rejects"')) throw new PolicyError('ERR_POLICY_TEST_FAILED', 3, 1, 'test failed: x');
        running = text;
      },
    };
    assert.equal((await run(['policy', 'get'], admin)).out, DEFAULT_POLICY_TEXT);

    const good = join(dir, 'good.hujson');
    writeFileSync(good, '{\n  // ssh only\n  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["tag:srv:22"]}],\n  "tagOwners": {"tag:srv": ["alice@"]},\n  "tests": [{"src": "alice@", "accept": ["tag:srv:22"], "deny": ["tag:srv:80"]}],\n}\n');
    const check = await run(['policy', 'check', good], admin);
    assert.equal(check.code, 0, check.err);
    assert.match(check.out, /ok, 1 acls, 2 test cases passed/);

    const nodes = join(dir, 'nodes.json');
    writeFileSync(nodes, JSON.stringify([{ id: 1, publicKey: 'K1', name: 'a', user: 'alice', tags: [], ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' }, { id: 2, publicKey: 'K2', name: 'b', user: null, tags: ['tag:srv'], ipv4: '100.64.0.2', ipv6: 'fd7a:115c:a1e0::2' }]));
    assert.match((await run(['policy', 'check', good, '--nodes', nodes], admin)).out, /2 nodes, 1 filter rules/);

    const bad = join(dir, 'bad.hujson');
    writeFileSync(bad, '{\n  "acls": [\n    {"action": "accept", "src": ["group:missing"], "dst": ["*:*"]},\n  ],\n}\n');
    const rejected = await run(['policy', 'check', bad], admin);
    assert.equal(rejected.code, 1);
    assert.equal(rejected.err, `${bad}:3:34: unknown group "group:missing" (ERR_POLICY_UNKNOWN_GROUP)\n`);

    // set: local rejection never reaches the server; server rejection is reported too.
    const before = running;
    const s1 = await run(['policy', 'set', bad], admin);
    assert.equal(s1.code, 1);
    assert.match(s1.err, /ERR_POLICY_UNKNOWN_GROUP\)\npolicy not changed/);
    const serverBad = join(dir, 'server-bad.hujson');
    writeFileSync(serverBad, '{"hosts": {"server-rejects": "10.0.0.1"}}');
    const s2 = await run(['policy', 'set', serverBad], admin);
    assert.match(s2.err, /:3:1: test failed: x \(ERR_POLICY_TEST_FAILED\)/);
    assert.equal(running, before);
    assert.equal((await run(['policy', 'set', good], admin)).code, 0);
    assert.match(running, /ssh only/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
