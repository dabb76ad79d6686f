// Routes branch: route parsing, autoApprovers, the OS commands for policy routing and
// forwarding/NAT, and the agent-side route selection (exit node, kill switch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrList, parsePortList, parseUpArgs } from '../../src/cli/node-args.js';
import { canonicalRoute, parseRouteArg, parseRoutes } from '../../src/control/routes.js';
import { autoApproved, parsePolicy } from '../../src/policy/index.js';
import { cleanupCommands, hostRoutes, routingCommands } from '../../src/agent/routing.js';
import { iptablesCommands, nftRuleset, type ForwardingState } from '../../src/agent/forwarding.js';
import { RouteController } from '../../src/agent/routes.js';
import { silentLogger } from '../../src/log.js';
import type { NodeView } from '../../src/wire/control.js';

test('routes are canonical CIDRs; "exit" means both default routes', () => {
  assert.equal(canonicalRoute('10.1.2.3/24'), '10.1.2.0/24');
  assert.equal(canonicalRoute('fd00:0:0::1/64'), 'fd00::/64');
  assert.equal(canonicalRoute('10.1.2.3'), null);
  assert.equal(canonicalRoute('bogus/8'), null);
  assert.deepEqual(parseRoutes(['10.0.0.9/8', '10.0.0.0/8', '::/0']), ['10.0.0.0/8', '::/0']);
  assert.throws(() => parseRoutes(['nope']), { code: 'ERR_INVALID_ROUTE' });
  assert.deepEqual(parseRouteArg('exit'), ['0.0.0.0/0', '::/0']);
  assert.deepEqual(parseCidrList('--advertise-routes', '10.0.0.1/24, 192.168.1.0/24'), ['10.0.0.0/24', '192.168.1.0/24']);
  assert.throws(() => parseCidrList('--advertise-routes', '10.0.0.1'), { code: 'ERR_INVALID_ARGUMENT' });
  assert.deepEqual(parsePortList('80,443,1000-2000'), ['80', '443', '1000-2000']);
  assert.throws(() => parsePortList('0'), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => parsePortList('9-3'), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => parseUpArgs({ exitNodeFallback: 'leak' }), { code: 'ERR_INVALID_ARGUMENT' });
  const up = parseUpArgs({ advertiseRoutes: '10.77.0.0/24', advertiseExitNode: true, exitPolicyAllowPorts: '80', exitPolicyBlock: ['203.0.113.9/32'], exitNode: 'gw', exitNodeFallback: 'direct' });
  assert.deepEqual(up.advertiseRoutes, ['10.77.0.0/24']);
  assert.deepEqual(up.exitPolicy, { allowPorts: ['80'], block: ['203.0.113.9/32'] });
  assert.equal(up.exitNode, 'gw');
  assert.equal(up.exitNodeFallback, 'direct');
});

test('autoApprovers approve routes inside a listed prefix and exit routes for exitNode', () => {
  const p = parsePolicy(`{
    "tagOwners": {"tag:router": ["admin@"], "tag:exit": ["admin@"]},
    "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
    "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:router"]}, "exitNode": ["tag:exit"]},
  }`);
  const node = (tags: string[]) => ({ id: 'k', name: 'n', user: null, tags, ipv4: '100.64.0.5', ipv6: 'fd00::5' });
  assert.deepEqual(autoApproved(p, node(['tag:router']), ['10.1.0.0/16', '192.168.0.0/24', '0.0.0.0/0', '::/0']), ['10.1.0.0/16']);
  assert.deepEqual(autoApproved(p, node(['tag:exit']), ['10.1.0.0/16', '0.0.0.0/0', '::/0']), ['0.0.0.0/0', '::/0']);
  assert.deepEqual(autoApproved(p, node([]), ['10.1.0.0/16']), []);
  assert.throws(() => parsePolicy('{"autoApprovers": {"bogus": []}}'), { code: 'ERR_POLICY_SCHEMA' });
  assert.throws(() => parsePolicy('{"autoApprovers": {"routes": {"10.0.0.0/8": ["tag:nope"]}}}'), { code: 'ERR_POLICY_UNKNOWN_TAG' });
});

test('policy routing: own table, not-fwmark rule, suppress rule unless exit without LAN access, coordinator bypass', () => {
  assert.deepEqual(routingCommands({ iface: 'weft0', subnetRoutes: [], exit: false, allowLan: false, bypass: [] }), []);
  const sub = routingCommands({ iface: 'weft0', subnetRoutes: ['10.77.0.0/24'], exit: false, allowLan: false, bypass: ['10.99.0.1/32'] }).map((c) => c.join(' '));
  assert.ok(sub.includes('ip -4 route replace 10.77.0.0/24 dev weft0 table 5746'));
  assert.ok(sub.includes('ip -4 rule add pref 5205 lookup main suppress_prefixlength 0'));
  assert.ok(sub.includes('ip -6 rule add pref 5210 not fwmark 0x5746 lookup 5746'));
  assert.ok(!sub.some((c) => c.includes('to 10.99.0.1/32')), 'bypass only with an exit node');
  const exit = routingCommands({ iface: 'weft0', subnetRoutes: [], exit: true, allowLan: false, bypass: ['10.99.0.1/32'] }).map((c) => c.join(' '));
  assert.ok(exit.includes('ip -4 route replace 0.0.0.0/0 dev weft0 table 5746'));
  assert.ok(exit.includes('ip -6 route replace ::/0 dev weft0 table 5746'));
  assert.ok(exit.includes('ip -4 rule add pref 5200 to 10.99.0.1/32 lookup main'));
  assert.ok(!exit.some((c) => c.includes('suppress_prefixlength')), 'no LAN access: LAN goes through the exit node too');
  const lan = routingCommands({ iface: 'weft0', subnetRoutes: [], exit: true, allowLan: true, bypass: [] }).map((c) => c.join(' '));
  assert.ok(lan.includes('ip -4 rule add pref 5205 lookup main suppress_prefixlength 0'));
  assert.equal(cleanupCommands().filter((c) => c.includes('flush')).length, 2);
});

const fwd = (o: Partial<ForwardingState>): ForwardingState => ({
  iface: 'weft0',
  meshRanges: ['100.64.0.0/10', 'fd12:3456:789a::/48'],
  subnetRoutes: [],
  exit: false,
  snatSubnetRoutes: true,
  policy: { allowPorts: [], block: [] },
  ...o,
});

test('nftables ruleset: masquerade mesh sources only, exit policy on traffic from the mesh', () => {
  const exit = nftRuleset(fwd({ exit: true, policy: { allowPorts: ['80', '443'], block: ['203.0.113.9/32', '2001:db8::/32'] } }));
  assert.match(exit, /table inet weft-exit/);
  assert.match(exit, /oifname != "weft0" ip saddr 100\.64\.0\.0\/10 counter masquerade/);
  assert.match(exit, /oifname != "weft0" ip6 saddr fd12:3456:789a::\/48 counter masquerade/);
  assert.match(exit, /iifname "weft0" ip daddr \{ 203\.0\.113\.9\/32 \} counter reject/);
  assert.match(exit, /iifname "weft0" ip6 daddr \{ 2001:db8::\/32 \} counter reject/);
  assert.match(exit, /th dport != \{ 80, 443 \} counter reject/);
  const sub = nftRuleset(fwd({ subnetRoutes: ['10.77.0.0/24'] }));
  assert.match(sub, /ip saddr 100\.64\.0\.0\/10 ip daddr \{ 10\.77\.0\.0\/24 \} counter masquerade/);
  assert.doesNotMatch(sub, /saddr 100\.64\.0\.0\/10 counter masquerade/);
  const nosnat = nftRuleset(fwd({ subnetRoutes: ['10.77.0.0/24'], snatSubnetRoutes: false }));
  assert.doesNotMatch(nosnat, /masquerade/);
  const ipt = iptablesCommands(fwd({ exit: true, policy: { allowPorts: ['80'], block: ['203.0.113.9/32'] } })).map(([f, a]) => `${f} ${a.join(' ')}`);
  assert.ok(ipt.includes('4 -I FORWARD -j WEFT-FORWARD -m comment --comment weft'));
  assert.ok(ipt.includes('4 -t nat -A WEFT-POSTROUTING ! -o weft0 -s 100.64.0.0/10 -j MASQUERADE'));
  assert.ok(ipt.includes('4 -A WEFT-FORWARD -i weft0 -d 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable'));
});

const view = (name: string, n: number, o: Partial<NodeView> = {}): NodeView => ({
  id: n, name, fqdn: `${name}.weft.internal`, ipv4: `100.64.0.${n}`, ipv6: `fd00::${n}`, publicKey: Buffer.alloc(32, n).toString('base64'),
  endpoints: [], online: true, expired: false, lastSeen: null, createdAt: '', expiresAt: null, ephemeral: false, tags: [], user: null, ...o,
});

test('route controller: peers serve approved subnets; exit routes only for the selected exit node; kill switch', async () => {
  const applied: Array<{ subnetRoutes: string[]; exit: boolean }> = [];
  const forwards: unknown[] = [];
  const peers = new Map<string, NodeView>();
  const rc = new RouteController(
    { routes: ['10.5.0.0/16'], exitNode: false, snatSubnetRoutes: true, exitPolicy: { allowPorts: [], block: [] } },
    { exitNode: 'gw', allowLanAccess: false, fallback: 'block' },
    { apply: async (s) => void applied.push(s), down: async () => {} },
    { apply: async (s) => void forwards.push(s), down: async () => {} },
    { iface: () => 'weft0', meshRanges: () => ['100.64.0.0/10'], bypass: () => [], findPeer: (t) => [...peers.values()].find((p) => p.name === t), logger: silentLogger },
  );
  const gw = view('gw', 2, { advertisedRoutes: ['0.0.0.0/0', '::/0', '10.9.0.0/24'], approvedRoutes: ['10.9.0.0/24'] });
  const r = view('r', 3, { advertisedRoutes: ['10.77.0.0/24'], approvedRoutes: [] });
  peers.set(gw.publicKey, gw).set(r.publicKey, r);
  const self = view('me', 1, { advertisedRoutes: ['10.5.0.0/16'], approvedRoutes: [] });
  await rc.refresh(self, peers);
  assert.deepEqual(rc.routesFor(r), [], 'unapproved routes are not routed');
  assert.deepEqual(rc.routesFor(gw), ['10.9.0.0/24']);
  assert.equal(rc.status()?.state, 'not-approved');
  assert.equal(applied.at(-1)!.exit, true, 'kill switch: the default route into the mesh stays');
  assert.equal(forwards.at(-1), null, 'nothing approved for us: no forwarding');

  peers.set(gw.publicKey, { ...gw, approvedRoutes: ['0.0.0.0/0', '10.9.0.0/24', '::/0'] });
  peers.set(r.publicKey, { ...r, approvedRoutes: ['10.77.0.0/24'] });
  const moved = await rc.refresh({ ...self, approvedRoutes: ['10.5.0.0/16'] }, peers);
  assert.ok(moved.has(gw.publicKey));
  assert.deepEqual(rc.routesFor(peers.get(gw.publicKey)!), ['10.9.0.0/24', '0.0.0.0/0', '::/0']);
  assert.deepEqual(rc.routesFor(peers.get(r.publicKey)!), ['10.77.0.0/24']);
  assert.equal(rc.status()?.state, 'active');
  assert.deepEqual(applied.at(-1)!.subnetRoutes, ['10.77.0.0/24', '10.9.0.0/24']);
  assert.deepEqual((forwards.at(-1) as ForwardingState).subnetRoutes, ['10.5.0.0/16']);
  // Forwarded packets: only to our approved subnet.
  const pkt = (dst: number[]) => Uint8Array.from([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 100, 64, 0, 2, ...dst]);
  assert.equal(rc.mayForward(pkt([10, 5, 1, 1])), true);
  assert.equal(rc.mayForward(pkt([8, 8, 8, 8])), false);

  peers.delete(gw.publicKey);
  await rc.refresh(self, peers);
  assert.equal(rc.status()?.state, 'not-found');
  assert.equal(applied.at(-1)!.exit, true, 'exit node gone: still blocked (no leak)');
  rc.setExitPrefs({ fallback: 'direct' });
  await rc.refresh(self, peers);
  assert.equal(applied.at(-1)!.exit, false, 'fallback direct: default route removed');
  assert.throws(() => rc.setExitPrefs({ exitNode: 'nobody' }), { code: 'ERR_PEER_NOT_FOUND' });
  rc.setExitPrefs({ exitNode: '' });
  assert.equal(rc.status(), null);
});

test('route controller: --exit-circuit routes outside traffic into the interface with the bypass, no exit peer', async () => {
  const applied: Array<{ exit: boolean; bypass: string[] }> = [];
  const rc = new RouteController(
    { routes: [], exitNode: false, snatSubnetRoutes: true, exitPolicy: { allowPorts: [], block: [] } },
    { exitNode: null, allowLanAccess: false, fallback: 'block', circuit: true },
    { apply: async (s) => void applied.push(s), down: async () => {} },
    { apply: async () => {}, down: async () => {} },
    { iface: () => 'weft0', meshRanges: () => ['100.64.0.0/10'], bypass: () => ['192.0.2.1/32'], findPeer: () => undefined, logger: silentLogger },
  );
  const gw = view('gw', 2, { advertisedRoutes: ['0.0.0.0/0', '::/0'], approvedRoutes: ['0.0.0.0/0', '::/0'] });
  await rc.refresh(view('me', 1), new Map([[gw.publicKey, gw]]));
  assert.deepEqual(applied.at(-1), { iface: 'weft0', subnetRoutes: [], exit: true, allowLan: false, bypass: ['192.0.2.1/32'], src4: '100.64.0.1', src6: 'fd00::1' });
  assert.deepEqual(rc.routesFor(gw), [], 'no peer gets the default route: the engine leaves outside traffic unrouted for the circuit');
  assert.equal(rc.status(), null);
});

test('exit bypass: coordinator and relay addresses as host routes, resolved, deduplicated', async () => {
  const names: Record<string, { address: string; family: number }[]> = {
    'relay.example': [{ address: '192.0.2.7', family: 4 }, { address: '2001:db8::7', family: 6 }],
  };
  const lookup = async (h: string) => {
    const a = names[h];
    if (!a) throw new Error(`ENOTFOUND ${h}`);
    return a;
  };
  assert.deepEqual(
    await hostRoutes(['https://10.99.0.1:8443', 'wss://relay.example/relay', 'http://[2001:db8:0:0::1]:80', 'https://10.99.0.1:9000', 'https://nowhere.example', 'not a url'], lookup),
    ['10.99.0.1/32', '192.0.2.7/32', '2001:db8::7/128', '2001:db8::1/128'],
  );
  assert.deepEqual(await hostRoutes([], lookup), []);
});
