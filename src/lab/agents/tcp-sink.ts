// Usage: node tcp-sink.js HOST PORT EXPECT_BYTES TIMEOUT_S
// Accepts one TCP connection, hashes everything it receives with SHA-256, then prints
// {"bytes":N,"sha256":"..."} and exits 0 (or exits 2 on timeout). Prints "listening"
// once ready.
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';

const [host, portS, expectS, timeoutS] = process.argv.slice(2);
const expect = Number(expectS);
const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timeout', bytes }) + '\n');
  process.exit(2);
}, Number(timeoutS ?? 120) * 1000);
let bytes = 0;
const server = createServer((sock) => {
  server.close();
  const h = createHash('sha256');
  sock.on('data', (d: Buffer) => {
    bytes += d.length;
    h.update(d);
  });
  sock.on('end', () => {
    clearTimeout(timer);
    process.stdout.write(JSON.stringify({ bytes, sha256: h.digest('hex'), expect }) + '\n');
    sock.end();
    setImmediate(() => process.exit(0));
  });
  sock.on('error', (err) => {
    process.stdout.write(JSON.stringify({ error: String(err), bytes }) + '\n');
    process.exit(3);
  });
});
server.listen(Number(portS), host, () => process.stdout.write('listening\n'));
