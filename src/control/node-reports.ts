import { badRequest } from './errors.js';
import type { AdminNodeView, NodeView, PeerPath } from '../wire/control.js';

// What nodes report about themselves over their map stream (`status` messages): the
// agent's version and how it reaches each peer. Kept in memory by the coordinator that
// holds the node's stream (a report is a few hundred bytes per node and is re-sent on
// every reconnect, so nothing is lost that matters); shown by the admin API and console.

export const MAX_REPORTED_PATHS = 4096;
const VERSION_RE = /^[0-9A-Za-z.+_-]{1,64}$/;
const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;

export interface NodeReport {
  version: string;
  /** Peer public key -> path. */
  paths: Map<string, PeerPath>;
}

/** Validates a `status` message's fields (untrusted); throws a ControlError naming the field. */
export function parseStatusReport(version: unknown, paths: unknown): NodeReport {
  if (typeof version !== 'string' || !VERSION_RE.test(version)) throw badRequest('ERR_BAD_STATUS', 'status version must be 1-64 characters of [0-9A-Za-z.+_-]', 'version');
  if (typeof paths !== 'object' || paths === null || Array.isArray(paths)) throw badRequest('ERR_BAD_STATUS', 'status paths must be an object of peer key -> direct|relay', 'paths');
  const entries = Object.entries(paths);
  if (entries.length > MAX_REPORTED_PATHS) throw badRequest('ERR_BAD_STATUS', `at most ${MAX_REPORTED_PATHS} paths`, 'paths');
  const out = new Map<string, PeerPath>();
  for (const [k, v] of entries) {
    if (!KEY_RE.test(k) || (v !== 'direct' && v !== 'relay')) throw badRequest('ERR_BAD_STATUS', 'each path maps a peer public key to "direct" or "relay"', 'paths');
    out.set(k, v);
  }
  return { version, paths: out };
}

export class NodeReports {
  private readonly byId = new Map<number, NodeReport>();

  /** Stores `r` for node `id`; false when it equals the stored one (nothing to announce). */
  set(id: number, r: NodeReport): boolean {
    const old = this.byId.get(id);
    if (old && old.version === r.version && old.paths.size === r.paths.size && [...r.paths].every(([k, v]) => old.paths.get(k) === v)) return false;
    this.byId.set(id, r);
    return true;
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  /** `view` plus the node's report, with peers named (peers no longer known are left out). */
  view(view: NodeView, nameOf: (publicKey: string) => string | undefined): AdminNodeView {
    const r = this.byId.get(view.id);
    if (!r) return view;
    const paths: Record<string, PeerPath> = {};
    for (const [k, p] of r.paths) {
      const name = nameOf(k);
      if (name !== undefined) paths[name] = p;
    }
    return { ...view, version: r.version, paths };
  }
}
