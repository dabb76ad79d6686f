// haproxy (Debian's /usr/sbin/haproxy) as a child process in front of several
// coordinators on 127.0.0.1 (the config is the test's: the README's, substituted).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
export { freePort } from './postgres.js';

export const HAPROXY = '/usr/sbin/haproxy';

export interface Haproxy {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Why haproxy cannot run here, or null. */
export function haproxyUnavailable(): string | null {
  return spawnSync(HAPROXY, ['-v']).status === 0 ? null : `${HAPROXY} not found (apt-get install -y haproxy)`;
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

/** Runs `argv` (a haproxy command line, in the foreground) until it accepts on 127.0.0.1:`port`. */
export async function runHaproxy(argv: string[], port: number): Promise<Haproxy> {
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error('haproxy did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
    },
  };
}
