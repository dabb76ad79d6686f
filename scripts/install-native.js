#!/usr/bin/env node
// npm's install step: builds the C addon (TUN, batched UDP, offloads, the lwIP stack).
// Where it cannot build (no compiler, another OS), the install still succeeds with a
// warning: the agent then uses dgram sockets and the WebAssembly lwIP, so
// `weft up --tun=userspace` works wherever Node 20 runs; TUN mode needs the addon.
// WEFT_REQUIRE_NATIVE=1 makes a failed build fail the install (CI, packagers).
import { spawnSync } from 'node:child_process';

const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.status === 0) process.exit(0);
const why = r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`;
if (process.env.WEFT_REQUIRE_NATIVE === '1') {
  process.stderr.write(`weft: the native addon did not build (${why})\n`);
  process.exit(1);
}
process.stderr.write(
  `weft: warning: the native addon did not build (${why}).\n` +
    'weft: it runs without it: `weft up --tun=userspace` (dgram sockets, WebAssembly lwIP); a TUN device needs the addon.\n',
);
