// haproxy (Debian's /usr/sbin/haproxy) as a child process in front of several
// coordinators on 127.0.0.1, with a generated config: TCP mode (the map stream is a
// long-lived WebSocket), round robin, a connection to a dead instance retried on another.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

/** `backends`: `http://127.0.0.1:PORT` of each instance. */
export async function startHaproxy(backends: string[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-haproxy-'));
  const port = await freePort();
  const servers = backends.map((b, i) => `  server c${i} ${new URL(b).host} check inter 500 fall 1 rise 2`).join('\n');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  maxconn 4000
defaults
  mode tcp
  timeout connect 1s
  timeout client 10m
  timeout server 10m
  retries 3
  option redispatch 1
frontend weft
  bind 127.0.0.1:${port}
  default_backend coordinators
backend coordinators
  balance roundrobin
${servers}
`,
  );
  const proc = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
