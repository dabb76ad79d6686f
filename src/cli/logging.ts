import { pino, type Logger as PinoLogger } from 'pino';
import { InvalidArgumentError } from '../errors.js';
import { pad2 } from './format.js';

// One logger for every daemon (`weft server`, `relay`, `up`, `wg`): pino on stderr with
// the level as a word, as JSON lines (journald, log shippers) or as readable lines on a
// terminal. `--log-level` > WEFT_LOG_LEVEL > LOG_LEVEL (wireguard-go's, which the unit
// env file and `weft-wg` users set) > the daemon's default.

export const LOG_LEVELS = ['trace', 'debug', 'verbose', 'info', 'warn', 'error', 'silent'] as const;
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  logLevel?: string;
  logFormat?: string;
}

/** pino's level for a user's word; `verbose` is wireguard-go's name for debug. */
export function parseLogLevel(v: string, source = '--log-level'): string {
  const l = v.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(l)) throw new InvalidArgumentError(`${source} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
  return l === 'verbose' ? 'debug' : l;
}

export function parseLogFormat(v: string | undefined, tty: boolean, source = '--log-format'): LogFormat {
  if (v === undefined || v === '') return tty ? 'text' : 'json';
  if (v !== 'text' && v !== 'json') throw new InvalidArgumentError(`${source} must be text or json, got ${JSON.stringify(v)}`);
  return v;
}


/** One pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value ...` in local time. */
export function formatLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, pid: _pid, hostname: _host, ...rest } = o;
  const t = new Date(typeof time === 'number' || typeof time === 'string' ? time : Date.now());
  const stamp = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && /^\S+$/.test(v) ? v : JSON.stringify(v)}`);
  return `${stamp} ${String(level).toUpperCase().padEnd(5)} ${String(msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

function firstSet(sources: [string, string | undefined][]): [string, string] | undefined {
  return sources.find((s): s is [string, string] => s[1] !== undefined && s[1] !== '');
}

/** The daemon logger on stderr (fd 2 unless a test gives another). */
export function daemonLogger(o: LogOptions, defaultLevel: string, env: NodeJS.ProcessEnv = process.env, fd = 2): PinoLogger {
  const [levelFrom, levelText] = firstSet([['--log-level', o.logLevel], ['WEFT_LOG_LEVEL', env.WEFT_LOG_LEVEL], ['LOG_LEVEL', env.LOG_LEVEL]]) ?? ['', defaultLevel];
  const level = parseLogLevel(levelText, levelFrom);
  const [formatFrom, formatText] = firstSet([['--log-format', o.logFormat], ['WEFT_LOG_FORMAT', env.WEFT_LOG_FORMAT]]) ?? ['', undefined];
  const format = parseLogFormat(formatText, process.stderr.isTTY === true && fd === 2, formatFrom);
  const options = {
    level,
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ['req.headers.authorization'],
  };
  // Synchronous writes (sonic-boom retries a full pipe): the last lines before an exit are not lost.
  const dest = pino.destination({ fd, sync: true });
  return pino(options, format === 'text' ? { write: (line: string) => void dest.write(formatLogLine(line)) } : dest);
}
