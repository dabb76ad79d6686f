// `weft id` and `weft keys authorize|authorized|revoke-node|deauthorize`, run as the real
// command: identity created once (0600), trust set files, a signed revocation on disk.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyFromBase64 } from '../../src/crypto/keys.js';
import { TrustSet, keyId } from '../../src/serverless/trust.js';
import { loadTrustStore } from '../../src/serverless/trust-store.js';
import { runWeft } from '../helpers/cli.js';

async function weft(...args: string[]): Promise<string> {
  const r = await runWeft(args);
  assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('weft id prints a stable public key and keeps node.key at 0600', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'weft-id-')), 'state');
  const first = (await weft('id', '--state-dir', dir)).trim();
  assert.equal(keyFromBase64(first).length, 32);
  assert.equal((await weft('id', '--state-dir', dir)).trim(), first);
  assert.equal((await stat(join(dir, 'node.key'))).mode & 0o777, 0o600);
  const admin = (await weft('id', '--admin', '--state-dir', dir)).trim();
  assert.notEqual(admin, first);
  assert.equal((await stat(join(dir, 'admin.key'))).mode & 0o777, 0o600);
});

test('weft keys: authorize, list, revoke with an admin key, deauthorize', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'weft-keys-')), 'state');
  const other = join(await mkdtemp(join(tmpdir(), 'weft-keys-')), 'peer');
  const peer = (await weft('id', '--state-dir', other)).trim();
  assert.match(await weft('keys', 'authorize', peer, '--name', 'laptop', '--state-dir', dir), /^authorized laptop /);
  const denied = await runWeft(['keys', 'revoke-node', peer, '--state-dir', dir]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /ERR_ADMIN_NOT_AUTHORIZED/);
  const admin = (await weft('id', '--admin', '--state-dir', dir)).trim();
  await weft('keys', 'authorize', admin, '--admin', '--name', 'ops', '--state-dir', dir);
  assert.equal(await weft('keys', 'revoke-node', peer, '--state-dir', dir), `revoked ${peer}\n`);
  const listed = await weft('keys', 'authorized', '--state-dir', dir);
  assert.match(listed, new RegExp(`^node\\tlaptop\\t${peer.replace(/[+/]/g, '\\$&')}$`, 'm'));
  assert.match(listed, /^admin\tops\t/m);
  assert.match(listed, /^revoked\t/m);
  const t = await loadTrustStore(join(dir, 'authorized_keys'));
  assert.equal(new TrustSet(t.entries, t.revocations).isMember(keyId(keyFromBase64(peer))), false, 'the signed record revokes it');
  const taken = await runWeft(['keys', 'authorize', admin, '--name', 'laptop', '--state-dir', dir]);
  assert.match(taken.stderr, /ERR_ALREADY_AUTHORIZED|ERR_NAME_TAKEN/);
  assert.equal(await weft('keys', 'deauthorize', peer, '--state-dir', dir), `deauthorized laptop ${peer}\n`);
  assert.deepEqual((await readdir(join(dir, 'authorized_keys'))).sort(), ['ops', 'revoked']);
  const bad = await runWeft(['keys', 'authorize', 'not-a-key', '--state-dir', dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ERR_INVALID_KEY/);
});
