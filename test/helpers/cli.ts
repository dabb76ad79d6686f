// Runs the real compiled `weft` command (dist/src/cli/main.js) as a child process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WEFT_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `env` is added to a copy of this process's environment with every WEFT_* and
 * LOG_LEVEL variable removed, so the caller's shell cannot change what a test sees.
 * `prefix` runs the command under another one (e.g. setpriv).
 */
export function runWeft(args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[]; timeoutMs?: number } = {}): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEFT_') && k !== 'LOG_LEVEL'));
  const argv = [...(opts.prefix ?? []), process.execPath, WEFT_MAIN, ...args];
  const child = spawn(argv[0], argv.slice(1), { env: { ...base, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
