// Runs the coordinator as a real process (the `weft server` entry) for e2e tests and benches.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const SERVER_ENTRY = fileURLToPath(new URL('../../src/cli/weft-server.js', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  /** `http://host:port` of --metrics-listen, when given. */
  metrics: string | null;
}

/** `nodeArgs` go to node itself (e.g. `--cpu-prof`), before the entry. */
export function startServerProcess(args: string[], nodeArgs: string[] = []): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...nodeArgs, SERVER_ENTRY, '--listen', '127.0.0.1:0', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 15 s')), 15_000);
    proc.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const m = JSON.parse(line) as { msg?: string; url?: string; metrics?: string | null };
        if (m.msg === 'listening' && m.url) {
          clearTimeout(timer);
          resolve({ proc, url: m.url, metrics: m.metrics ?? null });
        }
      } catch {
        // not a JSON line
      }
    });
  });
}

export const exited = (p: ChildProcess): Promise<void> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
