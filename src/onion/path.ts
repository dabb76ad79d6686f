import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIPv4, isIPv6 } from 'node:net';
import { writeFileAtomic } from '../atomic-file.js';
import { keyToBase64 } from '../crypto/keys.js';
import { parsePrefix } from '../net/prefix.js';
import type { PathHop } from './circuit.js';
import { OnionError } from './errors.js';

// Path selection. Rules, after Tor's:
// - the exit is the named one (or a random exit-capable relay) and is always last;
// - the first hop is a pinned guard, kept GUARD_LIFETIME_MS and persisted in the state
//   dir, so a client does not, circuit after circuit, eventually pick a hostile first hop
//   (which sees its address) — it either has a bad guard for a while or never;
// - no two hops share a network family: the /16 (IPv4) or /32 (IPv6) of the address the
//   relay is reachable at on the underlay (its public endpoint, not its mesh address,
//   which every member shares a /10 of), so one operator or AS-sized network is less
//   likely to hold two hops of one circuit.

export const GUARD_LIFETIME_MS = 30 * 24 * 3600 * 1000;
export const GUARD_FILE = 'onion-guard.json';

export interface RelayCandidate extends PathHop {
  /** Underlay address used for family separation (IPv4 or IPv6 literal). */
  underlayIp: string;
  /** Serves as an exit. */
  exit: boolean;
}

export interface PinnedGuard {
  /** base64 public key: names can be reused, keys cannot. */
  publicKey: string;
  chosenAt: number;
}

/** "v4:a.b" / "v6:xxxx:xxxx" / "other:<ip>": two relays with the same family are never on one path. */
export function networkFamily(ip: string): string {
  if (isIPv4(ip)) return `v4:${ip.split('.').slice(0, 2).join('.')}`;
  if (isIPv6(ip)) {
    const b = parsePrefix(`${ip}/32`).bytes;
    return `v6:${Buffer.from(b.subarray(0, 4)).toString('hex')}`;
  }
  return `other:${ip}`;
}

export interface SelectOptions {
  hops: number;
  /** Exit by name; absent = any exit-capable relay. */
  exitName?: string;
  guard?: PinnedGuard | null;
  now?: number;
  /** Enforce distinct networks (default); off only for labs on one LAN (Tor's EnforceDistinctSubnets 0). */
  distinctNetworks?: boolean;
  /** Uniform integer in [0, n) (tests make it deterministic). */
  random?: (n: number) => number;
}

export interface SelectedPath {
  path: RelayCandidate[];
  /** The guard to persist (new or kept); null for 1-hop paths. */
  guard: PinnedGuard | null;
}

export function selectPath(candidates: readonly RelayCandidate[], opts: SelectOptions): SelectedPath {
  const rnd = opts.random ?? ((n: number) => randomInt(n));
  const now = opts.now ?? Date.now();
  if (!(opts.hops >= 1 && opts.hops <= 8)) throw new OnionError('ERR_ONION_PATH', 'hops must be 1..8');
  const exits = candidates.filter((c) => c.exit && (opts.exitName === undefined || c.name === opts.exitName));
  if (exits.length === 0) throw new OnionError('ERR_ONION_PATH', opts.exitName ? `no exit named ${opts.exitName}` : 'no exit relay');
  const exit = exits[rnd(exits.length)];
  const family = opts.distinctNetworks === false ? (c: RelayCandidate) => keyToBase64(c.publicKey) : (c: RelayCandidate) => networkFamily(c.underlayIp);
  const used = new Set([family(exit)]);
  const usable = (c: RelayCandidate): boolean => c !== exit && !used.has(family(c));
  const pick = (pool: RelayCandidate[]): RelayCandidate => {
    if (pool.length === 0) throw new OnionError('ERR_ONION_PATH', `not enough relays in distinct networks for ${opts.hops} hops`);
    const c = pool[rnd(pool.length)];
    used.add(family(c));
    return c;
  };
  if (opts.hops === 1) return { path: [exit], guard: opts.guard ?? null };
  let guard: RelayCandidate | undefined;
  let pinned = opts.guard ?? null;
  if (pinned && now - pinned.chosenAt < GUARD_LIFETIME_MS) {
    guard = candidates.find((c) => keyToBase64(c.publicKey) === pinned!.publicKey && usable(c));
    if (guard) used.add(family(guard));
  }
  // A pinned guard that is gone, expired or in the exit's network is replaced.
  if (!guard) {
    guard = pick(candidates.filter(usable));
    pinned = { publicKey: keyToBase64(guard.publicKey), chosenAt: now };
  }
  const middles: RelayCandidate[] = [];
  for (let i = 0; i < opts.hops - 2; i++) middles.push(pick(candidates.filter((c) => usable(c) && c !== guard && !middles.includes(c))));
  return { path: [guard, ...middles, exit], guard: pinned };
}

/** The guard pin in `stateDir`, or null when absent or unreadable. */
export async function loadGuard(stateDir: string): Promise<PinnedGuard | null> {
  try {
    const j = JSON.parse(await readFile(join(stateDir, GUARD_FILE), 'utf8')) as Partial<PinnedGuard>;
    if (typeof j.publicKey === 'string' && typeof j.chosenAt === 'number') return { publicKey: j.publicKey, chosenAt: j.chosenAt };
  } catch {
    // absent or corrupt: a new guard is chosen
  }
  return null;
}

export async function saveGuard(stateDir: string, g: PinnedGuard): Promise<void> {
  await writeFileAtomic(join(stateDir, GUARD_FILE), `${JSON.stringify(g)}\n`, 0o600);
}
