#!/usr/bin/env node
// `weft-wg IFNAME`: the same as `weft wg IFNAME`, under a name that can stand in for
// wireguard-go (WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg wg-quick up CONF).
import { fileURLToPath } from 'node:url';
import { reportError } from './errors.js';
import { runWg } from './wg.js';

try {
  process.exitCode = await runWg(process.argv.slice(2), fileURLToPath(import.meta.url));
} catch (err) {
  reportError(err, 'weft-wg');
}
