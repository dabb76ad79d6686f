import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DnsRecordType, DnsRecordView, SetDnsRecordsRequest } from '../wire/control.js';
import { noQuery, type ApiContext } from './api.js';

// Admin API for MagicDNS records (v9, `weft dns records set|rm|list`). Each change is
// validated as a whole set (dns-records.ts), audited, and sent to every node.
//
//   GET    /api/v1/admin/dns/records                 -> {records: DnsRecordView[]}
//   PUT    /api/v1/admin/dns/records {name,type,values} -> {records}   (replaces that name+type)
//   DELETE /api/v1/admin/dns/records?name=N[&type=T] -> {removed}

type Audit = (req: FastifyRequest, action: string, target: string, detail?: Record<string, unknown>) => Promise<unknown>;

const setSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', 'values'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 254 },
    type: { type: 'string', minLength: 1, maxLength: 8 },
    values: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', maxLength: 512 } },
  },
} as const;

const rmQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 254 }, type: { type: 'string', minLength: 1, maxLength: 8 } },
} as const;

export function dnsAdminRoutes(app: FastifyInstance, ctx: ApiContext, audit: Audit): void {
  app.get('/api/v1/admin/dns/records', { schema: { querystring: noQuery } }, async (): Promise<{ records: DnsRecordView[] }> => ({ records: ctx.dns.list() }));

  app.put('/api/v1/admin/dns/records', { schema: { querystring: noQuery, body: setSchema } }, async (req) => {
    const body = req.body as SetDnsRecordsRequest;
    const records = await ctx.dns.set(body.name, body.type, body.values, ctx.clock.wallNow());
    ctx.hub.dnsChanged();
    await audit(req, 'dns.records.set', records[0].name, { type: records[0].type, values: records.map((r) => r.value) });
    return { records };
  });

  app.delete('/api/v1/admin/dns/records', { schema: { querystring: rmQuery } }, async (req) => {
    const q = req.query as { name: string; type?: DnsRecordType };
    const removed = await ctx.dns.remove(q.name, q.type);
    ctx.hub.dnsChanged();
    await audit(req, 'dns.records.rm', removed[0].name, { records: removed.map((r) => `${r.type} ${r.value}`) });
    return { removed };
  });
}
