// Tiny TCP/UDP endpoints for the policy e2e test, run inside lab namespaces.
//   serve TCPPORT[,TCPPORT...] UDPPORT[,UDPPORT...]   echo servers on [::] (v4 and v6)
//   tcp HOST PORT TIMEOUT_MS   connect, send, expect the echo: exit 0, else 1
//   udp HOST PORT TIMEOUT_MS   send a datagram, expect the echo: exit 0, else 1
//   dns PORT NAME=IP           a stand-in upstream DNS server answering NAME with IP
import dgram from 'node:dgram';
import net from 'node:net';
import { MagicDnsResolver } from '../../src/dns/resolver.js';
import { DnsServer } from '../../src/dns/server.js';

const [mode, a, b, c] = process.argv.slice(2);

if (mode === 'serve') {
  for (const p of a.split(',').filter(Boolean)) {
    net.createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {})).listen({ port: Number(p), host: '::', ipv6Only: false });
  }
  for (const p of (b ?? '').split(',').filter(Boolean)) {
    const u = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    u.on('message', (m, r) => u.send(m, r.port, r.address));
    u.bind(Number(p), '::');
  }
  setTimeout(() => process.stdout.write('serving\n'), 200);
} else if (mode === 'tcp') {
  const timer = setTimeout(() => process.exit(1), Number(c));
  const s = net.connect({ host: a, port: Number(b) }, () => s.write('ping'));
  s.on('data', () => {
    clearTimeout(timer);
    process.exit(0);
  });
  s.on('error', () => process.exit(2));
} else if (mode === 'udp') {
  const u = dgram.createSocket(a.includes(':') ? 'udp6' : 'udp4');
  const timer = setTimeout(() => process.exit(1), Number(c));
  u.on('message', () => {
    clearTimeout(timer);
    process.exit(0);
  });
  const send = (): void => u.send('ping', Number(b), a);
  send();
  setInterval(send, 300).unref();
} else if (mode === 'junk') {
  // Malformed DNS queries; prints the rcode of each answer (or "dropped").
  const u = dgram.createSocket('udp4');
  const queries = [
    Buffer.alloc(3), // shorter than a header
    Buffer.from('0000010000010000000000000377777700', 'hex'), // truncated question
    Buffer.from('12340100000200000000000000000100010000010001', 'hex'), // two questions, garbage
    Buffer.from('abcd0100ffff0000000000000377777706', 'hex'), // qdcount 65535
    Buffer.alloc(512, 0xff),
  ];
  const out: string[] = [];
  for (const q of queries) {
    const r = await new Promise<string>((resolve) => {
      const t = setTimeout(() => (u.removeAllListeners('message'), resolve('dropped')), 500);
      u.once('message', (m) => (clearTimeout(t), resolve(`rcode=${m[3] & 0xf}`)));
      u.send(q, Number(b), a);
    });
    out.push(r);
  }
  process.stdout.write(out.join(' ') + '\n');
  process.exit(0);
} else if (mode === 'dns') {
  const [name, ip] = b.split('=');
  const dot = name.indexOf('.');
  const server = new DnsServer(new MagicDnsResolver({ domain: name.slice(dot + 1), hosts: [{ name: name.slice(0, dot), ipv4: ip }], meshRanges: [], routes: {}, upstreams: [] }), { host: '0.0.0.0', port: Number(a) });
  await server.start();
  process.stdout.write('serving\n');
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(3);
}
