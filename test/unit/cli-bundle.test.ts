import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';

// The bundle `weft up` loads (scripts/bundle.js, src/cli/main.ts): its files find what
// they look for beside them, and `weft up` runs from it unless it is stale or turned off.

const BUNDLE = join(PACKAGE_ROOT, 'dist', 'src', 'bundle');
const MAIN = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');
const BUILD_INFO = join(PACKAGE_ROOT, 'dist', '.tsbuildinfo');
const skip = existsSync(join(BUNDLE, 'cli', 'program.js')) ? false : 'no bundle (esbuild not installed)';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

test('every file a bundled module finds relative to itself exists (the handshake worker beside the engine)', { skip }, () => {
  const refs: string[] = [];
  for (const f of files(BUNDLE).filter((x) => x.endsWith('.js'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/new URL\("(\.\/[^"]+\.js)", import\.meta\.url\)/g)) {
      refs.push(m[1]);
      assert.ok(existsSync(join(dirname(f), m[1])), `${f} loads ${m[1]}, which is not there`);
    }
  }
  assert.ok(refs.includes('./handshake-worker.js'), 'the engine starts its handshake worker by URL');
});

// `weft up` with no state and no --server stops at "not registered", after loading the agent.
/** Its stderr, with the ESM loader's debug log naming each file it loads. */
function up(env: NodeJS.ProcessEnv): string {
  const state = join(PACKAGE_ROOT, 'dist', 'no-such-state-dir');
  const r = spawnSync(process.execPath, [MAIN, 'up', '--state-dir', state], { env: { ...process.env, ...env, NODE_DEBUG: 'esm' }, encoding: 'utf8', timeout: 60_000 });
  return r.stderr;
}

test('weft up loads the agent from the bundle, and from the compiled modules with WEFT_BUNDLE=0', { skip }, () => {
  const bundled = up({});
  assert.match(bundled, /ERR_NEEDS_LOGIN/);
  assert.match(bundled, /dist\/src\/bundle\/cli\/program\.js/);
  assert.doesNotMatch(bundled, /dist\/src\/agent\/agent\.js/);
  const plain = up({ WEFT_BUNDLE: '0' });
  assert.match(plain, /ERR_NEEDS_LOGIN/);
  assert.doesNotMatch(plain, /dist\/src\/bundle\//);
  assert.match(plain, /dist\/src\/agent\/agent\.js/);
});

test('a tsc after the bundle was made (build info newer) makes weft up load the compiled modules', { skip: skip || (existsSync(BUILD_INFO) ? false : 'no tsc build info') }, () => {
  const info = statSync(BUILD_INFO);
  const bundled = statSync(join(BUNDLE, 'cli', 'program.js')).mtime;
  try {
    utimesSync(BUILD_INFO, info.atime, new Date(bundled.getTime() + 10_000));
    const stale = up({});
    assert.match(stale, /ERR_NEEDS_LOGIN/);
    assert.doesNotMatch(stale, /dist\/src\/bundle\//);
  } finally {
    utimesSync(BUILD_INFO, info.atime, info.mtime);
  }
});
