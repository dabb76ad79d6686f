import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { MagicDnsResolver, RCODE, type DnsConfig } from '../../src/dns/resolver.js';
import { checkRecordSet, MAX_RECORDS, parseRecord } from '../../src/dns/records.js';
import { DnsRecordError } from '../../src/dns/errors.js';
import { parsePolicy, PolicyError } from '../../src/policy/index.js';
import type { DnsRecord } from '../../src/wire/control.js';

const D = 'weft.internal';
const rec = (name: string, type: string, value: string): DnsRecord => parseRecord({ name, type, value });
const fails = (code: string, field: string) => (e: unknown) => e instanceof DnsRecordError && e.code === code && e.field === field;

test('parseRecord canonicalises each type and names the bad field', () => {
  assert.deepEqual(rec('Grafana.Weft.Internal.', 'a', '100.64.0.5'), { name: 'grafana.weft.internal', type: 'A', value: '100.64.0.5' });
  assert.equal(rec('v6.weft.internal', 'AAAA', 'FD7A:115C:A1E0:0::5').value, 'fd7a:115c:a1e0::5');
  assert.equal(rec('www.weft.internal', 'CNAME', 'Web.Weft.Internal.').value, 'web.weft.internal');
  assert.equal(rec('_http._tcp.web.weft.internal', 'SRV', '0  5 8080 web.weft.internal.'.replace('  ', ' ')).value, '0 5 8080 web.weft.internal');
  assert.equal(rec('web.weft.internal', 'TXT', 'v=spf1 -all').value, 'v=spf1 -all');
  assert.throws(() => parseRecord({ name: 'bad name.weft.internal', type: 'A', value: '1.2.3.4' }), fails('ERR_DNS_RECORD_NAME', 'name'));
  assert.throws(() => parseRecord({ name: `${'a'.repeat(64)}.weft.internal`, type: 'A', value: '1.2.3.4' }), fails('ERR_DNS_RECORD_NAME', 'name'));
  assert.throws(() => parseRecord({ name: 'x.weft.internal', type: 'MX', value: '10 mail' }), fails('ERR_DNS_RECORD_TYPE', 'type'));
  for (const [type, value] of [
    ['A', 'fd7a::1'],
    ['A', '100.64.5'],
    ['AAAA', '100.64.0.5'],
    ['AAAA', '::ffff:1.2.3.4'],
    ['CNAME', 'x.weft.internal'],
    ['CNAME', 'not a name'],
    ['TXT', 'x'.repeat(256)],
    ['TXT', 'bell\u0007'],
    ['SRV', '0 5 8080'],
    ['SRV', '0 5 70000 web.weft.internal'],
    ['SRV', '-1 5 80 web.weft.internal'],
  ]) {
    assert.throws(() => parseRecord({ name: 'x.weft.internal', type, value }), fails('ERR_DNS_RECORD_VALUE', 'value'), `${type} ${value}`);
  }
  // 255 bytes is one full character-string; multi-byte characters count as bytes.
  assert.equal(rec('x.weft.internal', 'TXT', 'x'.repeat(255)).value.length, 255);
  assert.throws(() => parseRecord({ name: 'x.weft.internal', type: 'TXT', value: 'é'.repeat(128) }), fails('ERR_DNS_RECORD_VALUE', 'value'));
});

test('checkRecordSet: domain, CNAME exclusivity, node names, TXT per name, SRV targets', () => {
  const nodes = ['web', 'db'];
  assert.deepEqual(
    checkRecordSet([rec('b.weft.internal', 'A', '100.64.0.9'), rec('a.weft.internal', 'TXT', 'x'), rec('a.weft.internal', 'TXT', 'x')], D, nodes).map((r) => r.name),
    ['a.weft.internal', 'b.weft.internal'],
    'sorted, duplicates dropped',
  );
  assert.throws(() => checkRecordSet([rec('grafana.example.com', 'A', '1.2.3.4')], D, nodes), fails('ERR_DNS_RECORD_NAME', 'name'));
  assert.throws(() => checkRecordSet([rec('weft.internal', 'TXT', 'apex')], D, nodes), fails('ERR_DNS_RECORD_NAME', 'name'));
  assert.throws(() => checkRecordSet([rec('www.weft.internal', 'CNAME', 'web.weft.internal'), rec('www.weft.internal', 'TXT', 'x')], D, nodes), fails('ERR_DNS_RECORD_CONFLICT', 'name'));
  assert.throws(() => checkRecordSet([rec('www.weft.internal', 'CNAME', 'a.example'), rec('www.weft.internal', 'CNAME', 'b.example')], D, nodes), fails('ERR_DNS_RECORD_CONFLICT', 'name'));
  for (const type of ['A', 'CNAME'] as const) {
    assert.throws(() => checkRecordSet([rec('web.weft.internal', type, type === 'A' ? '100.64.0.9' : 'db.weft.internal')], D, nodes), fails('ERR_DNS_RECORD_CONFLICT', 'name'));
  }
  assert.equal(checkRecordSet([rec('web.weft.internal', 'TXT', 'owner=ops')], D, nodes).length, 1, 'TXT may sit at a node name');
  assert.throws(() => checkRecordSet([0, 1, 2, 3].map((i) => rec('t.weft.internal', 'TXT', `${i}`.repeat(255))), D, nodes), fails('ERR_DNS_RECORD_VALUE', 'value'));
  assert.equal(checkRecordSet([rec('_http._tcp.web.weft.internal', 'SRV', '0 5 8080 web.weft.internal')], D, nodes).length, 1, 'target a node');
  assert.equal(checkRecordSet([rec('_http._tcp.weft.internal', 'SRV', '0 5 80 grafana.weft.internal'), rec('grafana.weft.internal', 'CNAME', 'db.weft.internal')], D, nodes).length, 2, 'target a record name');
  assert.throws(() => checkRecordSet([rec('_http._tcp.web.weft.internal', 'SRV', '0 5 80 nobody.weft.internal')], D, nodes), fails('ERR_DNS_SRV_TARGET', 'value'));
  assert.throws(() => checkRecordSet([rec('_x._tcp.weft.internal', 'SRV', '0 5 80 t.weft.internal'), rec('t.weft.internal', 'TXT', 'only text')], D, nodes), fails('ERR_DNS_SRV_TARGET', 'value'));
  const many = Array.from({ length: MAX_RECORDS + 1 }, (_, i) => rec(`h${i}.weft.internal`, 'A', '100.64.0.9'));
  assert.throws(() => checkRecordSet(many, D, nodes), fails('ERR_DNS_TOO_MANY_RECORDS', 'records'));
});

test('the policy file carries dnsRecords; a bad one points at its line', () => {
  const p = parsePolicy(`{
  "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "dnsRecords": [
    { "name": "grafana.weft.internal", "type": "A", "value": "100.64.0.5" },
    { "name": "_http._tcp.web.weft.internal", "type": "SRV", "value": "0 5 8080 web.weft.internal" },
  ],
}`);
  assert.deepEqual(p.dnsRecords?.map((r) => `${r.name} ${r.type} ${r.value}`), ['grafana.weft.internal A 100.64.0.5', '_http._tcp.web.weft.internal SRV 0 5 8080 web.weft.internal']);
  const bad = `{\n  "dnsRecords": [\n    { "name": "x.weft.internal", "type": "A",\n      "value": "not-an-ip" },\n  ],\n}`;
  assert.throws(() => parsePolicy(bad), (e: unknown) => e instanceof PolicyError && e.code === 'ERR_POLICY_BAD_DNS_RECORD' && e.line === 4);
  assert.throws(() => parsePolicy('{ "dnsRecords": [{ "name": "x.weft.internal", "type": "A", "value": "1.2.3.4", "ttl": 5 }] }'), (e: unknown) => e instanceof PolicyError && e.code === 'ERR_POLICY_SCHEMA');
});

// --- the resolver answering from records ---------------------------------------------------

const CONFIG: DnsConfig = {
  domain: D,
  hosts: [{ name: 'web', ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' }],
  meshRanges: ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'],
  routes: {},
  upstreams: [],
  records: [
    { name: 'grafana.weft.internal', type: 'A', value: '100.64.0.50' },
    { name: 'grafana.weft.internal', type: 'AAAA', value: 'fd7a:115c:a1e0::50' },
    { name: 'www.weft.internal', type: 'CNAME', value: 'web.weft.internal' },
    { name: 'docs.weft.internal', type: 'CNAME', value: 'docs.example.com' },
    { name: 'loop1.weft.internal', type: 'CNAME', value: 'loop2.weft.internal' },
    { name: 'loop2.weft.internal', type: 'CNAME', value: 'loop1.weft.internal' },
    { name: 'web.weft.internal', type: 'TXT', value: 'owner=ops' },
    { name: 'web.weft.internal', type: 'A', value: '100.64.9.9' },
    { name: '_http._tcp.web.weft.internal', type: 'SRV', value: '10 5 8080 web.weft.internal' },
    { name: 'bad.weft.internal', type: 'A', value: 'nope' } as DnsRecord,
    { name: 'elsewhere.example', type: 'A', value: '192.0.2.1' },
  ],
};

async function ask(r: MagicDnsResolver, name: string, type: dnsPacket.RecordType): Promise<{ rcode: number; answers: dnsPacket.Answer[] }> {
  const resp = await r.resolve(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }));
  assert.ok(resp);
  const p = dnsPacket.decode(Buffer.from(resp));
  return { rcode: (p.flags ?? 0) & 0xf, answers: p.answers ?? [] };
}
const dataOf = (x: dnsPacket.Answer): unknown => (x as { data?: unknown }).data;
const data = (a: { answers: dnsPacket.Answer[] }): unknown[] => a.answers.map((x) => (x.type === 'TXT' ? (dataOf(x) as Buffer[]).map(String).join('') : dataOf(x)));

test('the resolver answers A, AAAA, CNAME (followed inside the domain), TXT and SRV records', async () => {
  const r = new MagicDnsResolver(CONFIG, { exchange: async () => assert.fail('nothing goes upstream') });
  assert.equal(r.stats.badRecords, 2, 'malformed and out-of-domain records are dropped and counted');
  assert.deepEqual(data(await ask(r, 'grafana.weft.internal', 'A')), ['100.64.0.50']);
  assert.deepEqual(data(await ask(r, 'GRAFANA.weft.internal', 'AAAA')), ['fd7a:115c:a1e0::50']);
  assert.deepEqual(data(await ask(r, 'grafana', 'A')), ['100.64.0.50'], 'short name');
  const www = await ask(r, 'www.weft.internal', 'A');
  assert.deepEqual(www.answers.map((a) => [a.type, a.name, dataOf(a)]), [['CNAME', 'www.weft.internal', 'web.weft.internal'], ['A', 'web.weft.internal', '100.64.0.1']]);
  assert.deepEqual(data(await ask(r, 'www.weft.internal', 'CNAME')), ['web.weft.internal']);
  assert.deepEqual(data(await ask(r, 'docs.weft.internal', 'A')), ['docs.example.com'], 'a target outside the domain is left to the client');
  const loop = await ask(r, 'loop1.weft.internal', 'A');
  assert.equal(loop.rcode, RCODE.NOERROR);
  assert.ok(loop.answers.length <= 9 && loop.answers.every((a) => a.type === 'CNAME'), 'a CNAME loop ends');
  assert.deepEqual(data(await ask(r, 'web.weft.internal', 'TXT')), ['owner=ops']);
  assert.deepEqual(data(await ask(r, 'web.weft.internal', 'A')), ['100.64.0.1'], "at a node's name its address wins");
  assert.deepEqual(data(await ask(r, '_http._tcp.web.weft.internal', 'SRV')), [{ priority: 10, weight: 5, port: 8080, target: 'web.weft.internal' }]);
  const ent = await ask(r, '_tcp.web.weft.internal', 'SRV');
  assert.deepEqual([ent.rcode, ent.answers.length], [RCODE.NOERROR, 0], 'an empty non-terminal exists');
  const nodata = await ask(r, 'grafana.weft.internal', 'TXT');
  assert.deepEqual([nodata.rcode, nodata.answers.length], [RCODE.NOERROR, 0]);
  assert.equal((await ask(r, '_udp.web.weft.internal', 'SRV')).rcode, RCODE.NXDOMAIN);
  assert.equal((await ask(r, 'bad.weft.internal', 'A')).rcode, RCODE.NXDOMAIN);
  r.setConfig({ ...CONFIG, records: [] });
  assert.equal((await ask(r, 'grafana.weft.internal', 'A')).rcode, RCODE.NXDOMAIN, 'a new config drops the records');
  assert.equal(r.stats.badRecords, 0);
});

test('an answer too big for UDP is truncated (TC) and whole over TCP', async () => {
  const many = Array.from({ length: 40 }, (_, i) => ({ name: 'pool.weft.internal', type: 'A' as const, value: `100.64.1.${i + 1}` }));
  const r = new MagicDnsResolver({ ...CONFIG, records: many });
  const q = dnsPacket.encode({ type: 'query', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'pool.weft.internal', class: 'IN' }] });
  const udp = dnsPacket.decode(Buffer.from((await r.resolve(q, 'udp'))!));
  assert.ok((udp.flags ?? 0) & 0x0200, 'TC set');
  assert.equal(udp.answers?.length, 0);
  const tcp = dnsPacket.decode(Buffer.from((await r.resolve(q, 'tcp'))!));
  assert.equal((tcp.flags ?? 0) & 0x0200, 0);
  assert.equal(tcp.answers?.length, 40);
  assert.equal((await ask(r, 'grafana.weft.internal', 'A')).answers.length, 0, 'records replaced whole');
});
