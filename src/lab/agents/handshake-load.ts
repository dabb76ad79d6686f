// Usage: node handshake-load.js SPEC_FILE
// Closed-loop handshake load for the responder benchmark (bench/handshake.ts). SPEC_FILE
// (JSON, mode 0600, written by the bench; private keys only ever live there) names the
// responder (address, port, public key), the peers (private key + source address each,
// one UDP socket per peer), the timing and a cache file for the initiations.
//
// Before the clock starts, every initiation is precomputed with Weft's own Noise code
// (createInitiation + mac1): `perPeer` per peer, with strictly increasing TAI64N
// timestamps (base + k µs), so a fresh responder accepts each exactly once. They are
// written to the cache file and reloaded by later rounds (same keys, fresh engine).
// Then: at most `window` initiations outstanding; a slot frees on a response (type 2,
// 92 bytes, receiver index = our sender index), on a cookie reply (type 3: the cookie
// is taken with CookieGenerator.consumeReply and the peer's later initiations carry
// mac2, as a real initiator's would) or after `timeoutMs`. A peer sends at most once
// per `intervalMs` (>= 20 ms, the responder's per-peer flood limit; the default 55 ms
// also stays under the 20/s per-address rate limit an engine applies under load).
// Bounded: perPeer initiations per peer (total <= 200k) and warmupMs + durationMs.
//
// Prints `ready` after precomputing, `measure` when the counted window starts, then one
// JSON line of results at its end.
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CookieGenerator } from '../../wireguard/cookie.js';
import { Handshake, createInitiation, type NoiseIdentity } from '../../wireguard/noise-protocol.js';
import { tai64n } from '../../wireguard/tai64n.js';
import { MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, MessageType } from '../../wireguard/messages.js';
import { keyFromBase64, privateKeyFromBytes, publicKeyFromBytes, publicKeyFromPrivate } from '../../crypto/keys.js';
import { systemClock } from '../../clock.js';
import { quantile } from '../stats.js';

export interface HandshakeLoadSpec {
  target: string;
  port: number;
  responderPublicKey: string;
  peers: Array<{ privateKey: string; source: string }>;
  perPeer: number;
  window: number;
  intervalMs: number;
  timeoutMs: number;
  warmupMs: number;
  durationMs: number;
  cache: string;
}

export interface HandshakeLoadResult {
  peers: number;
  sent: number;
  /** Responses to our initiations that arrived inside the measured window. */
  responses: number;
  responsesTotal: number;
  cookieReplies: number;
  otherReplies: number;
  timeouts: number;
  /** Of those, in the measured window. */
  timeoutsMeasured: number;
  exhaustedPeers: number;
  measureMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** This process's CPU seconds (user + system) during the measured window. */
  genCpuS: number;
  precomputeMs: number;
  fromCache: boolean;
}

const MAX_TOTAL = 200_000;
const COOKIE_REPLY_SIZE = 64;

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2], 'utf8')) as HandshakeLoadSpec;
  const P = spec.peers.length;
  const K = Math.max(1, Math.min(Math.floor(spec.perPeer), Math.floor(MAX_TOTAL / Math.max(1, P))));
  const windowSize = Math.max(1, Math.min(1024, spec.window));
  const intervalMs = Math.max(20, spec.intervalMs);
  const timeoutMs = Math.max(10, Math.min(5000, spec.timeoutMs));
  const warmupMs = Math.max(0, Math.min(30_000, spec.warmupMs));
  const durationMs = Math.max(100, Math.min(120_000, spec.durationMs));
  const responder = publicKeyFromBytes(keyFromBase64(spec.responderPublicKey));
  const ids: NoiseIdentity[] = spec.peers.map((p) => {
    const privateKey = privateKeyFromBytes(keyFromBase64(p.privateKey));
    return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
  });
  const gens = ids.map(() => new CookieGenerator(responder, systemClock));

  // Initiation (p, k) lives at slot p*K + k; its sender index is slot + 1.
  const total = P * K;
  const t0 = performance.now();
  let msgs: Buffer;
  let fromCache = false;
  if (existsSync(spec.cache) && (msgs = readFileSync(spec.cache)).length === total * MESSAGE_INITIATION_SIZE) {
    fromCache = true;
  } else {
    msgs = Buffer.alloc(total * MESSAGE_INITIATION_SIZE);
    const base = tai64n(systemClock.wallNow());
    for (let p = 0; p < P; p++) {
      const hs = new Handshake(responder);
      hs.setIdentity(ids[p]);
      for (let k = 0; k < K; k++) {
        const ts = base.slice();
        new DataView(ts.buffer).setUint32(8, k * 1000, false); // seconds fixed, nanoseconds increasing
        const slot = p * K + k;
        const m = createInitiation(ids[p], hs, slot + 1, ts);
        if (!m) throw new Error(`createInitiation failed for peer ${p}`);
        gens[p].addMacs(m);
        msgs.set(m, slot * MESSAGE_INITIATION_SIZE);
      }
    }
    writeFileSync(spec.cache, msgs, { mode: 0o600 });
  }
  const precomputeMs = performance.now() - t0;

  const socks: Socket[] = [];
  await Promise.all(
    spec.peers.map(
      (p, i) =>
        new Promise<void>((resolve, reject) => {
          const s = createSocket('udp4');
          socks[i] = s;
          s.once('error', reject);
          s.bind(0, p.source, () => {
            s.removeListener('error', reject);
            s.on('error', () => {});
            resolve();
          });
        }),
    ),
  );
  process.stdout.write(`ready ${precomputeMs.toFixed(0)}\n`);

  const next = new Int32Array(P); // next k per peer
  const inflight = new Int32Array(P).fill(-1); // outstanding slot per peer
  const sentAt = new Float64Array(P); // send time of the outstanding (or last) initiation
  const hasCookie = new Uint8Array(P);
  const latencies = new Float64Array(total);
  let nLat = 0;
  // FIFO of idle peers with the time each may send again.
  const queue = new Int32Array(P + 1);
  const readyAt = new Float64Array(P);
  let qHead = 0;
  let qLen = 0;
  const push = (p: number, at: number): void => {
    readyAt[p] = at;
    queue[(qHead + qLen++) % queue.length] = p;
  };
  for (let p = 0; p < P; p++) push(p, 0);

  let outstanding = 0;
  let sent = 0;
  let responses = 0;
  let responsesTotal = 0;
  let cookieReplies = 0;
  let otherReplies = 0;
  let timeouts = 0;
  let timeoutsMeasured = 0;
  let exhausted = 0;
  let timer: NodeJS.Timeout | null = null;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let cpu0: NodeJS.CpuUsage | null = null;

  const release = (p: number, at: number): void => {
    inflight[p] = -1;
    outstanding--;
    if (next[p] < K) push(p, at);
    else exhausted++;
  };

  const pump = (): void => {
    const now = performance.now();
    if (now >= end) return;
    while (outstanding < windowSize && qLen > 0) {
      const p = queue[qHead];
      if (readyAt[p] > now) {
        if (!timer) {
          timer = setTimeout(() => {
            timer = null;
            pump();
          }, Math.max(1, Math.ceil(readyAt[p] - now)));
        }
        return;
      }
      qHead = (qHead + 1) % queue.length;
      qLen--;
      const slot = p * K + next[p]++;
      const off = slot * MESSAGE_INITIATION_SIZE;
      const m = msgs.subarray(off, off + MESSAGE_INITIATION_SIZE);
      if (hasCookie[p]) gens[p].addMacs(m); // mac1 again (same) and mac2 from the cookie
      inflight[p] = slot;
      sentAt[p] = now;
      outstanding++;
      sent++;
      socks[p].send(m, spec.port, spec.target);
    }
  };

  spec.peers.forEach((_, p) => {
    socks[p].on('message', (msg) => {
      const now = performance.now();
      const slot = inflight[p];
      if (msg.length === MESSAGE_RESPONSE_SIZE && msg[0] === MessageType.Response) {
        if (slot < 0 || msg.readUInt32LE(8) !== slot + 1) return; // late, after a timeout
        responsesTotal++;
        if (now >= measureFrom && now < end) {
          responses++;
          latencies[nLat++] = now - sentAt[p];
        }
        release(p, sentAt[p] + intervalMs);
      } else if (msg.length === COOKIE_REPLY_SIZE && msg[0] === MessageType.CookieReply) {
        cookieReplies++;
        if (slot < 0 || msg.readUInt32LE(4) !== slot + 1) return;
        const off = slot * MESSAGE_INITIATION_SIZE;
        gens[p].addMacs(Buffer.from(msgs.subarray(off, off + MESSAGE_INITIATION_SIZE))); // remember that mac1
        if (gens[p].consumeReply(msg)) hasCookie[p] = 1;
        release(p, sentAt[p] + intervalMs);
      } else {
        otherReplies++;
        return;
      }
      pump();
    });
  });

  // Timeouts and phase changes, checked every 10 ms (bounded by `end`).
  const sweep = setInterval(() => {
    const now = performance.now();
    if (!cpu0 && now >= measureFrom) {
      cpu0 = process.cpuUsage();
      process.stdout.write('measure\n');
    }
    for (let p = 0; p < P; p++) {
      if (inflight[p] >= 0 && now - sentAt[p] > timeoutMs) {
        timeouts++;
        if (now >= measureFrom) timeoutsMeasured++;
        release(p, now);
      }
    }
    if (now >= end) {
      clearInterval(sweep);
      if (timer) clearTimeout(timer);
      const cpu = process.cpuUsage(cpu0 ?? undefined);
      const lat = latencies.subarray(0, nLat);
      const r: HandshakeLoadResult = {
        peers: P,
        sent,
        responses,
        responsesTotal,
        cookieReplies,
        otherReplies,
        timeouts,
        timeoutsMeasured,
        exhaustedPeers: exhausted,
        measureMs: now - measureFrom,
        latencyP50Ms: quantile(lat, 0.5),
        latencyP99Ms: quantile(lat, 0.99),
        genCpuS: (cpu.user + cpu.system) / 1e6,
        precomputeMs,
        fromCache,
      };
      process.stdout.write(JSON.stringify(r) + '\n');
      for (const s of socks) s.close();
    } else {
      pump();
    }
  }, 10);
  pump();
}

main().catch((err) => {
  process.stderr.write(`handshake-load: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
