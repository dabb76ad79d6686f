// Property: a compiled policy kept current with upsert/remove (joins, leaves, tag, user
// and route changes) equals a fresh compile of the same node set, for every node's peers
// and filter; and every other node whose filter changed was named as possibly changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compilePolicy, filtersEqual, parsePolicy, type PolicyNode, type WireFilterRule } from '../../src/policy/index.js';

const SELECTORS = ['*', 'a@', 'b@', 'group:g1', 'tag:x', 'tag:y', 'n1', 'n4', '100.64.0.0/30', 'fd7a:115c:a1e0::5', '10.0.0.0/23'];
const DST_SELECTORS = [...SELECTORS, 'autogroup:internet'];
const ROUTES = ['10.0.0.0/24', '10.0.1.0/24', 'fd00:1::/64'];
const POOL = 8;

const specArb = fc.record({ user: fc.constantFrom('a', 'b', 'c'), tags: fc.subarray(['tag:x', 'tag:y'], { maxLength: 2 }), routes: fc.subarray(ROUTES), exit: fc.boolean() });
const aclArb = fc.record({
  src: fc.array(fc.constantFrom(...SELECTORS), { minLength: 1, maxLength: 3 }),
  dst: fc.array(fc.tuple(fc.constantFrom(...DST_SELECTORS), fc.constantFrom('*', '22', '80-90')), { minLength: 1, maxLength: 2 }),
});
// An op names a node of a fixed pool of POOL keys: present -> change (or leave), absent -> join.
const opArb = fc.record({ k: fc.nat(POOL - 1), leave: fc.boolean(), spec: specArb });

const node = (k: number, s: { user: string; tags: string[]; routes: string[]; exit: boolean }): PolicyNode => ({
  id: `k${k}`,
  name: `n${k}`,
  user: s.tags.length ? null : s.user,
  tags: s.tags,
  ipv4: `100.64.0.${k + 1}`,
  ipv6: `fd7a:115c:a1e0::${k + 1}`,
  routes: s.routes,
  exit: s.exit,
});

test('incremental joins, leaves and changes equal a full recompile', () => {
  fc.assert(
    fc.property(fc.array(aclArb, { maxLength: 4 }), fc.array(opArb, { minLength: 1, maxLength: 30 }), (acls, ops) => {
      const text = JSON.stringify({ groups: { 'group:g1': ['a@'] }, tagOwners: { 'tag:x': [], 'tag:y': [] }, acls: acls.map((a) => ({ action: 'accept', src: a.src, dst: a.dst.map(([s, p]) => `${s}:${p}`) })) });
      const policy = parsePolicy(text);
      const nodes = new Map<string, PolicyNode>();
      const live = compilePolicy(policy, []);
      let filters = new Map<string, WireFilterRule[]>();
      for (const op of ops) {
        const id = `k${op.k}`;
        const named = op.leave && nodes.has(id) ? live.remove(id) : live.upsert(node(op.k, op.spec));
        if (op.leave && nodes.has(id)) nodes.delete(id);
        else nodes.set(id, node(op.k, op.spec));
        const fresh = compilePolicy(policy, [...nodes.values()]);
        assert.equal(live.size, nodes.size);
        const next = new Map<string, WireFilterRule[]>();
        for (const n of nodes.values()) {
          assert.deepEqual([...live.peers(n.id)].sort(), [...fresh.peers(n.id)].sort(), `${text} peers of ${n.id}`);
          const f = live.filter(n.id);
          assert.deepEqual(f, fresh.filter(n.id), `${text} filter of ${n.id}`);
          next.set(n.id, f);
          const before = filters.get(n.id);
          if (n.id !== id && before && !filtersEqual(before, f)) assert.ok(named.has(n.id), `${text}: ${n.id}'s filter changed unannounced`);
        }
        filters = next;
      }
    }),
    { numRuns: 300 },
  );
});

// Property: after a policy edit, every node whose peers or filter differ is one changedSince names.
test('a policy edit names every node it changes (changedSince)', () => {
  const textOf = (acls: Array<{ src: string[]; dst: Array<[string, string]> }>, g1: string[]): string =>
    JSON.stringify({ groups: { 'group:g1': g1 }, tagOwners: { 'tag:x': [], 'tag:y': [] }, acls: acls.map((a) => ({ action: 'accept', src: a.src, dst: a.dst.map(([s, p]) => `${s}:${p}`) })) });
  fc.assert(
    fc.property(
      fc.array(aclArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(3), aclArb), { maxLength: 3 }),
      fc.boolean(),
      fc.array(specArb, { minLength: 1, maxLength: POOL }),
      (acls, edits, moveGroup, specs) => {
        const nodes = specs.map((s, k) => node(k, s));
        const edited = [...acls];
        for (const [at, acl] of edits) edited[at % edited.length] = acl;
        const before = compilePolicy(parsePolicy(textOf(acls, ['a@'])), nodes);
        const after = compilePolicy(parsePolicy(textOf(edited, moveGroup ? ['b@'] : ['a@'])), nodes);
        const named = after.changedSince(before);
        if (named === null) return;
        for (const n of nodes) {
          if (named.has(n.id)) continue;
          assert.deepEqual(after.peers(n.id), before.peers(n.id), `peers of ${n.id}`);
          assert.deepEqual(after.filter(n.id), before.filter(n.id), `filter of ${n.id}`);
        }
      },
    ),
    { numRuns: 300 },
  );
  // An unchanged policy names nobody; a changed group or rule count names everyone (null).
  const nodes = [node(0, { user: 'a', tags: [], routes: [], exit: false })];
  const p = (g1: string[], n: number): ReturnType<typeof compilePolicy> => compilePolicy(parsePolicy(textOf(Array.from({ length: n }, () => ({ src: ['*'], dst: [['*', '*']] })), g1)), nodes);
  assert.deepEqual(p(['a@'], 1).changedSince(p(['a@'], 1)), new Set());
  assert.equal(p(['a@'], 1).changedSince(p(['b@'], 1)), null);
  assert.equal(p(['a@'], 1).changedSince(p(['a@'], 2)), null);
});
