import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPolicy, compilePolicy, DEFAULT_POLICY_TEXT, filtersEqual, mayUseTag, parsePolicy, PolicyError, runPolicyTests, type PolicyNode } from '../../src/policy/index.js';
import { aggregate, complement } from '../../src/policy/cidr-set.js';
import { parsePrefix } from '../../src/net/prefix.js';

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

// Routers: k6 routes two IPv4 subnets and one IPv6 subnet; k7 is an exit node that also routes a subnet.
const ROUTED: PolicyNode[] = [
  node(1, 'alpha', 'alice'),
  node(2, 'beta', 'bob'),
  { ...node(6, 'router', null, ['tag:router']), routes: ['10.1.0.0/24', '10.2.0.0/16', 'fd00:1::/64'] },
  { ...node(7, 'exit', null, ['tag:exit']), routes: ['192.168.9.0/24'], exit: true },
];
const ALICE = ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'];
const forwarding = (c: ReturnType<typeof compilePolicy>, id: string) => c.filter(id).filter((r) => r.dsts);
const routed = (acls: string): ReturnType<typeof compilePolicy> =>
  compilePolicy(parsePolicy(`{"tagOwners": {"tag:router": [], "tag:exit": []}, "hosts": {"lan": "10.1.0.0/24"}, "acls": [${acls}]}`), ROUTED);

test('routers: CIDR destinations give forwarding rules for the overlap with approved routes only', () => {
  const c = routed(`
    {"action": "accept", "src": ["alice@"], "dst": ["10.1.0.5:22,80", "10.0.0.0/8:443", "172.16.0.0/12:*", "lan:53"]},
    {"action": "accept", "src": ["bob@"], "dst": ["fd00:1::/56:*"], "proto": "udp"}`);
  assert.deepEqual(forwarding(c, 'k6'), [
    { srcs: ALICE, ports: [[22, 22], [80, 80]], dsts: ['10.1.0.5/32'] },
    // A destination larger than the route is clipped to the route.
    { srcs: ALICE, ports: [[443, 443]], dsts: ['10.1.0.0/24', '10.2.0.0/16'] },
    { srcs: ALICE, ports: [[53, 53]], dsts: ['10.1.0.0/24'] },
    { srcs: ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128'], ports: [[0, 65535]], protos: [17], dsts: ['fd00:1::/64'] },
  ]);
  // No local rules from CIDR destinations outside the mesh; no forwarding outside routes.
  assert.deepEqual(c.filter('k6').filter((r) => !r.dsts), []);
  assert.deepEqual(forwarding(c, 'k7'), []);
  // Plain nodes never get forwarding rules.
  assert.deepEqual(c.filter('k1'), []);
  // Visibility: alice and bob see the router (and it them); nobody sees the exit node.
  assert.deepEqual(c.peers('k6'), ['k1', 'k2']);
  assert.deepEqual(c.peers('k1'), ['k6']);
  assert.equal(c.canSee('k2', 'k6'), true);
  assert.deepEqual(c.peers('k7'), []);
  assert.equal(c.canSee('k1', 'k2'), false);
});

test('routers: "*" covers every approved route (and the internet on an exit node); same ports share a rule', () => {
  const c = routed(`{"action": "accept", "src": ["alice@"], "dst": ["*:80", "10.1.0.0/24:80"]}`);
  assert.deepEqual(forwarding(c, 'k6'), [{ srcs: ALICE, ports: [[80, 80]], dsts: ['10.1.0.0/24', '10.2.0.0/16', 'fd00:1::/64'] }]);
  const exit = forwarding(c, 'k7');
  assert.equal(exit.length, 1);
  assert.equal(exit[0].dsts![0], '192.168.9.0/24');
  assert.ok(exit[0].dsts!.includes('::/0'));
  assert.ok(!exit[0].dsts!.includes('0.0.0.0/0'), 'the exit node subnet is cut out of the internet');
  // The default policy keeps everything usable.
  const all = compilePolicy(parsePolicy(DEFAULT_POLICY_TEXT), ROUTED);
  assert.deepEqual(forwarding(all, 'k6'), [{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]], dsts: ['10.1.0.0/24', '10.2.0.0/16', 'fd00:1::/64'] }]);
});

test('routers: autogroup:internet only on approved exit nodes, without their own subnets', () => {
  const c = routed(`{"action": "accept", "src": ["bob@"], "dst": ["autogroup:internet:443"], "proto": "tcp"}`);
  assert.deepEqual(forwarding(c, 'k6'), []);
  const [rule, ...rest] = forwarding(c, 'k7');
  assert.deepEqual(rest, []);
  assert.deepEqual({ ...rule, dsts: undefined }, { srcs: ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128'], ports: [[443, 443]], protos: [6], dsts: undefined });
  // 0.0.0.0/0 minus 192.168.9.0/24, then ::/0.
  assert.equal(rule.dsts!.length, 25);
  assert.ok(rule.dsts!.includes('192.168.8.0/24') && rule.dsts!.includes('192.168.10.0/23') && rule.dsts!.includes('0.0.0.0/1'));
  assert.equal(rule.dsts!.at(-1), '::/0');
  for (const d of rule.dsts!) assert.ok(!d.startsWith('192.168.9.'), d);
  assert.deepEqual(c.peers('k2'), ['k7']);
  assert.deepEqual(c.peers('k7'), ['k2']);
  // Not an exit node any more: nothing.
  const noExit = compilePolicy(parsePolicy(`{"tagOwners": {"tag:exit": []}, "acls": [{"action": "accept", "src": ["bob@"], "dst": ["autogroup:internet:*"]}]}`), ROUTED.map((n) => ({ ...n, exit: false })));
  assert.deepEqual(forwarding(noExit, 'k7'), []);
  assert.deepEqual(noExit.peers('k2'), []);
});

test('complement: the address space minus holes, in the fewest CIDRs', () => {
  assert.deepEqual(complement([], 4), ['0.0.0.0/0']);
  assert.deepEqual(complement([parsePrefix('0.0.0.0/1')], 4), ['128.0.0.0/1']);
  assert.deepEqual(complement([parsePrefix('128.0.0.0/1'), parsePrefix('0.0.0.0/1')], 4), []);
  assert.deepEqual(complement([parsePrefix('10.0.0.0/8'), parsePrefix('10.1.0.0/16'), parsePrefix('fd00::/8')], 4), [
    '0.0.0.0/5', '8.0.0.0/7', '11.0.0.0/8', '12.0.0.0/6', '16.0.0.0/4', '32.0.0.0/3', '64.0.0.0/2', '128.0.0.0/1',
  ]);
  assert.deepEqual(complement([parsePrefix('8000::/1')], 6), ['::/1']);
});

test('filtersEqual compares forwarding destinations', () => {
  const a = [{ srcs: ['0.0.0.0/0'], ports: [[0, 65535]] as Array<[number, number]>, dsts: ['10.0.0.0/8'] }];
  assert.equal(filtersEqual(a, [{ ...a[0], dsts: ['10.0.0.0/8'] }]), true);
  assert.equal(filtersEqual(a, [{ ...a[0], dsts: ['10.0.0.0/9'] }]), false);
  assert.equal(filtersEqual(a, [{ ...a[0], dsts: undefined }]), false);
});
