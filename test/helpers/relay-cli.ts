// Runs `weft relay` / `weft netcheck` (registerRelayCommands on a fresh commander program)
// in a child process, as the CLI entry would.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const commands = fileURLToPath(new URL('../../src/cli/relay-commands.js', import.meta.url));

export function weftRelayCli(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcessWithoutNullStreams {
  const script = `import { Command } from 'commander'; const { registerRelayCommands } = await import(${JSON.stringify(commands)});
    const p = new Command('weft'); registerRelayCommands(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });`;
  return spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), env });
}

export async function collect(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, out, err };
}

/** Waits for `weft relay`'s "relay running" log line and returns its fields. */
export function relayRunning(child: ChildProcessWithoutNullStreams): Promise<{ url: string; stunPort: number | null }> {
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const line = err.split('\n').find((l) => l.includes('relay running'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('close', () => reject(new Error(`relay exited: ${err}`)));
  });
}

export async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((r) => child.on('close', r));
  child.kill('SIGTERM');
  await closed;
}
