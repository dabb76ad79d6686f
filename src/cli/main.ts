#!/usr/bin/env node
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runWg } from './wg.js';
import { VERSION } from '../version.js';
import { registerNodeCommands } from './node-commands.js';
import { registerUserspaceCommands } from './userspace-commands.js';
import { registerServerCommands } from './server-commands.js';
import { registerRelayCommands } from './relay-commands.js';
import { registerWebCommand } from './web-commands.js';
import { registerServerlessCommands } from './serverless-commands.js';
import { registerCircuitCommands } from './circuit-commands.js';
import { runCli } from './errors.js';
import { logOptions } from './options.js';

const program = new Command();
program
  .name('weft')
  .description('Weft: a self-hosted mesh VPN that speaks WireGuard')
  .version(VERSION, '-V, --version', 'print the version')
  .option('--debug', 'on failure, print the trace too (or WEFT_DEBUG=1)');

program
  .command('version')
  .description('print the version')
  .action(() => void process.stdout.write(`${VERSION}\n`));

logOptions(
  program
    .command('wg')
    .description('run a userspace WireGuard interface configured by wg(8) (drop-in for wireguard-go)')
    .option('-f, --foreground', 'stay in the foreground')
    .argument('<ifname>', 'interface name'),
).action(async (ifname: string, opts: { foreground?: boolean; logLevel?: string; logFormat?: string }) => {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'weft-wg.js');
  const log = [...(opts.logLevel ? ['--log-level', opts.logLevel] : []), ...(opts.logFormat ? ['--log-format', opts.logFormat] : [])];
  process.exitCode = await runWg([...(opts.foreground ? ['-f'] : []), ...log, ifname], script);
});

registerNodeCommands(program);
registerUserspaceCommands(program);
registerServerCommands(program);
registerRelayCommands(program);
registerWebCommand(program);
registerServerlessCommands(program);
registerCircuitCommands(program);

await runCli(program);
