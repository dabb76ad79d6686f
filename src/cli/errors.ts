import { CommanderError, type Command } from 'commander';
import { WeftError } from '../errors.js';

// The one place every `weft` command's failure ends: one line on stderr,
// `weft: what went wrong (CODE); what to do`, and a non-zero exit. The trace only with
// --debug or WEFT_DEBUG=1; a trace is for a bug report, not for a user's typo.

export const EXIT_FAILURE = 1;
/** Bad command line (as BSD sysexits' EX_USAGE spirit, and most CLIs). */
export const EXIT_USAGE = 2;

/** What to do, by code; `CMD` becomes the command (e.g. `weft keys create`). */
const HINTS: Record<string, string> = {
  ERR_USAGE: 'see `CMD --help`',
  ERR_INVALID_ARGUMENT: 'see `CMD --help`',
  ERR_VALIDATION: 'see `CMD --help`',
  ERR_INVALID_ROUTE: 'give a CIDR like 10.0.0.0/24 (a single host is /32), or "exit"',
  ERR_INVALID_URL: 'give a URL like https://weft.example.com',
  ERR_UNREACHABLE: 'start it with `weft server`, or point --state-dir (or --server URL) at the running one',
  ERR_BAD_RESPONSE: 'check that --server points at a weft coordinator',
  ERR_UNAUTHENTICATED: 'pass --api-key (or WEFT_API_KEY); create one on the server with `weft apikeys create`',
  ERR_API_KEY_INVALID: 'create a new one on the server with `weft apikeys create`',
  ERR_LOCAL_ONLY: 'run it on the server, against its --state-dir',
  ERR_NODE_NOT_FOUND: 'see `weft nodes list` for names and addresses',
  ERR_AUTHKEY_NOT_FOUND: 'see `weft keys list`',
  ERR_API_KEY_NOT_FOUND: 'see `weft apikeys list`',
  ERR_AUTHKEY_INVALID: 'create a key on the server with `weft keys create`',
  ERR_AUTHKEY_EXPIRED: 'create a new key on the server with `weft keys create`',
  ERR_AUTHKEY_REVOKED: 'create a new key on the server with `weft keys create`',
  ERR_AUTHKEY_USED: 'create a new key (or a --reusable one) with `weft keys create`',
  ERR_AUTHKEY_REQUIRED: 'pass --auth-key (or WEFT_AUTH_KEY) from `weft keys create`',
  ERR_TAG_NOT_OWNED: 'the README\'s "Access policy" shows the order: policy first, then tagged keys',
  ERR_ROUTE_NOT_APPROVED: 'see `weft routes list`',
  ERR_STATE_DIR_IN_USE: 'stop that process first, or give this one another --state-dir',
  ERR_ALREADY_RUNNING: 'stop it with `weft down`, or give this one another --state-dir',
  ERR_AGENT_NOT_RUNNING: 'start one with `weft up`, or give the --state-dir it runs with',
  ERR_NEEDS_LOGIN: 'pass --server URL and --auth-key KEY (or WEFT_SERVER and WEFT_AUTH_KEY)',
  ERR_NEEDS_ROOT: 'run it as root, or grant CAP_NET_ADMIN (the systemd unit does)',
  ERR_NO_TUN: 'load the tun module (modprobe tun), or give the container /dev/net/tun',
  ERR_SERVER: 'check --server, and --auth-key on a first start',
  ERR_SERVER_UNREACHABLE: 'check --server and that the coordinator is running',
  ERR_PEER_NOT_FOUND: 'see `weft status` for peer names',
  ERR_PING_TIMEOUT: 'see `weft status` for the path to it and its last handshake',
  ENOENT: 'check the path',
  EACCES: 'check the permissions, or run as a user that may use it',
  EPERM: 'run it as root',
  EADDRINUSE: 'stop what uses it, or choose another address or port',
  EADDRNOTAVAIL: 'listen on an address this host has (or 0.0.0.0)',
  ENOTFOUND: 'check the host name',
  ECONNREFUSED: 'check that the server runs and the address and port are right',
  ERR_RELAY_LISTEN: 'stop what uses the port, or choose another --listen',
  ERR_INTERNAL: 'this is a bug: run it again with --debug and report the trace',
};
const DEFAULT_HINT = 'run it again with --debug for details';

const COMMANDER_CODES: Record<string, string> = { 'commander.invalidArgument': 'ERR_INVALID_ARGUMENT' };

export interface Described {
  line: string;
  exitCode: number;
  code: string;
}

/** The code and one-line message of anything thrown, as the user should see it. */
function codeAndMessage(err: unknown): { code: string; message: string } {
  if (err instanceof CommanderError) return { code: COMMANDER_CODES[err.code] ?? 'ERR_USAGE', message: err.message.replace(/^error: /, '') };
  if (err instanceof WeftError) return { code: err.code, message: withCause(err.message, err) };
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string; input?: string };
  if (e instanceof Error && typeof e.code === 'string') {
    switch (e.code) {
      case 'ENOENT':
        return { code: e.code, message: e.path ? `${e.path}: no such file or directory` : e.message };
      case 'EACCES':
      case 'EPERM':
        return { code: e.code, message: `permission denied${e.path ? `: ${e.path}` : e.syscall ? ` (${e.syscall})` : ''}` };
      case 'EADDRINUSE':
        return { code: e.code, message: `${e.address ?? 'the address'}${e.port !== undefined ? `:${e.port}` : ''} is already in use` };
      case 'EADDRNOTAVAIL':
        return { code: e.code, message: `${e.address ?? 'the address'} is not an address of this host` };
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return { code: 'ENOTFOUND', message: `cannot resolve ${e.hostname ?? 'the host name'}` };
      case 'ERR_INVALID_URL':
        return { code: e.code, message: `invalid URL ${JSON.stringify(e.input ?? '')}` };
      default:
        if (/^(E[A-Z]+|SQLITE_[A-Z_]+)$/.test(e.code)) return { code: e.code, message: e.message };
    }
  }
  return { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** fetch() says only "fetch failed": name the system error underneath (ECONNREFUSED ...). */
function withCause(message: string, err: Error): string {
  if (!message.endsWith('fetch failed')) return message;
  let c: unknown = err.cause;
  for (let depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `${message.slice(0, -'fetch failed'.length)}${code}`;
  }
  return message;
}

const USAGE_CODES = new Set(['ERR_USAGE', 'ERR_INVALID_ARGUMENT', 'ERR_INVALID_URL']);

/** `weft: what went wrong (CODE); what to do` for `err`, raised by command `cmd`. */
export function describeError(err: unknown, cmd = 'weft'): Described {
  const { code, message } = codeAndMessage(err);
  // The agent reports a coordinator's refusal as ERR_SERVER with the server's code inside.
  const inner = code === 'ERR_SERVER' ? /\b(ERR_[A-Z_]+):/.exec(message)?.[1] : undefined;
  const hint = ((inner && HINTS[inner]) ?? HINTS[code] ?? DEFAULT_HINT).replace('CMD', cmd);
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim();
  return { line: `weft: ${oneLine} (${code}); ${hint}`, exitCode: USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILURE, code };
}

/** `weft keys create` for argv `[keys, create, --expiry, 5x]`: the deepest command named. */
export function commandPath(program: Command, args: readonly string[]): string {
  const names = [program.name()];
  let cmd = program;
  for (const a of args) {
    if (a.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

export function debugRequested(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return argv.includes('--debug') || (env.WEFT_DEBUG !== undefined && env.WEFT_DEBUG !== '' && env.WEFT_DEBUG !== '0');
}

function traceOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? (e.stack ?? String(e)) : String(e));
  }
  return parts.join('\ncaused by: ') + '\n';
}

/**
 * Writes the line (and with --debug/WEFT_DEBUG the trace) and sets the exit code. A
 * daemon's crash (`crash`) that is a bug always shows its trace: it may not happen twice.
 */
export function reportError(err: unknown, cmd: string, argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env, crash = false): void {
  const { line, exitCode, code } = describeError(err, cmd);
  const trace = debugRequested(argv, env) || (crash && code === 'ERR_INTERNAL');
  process.stderr.write(`${line}\n${trace ? traceOf(err) : ''}`);
  process.exitCode = exitCode;
}

/**
 * Every command's errors (commander's own included) reach `report` instead of
 * commander printing them or Node printing a trace. Applied to the whole tree, since
 * commands added with addCommand() do not inherit these settings.
 */
export function routeErrors(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({ outputError: () => {} });
  for (const c of cmd.commands) routeErrors(c);
}

/** Parses and runs `program`; any failure becomes one line and a non-zero exit code. */
export async function runCli(program: Command, argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  routeErrors(program);
  const cmd = (): string => commandPath(program, argv.slice(2));
  const report = (err: unknown): void => {
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.help' || err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) {
      process.exitCode = err.exitCode;
      return;
    }
    reportError(err, cmd(), argv, env);
  };
  // Daemons fail outside their action too (a socket error, a bug): the same line, then exit.
  const fatal = (err: unknown): void => {
    reportError(err, cmd(), argv, env, true);
    process.exit();
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    report(err);
  }
}
