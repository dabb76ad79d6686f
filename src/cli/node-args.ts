import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_IFACE } from '../agent/agent.js';
import { DEFAULT_STATE_DIR } from '../agent/state.js';

// Validation of the node commands' options, separate from commander so it is unit-tested
// and the errors carry stable codes (ERR_INVALID_ARGUMENT).

export interface UpArgs {
  server?: string;
  authKey?: string;
  hostname?: string;
  stateDir: string;
  iface: string;
  port?: number;
}

export interface RawUpArgs {
  server?: string;
  authKey?: string;
  hostname?: string;
  stateDir?: string;
  iface?: string;
  port?: string;
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IFNAME = /^[A-Za-z0-9_.=+-]{1,15}$/;

export function parseIntArg(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parseServerUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InvalidArgumentError(`--server must be a URL like https://weft.example.com, got ${JSON.stringify(s)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`--server must use http or https, got ${u.protocol}`);
  return u.toString();
}

/** `env` supplies WEFT_AUTH_KEY so the key need not appear in argv (and `ps`). */
export function parseUpArgs(raw: RawUpArgs, env: NodeJS.ProcessEnv = {}): UpArgs {
  const authKey = raw.authKey ?? env.WEFT_AUTH_KEY;
  if (authKey !== undefined && authKey.trim() === '') throw new InvalidArgumentError('--auth-key is empty');
  if (raw.hostname !== undefined && !HOSTNAME.test(raw.hostname)) throw new InvalidArgumentError(`--hostname must be a DNS label (letters, digits, '-'), got ${JSON.stringify(raw.hostname)}`);
  const iface = raw.iface ?? DEFAULT_IFACE;
  if (!IFNAME.test(iface)) throw new InvalidArgumentError(`--iface must be a Linux interface name (1-15 characters), got ${JSON.stringify(iface)}`);
  return {
    server: raw.server === undefined ? undefined : parseServerUrl(raw.server),
    authKey: authKey?.trim(),
    hostname: raw.hostname,
    stateDir: raw.stateDir ?? DEFAULT_STATE_DIR,
    iface,
    port: raw.port === undefined ? undefined : parseIntArg('--port', raw.port, 0, 65535),
  };
}
