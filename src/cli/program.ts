// The `weft` command line (main.ts loads it, or for `weft up` its bundle).
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { VERSION } from '../version.js';
import { registerNodeCommands } from './node-commands.js';
import { registerUserspaceCommands } from './userspace-commands.js';
import { runCli } from './errors.js';
import { logOptions } from './options.js';
import { isUp } from './agent-memory.js';

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
  const script = join(dirname(fileURLToPath(import.meta.url)), 'weft-wg.js'); // not from the bundle: it serves `up` only
  const log = [...(opts.logLevel ? ['--log-level', opts.logLevel] : []), ...(opts.logFormat ? ['--log-format', opts.logFormat] : [])];
  const { runWg } = await import('./wg.js'); // the userspace engine's modules, only for `weft wg`
  process.exitCode = await runWg([...(opts.foreground ? ['-f'] : []), ...log, ifname], script);
});

registerNodeCommands(program);
registerUserspaceCommands(program);
// `weft up` runs for days: it does not load the coordinator, relay and console commands
// and the modules behind them (~11 MB of RSS: docs/BENCHMARKS.md, idle cost). Every
// other command (and --help) registers them all.
if (!isUp) {
  const [server, relay, web, serverless, circuit] = await Promise.all([import('./server-commands.js'), import('./relay-commands.js'), import('./web-commands.js'), import('./serverless-commands.js'), import('./circuit-commands.js')]);
  server.registerServerCommands(program);
  relay.registerRelayCommands(program);
  web.registerWebCommand(program);
  serverless.registerServerlessCommands(program);
  circuit.registerCircuitCommands(program);
}

await runCli(program);
