import type { Command, Option } from 'commander';
import { InvalidArgumentError } from '../errors.js';

// Options shared by the daemons: the log options, and a WEFT_* environment variable for
// every flag (`--stun-port` <- WEFT_STUN_PORT), so systemd units and containers can
// configure a daemon from an env file. The command line wins over the environment.

export function logOptions(cmd: Command): Command {
  return cmd
    .option('--log-level <level>', 'trace, debug (or verbose), info, warn, error or silent (or WEFT_LOG_LEVEL, LOG_LEVEL)')
    .option('--log-format <format>', 'text (default on a terminal) or json (default otherwise) (or WEFT_LOG_FORMAT)');
}

function envName(o: Option): string {
  return `WEFT_${o.attributeName().replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Read by daemonLogger (with LOG_LEVEL as fallback), or not options of a daemon. */
const NO_ENV = new Set(['--help', '--log-level', '--log-format', '--debug']);
const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off|)$/i;

/**
 * Gives each option of `cmd` (or those named in `only`) its WEFT_* variable, applied
 * before the action when the command line did not set the option. (Commander's own
 * env support binds at addOption time, and counts any value of a switch, "0" too, as set.)
 * Switches take 1/true/yes/on or 0/false/no/off.
 */
export function envOptions(cmd: Command, only?: readonly string[]): Command {
  const picked = cmd.options.filter((o) => o.long && !NO_ENV.has(o.long) && (!only || only.includes(o.long)));
  for (const o of picked) o.envVar = o.negate ? `WEFT_NO_${envName(o).slice(5)}` : envName(o); // shown by --help
  return cmd.hook('preAction', (_, action) => {
    if (action !== cmd) return;
    for (const o of picked) {
      const name = o.envVar!;
      const v = process.env[name];
      const attr = o.attributeName();
      if (v === undefined || !['default', undefined].includes(cmd.getOptionValueSource(attr))) continue;
      if (o.required || o.optional) {
        let value: unknown = v;
        try {
          if (o.parseArg) value = o.parseArg(v, o.defaultValue as never);
        } catch (err) {
          throw new InvalidArgumentError(`${name}: ${(err as Error).message}`);
        }
        cmd.setOptionValueWithSource(attr, value, 'env');
      } else if (TRUE.test(v)) cmd.setOptionValueWithSource(attr, !o.negate, 'env');
      else if (!FALSE.test(v)) throw new InvalidArgumentError(`${name} must be 1 or 0 (true or false), got ${JSON.stringify(v)}`);
    }
  });
}
