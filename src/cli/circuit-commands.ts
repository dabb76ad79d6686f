import type { Command } from 'commander';
import type { BuildReply } from '../agent/circuits.js';
import type { CircuitArgs } from '../agent/circuit-start.js';
import { callAgent } from '../agent/local-client.js';
import { circuitSocketPath, DEFAULT_STATE_DIR } from '../agent/state.js';
import { InvalidArgumentError } from '../errors.js';
import { parseListen } from '../listen.js';
import { parseIntArg } from './node-args.js';
import { envOptions } from './options.js';

// Onion circuits from the CLI: `weft circuit build` asks the running agent (started with
// --circuits or --exit-circuit) to build a circuit and make it the active one; the
// `weft up` flags are parsed here too (parseCircuitArgs).

export type { CircuitArgs };

export interface RawCircuitArgs {
  circuits?: boolean;
  circuitExit?: boolean;
  exitCircuit?: string;
  circuitExitNode?: string;
  circuitSocks5?: string;
  circuitAllowSameNetwork?: boolean;
}

export function parseCircuitArgs(raw: RawCircuitArgs): { circuits?: CircuitArgs } {
  const any = raw.circuits || raw.circuitExit || raw.exitCircuit !== undefined;
  if (!any) {
    if (raw.circuitExitNode !== undefined || raw.circuitSocks5 !== undefined || raw.circuitAllowSameNetwork) throw new InvalidArgumentError('--circuit-exit-node, --circuit-socks5 and --circuit-allow-same-network need --circuits or --exit-circuit');
    return {};
  }
  const exitCircuit =
    raw.exitCircuit === undefined
      ? undefined
      : {
          hops: parseIntArg('--exit-circuit', raw.exitCircuit, 1, 8),
          exit: raw.circuitExitNode,
          socks5: raw.circuitSocks5 === undefined ? undefined : parseListen(raw.circuitSocks5),
        };
  return { circuits: { serve: true, exit: raw.circuitExit === true, sameNetwork: raw.circuitAllowSameNetwork === true, exitCircuit } };
}

/** Adds the circuit flags to `weft up`. */
export function circuitUpOptions(up: Command): Command {
  return up
    .option('--circuits', 'serve onion circuits as a relay on <mesh IPv4>:7301 (docs/CIRCUITS.md)')
    .option('--circuit-exit', 'also be an onion exit: TCP to destinations outside the mesh, within --exit-policy-allow-ports / --exit-policy-block')
    .option('--exit-circuit <hops>', "keep a circuit of this many hops and carry the host's outside TCP through it (from the TUN, and SOCKS5 on <state-dir>/circuit-socks5.sock)")
    .option('--circuit-exit-node <name>', 'with --exit-circuit: the exit member (default: any member that is an approved exit node)')
    .option('--circuit-socks5 <host:port>', 'with --exit-circuit: also a SOCKS5 proxy into the circuit on this address')
    .option('--circuit-allow-same-network', 'let one path use several members in one IPv4 /16 (labs on one LAN; weakens paths)');
}

export function registerCircuitCommands(program: Command): void {
  const circuit = program.command('circuit').description('onion circuits through other members (docs/CIRCUITS.md)');
  envOptions(
    circuit
      .command('build')
      .description('build a circuit and make it the active one (the agent runs with --circuits or --exit-circuit)')
      .option('--hops <n>', 'hops, the last one the exit', '3')
      .option('--exit <name>', 'the exit member (default: any approved exit node)')
      .option('--json', 'machine-readable output')
      .option('--state-dir <dir>', 'agent state directory', DEFAULT_STATE_DIR),
    ['--state-dir'],
  ).action(async (o: { hops: string; exit?: string; json?: boolean; stateDir: string }) => {
    const body = { hops: parseIntArg('--hops', o.hops, 1, 8), ...(o.exit ? { exit: o.exit } : {}) };
    const r = await callAgent<BuildReply>(circuitSocketPath(o.stateDir), 'POST', '/v1/circuit', body);
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `weft: circuit ${r.path.join(' -> ')} built in ${r.buildMs.toFixed(1)} ms\n`);
  });
}
