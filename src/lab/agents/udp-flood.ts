// Usage: node udp-flood.js HOST PORT MAX_PACKETS MAX_MS junk
//        node udp-flood.js HOST PORT MAX_PACKETS MAX_MS replay FILE
// Sends UDP datagrams to HOST:PORT, bounded both in count and in time: random junk of
// random size (1..1400 B, with a share shaped like WireGuard messages: type 1..4 and
// the exact handshake sizes), or the payloads in FILE (a JSON array of hex strings)
// round-robin. Prints {"sent":N,"ms":T}.
import { createSocket } from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';

const [host, portS, maxS, maxMsS, mode, file] = process.argv.slice(2);
const port = Number(portS);
const maxPackets = Math.min(Number(maxS), 1_000_000);
const maxMs = Math.min(Number(maxMsS), 60_000);
const replay: Buffer[] = mode === 'replay' ? (JSON.parse(readFileSync(String(file), 'utf8')) as string[]).map((x) => Buffer.from(x, 'hex')) : [];
if (mode === 'replay' && !replay.length) {
  process.stdout.write(JSON.stringify({ error: 'nothing to replay' }) + '\n');
  process.exit(2);
}
const sizes = [148, 92, 64, 32, 48, 1];
function junk(i: number): Buffer {
  if (i % 4 === 0) {
    // WireGuard-shaped: valid type and size, garbage content.
    const size = sizes[randomInt(sizes.length)];
    const b = randomBytes(Math.max(size, 4));
    b.writeUInt32LE(1 + randomInt(4), 0);
    return b;
  }
  return randomBytes(1 + randomInt(1400));
}
const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
const t0 = Date.now();
let sent = 0;
let inflight = 0;
function finish(): void {
  process.stdout.write(JSON.stringify({ sent, ms: Date.now() - t0 }) + '\n');
  sock.close();
}
function step(): void {
  while (inflight < 64 && sent < maxPackets && Date.now() - t0 < maxMs) {
    const msg = mode === 'replay' ? replay[sent % replay.length] : junk(sent);
    inflight++;
    sent++;
    sock.send(msg, port, host, () => {
      inflight--;
      if (inflight === 0) setImmediate(step);
    });
  }
  if (inflight === 0 && (sent >= maxPackets || Date.now() - t0 >= maxMs)) finish();
}
step();
