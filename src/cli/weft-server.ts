#!/usr/bin/env node
// Process entry for the coordinator: `node dist/src/cli/weft-server.js [options]`
// takes the same options as `weft server` (used by the crash test and systemd units).
import { Command } from 'commander';
import { pathToFileURL } from 'node:url';
import { runCli } from './errors.js';
import { serverCommand } from './server-commands.js';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runCli(new Command('weft').addCommand(serverCommand(), { isDefault: true }));
}
