// A throwaway PostgreSQL server for tests: initdb in a temp dir (as the `postgres`
// user, since initdb refuses root), listening only on 127.0.0.1 on a free port.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const BIN = '/usr/lib/postgresql/15/bin';

export interface TempPostgres {
  url: string;
  stop(): void;
}

/** Why PostgreSQL tests cannot run here, or null when they can. */
export function postgresUnavailable(): string | null {
  if (!existsSync(join(BIN, 'initdb'))) return `PostgreSQL binaries not found in ${BIN}`;
  if (process.getuid?.() !== 0) return 'needs root to run initdb as the postgres user';
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'no postgres system user';
  return null;
}

/**
 * When `why` says a prerequisite is missing: registers `name` as a skipped test, or as a
 * failing one under WEFT_E2E_REQUIRED=1 (CI), and returns true; else false.
 */
export function reportUnavailable(name: string, why: string | false | null): boolean {
  if (!why) return false;
  if (process.env.WEFT_E2E_REQUIRED === '1') {
    test(name, () => {
      throw new Error(`required but unavailable: ${why}`);
    });
  } else test(name, { skip: why }, () => {});
  return true;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function asPostgres(args: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args[0]} failed: ${r.stderr || r.stdout}`);
}

export async function startPostgres(): Promise<TempPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pg-'));
  chownSync(dir, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()));
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres([join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  asPostgres([
    join(BIN, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-l', join(dir, 'log'),
    '-o', `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`,
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        asPostgres([join(BIN, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A fresh database on the server, so suites do not see each other's rows. */
export async function createDatabase(url: string, name: string): Promise<string> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return url.replace(/\/postgres$/, `/${name}`);
}
