import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { PacketBatch } from '../../src/io/batch.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { nativeAvailable } from '../../src/io/native.js';

// LinuxBind.sendTtl: the TTL / hop limit applies to that send only (the open-router
// punch's refreshes die at the first router). The receiver is a Python socket with
// IP_RECVTTL / IPV6_RECVHOPLIMIT, which report each datagram's TTL as it arrived
// (loopback does not decrement it).

const hasPython = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;
const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built' : !hasPython ? 'python3 missing' : false;

const RECEIVER = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(('::1' if fam == socket.AF_INET6 else '127.0.0.1', 0))
if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, 51, 1)   # IPV6_RECVHOPLIMIT
else: s.setsockopt(socket.IPPROTO_IP, 12, 1)                          # IP_RECVTTL
s.settimeout(5)
print(s.getsockname()[1], flush=True)
for _ in range(int(sys.argv[2])):
    data, anc, _, _ = s.recvmsg(2048, 256)
    ttl = [int.from_bytes(d[:4], sys.byteorder) for (lvl, t, d) in anc if t in (2, 52)]   # IP_TTL, IPV6_HOPLIMIT
    print(data.decode(), ttl[0] if ttl else -1, flush=True)
`;

async function ttlsSeen(family: 4 | 6, sends: (bind: LinuxBind, to: Endpoint) => void, n: number): Promise<string[]> {
  const py = spawn('python3', ['-c', RECEIVER, String(family), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  const bind = new LinuxBind();
  await bind.open(0, { onReceive() {} });
  try {
    sends(bind, Endpoint.of(family === 6 ? '::1' : '127.0.0.1', port));
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(String((await lines.next()).value));
    return out;
  } finally {
    await bind.close();
    py.kill();
  }
}

const one = (s: string): PacketBatch => {
  const b = new PacketBatch(1, 64);
  b.push(Buffer.from(s));
  return b;
};

for (const family of [4, 6] as const) {
  test(`LinuxBind.sendTtl over IPv${family}${family === 4 ? ' (v4-mapped on the dual-stack socket)' : ''}: that send only`, { skip }, async () => {
    const seen = await ttlsSeen(
      family,
      (b, to) => {
        assert.equal(b.sendTtl(one('a'), to, 1), 1);
        assert.equal(b.send(one('b'), to), 1);
        assert.equal(b.sendTtl(one('c'), to, 7), 1);
        assert.equal(b.send(one('d'), to), 1);
      },
      4,
    );
    const ttl = new Map(seen.map((l) => l.split(' ') as [string, string]));
    assert.equal(ttl.get('a'), '1');
    assert.equal(ttl.get('c'), '7');
    assert.ok(Number(ttl.get('b')) > 7 && ttl.get('b') === ttl.get('d'), `the default after each (${seen.join('; ')})`);
  });
}

test('LinuxBind.sendTtl: a closed bind sends nothing', { skip: skip === 'python3 missing' ? false : skip }, async () => {
  const b = new LinuxBind();
  assert.equal(b.sendTtl(one('x'), Endpoint.of('127.0.0.1', 9), 1), 0);
});
