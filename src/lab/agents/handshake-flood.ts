// Usage: node handshake-flood.js HOST PORT VICTIM_PUBKEY_B64 MAX_PACKETS MAX_MS SRC_IPS
// Handshake flood for the cookie benchmark: sends handshake initiations that carry a
// correct mac1 for the victim's public key (so they pass the cheap check and cost the
// victim a Diffie-Hellman unless it answers with cookies), from every source address in
// SRC_IPS (comma-separated, each must be local to this namespace), as fast as it can,
// bounded in count and in time. The rest of each message is random, so no handshake
// ever completes. Counts the cookie replies (type 3) that come back.
// Prints {"sent":N,"ms":T,"cookieReplies":R}.
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { CookieGenerator } from '../../wireguard/cookie.js';
import { publicKeyFromBytes } from '../../crypto/keys.js';
import { systemClock } from '../../clock.js';

const [host, portS, pubB64, maxS, maxMsS, srcS] = process.argv.slice(2);
const port = Number(portS);
const maxPackets = Math.min(Number(maxS), 10_000_000);
const maxMs = Math.min(Number(maxMsS), 120_000);
const sources = String(srcS).split(',').filter(Boolean);
const gen = new CookieGenerator(publicKeyFromBytes(Buffer.from(String(pubB64), 'base64')), systemClock);

// A pool of distinct initiations (type 1, random sender index/ephemeral/static/timestamp, valid mac1, zero mac2).
const POOL = 4096;
const pool: Buffer[] = [];
for (let i = 0; i < POOL; i++) {
  const m = randomBytes(148);
  m.writeUInt32LE(1, 0);
  m.fill(0, 116);
  gen.addMacs(m);
  m.fill(0, 132); // no cookie: mac2 stays zero
  pool.push(m);
}

const t0 = Date.now();
let sent = 0;
let cookieReplies = 0;
let open = sources.length;
const socks: Socket[] = [];
const done = (): boolean => sent >= maxPackets || Date.now() - t0 >= maxMs;

function finish(): void {
  if (--open > 0) return;
  // Give late cookie replies a moment, then report.
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ sent, ms: Date.now() - t0, cookieReplies }) + '\n');
    for (const s of socks) s.close();
  }, 300);
}

for (const src of sources) {
  const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
  socks.push(sock);
  sock.on('message', (msg) => {
    if (msg.length === 64 && msg[0] === 3) cookieReplies++;
  });
  sock.on('error', () => {});
  let inflight = 0;
  const step = (): void => {
    while (inflight < 32 && !done()) {
      inflight++;
      sock.send(pool[sent++ % POOL], port, host, () => {
        inflight--;
        if (inflight === 0) setImmediate(step);
      });
    }
    if (inflight === 0 && done()) finish();
  };
  sock.bind(0, src, step);
}
