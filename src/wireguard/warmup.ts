import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/keys.js';
import { FakeNetwork } from '../io/bind-fake.js';
import { Endpoint } from '../io/endpoint.js';
import { FakeTun } from '../io/tun-fake.js';
import { parsePrefix } from '../net/prefix.js';
import { Device } from './device.js';

// JIT warm-up for the data path. V8 runs new code in its interpreter until a function
// has been called often enough to be optimized, so the first few hundred packets of an
// idle tunnel (a ping every 10 ms, say) each paid tens of microseconds more per hop than
// they do once optimized. Before the engine goes live it sends a few thousand packets
// both ways between two throwaway devices over the in-memory fakes, which runs (and
// gets optimized) the same send/receive/crypto functions the real device uses. Costs a
// few hundred milliseconds at startup; nothing of it outlives the call.

function ipv4(src: number, dst: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >> 8;
  p[3] = len & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set([10, 255, 255, src], 12);
  p.set([10, 255, 255, dst], 16);
  return p;
}

export async function warmUpDataPath(rounds = 1500): Promise<void> {
  const net = new FakeNetwork();
  const hosts = ['192.0.2.201', '192.0.2.202'];
  const nodes = await Promise.all(
    hosts.map(async (host, i) => {
      const tun = new FakeTun({ name: `warm${i}` });
      const dev = new Device({ tun, bind: net.bind(host) });
      const key = generatePrivateKey();
      dev.setPrivateKey(key);
      await dev.setListenPort(51820);
      await dev.start();
      return { tun, dev, key, host, ip: i + 1 };
    }),
  );
  try {
    for (const a of nodes) {
      const b = nodes[1 - nodes.indexOf(a)];
      const peer = a.dev.addPeer(publicKeyFromPrivate(b.key));
      a.dev.allowedIps.insert(parsePrefix(`10.255.255.${b.ip}/32`), peer);
      peer.endpoint = Endpoint.of(b.host, 51820);
    }
    const [a, b] = nodes;
    const small = [ipv4(1, 2, 84), ipv4(2, 1, 84)];
    const big = [ipv4(1, 2, 1400), ipv4(2, 1, 1400)];
    a.tun.inject(small[0]);
    await net.flush();
    for (let r = 0; r < rounds; r++) {
      const n = r % 4 === 0 ? 16 : 1;
      const batchA = [];
      const batchB = [];
      for (let k = 0; k < n; k++) {
        batchA.push(k & 1 ? big[0] : small[0]);
        batchB.push(k & 1 ? big[1] : small[1]);
      }
      a.tun.injectMany(batchA);
      await net.flush();
      b.tun.injectMany(batchB);
      await net.flush();
      if (process.env.WEFT_WARMUP_DEBUG && r === rounds - 1) process.stderr.write(`warm-up delivered ${a.tun.written.length}/${b.tun.written.length}\n`);
      a.tun.written.length = 0;
      b.tun.written.length = 0;
    }
  } finally {
    for (const n of nodes) await n.dev.close();
  }
}
