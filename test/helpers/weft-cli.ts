// The coordinator's admin commands run in-process, with what they print captured.
import { Command } from 'commander';
import { registerServerCommands } from '../../src/cli/server-commands.js';

/** What `weft ARGS` prints on stdout and stderr. */
export async function weftAdminIO(...args: string[]): Promise<{ out: string; err: string }> {
  const program = new Command().exitOverride();
  let out = '';
  let err = '';
  registerServerCommands(program, (s) => (out += s), (s) => (err += s));
  await program.parseAsync(['node', 'weft', ...args]);
  return { out, err };
}

export async function weftAdmin(...args: string[]): Promise<string> {
  return (await weftAdminIO(...args)).out;
}
