// MagicDNS records in the coordinator (issue 20): set over the admin API and in the
// policy file, validated as a set (4xx naming the field, nothing changed), audited,
// stored, and sent to every connected node as a `dns` delta.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import type { AuditEntryView } from '../../src/control/audit.js';
import type { DnsConfig, DnsRecordView, NetMap, ServerMessage } from '../../src/wire/control.js';
import type { MapClient } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

const PATH = '/api/v1/admin/dns/records';
const text = (records: readonly { name: string; type: string; value: string }[] = []): string[] => records.map((r) => `${r.name} ${r.type} ${r.value}`);
const refused = (status: number, code: string, field: string) => (e: unknown) => e instanceof ControlError && e.status === status && e.code === code && e.field === field;

/** The next `dns` delta whose records read `want`. */
async function dnsDelta(m: MapClient, want: string[]): Promise<DnsConfig> {
  const msg = await m.waitFor((x) => x.type === 'delta' && x.dns !== undefined && text(x.dns.records).join() === want.join());
  return (msg as Extract<ServerMessage, { type: 'delta' }>).dns!;
}

const POLICY = (records: string): string => `{
  "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "dnsRecords": [${records}],
}`;

describe('MagicDNS records in the coordinator', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator();
  });
  after(() => t.stop());

  test('admin API: set, list, rm; every node gets the change; audited and stored', async () => {
    const key = await t.authKey({ reusable: true });
    const web = await joined(t, key, 'web');
    const db = await joined(t, key, 'db');
    const r = await t.admin.request<{ records: unknown[] }>('PUT', PATH, { name: 'Grafana.weft.internal', type: 'a', values: ['100.64.0.50'] });
    assert.deepEqual(text(r.records as never), ['grafana.weft.internal A 100.64.0.50']);
    for (const n of [web, db]) await dnsDelta(n.map, ['grafana.weft.internal A 100.64.0.50']);
    await t.admin.request('PUT', PATH, { name: '_http._tcp.web.weft.internal', type: 'SRV', values: ['0 5 8080 web.weft.internal'] });
    await t.admin.request('PUT', PATH, { name: 'web.weft.internal', type: 'TXT', values: ['owner=ops', 'tier=1'] });
    const all = ['_http._tcp.web.weft.internal SRV 0 5 8080 web.weft.internal', 'grafana.weft.internal A 100.64.0.50', 'web.weft.internal TXT owner=ops', 'web.weft.internal TXT tier=1'];
    await dnsDelta(db.map, all);
    const { records } = await t.admin.request<{ records: DnsRecordView[] }>('GET', PATH);
    assert.deepEqual(text(records), all);
    assert.ok(records.every((x) => x.source === 'admin'));
    assert.deepEqual(text(await t.c.store.listDnsRecords()), all, 'stored');
    // A new stream's full netmap carries them.
    const late = await joined(t, key, 'late');
    const full = (late.map.messages.find((m) => m.type === 'full') as { netmap: NetMap }).netmap;
    assert.deepEqual(text(full.dns?.records), all);
    // set replaces the values of that name and type.
    await t.admin.request('PUT', PATH, { name: 'web.weft.internal', type: 'TXT', values: ['owner=sre'] });
    const rm = await t.admin.request<{ removed: unknown[] }>('DELETE', `${PATH}?name=grafana.weft.internal`);
    assert.deepEqual(text(rm.removed as never), ['grafana.weft.internal A 100.64.0.50']);
    await dnsDelta(web.map, ['_http._tcp.web.weft.internal SRV 0 5 8080 web.weft.internal', 'web.weft.internal TXT owner=sre']);
    await assert.rejects(t.admin.request('DELETE', `${PATH}?name=grafana.weft.internal`), refused(404, 'ERR_DNS_RECORD_NOT_FOUND', 'name'));
    const { entries } = await t.admin.request<{ entries: AuditEntryView[] }>('GET', '/api/v1/admin/audit');
    const dns = entries.filter((e) => e.action.startsWith('dns.'));
    assert.deepEqual(dns.map((e) => [e.action, e.target]), [
      ['dns.records.set', 'grafana.weft.internal'],
      ['dns.records.set', '_http._tcp.web.weft.internal'],
      ['dns.records.set', 'web.weft.internal'],
      ['dns.records.set', 'web.weft.internal'],
      ['dns.records.rm', 'grafana.weft.internal'],
    ]);
    for (const n of [web, db, late]) await n.map.close();
  });

  test('invalid records are refused with the field named and nothing changed', async () => {
    const before = t.snapshot();
    const cases: Array<[unknown, number, string, string]> = [
      [{ name: 'grafana.example.com', type: 'A', values: ['100.64.0.5'] }, 400, 'ERR_DNS_RECORD_NAME', 'name'],
      [{ name: 'bad_name!.weft.internal', type: 'A', values: ['100.64.0.5'] }, 400, 'ERR_DNS_RECORD_NAME', 'name'],
      [{ name: 'x.weft.internal', type: 'MX', values: ['10 mail'] }, 400, 'ERR_DNS_RECORD_TYPE', 'type'],
      [{ name: 'x.weft.internal', type: 'A', values: ['fd7a::1'] }, 400, 'ERR_DNS_RECORD_VALUE', 'value'],
      [{ name: 'x.weft.internal', type: 'TXT', values: ['x'.repeat(256)] }, 400, 'ERR_DNS_RECORD_VALUE', 'value'],
      [{ name: 'x.weft.internal', type: 'TXT', values: ['x'.repeat(250), 'y'.repeat(250), 'z'.repeat(250), 'w'.repeat(251)] }, 400, 'ERR_DNS_RECORD_VALUE', 'value'],
      [{ name: '_http._tcp.weft.internal', type: 'SRV', values: ['0 5 80 nobody.weft.internal'] }, 400, 'ERR_DNS_SRV_TARGET', 'value'],
      [{ name: 'web.weft.internal', type: 'CNAME', values: ['db.weft.internal'] }, 409, 'ERR_DNS_RECORD_CONFLICT', 'name'],
      [{ name: 'web.weft.internal', type: 'A', values: ['100.64.0.9'] }, 409, 'ERR_DNS_RECORD_CONFLICT', 'name'],
      [{ name: 'x.weft.internal', type: 'A', values: [] }, 400, 'ERR_VALIDATION', 'values'],
    ];
    for (const [body, status, code, field] of cases) await assert.rejects(t.admin.request('PUT', PATH, body), refused(status, code, field), JSON.stringify(body));
    // CNAME beside other data, in either order.
    await t.admin.request('PUT', PATH, { name: 'wiki.weft.internal', type: 'A', values: ['100.64.0.60'] });
    const mid = t.snapshot();
    await assert.rejects(t.admin.request('PUT', PATH, { name: 'wiki.weft.internal', type: 'CNAME', values: ['web.weft.internal'] }), refused(409, 'ERR_DNS_RECORD_CONFLICT', 'name'));
    // An SRV target cannot be removed from under its SRV record.
    await t.admin.request('PUT', PATH, { name: '_wiki._tcp.weft.internal', type: 'SRV', values: ['0 0 443 wiki.weft.internal'] });
    await assert.rejects(t.admin.request('DELETE', `${PATH}?name=wiki.weft.internal&type=A`), refused(400, 'ERR_DNS_SRV_TARGET', 'name'));
    await t.admin.request('DELETE', `${PATH}?name=_wiki._tcp.weft.internal`);
    await t.admin.request('DELETE', `${PATH}?name=wiki.weft.internal&type=A`);
    assert.notEqual(mid, before);
    const after = JSON.parse(t.snapshot()) as Array<[string, unknown[]]>;
    const beforeRows = JSON.parse(before) as Array<[string, unknown[]]>;
    const rows = (s: Array<[string, unknown[]]>, table: string): unknown => s.find(([n]) => n === table)?.[1];
    assert.deepEqual(rows(after, 'dns_records'), rows(beforeRows, 'dns_records'), 'refusals changed nothing');
  });

  test('policy dnsRecords: served with the admin ones, checked against them, changed only in the policy', async () => {
    const key = await t.authKey({ reusable: true });
    const n = await joined(t, key, 'pol');
    const admin = text((await t.admin.request<{ records: DnsRecordView[] }>('GET', PATH)).records);
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY('{ "name": "docs.weft.internal", "type": "CNAME", "value": "web.weft.internal" }') });
    await dnsDelta(n.map, [...admin, 'docs.weft.internal CNAME web.weft.internal'].sort());
    const { records } = await t.admin.request<{ records: DnsRecordView[] }>('GET', PATH);
    assert.deepEqual(records.filter((r) => r.source === 'policy').map((r) => r.name), ['docs.weft.internal']);
    await assert.rejects(t.admin.request('PUT', PATH, { name: 'docs.weft.internal', type: 'CNAME', values: ['db.weft.internal'] }), refused(409, 'ERR_DNS_RECORD_IN_POLICY', 'name'));
    await assert.rejects(t.admin.request('PUT', PATH, { name: 'docs.weft.internal', type: 'TXT', values: ['x'] }), refused(409, 'ERR_DNS_RECORD_CONFLICT', 'name'));
    await assert.rejects(t.admin.request('DELETE', `${PATH}?name=docs.weft.internal`), refused(409, 'ERR_DNS_RECORD_IN_POLICY', 'name'));
    // A policy whose records clash with the admin ones (a CNAME where TXT records are) is refused whole.
    const policyBefore = (await t.admin.request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy;
    const clash = POLICY('{ "name": "web.weft.internal", "type": "CNAME", "value": "db.weft.internal" }');
    await assert.rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: clash }), refused(409, 'ERR_DNS_RECORD_CONFLICT', 'policy'));
    await assert.rejects(t.admin.request('POST', '/api/v1/admin/policy/check', { policy: clash }), refused(409, 'ERR_DNS_RECORD_CONFLICT', 'policy'));
    const outside = POLICY('{ "name": "x.example.com", "type": "A", "value": "1.2.3.4" }');
    await assert.rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: outside }), refused(400, 'ERR_DNS_RECORD_NAME', 'policy'));
    assert.equal((await t.admin.request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy, policyBefore);
    // Dropping them from the policy withdraws them from every node.
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY('') });
    await dnsDelta(n.map, admin);
    await n.map.close();
  });
});
