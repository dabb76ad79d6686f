// UDP load generator for the data-plane bench (the pieces without sockets): the tag
// that marks a run's datagrams, the receiver's counter, the agents' report lines and the
// figures derived from a sender/receiver pair. The processes are src/lab/agents/udpgen.js;
// bench/udpgen.ts runs them in namespaces.
//
// Why not iperf3: one iperf3 `-b 0` sender makes one sendto() per datagram and stays at
// 41-56 kpps on this machine's bare veth, below what the engines forward. The generator
// sends batches with sendmmsg and UDP GSO (one message carries up to 64 datagrams), and
// the receiver reads with recvmmsg (and UDP_GRO where the kernel coalesces).

/** First 4 bytes of every generated datagram ("WGEN"); the next 4 are the run id. */
export const GEN_MAGIC = 0x5747454e;
/** Tag bytes at the start of each payload: the smallest payload the generator sends. */
export const GEN_TAG_BYTES = 8;
/** Largest payload: an inner IP packet of at most 1500 bytes minus IPv4 and UDP headers. */
export const GEN_MAX_PAYLOAD = 1472;

/** Writes the tag of run `run` into `payload` (at least GEN_TAG_BYTES long); the rest is left as is. */
export function writeGenTag(payload: Uint8Array, run: number): void {
  if (payload.length < GEN_TAG_BYTES) throw new RangeError(`payload ${payload.length} B is shorter than the ${GEN_TAG_BYTES}-byte tag`);
  const v = new DataView(payload.buffer, payload.byteOffset, GEN_TAG_BYTES);
  v.setUint32(0, GEN_MAGIC);
  v.setUint32(4, run >>> 0);
}

/**
 * Counts the datagrams of one run as a receiver gets them: a datagram counts when it
 * starts with the run's tag; anything else (other traffic, another run, a short or
 * mangled datagram) is counted as foreign and otherwise ignored.
 */
export class GenCounter {
  datagrams = 0;
  bytes = 0;
  foreign = 0;
  /** Clock readings (ms, the caller's clock) of the first and last counted datagram; NaN before any. */
  firstMs = NaN;
  lastMs = NaN;

  constructor(readonly run: number) {}

  /** Counts `count` datagrams of `data`, datagram i at offsets[i] (absolute) with lengths[i] bytes, seen at `nowMs`. */
  add(data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, count: number, nowMs: number): void {
    const run = this.run >>> 0;
    let n = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const o = offsets[i];
      const len = lengths[i];
      if (len < GEN_TAG_BYTES || o + len > data.length || readU32(data, o) !== GEN_MAGIC || readU32(data, o + 4) !== run) {
        this.foreign++;
        continue;
      }
      n++;
      bytes += len;
    }
    if (n === 0) return;
    if (this.datagrams === 0) this.firstMs = nowMs;
    this.lastMs = nowMs;
    this.datagrams += n;
    this.bytes += bytes;
  }
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** What the sending agent prints (one JSON line). */
export interface GenSendReport {
  kind: 'send';
  /** Datagrams the kernel accepted, and their payload bytes. */
  sent: number;
  bytes: number;
  /** Time from the first send to the last (ms). */
  ms: number;
  /** sendmmsg calls, and calls that sent fewer than asked (EAGAIN/ENOBUFS or an error). */
  calls: number;
  short: number;
  gso: boolean;
  error?: string;
}

/** What the receiving agent prints when told to stop (one JSON line). */
export interface GenRecvReport {
  kind: 'recv';
  datagrams: number;
  bytes: number;
  foreign: number;
  /** From the first counted datagram to the last (ms); 0 with fewer than two reads. */
  windowMs: number;
  gro: boolean;
  groDrops: number;
  /** True when it stopped at its own time bound rather than on request. */
  timedOut: boolean;
}

const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/**
 * The last well-formed report of `kind` in an agent's output (other lines, partial lines
 * and malformed reports are skipped); null when there is none.
 */
export function parseGenReport(text: string, kind: 'send'): GenSendReport | null;
export function parseGenReport(text: string, kind: 'recv'): GenRecvReport | null;
export function parseGenReport(text: string, kind: 'send' | 'recv'): GenSendReport | GenRecvReport | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (o === null || typeof o !== 'object' || o.kind !== kind) continue;
    if (kind === 'send' && num(o.sent) && num(o.bytes) && num(o.ms) && num(o.calls) && num(o.short) && typeof o.gso === 'boolean') {
      return o as unknown as GenSendReport;
    }
    if (kind === 'recv' && num(o.datagrams) && num(o.bytes) && num(o.foreign) && num(o.windowMs) && typeof o.gro === 'boolean' && num(o.groDrops) && typeof o.timedOut === 'boolean') {
      return o as unknown as GenRecvReport;
    }
  }
  return null;
}

export interface GenResult {
  /** Datagrams received per second over the sender's time, in thousands (iperf3's "received" rate). */
  kpps: number;
  /** Datagrams the kernel accepted per second, in thousands. */
  sentKpps: number;
  /** Received payload, Mbit/s over the sender's time. */
  mbps: number;
  /** Sent but not received, % of sent (0 when nothing was sent). */
  lossPct: number;
  sent: number;
  received: number;
}

/** The figures of one sender/receiver run; throws when the sender ran for no measurable time. */
export function genResult(s: GenSendReport, r: GenRecvReport): GenResult {
  if (!(s.ms > 0)) throw new Error(`udpgen: sender ran ${s.ms} ms`);
  const secs = s.ms / 1000;
  const lossPct = s.sent > 0 ? (Math.max(0, s.sent - r.datagrams) / s.sent) * 100 : 0;
  return {
    kpps: r.datagrams / secs / 1000,
    sentKpps: s.sent / secs / 1000,
    mbps: (r.bytes * 8) / secs / 1e6,
    lossPct,
    sent: s.sent,
    received: r.datagrams,
  };
}

/** Payload bytes for an inner IPv4 packet of `ipBytes` (IPv4 20 + UDP 8 headers), as iperf3's `-l`. */
export function genPayloadFor(ipBytes: number): number {
  const p = ipBytes - 28;
  if (!Number.isInteger(p) || p < GEN_TAG_BYTES || p > GEN_MAX_PAYLOAD) throw new RangeError(`no generator payload for a ${ipBytes}-byte IP packet`);
  return p;
}
