// Runs inside a lab namespace for test/e2e/dns.test.ts: a stand-in upstream resolver on
// 127.0.0.2:53 (serving upstream.test), then MagicDNS on 127.0.0.53:53 with the OS
// pointed at it exactly as the agent does (ResolvConfConfigurator on /etc/resolv.conf,
// which `ip netns exec` bind-mounts from /etc/netns/<ns>/resolv.conf). SIGTERM restores
// the previous resolv.conf and exits.
// argv: <backup path>
import { MagicDnsResolver } from '../../src/dns/resolver.js';
import { DnsServer } from '../../src/dns/server.js';
import { ResolvConfConfigurator } from '../../src/dns/os-config.js';

const backupPath = process.argv[2];
const upstream = new DnsServer(
  new MagicDnsResolver({ domain: 'upstream.test', hosts: [{ name: 'www', ipv4: '192.0.2.10' }], meshRanges: [], routes: {}, upstreams: [] }),
  { host: '127.0.0.2', port: 53 },
);
await upstream.start();
const os = new ResolvConfConfigurator({ path: '/etc/resolv.conf', backupPath });
const { upstreams } = await os.apply({ iface: 'lo', nameserver: '127.0.0.53', domain: 'weft.internal' });
const magic = new DnsServer(
  new MagicDnsResolver({
    domain: 'weft.internal',
    hosts: [
      { name: 'alpha', ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' },
      { name: 'beta', ipv4: '100.64.0.2', ipv6: 'fd7a:115c:a1e0::2' },
    ],
    meshRanges: ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'],
    routes: {},
    upstreams,
  }),
  { host: '127.0.0.53', port: 53 },
);
await magic.start();
process.stdout.write(`ready upstreams=${upstreams.join(',')}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    await magic.stop();
    await upstream.stop();
    await os.restore();
    process.stdout.write('restored\n');
    process.exit(0);
  })();
});
