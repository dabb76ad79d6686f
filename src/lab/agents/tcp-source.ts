// Usage: node tcp-source.js HOST PORT BYTES SEED TIMEOUT_S
// Streams BYTES of deterministic pseudo-random data (ChaCha20 keystream keyed by
// SHA-256(SEED)) to HOST:PORT, then prints {"bytes":N,"sha256":"...","ms":T}.
import { connect } from 'node:net';
import { createCipheriv, createHash } from 'node:crypto';

const [host, portS, bytesS, seed, timeoutS] = process.argv.slice(2);
const total = Number(bytesS);
const key = createHash('sha256').update(String(seed)).digest();
const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
const zeros = Buffer.alloc(64 * 1024);
const h = createHash('sha256');
const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timeout', sent }) + '\n');
  process.exit(2);
}, Number(timeoutS ?? 120) * 1000);
let sent = 0;
const t0 = Date.now();
const sock = connect(Number(portS), host, () => {
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(zeros.length, total - sent);
      const chunk = cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
      h.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
  };
  pump();
});
sock.on('close', (hadError) => {
  clearTimeout(timer);
  if (hadError) process.exit(3);
  process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0 }) + '\n');
  process.exit(0);
});
sock.on('error', (err) => {
  process.stdout.write(JSON.stringify({ error: String(err), sent }) + '\n');
  process.exit(3);
});
sock.resume();
