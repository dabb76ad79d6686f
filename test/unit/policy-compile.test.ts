import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPolicy, compilePolicy, filtersEqual, mayUseTag, parsePolicy, PolicyError, runPolicyTests, type PolicyNode } from '../../src/policy/index.js';
import { aggregate } from '../../src/policy/cidr-set.js';
import { parsePrefix } from '../../src/wireguard/allowedips.js';

const node = (i: number, name: string, user: string | null, tags: string[] = []): PolicyNode => ({
  id: `k${i}`,
  name,
  user,
  tags,
  ipv4: `100.64.0.${i}`,
  ipv6: `fd7a:115c:a1e0::${i}`,
});

const NODES = [
  node(1, 'alpha', 'alice'),
  node(2, 'beta', 'bob@'),
  node(3, 'gamma', null, ['tag:server']),
  node(4, 'delta', 'alice', ['tag:db']),
  node(5, 'eps', 'eve'),
];

const POLICY = `{
  "groups": { "group:eng": ["alice@", "bob@"] },
  "tagOwners": { "tag:server": ["group:eng"], "tag:db": ["alice@"] },
  "hosts": { "office": "192.0.2.0/24" },
  "acls": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22,80-90"] },
    { "action": "accept", "src": ["tag:server", "office"], "dst": ["tag:db:5432"], "proto": "tcp" },
    { "action": "accept", "src": ["beta"], "dst": ["100.64.0.1:53"], "proto": "udp" },
  ],
  "tests": [
    { "src": "alice@", "accept": ["tag:server:22", "gamma:85"], "deny": ["tag:server:23", "tag:db:5432"] },
    { "src": "tag:server", "accept": ["delta:5432"], "deny": ["alpha:22"] },
    { "src": "192.0.2.9", "accept": ["tag:db:5432"] },
    { "src": "fd7a:115c:a1e0:0::3", "accept": ["[fd7a:115c:a1e0::4]:5432", "100.64.0.4:5432"], "deny": ["100.64.0.1:22"] },
    { "src": "beta", "proto": "udp", "accept": ["alpha:53"], "deny": ["100.64.0.1:54"] },
  ],
}`;

test('per-node filters: only rules where the node is a destination', () => {
  const c = compilePolicy(parsePolicy(POLICY), NODES);
  assert.deepEqual(c.filter('k3'), [
    { srcs: ['100.64.0.1/32', '100.64.0.2/32', 'fd7a:115c:a1e0::1/128', 'fd7a:115c:a1e0::2/128'], ports: [[22, 22], [80, 90]] },
  ]);
  assert.deepEqual(c.filter('k4'), [
    { srcs: ['100.64.0.3/32', '192.0.2.0/24', 'fd7a:115c:a1e0::3/128'], ports: [[5432, 5432]], protos: [6] },
  ]);
  // A CIDR destination covers only that family's address.
  assert.deepEqual(c.filter('k1'), [{ srcs: ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128'], ports: [[53, 53]], protos: [17], family: 4 }]);
  assert.deepEqual(c.filter('k5'), []);
});

test('visibility: either direction; tagged nodes lose their user identity', () => {
  const c = compilePolicy(parsePolicy(POLICY), NODES);
  assert.deepEqual(c.peers('k1'), ['k2', 'k3']);
  assert.deepEqual(c.peers('k2'), ['k1', 'k3']);
  assert.deepEqual(c.peers('k3'), ['k1', 'k2', 'k4']);
  assert.deepEqual(c.peers('k4'), ['k3']);
  assert.deepEqual(c.peers('k5'), []);
  assert.equal(c.canSee('k1', 'k3'), true);
  assert.equal(c.canSee('k3', 'k1'), true);
  assert.equal(c.canSee('k1', 'k4'), false);
  assert.equal(c.canSee('k1', 'k1'), false);
  assert.throws(() => c.peers('nope'), RangeError);
});

test('allow-all: everyone sees everyone, filter is one wildcard rule', () => {
  const { compiled } = checkPolicy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}', NODES);
  assert.deepEqual(compiled.peers('k5'), ['k1', 'k2', 'k3', 'k4']);
  assert.deepEqual(compiled.filter('k5'), [{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] }]);
});

test('multiple destination entries merge their ports for a node', () => {
  const c = compilePolicy(parsePolicy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["alpha:80", "alice@:81-90,100", "100.64.0.1:85-95"]}]}'), NODES);
  assert.deepEqual(c.filter('k1')[0].ports, [[80, 95], [100, 100]]);
  assert.deepEqual(c.filter('k4'), []);
});

test('policy tests pass against compile + filter', () => {
  assert.deepEqual(runPolicyTests(parsePolicy(POLICY), NODES), []);
  // Without nodes, tests naming nodes cannot run, and mesh addresses are nobody's.
  const failures = runPolicyTests(parsePolicy(POLICY), []);
  assert.ok(failures.length > 0);
  assert.ok(failures.every((f) => /unknown node|fd7a|100\.64/.test(f.reason)), JSON.stringify(failures));
});

test('a failing test rejects the policy with its line', () => {
  const text = `{
  "acls": [{ "action": "accept", "src": ["alice@"], "dst": ["*:22"] }],
  "tests": [{ "src": "alice@", "accept": ["bob@:22"],
     "deny": ["bob@:22"] }],
}`;
  assert.throws(() => checkPolicy(text), (e: unknown) => e instanceof PolicyError && e.code === 'ERR_POLICY_TEST_FAILED' && e.line === 4);
  const f = runPolicyTests(parsePolicy(text));
  assert.equal(f.length, 1);
  assert.equal(f[0].expected, 'deny');
  const icmp = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "tcp"}], "tests": [{"src": "a@", "proto": "udp", "deny": ["b@:1"]}]}';
  assert.deepEqual(runPolicyTests(parsePolicy(icmp)), []);
});

test('group tests probe every member', () => {
  const text = '{"groups": {"group:g": ["a@", "b@"]}, "acls": [{"action": "accept", "src": ["a@"], "dst": ["*:*"]}], "tests": [{"src": "group:g", "accept": ["c@:1"]}]}';
  const f = runPolicyTests(parsePolicy(text));
  assert.match(f[0].reason, /for b/);
});

test('aggregate makes the fewest exact CIDRs', () => {
  const ps = ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.6', '10.0.0.5/32', 'fd00::/127', 'fd00::2', '10.0.0.0/30'].map(parsePrefix);
  assert.deepEqual(aggregate(ps), ['10.0.0.0/30', '10.0.0.4/31', '10.0.0.6/32', 'fd00::/127', 'fd00::2/128']);
  assert.deepEqual(aggregate([parsePrefix('0.0.0.0/0'), parsePrefix('1.2.3.4')]), ['0.0.0.0/0']);
  assert.deepEqual(aggregate([]), []);
});

test('filtersEqual tells the coordinator when a node needs a new filter', () => {
  const a = compilePolicy(parsePolicy(POLICY), NODES);
  const b = compilePolicy(parsePolicy(POLICY), NODES);
  for (const n of NODES) assert.ok(filtersEqual(a.filter(n.id), b.filter(n.id)));
  // beta changes user: gamma's sources change, alpha's do not (beta is named there).
  const moved = NODES.map((n) => (n.id === 'k2' ? { ...n, user: 'eve' } : n));
  const c = compilePolicy(parsePolicy(POLICY), moved);
  assert.equal(filtersEqual(a.filter('k3'), c.filter('k3')), false);
  assert.ok(filtersEqual(a.filter('k1'), c.filter('k1')));
  assert.equal(filtersEqual([], a.filter('k1')), false);
});

test('mayUseTag: users, groups and owning tags; unknown tags and cycles are refused', () => {
  const p = parsePolicy(`{
    "groups": { "group:ops": ["olga@"] },
    "tagOwners": {
      "tag:web": ["alice@", "group:ops"],
      "tag:db": ["tag:web"],
      "tag:a": ["tag:b"], "tag:b": ["tag:a"],
    },
  }`);
  assert.ok(mayUseTag(p, 'tag:web', { user: 'alice@' }));
  assert.ok(mayUseTag(p, 'tag:web', { user: 'alice' }));
  assert.ok(mayUseTag(p, 'tag:web', { user: 'olga' }));
  assert.equal(mayUseTag(p, 'tag:web', { user: 'bob' }), false);
  assert.ok(mayUseTag(p, 'tag:db', { user: 'alice' }), 'owners of an owning tag');
  assert.ok(mayUseTag(p, 'tag:db', { tags: ['tag:web'] }), 'a node carrying an owning tag');
  assert.equal(mayUseTag(p, 'tag:nope', { user: 'alice' }), false);
  assert.equal(mayUseTag(p, 'tag:a', { user: 'alice' }), false);
});
