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
