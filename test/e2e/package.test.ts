// End to end: the npm artifact. `npm pack` this checkout, install the tarball into an
// empty prefix as a user would (`npm install -g`), and run the installed `weft` —
// coordinator and two agents in namespaces — with nothing from the checkout on the path.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { NetnsMesh } from '../../src/lab/mesh.js';
import { run } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { e2eFile } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'npm'];
const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS)]);
}

/** npm without the npm_* variables of an enclosing `npm test`, which would redirect it. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

describe('the packed tarball installs and runs', { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pkg-'));
  const prefix = join(dir, 'prefix');
  const weft = join(prefix, 'bin', 'weft');
  const installed = join(prefix, 'lib', 'node_modules', ...pkg.name.split('/'));
  let files: string[] = [];
  let mesh: NetnsMesh | null = null;

  before(async () => {
    if (missingTools(['npm']).length) return;
    // --ignore-scripts: `prepare` (tsc) already ran as the suite's build; rebuilding dist
    // here would rewrite files other test processes are reading. (Installing the tarball
    // does not run `prepare`: tsc is a devDependency and absent there.)
    const packed = await run(['npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', dir], { timeoutMs: 120_000, env: npmEnv(), check: true });
    const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
    files = info.files.map((f) => f.path);
    // Compiles the addon (and better-sqlite3 when no prebuilt binary is reachable): minutes.
    await run(['npm', 'install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(dir, info.filename)], { timeoutMs: 720_000, env: npmEnv(), check: true });
  });

  after(async () => {
    await mesh?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ships what runs and nothing else', (t) => {
    if (!requireOrSkip(t, missingTools(['npm']))) return;
    for (const f of ['package.json', 'README.md', 'binding.gyp', 'native/tun.cc', 'native/lwip-core.c', 'native/lwip-wasm/lwip.wasm', 'native/lwip-wasm/vendor/lwip/COPYING', 'scripts/install-native.js', 'deploy/systemd/weft.service', 'dist/src/cli/main.js', 'dist/src/cli/weft-wg.js', 'dist/src/index.js', 'dist/src/index.d.ts']) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    // Tests, benches, the labs, the demo and the NAT fake they use (checkout-only), sources,
    // build output, and every script but the install step's.
    const extra = files.filter((f) => f !== 'scripts/install-native.js' && /^(dist\/(test|bench|src\/lab|src\/demo)|test|bench|build|src|scripts|docs|\.ci)\/|\.map$|\.tsbuildinfo$|fake-nat/.test(f));
    assert.deepEqual(extra, []);
    // Nothing shipped imports a file that is not shipped (a relative specifier: ./ or ../,
    // not words in a bundled package's messages such as "from '.command()'").
    const shipped = new Set(files);
    const dangling = files.filter((f) => /\.(js|d\.ts)$/.test(f)).flatMap((f) =>
      [...readFileSync(join(PACKAGE_ROOT, f), 'utf8').matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.\.?\/[^'"]+)['"]/gm)]
        .map((m) => posix.normalize(posix.join(posix.dirname(f), m[1])))
        .filter((target) => !shipped.has(target))
        .map((target) => `${f} -> ${target}`),
    );
    assert.deepEqual(dangling, []);
  });

  test('installs with the addon built from source, and `weft --version` runs', async (t) => {
    if (!requireOrSkip(t, missingTools(['npm']))) return;
    assert.ok(existsSync(join(installed, 'build', 'Release', 'weft_native.node')), 'native addon built at install');
    const r = await run([weft, '--version'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
    const wg = await run([join(prefix, 'bin', 'weft-wg'), '--version'], { timeoutMs: 30_000 });
    assert.equal(wg.code, 0, wg.stderr);
    assert.equal(wg.stdout, `weft-wg v${pkg.version}\n`);
  });

  test('the installed weft runs a coordinator and two agents that ping each other', async (t) => {
    if (!pre(t)) return;
    mesh = new NetnsMesh([weft]);
    await mesh.build(['alpha', 'beta']);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('alpha');
    await mesh.up('beta');
    await mesh.waitPeers('alpha', ['beta']);
    await mesh.waitPeers('beta', ['alpha']);
    // The agents load the addon of the installed package, not this checkout's.
    // (`ip netns exec` and env exec the command, so the child's pid is node's.)
    const maps = readFileSync(`/proc/${mesh.node('alpha').agent!.pid}/maps`, 'utf8');
    assert.ok(maps.includes(join(installed, 'build', 'Release', 'weft_native.node')), 'installed addon mapped');
    const r = await mesh.ping('alpha', mesh.node('beta').ipv4, 8);
    assert.ok(r.received >= 1, r.output);
  });
});
