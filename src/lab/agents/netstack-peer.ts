// Usage (root, inside a netns): node netstack-peer.js TUN STACK_IPV4 STACK_IPV6 MTU
// (WEFT_NETSTACK=addon|wasm picks the lwIP build, src/netstack/select.ts.)
// Bridges a kernel TUN device straight to the userspace stack (no WireGuard), so the
// conformance tests pit lwIP's TCP against Linux's, with impairment in the bridge
// (impair.ts: netem's loss/duplicate/delay/reorder, both directions). Services on
// the stack: 7 echo (TCP and UDP); 9 sink (hashes all, replies "BYTES SHA256\n", ends); 11 the same
// after not reading for 3 s (zero window); 13 resets the connection at the first data.
// stdin commands, one JSON object a line: {"op":"source","addr","port","bytes","seed"}
// streams the tcp-source.ts keystream to addr:port; {"op":"fin"|"rst","addr","port"}
// connects and then ends or resets; {"op":"keepalive","addr","port","idleMs"} connects,
// turns keepalive on and stays idle; {"op":"impair","delayMs","loss","duplicate","reorder"}
// sets the impairment of both directions ({} clears it). Results go to stdout as JSON lines.
import { createCipheriv, createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { LinuxTun, tunSlotSize } from '../../io/tun-linux.js';
import { Impairment, type ImpairSpec } from '../impair.js';
import { NetStack } from '../../netstack/stack.js';
import { TcpServer } from '../../netstack/tcp-server.js';
import { UdpSocket } from '../../netstack/udp-socket.js';
import { dialTcp, type TcpSocket } from '../../netstack/tcp-socket.js';

const [tunName, ipv4, ipv6, mtuS] = process.argv.slice(2);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

const mtu = Number(mtuS ?? 1420);
const tun = await LinuxTun.create(tunName, { mtu, up: true, offload: false });
const stack = new NetStack({ mtu });
stack.setAddresses(ipv4, ipv6);
// Each side is the other's engine: what one reads, the other writes.
const slot = tunSlotSize(mtu);
const toTun = new Impairment((b) => void tun.write(b), slot, tun.headroom, 1);
const toStack = new Impairment((b) => void stack.write(b), slot, stack.headroom, 2);
stack.start({ onPackets: (b) => toTun.push(b), onClose: () => {} });
tun.start({ onPackets: (b) => toStack.push(b), onClose: () => process.exit(3) });

function serve(port: number, onConn: (s: TcpSocket) => void): void {
  new TcpServer(stack, { allowHalfOpen: true }).on('connection', onConn).listen(port);
}

function sink(s: TcpSocket): void {
  const h = createHash('sha256');
  let bytes = 0;
  s.on('data', (d: Buffer) => {
    bytes += d.length;
    h.update(d);
  });
  s.on('end', () => {
    const sha256 = h.digest('hex');
    out({ event: 'sink', bytes, sha256 });
    s.end(`${bytes} ${sha256}\n`);
  });
  s.on('error', (err) => out({ event: 'error', port: 9, code: (err as NodeJS.ErrnoException).code }));
}

serve(7, (s) => s.pipe(s).on('error', () => {}));
const udp = new UdpSocket(stack, 7);
udp.on('message', (msg: Buffer, from: { address: string; port: number }) => udp.send(msg, from.port, from.address));
serve(9, sink);
serve(11, (s) => {
  s.pause();
  setTimeout(() => {
    sink(s);
    s.resume();
  }, 3000);
});
serve(13, (s) => {
  s.once('data', () => s.resetAndDestroy());
  s.on('error', () => {});
});

function source(addr: string, port: number, total: number, seed: string): void {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(64 * 1024);
  const h = createHash('sha256');
  let sent = 0;
  const t0 = Date.now();
  const s = dialTcp(stack, addr, port);
  const pump = (): void => {
    while (sent < total) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, total - sent)));
      h.update(chunk);
      sent += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', pump);
    }
    s.end(() => out({ event: 'source', bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0 }));
  };
  s.on('connect', () => {
    out({ event: 'connected', op: 'source', info: s.info() });
    pump();
  });
  s.on('error', (err) => out({ event: 'error', op: 'source', code: (err as NodeJS.ErrnoException).code }));
}

function closeAfterConnect(addr: string, port: number, how: 'fin' | 'rst'): void {
  const s = dialTcp(stack, addr, port, { allowHalfOpen: true });
  s.on('connect', () => {
    s.write('hello\n');
    if (how === 'fin') s.end();
    else setTimeout(() => s.resetAndDestroy(), 200);
  });
  s.on('data', () => {});
  s.on('end', () => out({ event: 'end', op: how }));
  s.on('close', () => out({ event: 'closed', op: how }));
  s.on('error', (err) => out({ event: 'error', op: how, code: (err as NodeJS.ErrnoException).code }));
}

function idleWithKeepalive(addr: string, port: number, idleMs: number): void {
  const s = dialTcp(stack, addr, port);
  s.setKeepAlive(true, idleMs);
  s.on('connect', () => out({ event: 'connected', op: 'keepalive' }));
  s.on('data', () => {});
  s.on('error', (err) => out({ event: 'error', op: 'keepalive', code: (err as NodeJS.ErrnoException).code }));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    const c = JSON.parse(line) as { op: string; addr: string; port: number; bytes?: number; seed?: string; idleMs?: number } & ImpairSpec;
    if (c.op === 'impair') {
      out({ event: 'impaired', toTun: toTun.stats, toStack: toStack.stats });
      toTun.spec = toStack.spec = { delayMs: c.delayMs, loss: c.loss, duplicate: c.duplicate, reorder: c.reorder };
    } else if (c.op === 'source') source(c.addr, c.port, c.bytes ?? 0, c.seed ?? 'seed');
    else if (c.op === 'fin' || c.op === 'rst') closeAfterConnect(c.addr, c.port, c.op);
    else if (c.op === 'keepalive') idleWithKeepalive(c.addr, c.port, c.idleMs ?? 1000);
    else out({ event: 'error', op: c.op, code: 'ERR_UNKNOWN_OP' });
  } catch (err) {
    out({ event: 'error', code: (err as Error).message });
  }
});
out({ event: 'ready', stack: stack.kind });
