import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Command } from 'commander';
import { describeError } from '../../src/cli/errors.js';
import { keyState, localTime } from '../../src/cli/format.js';
import { daemonLogger, formatLogLine, parseLogFormat, parseLogLevel } from '../../src/cli/logging.js';
import { envOptions } from '../../src/cli/options.js';
import { parseApprovalRoute } from '../../src/cli/route-commands.js';
import { lockStateDir, STATE_LOCK_FILE, tryFileLock } from '../../src/file-lock.js';
import { CAP_NET_ADMIN, hasCapability } from '../../src/io/capabilities.js';
import { InvalidArgumentError, WeftError } from '../../src/errors.js';

const isErr = (code: string) => (e: { code?: string }) => e.code === code;

test('log levels and formats', () => {
  assert.equal(parseLogLevel('verbose'), 'debug');
  assert.equal(parseLogLevel('WARN'), 'warn');
  assert.throws(() => parseLogLevel('loud', 'LOG_LEVEL'), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith('LOG_LEVEL '));
  assert.equal(parseLogFormat(undefined, true), 'text');
  assert.equal(parseLogFormat(undefined, false), 'json');
  assert.equal(parseLogFormat('json', true), 'json');
  assert.throws(() => parseLogFormat('xml', true), isErr('ERR_INVALID_ARGUMENT'));
  const line = formatLogLine(JSON.stringify({ level: 'info', time: '2026-01-02T03:04:05.006Z', pid: 1, hostname: 'h', msg: 'relay running', port: 3340, url: 'ws://x/relay', note: 'two words' }));
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} INFO  relay running port=3340 url=ws:\/\/x\/relay note="two words"\n$/);
  assert.equal(formatLogLine('not json'), 'not json\n');
});

test('every daemon logger: the level as a word, LOG_LEVEL=verbose is debug, the flag wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-log-'));
  try {
    const file = join(dir, 'log');
    const fd = openSync(file, 'w');
    const json = daemonLogger({ logFormat: 'json' }, 'info', { LOG_LEVEL: 'verbose' }, fd);
    json.debug({ a: 1 }, 'hello');
    const text = daemonLogger({ logFormat: 'text', logLevel: 'warn' }, 'info', { LOG_LEVEL: 'verbose', WEFT_LOG_LEVEL: 'debug' }, fd);
    text.info('not shown');
    text.warn('careful');
    closeSync(fd);
    const [first, second, third] = readFileSync(file, 'utf8').split('\n');
    assert.equal(JSON.parse(first).level, 'debug');
    assert.equal(JSON.parse(first).msg, 'hello');
    assert.match(second, /^\d\d:\d\d:\d\d\.\d{3} WARN  careful$/);
    assert.equal(third, '');
    assert.throws(() => daemonLogger({}, 'info', { WEFT_LOG_LEVEL: 'loud' }, fd), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /WEFT_LOG_LEVEL/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WEFT_* variables: valued options and switches, the command line wins', async () => {
  const run = async (argv: string[], env: Record<string, string>): Promise<Record<string, unknown>> => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      let seen: Record<string, unknown> = {};
      const cmd = new Command('x').exitOverride().option('--state-dir <dir>', 'd', '/default').option('--stun-port <n>', 'p', (v: string) => Number(v)).option('--advertise-exit-node', 's').option('--no-magic-dns', 'n');
      envOptions(cmd).action((o: Record<string, unknown>) => void (seen = o));
      await cmd.parseAsync(argv, { from: 'user' });
      return seen;
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };
  assert.deepEqual(await run([], {}), { stateDir: '/default', magicDns: true });
  assert.deepEqual(await run([], { WEFT_STATE_DIR: '/env', WEFT_STUN_PORT: '7', WEFT_ADVERTISE_EXIT_NODE: 'true', WEFT_NO_MAGIC_DNS: '1' }), { stateDir: '/env', stunPort: 7, advertiseExitNode: true, magicDns: false });
  assert.deepEqual(await run(['--state-dir', '/flag'], { WEFT_STATE_DIR: '/env', WEFT_ADVERTISE_EXIT_NODE: '0' }), { stateDir: '/flag', magicDns: true });
  await assert.rejects(run([], { WEFT_ADVERTISE_EXIT_NODE: 'maybe' }), isErr('ERR_INVALID_ARGUMENT'));
});

test('errors: one line with code and hint; unknown errors are internal', () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x.hujson'"), { code: 'ENOENT', path: 'x.hujson', syscall: 'open' });
  assert.deepEqual(describeError(enoent, 'weft policy check'), { line: 'weft: x.hujson: no such file or directory (ENOENT); check the path', exitCode: 1, code: 'ENOENT' });
  assert.match(describeError(new TypeError('x is undefined\nsecond line')).line, /^weft: x is undefined second line \(ERR_INTERNAL\); this is a bug/);
  // A coordinator's refusal relayed by the agent: the hint is the one for the server's code.
  const refused = new WeftError('ERR_SERVER', 'POST /api/v1/register: ERR_AUTHKEY_EXPIRED: pre-auth key expired');
  assert.match(describeError(refused, 'weft up').line, /\(ERR_SERVER\); create a new key on the server with `weft keys create`$/);
  const refusedConn = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
  assert.match(describeError(new WeftError('ERR_SERVER_UNREACHABLE', 'cannot reach http://x: fetch failed', { cause: refusedConn })).line, /^weft: cannot reach http:\/\/x: ECONNREFUSED \(ERR_SERVER_UNREACHABLE\); /);
  assert.deepEqual(describeError(new InvalidArgumentError('--port must be ...'), 'weft up'), { line: 'weft: --port must be ... (ERR_INVALID_ARGUMENT); see `weft up --help`', exitCode: 2, code: 'ERR_INVALID_ARGUMENT' });
});

test('approval routes: exit, network addresses only', () => {
  assert.deepEqual(parseApprovalRoute('exit'), ['0.0.0.0/0', '::/0']);
  assert.deepEqual(parseApprovalRoute('10.1.0.0/16'), ['10.1.0.0/16']);
  assert.deepEqual(parseApprovalRoute('10.1.2.3/32'), ['10.1.2.3/32']);
  assert.deepEqual(parseApprovalRoute('fd00:1::/64'), ['fd00:1::/64']);
  assert.throws(() => parseApprovalRoute('10.1.2.3/16'), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /10\.1\.0\.0\/16/.test(e.message));
  assert.throws(() => parseApprovalRoute('fd00:1::5/64'), isErr('ERR_INVALID_ARGUMENT'));
  assert.throws(() => parseApprovalRoute('10.1.2.3'), (e: Error) => /10\.1\.2\.3\/32/.test(e.message));
});

test('list formatting: local times, key states', () => {
  assert.equal(localTime(null, 'never'), 'never');
  assert.match(localTime('2026-01-02T03:04:05.000Z'), /^2026-01-0[12] \d\d:\d\d$/);
  assert.equal(keyState({ revoked: false, expiresAt: null }), 'valid');
  assert.equal(keyState({ revoked: false, expiresAt: new Date(Date.now() - 1000).toISOString() }), 'expired');
  assert.equal(keyState({ revoked: true, expiresAt: null }), 'revoked');
});

test('CAP_NET_ADMIN from /proc/self/status', () => {
  assert.equal(hasCapability(CAP_NET_ADMIN, () => 'Name:\tnode\nCapEff:\t000001ffffffffff\n'), true);
  assert.equal(hasCapability(CAP_NET_ADMIN, () => 'Name:\tnode\nCapEff:\t0000000000000000\n'), false);
  assert.equal(hasCapability(CAP_NET_ADMIN, () => 'CapEff:\t0000000000001000\n'), true);
  assert.equal(hasCapability(CAP_NET_ADMIN, () => { throw new Error('no /proc'); }), true);
});

test('state dir locks: one holder, stale ones taken over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-lock-'));
  mkdirSync(join(dir, 'sub'));
  try {
    const a = lockStateDir(dir, 'test');
    assert.throws(() => lockStateDir(dir, 'weft up'), (e: Error & { code?: string }) => e.code === 'ERR_STATE_DIR_IN_USE' && e.message.includes(`in use by pid ${process.pid} (another weft up)`));
    a.release();
    assert.ok(!existsSync(join(dir, STATE_LOCK_FILE)));
    // A process that exits without releasing still leaves none behind (one exit hook for all).
    const mod = new URL('../../src/file-lock.js', import.meta.url).href;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(mod)}); m.lockStateDir(${JSON.stringify(dir)}, 'x'); m.lockStateDir(${JSON.stringify(join(dir, 'sub'))}, 'y'); process.exit(3)`]);
    assert.equal(child.status, 3, child.stderr.toString());
    assert.ok(!existsSync(join(dir, STATE_LOCK_FILE)) && !existsSync(join(dir, 'sub', STATE_LOCK_FILE)), 'released at exit');
    // A dead pid, and our own pid left by an earlier process (pid reuse, pid 1 in containers).
    for (const pid of [2 ** 22 + 1, process.pid]) {
      writeFileSync(join(dir, STATE_LOCK_FILE), `${pid} old\n`);
      const b = tryFileLock(join(dir, STATE_LOCK_FILE));
      assert.ok('release' in b, `a lock left by pid ${pid} is stale`);
      b.release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
