import { mkdir, readFile, rm, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { generatePrivateKey, keyFromBase64, keyToBase64, privateKeyFromBytes, type PrivateKey } from '../crypto/keys.js';
import type { NetMap, NodeView, ServerMessage } from '../wire/control.js';
import { AgentError } from './errors.js';
import { writeFileAtomic } from '../atomic-file.js';
import { parseServerMessage } from '../wire/decode.js';

export { writeFileAtomic };

// The agent's persistent state in its state dir (0700):
//   node.key    the WireGuard private key, base64 (0600)
//   state.json  the coordinator's answer: server URL and key, our node view, ranges (0600)
//   netmap.json the last netmap (peers, filter, DNS, relays), used at start until the
//               coordinator answers (0600)
//   weft.sock   the local API socket (0600, see local-api.ts)
//   server-keys.json  coordinator origin -> its public key, pinned at first registration
//               (kept across logout; `weft up --reset-server-key` forgets the entry)
// Files are replaced atomically (temp + fsync + rename + fsync dir) so a crash never
// leaves a half-written identity behind.

export const DEFAULT_STATE_DIR = '/var/lib/weft';
const KEY_FILE = 'node.key';
const STATE_FILE = 'state.json';
const NETMAP_FILE = 'netmap.json';
const SOCKET_FILE = 'weft.sock';
export const PIN_FILE = 'server-keys.json';

export interface PersistedState {
  serverUrl: string;
  serverPublicKey: string;
  node: NodeView;
  domain: string;
  ipv4Range: string;
  ipv6Range: string;
  /** The UDP port we listened on, reused after a restart so peers' endpoints stay valid. */
  listenPort?: number;
}

export function socketPath(stateDir: string): string {
  return join(stateDir, SOCKET_FILE);
}

/** The userspace stack's SOCKS5 front door (src/netstack/front-doors.ts; `weft nc` and `weft curl` dial it). */
export const socksSocketPath = (stateDir: string): string => join(stateDir, 'socks5.sock');

/** The circuit agent's control socket (src/agent/circuits.ts; `weft circuit` calls it). */
export const circuitSocketPath = (stateDir: string): string => join(stateDir, 'circuit.sock');

export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}


async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Loads the node key, creating (and saving) one on first use. */
export async function loadOrCreateKey(dir: string): Promise<{ key: PrivateKey; created: boolean }> {
  const path = join(dir, KEY_FILE);
  const text = await readOptional(path);
  if (text !== null) {
    try {
      return { key: privateKeyFromBytes(keyFromBase64(text.trim())), created: false };
    } catch (err) {
      throw new AgentError('ERR_STATE_CORRUPT', `${path} does not hold a valid key`, { cause: err });
    }
  }
  const key = generatePrivateKey();
  await writeFileAtomic(path, keyToBase64(key) + '\n');
  return { key, created: true };
}

export async function loadState(dir: string): Promise<PersistedState | null> {
  const path = join(dir, STATE_FILE);
  const text = await readOptional(path);
  if (text === null) return null;
  try {
    const s = JSON.parse(text) as PersistedState;
    if (typeof s.serverUrl !== 'string' || typeof s.serverPublicKey !== 'string' || typeof s.node?.ipv4 !== 'string') throw new Error('missing fields');
    return s;
  } catch (err) {
    throw new AgentError('ERR_STATE_CORRUPT', `${path} is not a valid state file`, { cause: err });
  }
}

export async function saveState(dir: string, state: PersistedState): Promise<void> {
  await writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/**
 * The last netmap, so a restart while the coordinator is away brings the tunnels back:
 * stored as the `full` message it would be, and validated like one when read.
 */
export async function saveNetmapCache(dir: string, serverUrl: string, netmap: NetMap): Promise<void> {
  const msg: ServerMessage = { type: 'full', netmap };
  await writeFileAtomic(join(dir, NETMAP_FILE), JSON.stringify({ serverUrl, message: msg }) + '\n');
}

/** The cached netmap of this node at this coordinator; null when missing, foreign or unreadable. */
export async function loadNetmapCache(dir: string, serverUrl: string, publicKey: string): Promise<NetMap | null> {
  const text = await readOptional(join(dir, NETMAP_FILE)).catch(() => null);
  if (text === null) return null;
  try {
    const c = JSON.parse(text) as { serverUrl?: unknown; message?: unknown };
    const msg = c.serverUrl === serverUrl ? parseServerMessage(JSON.stringify(c.message)) : null;
    return msg?.type === 'full' && msg.netmap.self.publicKey === publicKey ? msg.netmap : null;
  } catch {
    return null;
  }
}

/**
 * Trust on first use, like SSH's known_hosts: the first key a coordinator (by origin)
 * presents is pinned, and a later registration with it refuses any other key.
 * `reset` forgets the pin first (the coordinator was reinstalled on purpose).
 */
export async function pinServerKey(dir: string, serverUrl: string, publicKey: string, reset = false): Promise<void> {
  const path = join(dir, PIN_FILE);
  const origin = new URL(serverUrl).origin;
  const text = await readOptional(path);
  let pins: Record<string, string>;
  try {
    pins = text === null ? {} : (JSON.parse(text) as Record<string, string>);
    if (typeof pins !== 'object' || pins === null || Array.isArray(pins)) throw new Error('not an object');
  } catch (err) {
    throw new AgentError('ERR_STATE_CORRUPT', `${path} is not a valid pin file`, { cause: err });
  }
  const pinned = reset ? undefined : pins[origin];
  if (pinned === publicKey) return;
  if (pinned !== undefined) {
    throw new AgentError(
      'ERR_SERVER_KEY_CHANGED',
      `the coordinator at ${origin} presents key ${publicKey}, but ${pinned} was pinned at registration; if it was reinstalled on purpose, run weft up --reset-server-key (or remove its entry from ${path})`,
    );
  }
  await writeFileAtomic(path, JSON.stringify({ ...pins, [origin]: publicKey }, null, 2) + '\n');
}

/** Forgets the identity (after logout): the next `weft up` registers as a new node. */
export async function clearIdentity(dir: string): Promise<void> {
  await rm(join(dir, NETMAP_FILE), { force: true });
  await rm(join(dir, STATE_FILE), { force: true });
  await rm(join(dir, KEY_FILE), { force: true });
}
