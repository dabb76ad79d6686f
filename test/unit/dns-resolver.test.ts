import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { MagicDnsResolver, RCODE, type DnsConfig } from '../../src/dns/resolver.js';
import { ipToReverseName, reverseNameToIp } from '../../src/dns/names.js';
import { parseUpstream, type Upstream, type UpstreamExchange } from '../../src/dns/upstream.js';

const CONFIG: DnsConfig = {
  domain: 'weft.internal',
  hosts: [
    { name: 'alpha', ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' },
    { name: 'beta', ipv4: '100.64.0.2' },
  ],
  meshRanges: ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'],
  routes: { 'corp.example': ['10.0.0.53'], 'eu.corp.example': ['10.0.1.53:5353', '10.0.1.54'] },
  upstreams: ['192.0.2.53', '[2001:db8::53]:53'],
};

/** A fake upstream that answers A 198.51.100.7 and records where queries went. */
function fakeUpstream(fail: (s: Upstream) => boolean = () => false): { exchange: UpstreamExchange; asked: string[] } {
  const asked: string[] = [];
  const exchange: UpstreamExchange = async (server, query, transport) => {
    asked.push(`${server.host}:${server.port}/${transport}`);
    if (fail(server)) throw new Error('unreachable');
    const q = dnsPacket.decode(Buffer.from(query));
    return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0].name, data: '198.51.100.7', ttl: 60 }] });
  };
  return { exchange, asked };
}

function query(name: string, type: dnsPacket.RecordType = 'A', opts: { id?: number; edns?: boolean } = {}): Uint8Array {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: true, options: [] }] : [],
  });
}

async function ask(r: MagicDnsResolver, q: Uint8Array): Promise<dnsPacket.DecodedPacket & { rcode?: string }> {
  const resp = await r.resolve(q);
  assert.ok(resp);
  return dnsPacket.decode(Buffer.from(resp)) as dnsPacket.DecodedPacket & { rcode?: string };
}

test('A/AAAA for <name>.<domain> and short names, authoritative', async () => {
  const r = new MagicDnsResolver(CONFIG, { exchange: fakeUpstream().exchange });
  const a = await ask(r, query('alpha.weft.internal'));
  assert.equal(a.rcode, 'NOERROR');
  assert.equal(a.id, 4242);
  assert.ok(a.flag_aa && a.flag_rd && a.flag_ra);
  assert.deepEqual(a.answers!.map((x) => [x.type, x.name, (x as { data: string }).data, (x as { ttl: number }).ttl]), [['A', 'alpha.weft.internal', '100.64.0.1', 5]]);
  const aaaa = await ask(r, query('ALPHA.Weft.Internal.', 'AAAA'));
  assert.deepEqual(aaaa.answers!.map((x) => (x as { data: string }).data), ['fd7a:115c:a1e0::1']);
  const short = await ask(r, query('beta'));
  assert.deepEqual(short.answers!.map((x) => [x.name, (x as { data: string }).data]), [['beta', '100.64.0.2']]);
  const nodata = await ask(r, query('beta.weft.internal', 'AAAA'));
  assert.equal(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers!.length, 0);
  const any = await ask(r, query('alpha.weft.internal', 'ANY' as dnsPacket.RecordType));
  assert.equal(any.answers!.length, 2);
  assert.equal(r.stats.local, 5);
});

test('unknown names in the mesh domain are NXDOMAIN, never forwarded', async () => {
  const up = fakeUpstream();
  const r = new MagicDnsResolver(CONFIG, { exchange: up.exchange });
  assert.equal((await ask(r, query('nope.weft.internal'))).rcode, 'NXDOMAIN');
  assert.equal((await ask(r, query('a.b.weft.internal'))).rcode, 'NXDOMAIN');
  assert.equal((await ask(r, query('weft.internal', 'SOA'))).rcode, 'NOERROR');
  assert.deepEqual(up.asked, []);
  assert.equal(r.stats.nxdomain, 2);
});

test('PTR for mesh IPv4 and IPv6; unknown mesh addresses NXDOMAIN; others forwarded', async () => {
  const up = fakeUpstream();
  const r = new MagicDnsResolver(CONFIG, { exchange: up.exchange });
  const v4 = await ask(r, query('1.0.64.100.in-addr.arpa', 'PTR'));
  assert.deepEqual(v4.answers!.map((x) => (x as { data: string }).data), ['alpha.weft.internal']);
  const v6 = await ask(r, query(ipToReverseName('fd7a:115c:a1e0::1'), 'PTR'));
  assert.deepEqual(v6.answers!.map((x) => (x as { data: string }).data), ['alpha.weft.internal']);
  assert.equal((await ask(r, query('9.0.64.100.in-addr.arpa', 'PTR'))).rcode, 'NXDOMAIN');
  assert.equal((await ask(r, query(ipToReverseName('fd7a:115c:a1e0::99'), 'PTR'))).rcode, 'NXDOMAIN');
  assert.equal((await ask(r, query('1.2.0.192.in-addr.arpa', 'PTR'))).rcode, 'NOERROR');
  assert.deepEqual(up.asked, ['192.0.2.53:53/udp']);
});

test('reverse names round-trip and reject junk', () => {
  assert.equal(ipToReverseName('100.64.0.1'), '1.0.64.100.in-addr.arpa');
  assert.equal(reverseNameToIp('1.0.64.100.in-addr.arpa.'), '100.64.0.1');
  assert.equal(reverseNameToIp(ipToReverseName('fd7a:115c:a1e0::1')), 'fd7a:115c:a1e0::1');
  for (const bad of ['1.0.64.in-addr.arpa', '01.0.64.100.in-addr.arpa', '256.0.64.100.in-addr.arpa', 'x.ip6.arpa', 'example.com']) assert.equal(reverseNameToIp(bad), null);
});

test('split DNS: most specific suffix wins; everything else to the upstreams', async () => {
  const up = fakeUpstream();
  const r = new MagicDnsResolver(CONFIG, { exchange: up.exchange });
  await ask(r, query('host.eu.corp.example'));
  await ask(r, query('host.corp.example'));
  await ask(r, query('corp.example'));
  await ask(r, query('notcorp.example'));
  await ask(r, query('unknownshort'));
  assert.deepEqual(up.asked, ['10.0.1.53:5353/udp', '10.0.0.53:53/udp', '10.0.0.53:53/udp', '192.0.2.53:53/udp', '192.0.2.53:53/udp']);
  const resp = await ask(r, query('example.com'));
  assert.deepEqual(resp.answers!.map((x) => (x as { data: string }).data), ['198.51.100.7']);
  assert.equal(r.stats.forwarded, 6);
});

test('forwarding passes the query through byte for byte (EDNS) and falls over to the next server', async () => {
  const seen: Uint8Array[] = [];
  const up = fakeUpstream((s) => s.host === '192.0.2.53');
  const r = new MagicDnsResolver(CONFIG, {
    exchange: async (s, q, t, ms) => {
      seen.push(q);
      return up.exchange(s, q, t, ms);
    },
  });
  const q = query('example.com', 'A', { edns: true });
  const resp = await ask(r, q);
  assert.equal(resp.rcode, 'NOERROR');
  assert.deepEqual(up.asked, ['192.0.2.53:53/udp', '2001:db8::53:53/udp']);
  assert.deepEqual(seen[0], q);
  // Local answers to EDNS queries carry an OPT record.
  const local = await ask(r, query('alpha.weft.internal', 'A', { edns: true }));
  assert.equal(local.additionals!.filter((a) => a.type === 'OPT').length, 1);
  await r.resolve(query('example.com'), 'tcp');
  assert.match(up.asked.at(-1)!, /\/tcp$/);
});

test('SERVFAIL when every upstream fails, answers with a wrong ID are ignored', async () => {
  const r = new MagicDnsResolver(CONFIG, { exchange: fakeUpstream(() => true).exchange });
  assert.equal((await ask(r, query('example.com'))).rcode, 'SERVFAIL');
  const wrongId = new MagicDnsResolver(CONFIG, {
    exchange: async (_s, q) => {
      const out = Buffer.from(await fakeUpstream().exchange(_s, q, 'udp', 1));
      out[0] ^= 0xff;
      return out;
    },
  });
  assert.equal((await ask(wrongId, query('example.com'))).rcode, 'SERVFAIL');
  const none = new MagicDnsResolver({ ...CONFIG, upstreams: [] });
  assert.equal((await ask(none, query('example.com'))).rcode, 'SERVFAIL');
  assert.equal(none.stats.servfail, 1);
});

test('upstream timeouts over the real network path end in SERVFAIL', async () => {
  // A UDP port on loopback that never answers: bind it ourselves and stay silent.
  const dgram = await import('node:dgram');
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  const r = new MagicDnsResolver({ ...CONFIG, upstreams: [`127.0.0.1:${silent.address().port}`] }, { timeoutMs: 150 });
  const t0 = Date.now();
  assert.equal((await ask(r, query('example.com'))).rcode, 'SERVFAIL');
  assert.ok(Date.now() - t0 < 2000);
  silent.close();
});

test('malformed queries: FORMERR when the header parses, dropped otherwise', async () => {
  const r = new MagicDnsResolver(CONFIG, { exchange: fakeUpstream().exchange });
  assert.equal(await r.resolve(new Uint8Array(5)), null);
  const response = Buffer.from(query('alpha.weft.internal'));
  response[2] |= 0x80;
  assert.equal(await r.resolve(response), null, 'responses are never answered');
  const truncated = Buffer.from(query('alpha.weft.internal')).subarray(0, 20);
  const fe = dnsPacket.decode(Buffer.from((await r.resolve(truncated))!));
  assert.equal((fe as { rcode?: string }).rcode, 'FORMERR');
  assert.equal(fe.id, 4242);
  const two = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'a' }, { type: 'A', name: 'b' }] });
  assert.equal((await ask(r, two)).rcode, 'FORMERR');
  const noq = dnsPacket.encode({ type: 'query', id: 1, questions: [] });
  assert.equal((await ask(r, noq)).rcode, 'FORMERR');
  const status = Buffer.from(query('alpha.weft.internal'));
  status[2] |= 2 << 3; // opcode STATUS
  assert.equal((await ask(r, status)).rcode, 'NOTIMP');
  assert.deepEqual([r.stats.dropped, r.stats.formerr, r.stats.notimp], [2, 3, 1]);
});

test('fuzz: 100k random and mutated packets never throw', async () => {
  const r = new MagicDnsResolver(CONFIG, { exchange: fakeUpstream().exchange });
  const seeds = [query('alpha.weft.internal'), query('1.0.64.100.in-addr.arpa', 'PTR'), query('x.corp.example', 'AAAA', { edns: true }), query('example.com', 'TXT')];
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 80 }),
        fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }), fc.nat(90)).map(([s, muts, cut]) => {
          const b = Buffer.from(s);
          for (const [i, v] of muts) b[i % b.length] = v;
          return cut > 70 ? b : b.subarray(0, Math.max(0, b.length - (cut % 8)));
        }),
      ),
      async (bytes) => {
        runs++;
        const resp = await r.resolve(bytes);
        if (resp) assert.ok(resp.length >= 12);
      },
    ),
    { numRuns: 100_000 },
  );
  assert.equal(runs, 100_000);
  assert.equal(r.stats.queries, 100_000);
});

test('upstream addresses', () => {
  assert.deepEqual(parseUpstream('1.2.3.4'), { host: '1.2.3.4', port: 53 });
  assert.deepEqual(parseUpstream('1.2.3.4:5353'), { host: '1.2.3.4', port: 5353 });
  assert.deepEqual(parseUpstream('fd00::1'), { host: 'fd00::1', port: 53 });
  assert.deepEqual(parseUpstream('[fd00::1]:54'), { host: 'fd00::1', port: 54 });
  for (const bad of ['x', '1.2.3.4:0', '[fd00::1]:99999', '']) assert.throws(() => parseUpstream(bad), { code: 'ERR_DNS_BAD_SERVER' });
  assert.equal(RCODE.NXDOMAIN, 3);
});
