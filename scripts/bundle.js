// `npm run build`'s last step: the bundle `weft up` loads (src/cli/main.ts), made with
// esbuild from the compiled modules. Node's ESM loader resolves, reads and compiles each
// module on its own (~180 for `weft up`, ~0.1 s of its start and their records in the
// heap); the bundle is a few files. Layout, under dist/src/bundle/ (shipped with dist/src):
//   cli/program.js                   the entry (dist/src/cli/program.js and what it imports)
//   wireguard/handshake-worker.js    the handshake worker, an entry of its own
//   wireguard/chunk-*.js             modules loaded later (dynamic imports), shared code
// Chunks sit beside the worker because handshake-offload.ts finds it at
// `new URL('./handshake-worker.js', import.meta.url)`; version.ts and native.ts look for
// the package above them. Native addons and packages `weft up` never loads stay outside.
// No esbuild (an install without dev dependencies): no bundle, and `weft up` loads the
// compiled modules as every other command does.
import { rmSync } from 'node:fs';

const OUT = 'dist/src/bundle';
/** Loaded by `require` from their own folder (addons, prebuilt binaries) or not on `weft up`'s path. */
const EXTERNAL = new Set([
  'sodium-native',
  'bufferutil',
  'utf-8-validate',
  'better-sqlite3',
  'pg',
  'pg-native',
  '@node-rs/argon2',
  'fastify',
  '@fastify/websocket',
  'openid-client',
  'acme-client',
  'prom-client',
  'playwright-core',
]);

/** The package a bare specifier names: `@scope/name` or `name`. */
const packageOf = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

rmSync(OUT, { recursive: true, force: true });
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bundle: esbuild is not installed; `weft up` will load the compiled modules\n');
  process.exit(0);
}
await esbuild.build({
  entryPoints: ['dist/src/cli/program.js', 'dist/src/wireguard/handshake-worker.js'],
  outbase: 'dist/src',
  outdir: OUT,
  chunkNames: 'wireguard/chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // CommonJS packages inside an ES module still call require().
  banner: { js: "import { createRequire as __weftRequire } from 'node:module'; const require = __weftRequire(import.meta.url);" },
  plugins: [
    {
      name: 'weft-external',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) => (EXTERNAL.has(packageOf(args.path)) ? { path: args.path, external: true } : undefined));
      },
    },
  ],
});
