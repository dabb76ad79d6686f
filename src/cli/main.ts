#!/usr/bin/env node
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runWg } from './wg.js';
import { VERSION } from '../version.js';
import { registerNodeCommands } from './node-commands.js';
import { registerServerCommands } from './server-commands.js';
import { registerRelayCommands } from './relay-commands.js';

const program = new Command();
program.name('weft').description('Weft: a self-hosted mesh VPN that speaks WireGuard').version(VERSION);

program
  .command('wg')
  .description('run a userspace WireGuard interface configured by wg(8) (drop-in for wireguard-go)')
  .option('-f, --foreground', 'stay in the foreground')
  .argument('<ifname>', 'interface name')
  .action(async (ifname: string, opts: { foreground?: boolean }) => {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'weft-wg.js');
    process.exitCode = await runWg([...(opts.foreground ? ['-f'] : []), ifname], script);
  });

registerNodeCommands(program);
registerServerCommands(program);
registerRelayCommands(program);

await program.parseAsync(process.argv);
