// npm's install step (scripts/install-native.js) on a machine where the addon cannot
// build: the install succeeds with a warning that names the fallback, unless
// WEFT_REQUIRE_NATIVE=1 asks for the addon. Runs node-gyp on a copy of the native
// sources with a compiler that always fails, so the repository's build is untouched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));
for (const f of ['binding.gyp', 'native', 'scripts/install-native.js']) cpSync(join(PACKAGE_ROOT, f), join(dir, f), { recursive: true });

// npm tells install scripts where its node-gyp is; so does this test.
const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim();
const nodeGyp = join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');

function install(env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['scripts/install-native.js'], { cwd: dir, env: { ...process.env, npm_config_node_gyp: nodeGyp, CC: 'false', CXX: 'false', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

test('where the addon cannot build, the install succeeds and says what runs instead', () => {
  const r = install({});
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /weft: warning: the native addon did not build \(node-gyp exited with \d+\)/);
  assert.match(r.stderr, /weft up --tun=userspace/);
});

test('WEFT_REQUIRE_NATIVE=1 makes the failed build fail the install', () => {
  const r = install({ WEFT_REQUIRE_NATIVE: '1' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /weft: the native addon did not build/);
});
