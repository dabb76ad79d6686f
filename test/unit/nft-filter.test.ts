import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftFilter, nftFilterRuleset } from '../../src/agent/nft-filter.js';
import { silentLogger } from '../../src/log.js';

// The netmap filter as nftables rules (external engines). The e2e test
// (backend-wireguard-go) loads it with nft and shows it blocking and passing traffic.

const LOCAL = ['100.64.0.5', 'fd7a:115c:a1e0::5'];

test('inbound rules: sources, our address, protocols and ports per family; the rest dropped', () => {
  const text = nftFilterRuleset({
    iface: 'wg0',
    localAddresses: LOCAL,
    rules: [
      { srcs: ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'], ports: [[22, 22], [8000, 8100]], protos: [6] },
      { srcs: ['100.64.0.9/32'], ports: [[0, 65535]] },
      { srcs: ['0.0.0.0/0', '::/0'], ports: [], protos: [50], family: 6 },
    ],
  });
  const input = text.slice(text.indexOf('chain input'), text.indexOf('chain forward'));
  assert.match(input, /iifname != "wg0" accept/);
  assert.match(input, /ct state established,related accept/);
  assert.ok(input.includes('ip saddr { 100.64.0.0/10 } ip daddr { 100.64.0.5 } meta l4proto { 6 } th dport { 22, 8000-8100 } accept'), input);
  assert.ok(input.includes('ip6 saddr { fd7a:115c:a1e0::/48 } ip6 daddr { fd7a:115c:a1e0::5 } meta l4proto { 6 } th dport { 22, 8000-8100 } accept'), input);
  // Default protocols, all ports: no port match; ICMP and ICMPv6 by protocol.
  assert.ok(input.includes('ip saddr { 100.64.0.9/32 } ip daddr { 100.64.0.5 } meta l4proto { 6, 17 } accept'), input);
  assert.ok(input.includes('ip saddr { 100.64.0.9/32 } ip daddr { 100.64.0.5 } meta l4proto { 1, 58 } accept'), input);
  assert.ok(input.includes('ip saddr { 100.64.0.9/32 } ip daddr { 100.64.0.5 } icmp type echo-request accept'), input);
  // family 6 only, no ports: a protocol rule for IPv6 and nothing for IPv4.
  assert.ok(input.includes('ip6 saddr { ::/0 } ip6 daddr { fd7a:115c:a1e0::5 } meta l4proto { 50 } accept'), input);
  assert.ok(!input.includes('ip saddr { 0.0.0.0/0 }'), input);
  assert.match(input, /counter drop\n {2}\}/);
});

test('rules with dsts go to the forward chain only; an empty filter drops everything from the mesh', () => {
  const text = nftFilterRuleset({ iface: 'wg0', localAddresses: LOCAL, rules: [{ srcs: ['100.64.0.0/10'], dsts: ['10.1.0.0/16'], ports: [[443, 443]] }] });
  const [input, forward] = [text.slice(text.indexOf('chain input'), text.indexOf('chain forward')), text.slice(text.indexOf('chain forward'))];
  assert.ok(!input.includes('saddr'), 'no inbound accept');
  assert.ok(forward.includes('ip saddr { 100.64.0.0/10 } ip daddr { 10.1.0.0/16 } meta l4proto { 6, 17 } th dport { 443 } accept'), forward);
  const empty = nftFilterRuleset({ iface: 'wg0', localAddresses: LOCAL, rules: [] });
  assert.equal(empty.match(/ accept$/gm)?.length, 4, 'only the interface and conntrack accepts in both chains');
});

test('NftFilter replaces the table in one transaction, skips unchanged rules, deletes it on down', async () => {
  const loads: string[] = [];
  const runs: string[][] = [];
  const f = new NftFilter(silentLogger, async (t) => void loads.push(t), async (argv) => void runs.push(argv));
  const s = { iface: 'wg0', localAddresses: LOCAL, rules: [{ srcs: ['100.64.0.0/10'], ports: [[22, 22]] as Array<[number, number]> }] };
  await f.apply(s);
  await f.apply(s);
  assert.equal(loads.length, 1, 'unchanged: no second nft call');
  assert.match(loads[0], /^add table inet weft-filter\ndelete table inet weft-filter\ntable inet weft-filter \{/);
  await f.down();
  assert.deepEqual(runs, [['nft', 'delete', 'table', 'inet', 'weft-filter']]);
  await f.apply(s);
  assert.equal(loads.length, 2, 'after down the table is loaded again');
});
