// The coordinator's admin commands run in-process, with what they print captured.
import { Command } from 'commander';
import { registerServerCommands } from '../../src/cli/server-commands.js';

export async function weftAdmin(...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  let out = '';
  registerServerCommands(program, (s) => (out += s));
  await program.parseAsync(['node', 'weft', ...args]);
  return out;
}
