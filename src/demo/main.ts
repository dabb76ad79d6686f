// `npm run demo`: two Weft WireGuard engines with an encrypted tunnel between them.
// As root: each engine runs as `weft-wg` on a real TUN in its own network namespace,
// configured by the stock `wg` and `ip` tools; the demo pings across and prints
// `wg show`. Without root: two engines in this process over loopback UDP with
// in-memory TUN devices.
import { rootReason, missingTools } from '../lab/require.js';
import { createPair, WEFT } from '../lab/wg-pair.js';
import { execOk } from '../lab/netns.js';
import { generatePrivateKey, publicKeyFromPrivate, keyToBase64 } from '../crypto/keys.js';
import { Device } from '../wireguard/device.js';
import { FakeTun } from '../io/tun-fake.js';
import { LinuxBind } from '../io/bind-linux.js';
import { Endpoint } from '../io/endpoint.js';
import { parsePrefix } from '../wireguard/allowedips.js';

async function inNamespaces(): Promise<void> {
  console.log('Two weft-wg engines in network namespaces, joined by a veth pair...');
  const pair = await createPair({ a: WEFT, b: WEFT, endpoints: 'both' });
  try {
    for (const [from, fam] of [['a', 4], ['b', 4], ['a', 6]] as const) {
      const r = await pair.ping(from, fam, 3);
      const to = pair.other(from);
      console.log(`ping ${from} -> ${fam === 4 ? to.tun4 : to.tun6}: ${r.received}/${r.transmitted} replies, rtt ${r.rttsMs.map((x) => x.toFixed(2)).join(' ')} ms`);
      if (r.received === 0) throw new Error('no ping reply through the tunnel');
    }
    for (const s of [pair.a, pair.b]) {
      console.log(`\n$ wg show ${s.ifname}   (namespace ${s.ns})`);
      console.log((await execOk(s.ns, ['wg', 'show', s.ifname])).trimEnd());
    }
  } finally {
    await pair.stop();
  }
}

async function inProcess(why: string): Promise<void> {
  console.log(`Not using network namespaces (${why}): running two engines in this process`);
  console.log('over loopback UDP with in-memory TUN devices.\n');
  const nodes = [1, 2].map((i) => {
    const tun = new FakeTun({ name: `demo${i}` });
    const dev = new Device({ tun, bind: new LinuxBind() });
    const key = generatePrivateKey();
    dev.setPrivateKey(key);
    return { i, tun, dev, pub: publicKeyFromPrivate(key) };
  });
  for (const n of nodes) await n.dev.start();
  for (const n of nodes) {
    const other = nodes.find((x) => x !== n)!;
    const peer = n.dev.addPeer(other.pub);
    n.dev.allowedIps.insert(parsePrefix(`10.77.0.${other.i}/32`), peer);
    peer.endpoint = Endpoint.of('127.0.0.1', other.dev.listenPort);
  }
  const [a, b] = nodes;
  const got = new Promise<Uint8Array>((resolve) => (b.tun.onWrite = resolve));
  a.tun.inject(icmpEcho('10.77.0.1', '10.77.0.2'));
  const pkt = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timed out')), 5000))]);
  console.log(`engine 1 sent an ICMP echo to 10.77.0.2; engine 2's TUN received ${pkt.length} bytes from ${[...pkt.subarray(12, 16)].join('.')}`);
  for (const n of nodes) {
    const s = n.dev.snapshot();
    console.log(`\ninterface demo${n.i}: public key ${keyToBase64(n.pub)}, listening port ${s.listenPort}`);
    for (const p of s.peers) {
      const ago = p.lastHandshakeMs ? `${Math.round((Date.now() - p.lastHandshakeMs) / 1000)} s ago` : 'never';
      console.log(`  peer ${keyToBase64(p.publicKey)}\n    endpoint ${p.endpoint}, allowed ips ${p.allowedIps.join(', ')}\n    latest handshake ${ago}, transfer ${p.rxBytes} B received, ${p.txBytes} B sent`);
    }
  }
  for (const n of nodes) await n.dev.close();
}

function icmpEcho(src: string, dst: string): Uint8Array {
  const p = Buffer.alloc(28);
  p[0] = 0x45;
  p.writeUInt16BE(28, 2);
  p[8] = 64;
  p[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p[20] = 8;
  return p;
}

const why = rootReason() ?? (missingTools(['ip', 'wg', 'ping']).length ? `missing tools: ${missingTools(['ip', 'wg', 'ping']).join(', ')}` : null);
try {
  if (why) await inProcess(why);
  else await inNamespaces();
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
