import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, PolicyError, checkPolicy, DEFAULT_POLICY_TEXT } from '../../src/policy/index.js';

function rejects(text: string, code: string, line?: number): void {
  assert.throws(
    () => parsePolicy(text),
    (e: unknown) => {
      assert.ok(e instanceof PolicyError, String(e));
      assert.equal(e.code, code, e.message);
      if (line !== undefined) assert.equal(e.line, line, e.message);
      return true;
    },
  );
}

const FULL = `// a comment
{
  /* groups */
  "groups": { "group:eng": ["alice@", "bob@example.com",], },
  "tagOwners": { "tag:server": ["group:eng"], "tag:db": ["tag:server", "carol@"] },
  "hosts": { "nas": "192.0.2.7", "lan": "192.0.2.0/24", "v6net": "fd00::/64" },
  "acls": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22,80-90", "nas:*"] },
    { "action": "accept", "src": ["alice@", "10.1.0.0/16", "lan", "gamma"], "dst": ["fd7a::1:443", "[fd00::5]:53"], "proto": "udp" },
    { "action": "accept", "src": ["*"], "dst": ["tag:db:*"], "proto": "icmp" },
    { "action": "accept", "src": ["tag:db"], "dst": ["*:5432"], "proto": 6 },
  ],
  "tests": [ { "src": "alice@", "accept": ["tag:server:22"], "deny": ["tag:server:23"] } ],
}`;

test('every construct parses', () => {
  const p = parsePolicy(FULL);
  assert.deepEqual(p.groups.get('group:eng'), ['alice', 'bob@example.com']);
  assert.deepEqual(p.tagOwners.get('tag:db'), ['tag:server', 'carol']);
  assert.equal(p.acls.length, 4);
  const [a0, a1, a2, a3] = p.acls;
  assert.equal(a0.line, 8);
  assert.deepEqual(a0.srcs, [{ kind: 'group', group: 'group:eng' }]);
  assert.deepEqual(a0.dsts[0].ports, [{ first: 22, last: 22 }, { first: 80, last: 90 }]);
  assert.deepEqual(a0.dsts[0].selector, { kind: 'tag', tag: 'tag:server' });
  assert.equal(a0.dsts[1].selector.kind, 'prefix');
  assert.deepEqual(a0.dsts[1].ports, [{ first: 0, last: 65535 }]);
  assert.equal(a0.protos, null);
  assert.deepEqual(a1.srcs.map((s) => s.kind), ['user', 'prefix', 'prefix', 'node']);
  assert.deepEqual(a1.protos, [17]);
  assert.equal(a1.dsts[0].selector.kind === 'prefix' && a1.dsts[0].selector.prefix.family, 6);
  assert.deepEqual(a1.dsts[1].ports, [{ first: 53, last: 53 }]);
  assert.deepEqual(a2.protos, [1, 58]);
  assert.deepEqual(a3.protos, [6]);
  assert.equal(p.tests[0].cases.length, 2);
  assert.equal(p.tests[0].cases[1].expect, 'deny');
});

test('the default policy allows all and passes checks', () => {
  const { policy } = checkPolicy(DEFAULT_POLICY_TEXT);
  assert.equal(policy.acls.length, 1);
  assert.deepEqual(parsePolicy('{}').acls, []);
});

test('syntax errors carry line and column', () => {
  rejects('{\n  "acls": [\n    { "action": "accept" oops }\n  ]\n}', 'ERR_POLICY_SYNTAX', 3);
  rejects('', 'ERR_POLICY_SYNTAX', 1);
  rejects('{ "acls": [', 'ERR_POLICY_SYNTAX');
  try {
    parsePolicy('{\n "a": 1 2 }');
  } catch (e) {
    assert.ok(e instanceof PolicyError);
    assert.equal(e.line, 2);
    assert.equal(e.column, 9);
    assert.deepEqual(Object.keys(e.toJSON()).sort(), ['code', 'column', 'line', 'message']);
  }
});

test('structural errors', () => {
  rejects('[]', 'ERR_POLICY_SCHEMA', 1);
  rejects('{\n"acl": []}', 'ERR_POLICY_SCHEMA', 2);
  rejects('{"acls": {}}', 'ERR_POLICY_SCHEMA');
  rejects('{"acls": [{"action": "accept", "src": ["*"]}]}', 'ERR_POLICY_SCHEMA');
  rejects('{"acls": [{"action": "accept", "src": "*", "dst": ["*:*"]}]}', 'ERR_POLICY_SCHEMA');
  rejects('{"acls": [{"action": "accept", "src": [1], "dst": ["*:*"]}]}', 'ERR_POLICY_SCHEMA');
  rejects('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "users": []}]}', 'ERR_POLICY_SCHEMA');
  rejects('{"groups": {}, "groups": {}}', 'ERR_POLICY_SCHEMA');
  rejects('{"tests": [{"accept": []}]}', 'ERR_POLICY_SCHEMA');
});

test('actions', () => {
  rejects('{"acls": [\n{"action": "drop", "src": ["*"], "dst": ["*:*"]}]}', 'ERR_POLICY_BAD_ACTION', 2);
});

test('unknown groups and tags, with the line', () => {
  rejects('{"acls": [\n{"action": "accept",\n "src": ["group:nope"], "dst": ["*:*"]}]}', 'ERR_POLICY_UNKNOWN_GROUP', 3);
  rejects('{"acls": [{"action": "accept", "src": ["*"],\n "dst": ["tag:x:22"]}]}', 'ERR_POLICY_UNKNOWN_TAG', 2);
  rejects('{"tagOwners": {"tag:a": ["group:g"]}}', 'ERR_POLICY_UNKNOWN_GROUP');
  rejects('{"tagOwners": {"tag:a": ["tag:b"]}}', 'ERR_POLICY_UNKNOWN_TAG');
  rejects('{"tests": [{"src": "tag:x", "accept": []}]}', 'ERR_POLICY_UNKNOWN_TAG');
});

test('selectors', () => {
  rejects('{"groups": {"eng": []}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"groups": {"group:eng": ["alice"]}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"tagOwners": {"tag:": []}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"tagOwners": {"tag:a": ["bob"]}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"hosts": {"a b": "1.2.3.4"}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"acls": [{"action": "accept", "src": ["bad_name!"], "dst": ["*:*"]}]}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"tests": [{"src": "*", "accept": []}]}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"tests": [{"src": "10.0.0.0/8", "accept": []}]}', 'ERR_POLICY_BAD_SELECTOR');
});

test('CIDRs', () => {
  rejects('{"hosts": {"h": "300.1.1.1"}}', 'ERR_POLICY_BAD_CIDR');
  rejects('{"hosts": {"h": "10.0.0.0/33"}}', 'ERR_POLICY_BAD_CIDR');
  rejects('{"acls": [{"action": "accept", "src": ["10.0.0.1/xx"], "dst": ["*:*"]}]}', 'ERR_POLICY_BAD_CIDR');
  rejects('{"acls": [{"action": "accept", "src": ["*"], "dst": ["fd7a:::1:22"]}]}', 'ERR_POLICY_BAD_CIDR');
});

test('ports', () => {
  for (const d of ['*:', '*', '*:65536', '*:10-5', '*:a', '*:1,,2', '*:-1']) {
    rejects(`{"acls": [{"action": "accept", "src": ["*"], "dst": ["${d}"]}]}`, 'ERR_POLICY_BAD_PORTS');
  }
  rejects('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"], "proto": "icmp"}]}', 'ERR_POLICY_BAD_PORTS');
  rejects('{"tests": [{"src": "a@", "accept": ["b:1-2"]}]}', 'ERR_POLICY_BAD_PORTS');
});

test('protocols', () => {
  for (const p of ['"foo"', '256', '-1', '1.5', 'true', '"300"']) {
    rejects(`{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": ${p}}]}`, 'ERR_POLICY_BAD_PROTO');
  }
  assert.deepEqual(parsePolicy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "47"}]}').acls[0].protos, [47]);
});

test('fuzz: any text either parses or throws a PolicyError with a position', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.tuple(fc.nat(FULL.length), fc.nat(FULL.length), fc.string({ maxLength: 8 })).map(([a, b, ins]) => FULL.slice(0, Math.min(a, b)) + ins + FULL.slice(Math.max(a, b))),
      ),
      (text) => {
        try {
          parsePolicy(text);
        } catch (e) {
          assert.ok(e instanceof PolicyError, String(e));
          assert.ok(e.line >= 1 && e.column >= 1);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('autogroup:internet: a destination only, with ports; other autogroups stay rejected', () => {
  const p = parsePolicy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:internet:*", "autogroup:internet:443,80-90"]}]}');
  assert.deepEqual(p.acls[0].dsts.map((d) => [d.selector, d.ports]), [
    [{ kind: 'internet' }, [{ first: 0, last: 65535 }]],
    [{ kind: 'internet' }, [{ first: 443, last: 443 }, { first: 80, last: 90 }]],
  ]);
  const asSrc = '{\n"acls": [{"action": "accept",\n "src": ["autogroup:internet"], "dst": ["*:*"]}]}';
  rejects(asSrc, 'ERR_POLICY_BAD_SELECTOR', 3);
  assert.throws(() => parsePolicy(asSrc), /only valid as an ACL destination/);
  rejects('{"autoApprovers": {"exitNode": ["autogroup:internet"]}}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"tests": [{"src": "alice@", "accept": ["autogroup:internet:443"]}]}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:member:*"]}]}', 'ERR_POLICY_BAD_SELECTOR');
  rejects('{"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:internet"]}]}', 'ERR_POLICY_BAD_PORTS');
});
