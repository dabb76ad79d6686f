import type { Logger } from '../log.js';
import { checkPolicy, compilePolicy, DEFAULT_POLICY_TEXT, isExitRoute, mayUseTag, normalizeUser, parsePolicy, PolicyError, type CompiledPolicy, type Policy, type PolicyNode } from '../policy/index.js';
import { badRequest, ControlError, forbidden } from './errors.js';
import { EXIT_ROUTES } from './routes.js';
import type { NodeRecord, Store } from './store/index.js';
import { withProviderGroups } from './identity/groups.js';

// The coordinator's running access policy: the stored text, its parse and the
// compilation against the current node set (recompiled when the policy changes; a node
// whose policy-relevant attributes change is updated in place, O(its rules); endpoint
// and online changes touch nothing here).

/** Routes in effect are approved and still advertised (as NodeView.approvedRoutes). */
function effectiveRoutes(n: NodeRecord): { routes: string[]; exit: boolean } {
  const approved = n.approvedRoutes.filter((r) => n.advertisedRoutes.includes(r));
  return { routes: approved.filter((r) => !isExitRoute(r)), exit: EXIT_ROUTES.every((r) => approved.includes(r)) };
}

export const toPolicyNode = (n: NodeRecord): PolicyNode => ({ id: n.publicKey, name: n.name, user: n.user, tags: n.tags, ipv4: n.ipv4, ipv6: n.ipv6, ...effectiveRoutes(n) });

/** What the compilation depends on, per node (routes: routers get forwarding rules). */
const membershipKey = (n: NodeRecord): string => {
  const { routes, exit } = effectiveRoutes(n);
  return `${n.name}|${n.user ?? ''}|${n.tags.join(',')}|${n.ipv4}|${n.ipv6}|${routes.join(',')}|${exit}`;
};

export function policyErrorToControl(err: unknown): ControlError {
  if (err instanceof PolicyError) {
    const e = badRequest(err.code, err.reason, 'policy');
    e.line = err.line;
    e.column = err.column;
    return e;
  }
  throw err;
}

/** POST /api/v1/admin/policy/check: what a passing check found. */
export interface PolicyCheckView {
  ok: true;
  acls: number;
  testCases: number;
}

export class PolicyEngine {
  text = DEFAULT_POLICY_TEXT;
  updatedAt: number | null = null;
  policy: Policy = parsePolicy(DEFAULT_POLICY_TEXT);
  /** The policy as written; `policy` adds the provider groups of users (identity/groups.ts). */
  private base: Policy = this.policy;
  private readonly userGroups = new Map<string, string[]>();
  compiled: CompiledPolicy = compilePolicy(this.policy, []);
  /** The compilation the last recompile replaced: the hub diffs against it once. */
  previous: CompiledPolicy = this.compiled;
  /**
   * The nodes the recompiles since the hub's last fan-out may have changed (null: any),
   * accumulated so that several edits in one fan-out window are all sent (takeChanges).
   */
  private changes: Set<string> | null = new Set();
  /** Per policy edit being stored: the nodes applied (record) or dropped (null) meanwhile. */
  private readonly pending = new Set<Map<string, NodeRecord | null>>();
  private readonly members = new Map<string, string>();
  /** Times each compilation (metrics); returns the stop function. */
  compileTimer: (() => () => void) | null = null;
  /** Checks beyond the policy's own (its dnsRecords against the mesh); throws a ControlError. */
  checkExtra: ((p: Policy) => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly nodes: () => Iterable<NodeRecord>,
    private readonly log: Logger,
  ) {}

  /** Loads the stored policy (a stored policy that no longer parses falls back to deny-all, loudly). */
  async load(): Promise<void> {
    const rec = await this.store.getPolicy();
    if (rec) {
      try {
        this.base = parsePolicy(rec.text);
        this.text = rec.text;
        this.updatedAt = rec.updatedAt;
      } catch (err) {
        this.log.error({ err: String(err) }, 'stored policy does not parse; denying all');
        this.text = rec.text;
        this.base = parsePolicy('{}');
      }
    }
    for (const u of await this.store.identity.listUsers()) if (u.groups.length) this.userGroups.set(u.login, u.groups);
    this.policy = withProviderGroups(this.base, this.userGroups);
    this.recompile();
  }

  /** Parses, compiles against the current nodes and runs the policy's own tests; a 400 ControlError at line:column if any fails. */
  check(text: string): PolicyCheckView {
    return this.checked(text).view;
  }

  private checked(text: string): { policy: Policy; compiled: CompiledPolicy; view: PolicyCheckView } {
    try {
      const { policy, compiled } = checkPolicy(text, [...this.nodes()].map(toPolicyNode));
      this.checkExtra?.(policy);
      return { policy, compiled, view: { ok: true, acls: policy.acls.length, testCases: policy.tests.reduce((n, t) => n + t.cases.length, 0) } };
    } catch (err) {
      throw policyErrorToControl(err);
    }
  }

  /** Validates `text` against the current nodes (throws a 400 ControlError), stores and swaps it in. */
  async set(text: string, now: number): Promise<void> {
    // Timed as a compile (with its parse and tests): it is the one an edit usually installs.
    const done = this.compileTimer?.();
    const checked = this.checked(text);
    done?.();
    const moved = new Map<string, NodeRecord | null>();
    this.pending.add(moved);
    try {
      await this.store.setPolicy(text, now);
    } finally {
      this.pending.delete(moved);
    }
    this.text = text;
    this.updatedAt = now;
    this.base = checked.policy;
    this.policy = withProviderGroups(this.base, this.userGroups);
    if (this.policy !== checked.policy) return this.recompile();
    // The check compiled this very policy: catch it up with the nodes that joined, left or
    // moved while it was stored (O(those), not a second compile of every node).
    for (const [key, n] of moved) n ? checked.compiled.upsert(toPolicyNode(n)) : checked.compiled.remove(key);
    this.install(null, checked.compiled);
  }

  /** A login refreshed `login`'s provider groups; true when that changed the policy (recompiled). */
  setUserGroups(login: string, groups: string[]): boolean {
    const old = this.userGroups.get(login) ?? [];
    if (old.length === groups.length && old.every((g, i) => g === groups[i])) return false;
    if (groups.length) this.userGroups.set(login, groups);
    else this.userGroups.delete(login);
    this.policy = withProviderGroups(this.base, this.userGroups);
    this.recompile();
    return true;
  }

  /** Whether a node change needs a recompile (new node, or name/user/tags/addresses moved). */
  stale(n: NodeRecord): boolean {
    return this.members.get(n.publicKey) !== membershipKey(n);
  }

  recompile(): void {
    const done = this.compileTimer?.();
    const list = [...this.nodes()];
    this.install(list, compilePolicy(this.policy, list.map(toPolicyNode)));
    done?.();
  }

  /** `list`: the nodes `compiled` was made from (null: `members` is current already). */
  private install(list: NodeRecord[] | null, compiled: CompiledPolicy): void {
    if (list) {
      this.members.clear();
      for (const n of list) this.members.set(n.publicKey, membershipKey(n));
    }
    const changed = compiled.changedSince(this.compiled);
    if (this.changes && changed) for (const k of changed) this.changes.add(k);
    else this.changes = null;
    this.previous = this.compiled;
    this.compiled = compiled;
  }

  /** The nodes the policy changes since the last call may affect (null: any node); the hub fans out to them. */
  takeChanges(): Set<string> | null {
    const out = this.changes;
    this.changes = new Set();
    return out;
  }

  /** A node joined or its membership moved: returns the other nodes whose filter may have changed. */
  apply(n: NodeRecord): Set<string> {
    const done = this.compileTimer?.();
    this.members.set(n.publicKey, membershipKey(n));
    for (const m of this.pending) m.set(n.publicKey, n);
    const out = this.compiled.upsert(toPolicyNode(n));
    done?.();
    return out;
  }

  /** A node left: returns the nodes whose filter may have changed. */
  drop(n: NodeRecord): Set<string> {
    this.members.delete(n.publicKey);
    for (const m of this.pending) m.set(n.publicKey, null);
    return this.compiled.remove(n.publicKey);
  }

  /** Tag owners: a key for `user` may carry only tags that user owns; admin keys (no user) any tag. */
  checkKeyTags(tags: readonly string[], user: string | null): void {
    if (user === null) return;
    for (const t of tags) {
      // Says what to add: the first thing a new user meets when a key carries a tag.
      const owner = JSON.stringify(`${normalizeUser(user)}@`);
      if (!this.policy.tagOwners.has(t)) throw forbidden('ERR_TAG_NOT_OWNED', `${t} is not in the policy's tagOwners: add "tagOwners": { "${t}": [${owner}] } to the policy (weft policy set FILE) first`, 'tags');
      if (!mayUseTag(this.policy, t, { user })) throw forbidden('ERR_TAG_NOT_OWNED', `${user} does not own ${t}: add ${owner} to "tagOwners" { "${t}": [...] } in the policy (weft policy set FILE)`, 'tags');
    }
  }
}
