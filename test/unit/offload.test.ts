// TUN offloads (native/offload.cc) without a TUN: tunReadV/tunWriteV only read() and
// writev() their fd, so a FIFO opened O_RDWR (one fd for both ends) stands in for an
// IFF_VNET_HDR TUN. A pipe keeps no packet boundaries: each unit is written and read back
// on its own, and what tunWriteV wrote is parsed by the IP length (bulk writes go to a
// file instead; see fileSink). The expectations come
// from the TypeScript packet builders in test/helpers/packets.ts, not from the C code.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadNative, nativeAvailable } from '../../src/io/native.js';
import {
  fold,
  ipLayout,
  ipPacket,
  ipv4ChecksumOk,
  l4ChecksumOk,
  parseTcp,
  pseudoSum,
  sum16,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  tcpPacket,
  udpPacket,
  type TcpSpec,
} from '../helpers/packets.js';

const native = process.platform === 'linux' && nativeAvailable() ? loadNative() : null;
const reason = process.platform !== 'linux' ? 'Linux only' : 'native addon not built (npm run build:native)';
// Under WEFT_E2E_REQUIRED=1 (CI) a missing addon is a failure, not a skip.
const skip = native || process.env.WEFT_E2E_REQUIRED === '1' ? false : reason;

// ---------------------------------------------------------------- virtio_net_hdr

const NEEDS_CSUM = 1;
/** gso_type values (linux/virtio_net.h). */
const GSO = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;
const VNET = 10;

interface Vnet {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}
const VNET_FIELDS = ['hdrLen', 'gsoSize', 'csumStart', 'csumOffset'] as const;
const NO_VNET: Vnet = { flags: 0, gsoType: GSO.NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

function vnetBytes(h: Partial<Vnet>): Uint8Array {
  const full = { ...NO_VNET, ...h };
  const b = new Uint8Array(VNET);
  const v = new DataView(b.buffer);
  b[0] = full.flags;
  b[1] = full.gsoType;
  VNET_FIELDS.forEach((f, i) => v.setUint16(2 + 2 * i, full[f], true));
  return b;
}

function parseVnet(b: Uint8Array): Vnet {
  const v = new DataView(b.buffer, b.byteOffset, VNET);
  const h = { ...NO_VNET, flags: b[0], gsoType: b[1] };
  VNET_FIELDS.forEach((f, i) => (h[f] = v.getUint16(2 + 2 * i, true)));
  return h;
}

/** The header the kernel puts on a TSO super-packet `p` (TCP checksum partial). */
function tsoHeader(p: Uint8Array, mss: number): Uint8Array {
  const t = parseTcp(p);
  const gsoType = t.version === 4 ? GSO.TCPV4 : GSO.TCPV6;
  return vnetBytes({ flags: NEEDS_CSUM, gsoType, hdrLen: t.l4 + t.thl, gsoSize: mss, csumStart: t.l4, csumOffset: 16 });
}

/** `p` with its L4 checksum replaced by the folded pseudo-header sum, as in a NEEDS_CSUM packet. */
function partial(p: Uint8Array, csumOffset = 16): Uint8Array {
  const q = p.slice();
  const { l4, len, proto } = ipLayout(q);
  new DataView(q.buffer).setUint16(l4 + csumOffset, fold(pseudoSum(q, proto, len - l4)));
  return q;
}

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

// ---------------------------------------------------------------- flows

const TIMESTAMPS = Uint8Array.from([1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]);
const FLOW4: TcpSpec = { src: '10.1.0.1', dst: '10.1.0.2', sport: 40001, dport: 443, seq: 0, ack: 0x01020304, id: 0x4000, options: TIMESTAMPS };
const FLOW6: TcpSpec = { ...FLOW4, src: 'fd00::1', dst: 'fd00::2' };

/** Deterministic, non-periodic bytes (xorshift32). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Consecutive segments of one flow with these payload sizes (seq and IPv4 ID advancing); `flags` per segment. */
function run(base: TcpSpec, sizes: number[], flags: (i: number) => number = () => TCP_ACK): TcpSpec[] {
  const data = noise(sizes.reduce((a, b) => a + b, 0), base.seq + 7);
  let at = 0;
  return sizes.map((n, i) => {
    const s = { ...base, seq: (base.seq + at) >>> 0, id: ((base.id ?? 0) + i) & 0xffff, flags: flags(i), payload: data.subarray(at, at + n) };
    at += n;
    return s;
  });
}

/**
 * What splitting the super-packet `spec` at `mss` must give, by the segmentation rules
 * (each segment a valid packet of its own; FIN/PSH only on the last, CWR only on the first).
 */
function expectedSplit(spec: TcpSpec, mss: number): Uint8Array[] {
  const payload = spec.payload ?? new Uint8Array(0);
  const n = Math.max(1, Math.ceil(payload.length / mss));
  const flags = spec.flags ?? TCP_ACK;
  return Array.from({ length: n }, (_, k) => {
    let f = k < n - 1 ? flags & ~(TCP_FIN | TCP_PSH) : flags;
    if (k > 0) f &= ~TCP_CWR;
    const seq = (spec.seq + k * mss) >>> 0;
    return tcpPacket({ ...spec, seq, id: ((spec.id ?? 0) + k) & 0xffff, flags: f, payload: payload.subarray(k * mss, (k + 1) * mss) });
  });
}

/** What coalescing these segments (in order, one flow) into one super-packet must give. */
function expectedSuper(members: TcpSpec[]): { hdr: Vnet; pkt: Uint8Array } {
  const first = members[0];
  const psh = members[members.length - 1].flags! & TCP_PSH;
  const pkt = partial(tcpPacket({ ...first, flags: first.flags! | psh, payload: concat(members.map((m) => m.payload!)) }));
  const t = parseTcp(pkt);
  const gsoType = t.version === 4 ? GSO.TCPV4 : GSO.TCPV6;
  const hdr = { flags: NEEDS_CSUM, gsoType, hdrLen: t.l4 + t.thl, gsoSize: first.payload!.length, csumStart: t.l4, csumOffset: 16 };
  return { hdr, pkt };
}

// ---------------------------------------------------------------- the fd plumbing

let dir = '';
let fifos = 0;
before(() => (dir = mkdtempSync(join(tmpdir(), 'weft-offload-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A FIFO opened O_RDWR|O_NONBLOCK: one fd that is both ends of a pipe (64 KiB). */
function fifo(t: TestContext): number {
  const path = join(dir, `fifo${fifos++}`);
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  t.after(() => closeSync(fd));
  return fd;
}

/** Everything readable on the non-blocking fd now. */
function drain(fd: number): Uint8Array {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = Buffer.alloc(65536);
    let n: number;
    try {
      n = readSync(fd, chunk);
    } catch (e) {
      if ((e as { code?: string }).code === 'EAGAIN') break;
      throw e;
    }
    if (n === 0) break;
    parts.push(chunk.subarray(0, n));
  }
  return concat(parts);
}

/** Where tunWriteV writes and how to take what it wrote. */
interface Sink {
  fd: number;
  take(): Uint8Array;
}

const pipeSink = (t: TestContext): Sink => {
  const fd = fifo(t);
  return { fd, take: () => drain(fd) };
};

/**
 * An O_APPEND file, for writes of more than a few KiB in all: a pipe holds 16 pages, and
 * each writev() that does not fit the last page's free space takes new ones.
 */
function fileSink(t: TestContext): Sink {
  const path = join(dir, `sink${fifos++}`);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND);
  t.after(() => closeSync(fd));
  return {
    fd,
    take: () => {
      const data = new Uint8Array(readFileSync(path));
      ftruncateSync(fd, 0);
      return data;
    },
  };
}

const SLOT = 2048;
const HEADROOM = 16;
const SLOTS = 160;

/** tunReadV on a FIFO, with the batch buffers of a LinuxTun. */
class Reader {
  readonly scratch = Buffer.alloc(65536 + 64);
  readonly buf = new Uint8Array(SLOTS * SLOT);
  readonly lengths = new Uint32Array(SLOTS);
  readonly offsets = new Uint32Array(SLOTS);
  readonly state = new Uint32Array(3);

  constructor(readonly fd: number) {}

  /** One tunReadV of at most `max` packets; copies of them. */
  read(max = SLOTS): Uint8Array[] {
    const n = native!.tunReadV(this.fd, this.scratch, this.buf, SLOT, HEADROOM, max, this.lengths, this.offsets, this.state);
    return Array.from({ length: n }, (_, i) => {
      assert.equal(this.offsets[i], HEADROOM, `offsets[${i}]`);
      return this.buf.slice(i * SLOT + HEADROOM, i * SLOT + HEADROOM + this.lengths[i]);
    });
  }

  /** Puts one read()'s worth of bytes (vnet header + packet) into the pipe. */
  put(...parts: Uint8Array[]): void {
    const unit = concat(parts);
    assert.equal(writeSync(this.fd, unit), unit.length);
  }

  feed(hdr: Uint8Array, pkt: Uint8Array, max = SLOTS): Uint8Array[] {
    this.put(hdr, pkt);
    return this.read(max);
  }

  /** The segments tunReadV makes of super-packet `spec` (sent with a partial checksum, as the kernel does). */
  split(spec: TcpSpec, mss: number, gsoFlags = 0): Uint8Array[] {
    const p = partial(tcpPacket(spec));
    const hdr = tsoHeader(p, mss);
    hdr[1] |= gsoFlags;
    return this.feed(hdr, p);
  }
}

interface Unit {
  hdr: Vnet;
  pkt: Uint8Array;
}

/** Packets in slots at HEADROOM through tunWriteV; what it returned and wrote (vnet header + packet each). */
function writeV(sink: Sink, pkts: Uint8Array[], uso = false): { consumed: number; units: Unit[] } {
  const buf = new Uint8Array(pkts.length * SLOT);
  const offsets = new Uint32Array(pkts.length);
  const lengths = new Uint32Array(pkts.length);
  pkts.forEach((p, i) => {
    offsets[i] = i * SLOT + HEADROOM;
    lengths[i] = p.length;
    buf.set(p, offsets[i]);
  });
  const consumed = native!.tunWriteV(sink.fd, buf, offsets, lengths, pkts.length, uso);
  const out = sink.take();
  const units: Unit[] = [];
  for (let at = 0; at < out.length; ) {
    const hdr = parseVnet(out.subarray(at, at + VNET));
    const { len } = ipLayout(out.subarray(at + VNET));
    units.push({ hdr, pkt: out.slice(at + VNET, at + VNET + len) });
    at += VNET + len;
  }
  return { consumed, units };
}

/** Checks one split segment field by field (readable failures) before the byte comparison. */
function assertSegment(got: Uint8Array, want: Uint8Array, k: number): void {
  const g = parseTcp(got);
  const w = parseTcp(want);
  const what = `segment ${k}`;
  assert.equal(got.length, want.length, `${what}: length`);
  assert.equal(ipLayout(got).len, got.length, `${what}: IP length`);
  assert.equal(g.seq, w.seq, `${what}: seq`);
  assert.equal(g.flags, w.flags, `${what}: flags`);
  assert.equal(g.id, w.id, `${what}: IPv4 ID`);
  if (g.version === 4) assert.ok(ipv4ChecksumOk(got), `${what}: IPv4 header checksum`);
  assert.ok(l4ChecksumOk(got), `${what}: TCP checksum`);
  assert.deepEqual(got, want, `${what}: bytes`);
}

function assertSplit(got: Uint8Array[], spec: TcpSpec, mss: number): void {
  const want = expectedSplit(spec, mss);
  assert.equal(got.length, want.length, 'segment count');
  got.forEach((g, k) => assertSegment(g, want[k], k));
}

/** Checks what tunWriteV wrote for `inputs`: `groups` gives how many consecutive inputs went into each write. */
function assertWritten(units: Unit[], inputs: (TcpSpec | Uint8Array)[], groups: number[]): void {
  assert.equal(groups.reduce((a, b) => a + b, 0), inputs.length, 'test case: groups cover the inputs');
  assert.deepEqual(
    units.map((u) => (u.hdr.gsoType === GSO.NONE ? 1 : Math.ceil(parseTcp(u.pkt).payload.length / u.hdr.gsoSize))),
    groups,
    'packets per write',
  );
  let at = 0;
  groups.forEach((n, i) => {
    const members = inputs.slice(at, at + n);
    at += n;
    if (n === 1) {
      const m = members[0];
      assert.deepEqual(units[i].hdr, NO_VNET, `write ${i}: plain header`);
      assert.deepEqual(units[i].pkt, m instanceof Uint8Array ? m : tcpPacket(m), `write ${i}: unchanged`);
      return;
    }
    const want = expectedSuper(members as TcpSpec[]);
    assert.deepEqual(units[i].hdr, want.hdr, `write ${i}: vnet header`);
    const g = parseTcp(units[i].pkt);
    assert.equal(ipLayout(units[i].pkt).len, want.pkt.length, `write ${i}: IP length`);
    if (g.version === 4) assert.ok(ipv4ChecksumOk(units[i].pkt), `write ${i}: IPv4 header checksum`);
    assert.deepEqual(units[i].pkt, want.pkt, `write ${i}: bytes`);
  });
}

const asPackets = (inputs: (TcpSpec | Uint8Array)[]): Uint8Array[] => inputs.map((m) => (m instanceof Uint8Array ? m : tcpPacket(m)));

// ---------------------------------------------------------------- tunReadV

for (const [family, flow] of [['IPv4', FLOW4] as const, ['IPv6', FLOW6] as const]) {
  test(`tunReadV splits an ${family} TSO super-packet into MSS segments (seq/ID wrap, FIN/PSH last, CWR first)`, { skip }, (t) => {
    const r = new Reader(fifo(t));
    // 3 full segments and a short one; seq and IPv4 ID wrap inside the packet.
    const spec = { ...flow, seq: 0xffffff00, id: 0xfffe, flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, payload: noise(3 * 1448 + 656, 1) };
    const segs = r.split(spec, 1448, family === 'IPv4' ? GSO.ECN : 0);
    assertSplit(segs, spec, 1448);
    assert.deepEqual(segs.map((s) => parseTcp(s).seq), [0xffffff00, 1448 - 256, 1448 * 2 - 256, 1448 * 3 - 256]);
    assert.deepEqual(segs.map((s) => parseTcp(s).flags), [TCP_ACK | TCP_CWR, TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH | TCP_FIN]);
    if (family === 'IPv4') assert.deepEqual(segs.map((s) => parseTcp(s).id), [0xfffe, 0xffff, 0, 1]);
    else assert.deepEqual(segs.map((s) => new DataView(s.buffer).getUint16(4)), [1480, 1480, 1480, 688]);
    assert.deepEqual([...r.state], [0, 0, 0]);

    // Exact multiple of the MSS; a payload that fits one segment; no payload at all.
    for (const [n, mss] of [[4000, 1000], [999, 1000], [1000, 1000], [0, 536]]) {
      const s = { ...flow, seq: 77, payload: noise(n, n) };
      assertSplit(r.split(s, mss), s, mss);
    }
  });
}

test('tunReadV completes NEEDS_CSUM checksums of GSO_NONE packets, leaves others alone', { skip }, (t) => {
  const r = new Reader(fifo(t));
  const tcp = tcpPacket({ ...FLOW4, seq: 5, payload: noise(777, 2) });
  assert.deepEqual(r.feed(vnetBytes({ flags: NEEDS_CSUM, csumStart: 20, csumOffset: 16 }), partial(tcp)), [tcp]);
  const tcp6 = tcpPacket({ ...FLOW6, seq: 5, payload: noise(1001, 3) });
  assert.deepEqual(r.feed(vnetBytes({ flags: NEEDS_CSUM, csumStart: 40, csumOffset: 16 }), partial(tcp6)), [tcp6]);
  const udp = udpPacket('fd00::1', 5353, 'fd00::2', 53, noise(333, 4));
  assert.deepEqual(r.feed(vnetBytes({ flags: NEEDS_CSUM, csumStart: 40, csumOffset: 6 }), partial(udp, 6)), [udp]);

  // Without NEEDS_CSUM the bytes pass as they are, even a wrong checksum.
  const wrong = partial(tcp);
  assert.deepEqual(r.feed(vnetBytes({}), wrong), [wrong]);
  // A checksum position outside the packet is not written (and the packet is kept).
  assert.deepEqual(r.feed(vnetBytes({ flags: NEEDS_CSUM, csumStart: 20, csumOffset: tcp.length }), wrong), [wrong]);
  assert.deepEqual([...r.state], [0, 0, 0]);
});

test('tunReadV: a super-packet larger than the batch continues on the next calls (state[0]/state[1])', { skip }, (t) => {
  const r = new Reader(fifo(t));
  const spec = { ...FLOW4, seq: 1000, flags: TCP_ACK | TCP_PSH, payload: noise(9500, 5) };
  const p = partial(tcpPacket(spec));
  r.put(tsoHeader(p, 1000), p);
  assert.deepEqual(r.read(0), [], 'maxCount 0 reads nothing');
  assert.deepEqual([...r.state], [0, 0, 0]);

  const got = r.read(4);
  assert.equal(got.length, 4);
  assert.deepEqual([...r.state], [VNET + p.length, 4, 0], 'pending: its size, next segment');
  got.push(...r.read(4));
  assert.deepEqual([...r.state], [VNET + p.length, 8, 0]);
  // The rest of the pending packet comes before what the fd holds next.
  const udp = udpPacket('10.1.0.1', 1, '10.1.0.2', 2, noise(100, 6));
  r.put(vnetBytes({}), udp);
  const last = r.read(4);
  assert.equal(last.length, 3);
  assert.deepEqual(last[2], udp);
  assert.deepEqual([...r.state], [0, 0, 0]);
  assertSplit([...got, ...last.slice(0, 2)], spec, 1000);

  // A batch that fills exactly at the end of a super-packet leaves nothing pending.
  const four = { ...spec, payload: noise(4000, 7) };
  const q = partial(tcpPacket(four));
  r.put(tsoHeader(q, 1000), q);
  assertSplit(r.read(4), four, 1000);
  assert.deepEqual([...r.state], [0, 0, 0]);
  assert.deepEqual(r.read(4), []);
});

test('tunReadV drops malformed vnet headers and truncated packets, counting them in state[2]', { skip }, (t) => {
  const r = new Reader(fifo(t));
  const good = { ...FLOW4, seq: 1, payload: noise(3000, 8) };
  const sup4 = partial(tcpPacket(good));
  const sup6 = partial(tcpPacket({ ...FLOW6, seq: 1, payload: noise(3000, 9) }));
  const tso4 = (over: Partial<Vnet>) => vnetBytes({ ...parseVnet(tsoHeader(sup4, 1000)), ...over });
  const edit = (p: Uint8Array, at: number, value: number) => {
    const q = p.slice();
    q[at] = value;
    return q;
  };
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['shorter than a vnet header', new Uint8Array(5), new Uint8Array(0)],
    ['a vnet header alone', vnetBytes({}), new Uint8Array(0)],
    ['gso_size 0', tso4({ gsoSize: 0 }), sup4],
    ['csum_start not at the TCP header', tso4({ csumStart: 0 }), sup4],
    ['TCPV4 carrying IPv6', tso4({ csumStart: 40 }), sup6],
    ['TCPV6 carrying IPv4', tso4({ gsoType: GSO.TCPV6 }), sup4],
    ['TCPV6 with csum_start 20', vnetBytes({ ...parseVnet(tsoHeader(sup6, 1000)), csumStart: 20 }), sup6],
    ['TCPV4 carrying UDP', tso4({}), udpPacket('10.1.0.1', 1, '10.1.0.2', 2, noise(3000, 10))],
    ['IPv4 header length below 20', tso4({}), edit(sup4, 0, 0x44)],
    ['TCP header cut off', tso4({}), sup4.subarray(0, 30)],
    ['TCP data offset below 5', tso4({}), edit(sup4, 32, 0x40)],
    ['TCP data offset past the end', tso4({}), edit(sup4.subarray(0, 52), 32, 0xf0)],
    ['gso_size larger than a slot', tso4({ gsoSize: SLOT - HEADROOM }), sup4],
    ['gso_type UDP', tso4({ gsoType: GSO.UDP }), sup4],
    ['GSO.NONE packet larger than a slot', vnetBytes({}), sup4],
  ];
  cases.forEach(([name, hdr, pkt], i) => {
    assert.deepEqual(r.feed(hdr, pkt), [], name);
    assert.deepEqual([...r.state], [0, 0, i + 1], `${name}: counted`);
  });
  // Still working: the valid packet comes through.
  assertSplit(r.split(good, 1000), good, 1000);

  // A read that fills the whole scratch was truncated; the 5-byte rest is too short.
  const path = join(dir, 'oversized');
  writeFileSync(path, new Uint8Array(r.scratch.length + 5));
  const fd = openSync(path, constants.O_RDONLY);
  t.after(() => closeSync(fd));
  const big = new Reader(fd);
  assert.deepEqual(big.read(), []);
  assert.deepEqual([...big.state], [0, 0, 2]);

  // Bad arguments throw instead of touching memory.
  const call = (scratch: Uint8Array, state: Uint32Array) => native!.tunReadV(r.fd, scratch, r.buf, SLOT, HEADROOM, 1, r.lengths, r.offsets, state);
  assert.throws(() => call(new Uint8Array(65545), r.state), TypeError);
  assert.throws(() => call(r.scratch, new Uint32Array(2)), TypeError);
});

// ---------------------------------------------------------------- tunWriteV

for (const [family, flow] of [['IPv4', FLOW4] as const, ['IPv6', FLOW6] as const]) {
  test(`tunWriteV coalesces in-order ${family} segments of one flow into one TSO super-packet`, { skip }, (t) => {
    const sink = pipeSink(t);
    const segs = run({ ...flow, seq: 0xfffff000 }, [1000, 1000, 1000, 1000, 400], (i) => (i === 4 ? TCP_ACK | TCP_PSH : TCP_ACK));
    const { consumed, units } = writeV(sink, asPackets(segs));
    assert.equal(consumed, 5);
    assert.equal(units.length, 1);
    const [u] = units;
    const g = parseTcp(u.pkt);
    assert.equal(u.hdr.gsoType, family === 'IPv4' ? GSO.TCPV4 : GSO.TCPV6);
    assert.equal(u.hdr.gsoSize, 1000);
    assert.equal(u.hdr.csumStart + u.hdr.csumOffset, g.l4 + 16, 'csum_start/offset point at the TCP checksum');
    assert.equal(u.hdr.hdrLen, g.l4 + 32);
    assert.equal(g.seq, 0xfffff000);
    assert.equal(g.flags, TCP_ACK | TCP_PSH);
    assert.equal(ipLayout(u.pkt).len, u.pkt.length);
    assert.deepEqual(g.payload, concat(segs.map((s) => s.payload!)));
    assert.equal(g.checksum, fold(pseudoSum(u.pkt, 6, u.pkt.length - g.l4)), 'checksum left partial');
    assertWritten(units, segs, [5]);
  });
}

const other = (over: Partial<TcpSpec>) => (s: TcpSpec): TcpSpec => ({ ...s, ...over });
const FULL = [1000, 1000, 1000, 1000];

/**
 * [name, inputs, packets per write, the order they are written in (default: as given)]:
 * what breaks (or does not break) a run.
 */
function writeCases(flow: TcpSpec): [string, (TcpSpec | Uint8Array)[], number[], number[]?][] {
  const a = run(flow, [...FULL, 1000, 1000]);
  const flagged = (f: number, at: number) => run(flow, FULL, (i) => (i === at ? TCP_ACK | f : TCP_ACK));
  const v6 = flow.src.includes(':');
  const udp = udpPacket(flow.src, 53, flow.dst, 53, noise(200, 11));
  const icmp = ipPacket(flow.src, flow.dst, v6 ? 58 : 1, Uint8Array.from([8, 0, 0, 0, 0, 1, 0, 1, 9, 9]), 2);
  return [
    ['a gap in the sequence', [a[0], a[1], a[3], a[4]], [2, 2]],
    ['a segment sent again', [a[0], a[1], a[1], a[2]], [2, 2]],
    // a super-packet goes out where its first segment was; the other flow's packet after it
    ['another flow in between', [a[0], a[1], other({ sport: 40002 })(a[2]), a[2], a[3]], [4, 1], [0, 1, 3, 4, 2]],
    ['another destination', [a[0], a[1], other({ dst: v6 ? 'fd00::3' : '10.1.0.3' })(a[2])], [2, 1]],
    ['a different ACK', [a[0], a[1], other({ ack: 0x01020305 })(a[2])], [2, 1]],
    ['a different window', [a[0], a[1], other({ window: 503 })(a[2])], [2, 1]],
    ['different TCP options', [a[0], a[1], other({ options: TIMESTAMPS.map((b, i) => (i === 11 ? b + 1 : b)) })(a[2])], [2, 1]],
    ['no TCP options', [a[0], a[1], other({ options: undefined })(a[2])], [2, 1]],
    ['a different TTL', [a[0], a[1], other({ ttl: 63 })(a[2])], [2, 1]],
    ['a different TOS', [a[0], a[1], other({ tos: 4 })(a[2])], [2, 1]],
    ['FIN at the end', flagged(TCP_FIN, 3), [3, 1]],
    ['FIN in the middle', flagged(TCP_FIN, 1), [1, 1, 2]],
    ['RST', flagged(TCP_RST, 2), [2, 1, 1]],
    ['SYN', flagged(TCP_SYN, 2), [2, 1, 1]],
    ['URG', flagged(TCP_URG, 2), [2, 1, 1]],
    ['CWR', flagged(TCP_CWR, 2), [2, 1, 1]],
    ['PSH ends a run (and is kept)', flagged(TCP_PSH, 1), [2, 2]],
    ['PSH on the first segment', flagged(TCP_PSH, 0), [1, 3]],
    ['a smaller segment ends a run', run(flow, [1000, 1000, 500, 1000, 1000]), [3, 2]],
    ['a larger segment after the first', run(flow, [500, 1000, 1000]), [1, 2]],
    ['a lone segment', run(flow, [1000]), [1]],
    ['a pure ACK', [other({ payload: undefined })(a[0]), a[0], a[1]], [1, 2]],
    ['UDP and ICMP in between', [udp, a[0], a[1], icmp, a[2], a[3]], [1, 4, 1], [0, 1, 2, 4, 5, 3]],
    ['a retransmission after another flow', [a[0], a[1], other({ sport: 40002 })(a[2]), a[1], a[2]], [2, 1, 2]],
  ];
}

for (const [family, flow] of [['IPv4', FLOW4] as const, ['IPv6', FLOW6] as const]) {
  test(`tunWriteV: what breaks an ${family} run; other packets go with a plain header`, { skip }, (t) => {
    const sink = pipeSink(t);
    for (const [name, inputs, groups, order] of writeCases(flow)) {
      const { consumed, units } = writeV(sink, asPackets(inputs));
      assert.equal(consumed, inputs.length, `${name}: consumed`);
      assertWritten(units, order ? order.map((k) => inputs[k]) : inputs, groups);
    }
  });

  test(`tunWriteV: interleaved ${family} flows coalesce per flow, each in order`, { skip }, (t) => {
    const sink = fileSink(t);
    // 10 flows round-robin (more than the 8 followed at once), 6 segments each, the last with PSH
    const flows = Array.from({ length: 10 }, (_, f) =>
      run({ ...flow, sport: 41000 + f, seq: 1000 * f }, [1200, 1200, 1200, 1200, 1200, 700], (i) => (i === 5 ? TCP_ACK | TCP_PSH : TCP_ACK)),
    );
    const few = flows.slice(0, 4);
    const inputs = few[0].flatMap((_, i) => few.map((segs) => segs[i]));
    let r = writeV(sink, asPackets(inputs));
    assert.equal(r.consumed, inputs.length);
    assertWritten(r.units, few.flat(), [6, 6, 6, 6]);
    // With 10 flows some are evicted and restarted: fewer, smaller groups, still each flow in order.
    const all = flows[0].flatMap((_, i) => flows.map((segs) => segs[i]));
    r = writeV(sink, asPackets(all));
    assert.equal(r.consumed, all.length);
    const perFlow = new Map<number, number[]>();
    for (const u of r.units) {
      const g = parseTcp(u.pkt);
      const seqs = perFlow.get(g.sport) ?? [];
      seqs.push(g.seq);
      perFlow.set(g.sport, seqs);
    }
    assert.equal(perFlow.size, 10);
    for (const [sport, seqs] of perFlow) {
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `flow ${sport} in order`);
    }
    const payload = r.units.reduce((n, u) => n + parseTcp(u.pkt).payload.length, 0);
    assert.equal(payload, 10 * (5 * 1200 + 700), 'every byte written once');
    assert.ok(r.units.length < all.length, 'some coalescing');
  });
}

test('tunWriteV: IPv4 with options or fragments is not coalesced; empty slots are skipped', { skip }, (t) => {
  const sink = pipeSink(t);
  const a = run(FLOW4, FULL);
  const [p0, p1, p2, p3] = asPackets(a);
  const mf = withFragField(p1, 0x2000); // more fragments
  let r = writeV(sink, [p0, mf, p2, p3]);
  assert.equal(r.consumed, 4);
  assertWritten(r.units, [p0, mf, a[2], a[3]], [1, 1, 2]);
  const opt = [p0, p1].map(withIpOption);
  r = writeV(sink, opt);
  assertWritten(r.units, opt, [1, 1]);

  // DF set on all segments does not matter.
  r = writeV(sink, asPackets(a).map((p) => withFragField(p, 0x4000)));
  assertWritten(r.units.map((u) => ({ ...u, pkt: withFragField(u.pkt, 0) })), a, [4]);

  // Empty slots (dropped by the engine) are skipped, inside a run too, and not counted.
  const empty = new Uint8Array(0);
  r = writeV(sink, [empty, p0, empty, p1, p2, empty, p3, empty]);
  assert.equal(r.consumed, 4);
  assertWritten(r.units, a, [4]);
});

// ---------------------------------------------------------------- USO (UDP runs)

/** UDP datagrams of one flow with these payload sizes (IPv4 ID advancing, valid checksums). */
function udpRun(src: string, dst: string, sport: number, sizes: number[], seed = 1): Uint8Array[] {
  return sizes.map((n, i) => udpPacket(src, sport, dst, 4789, noise(n, seed * 1000 + i), { id: (0x2000 + i) & 0xffff }));
}

for (const [family, src, dst] of [['IPv4', '10.1.0.1', '10.1.0.2'] as const, ['IPv6', 'fd00::1', 'fd00::2'] as const]) {
  test(`tunWriteV with uso: a run of ${family} UDP datagrams goes as one UDP_L4 super-packet; tunReadV splits it back`, { skip }, (t) => {
    const sink = fileSink(t);
    const sizes = [1000, 1000, 1000, 1000, 500];
    const dgrams = udpRun(src, dst, 5000, sizes);
    const { consumed, units } = writeV(sink, dgrams, true);
    assert.equal(consumed, 5);
    assert.equal(units.length, 1);
    const [u] = units;
    const { l4, len } = ipLayout(u.pkt);
    assert.deepEqual(u.hdr, { flags: NEEDS_CSUM, gsoType: GSO.UDP_L4, hdrLen: l4 + 8, gsoSize: 1000, csumStart: l4, csumOffset: 6 });
    assert.equal(len, u.pkt.length);
    if (family === 'IPv4') assert.ok(ipv4ChecksumOk(u.pkt), 'IPv4 header checksum');
    const v = new DataView(u.pkt.buffer, u.pkt.byteOffset);
    assert.equal(v.getUint16(l4 + 4), 8 + 4500, 'UDP length of the whole run');
    assert.equal(v.getUint16(l4 + 6), fold(pseudoSum(u.pkt, 17, 8 + 4500)), 'checksum left partial');
    assert.deepEqual(u.pkt.subarray(l4 + 8), concat(dgrams.map((d) => d.subarray(ipLayout(d).l4 + 8))));

    // What the kernel hands over on read looks the same: split back, the datagrams are the originals.
    const r = new Reader(fifo(t));
    const back = r.feed(vnetBytes(u.hdr), u.pkt);
    assert.equal(back.length, 5);
    back.forEach((b, i) => {
      assert.ok(l4ChecksumOk(b), `datagram ${i}: UDP checksum`);
      assert.deepEqual(b, dgrams[i], `datagram ${i}: bytes (IP ID, lengths, checksums)`);
    });
  });
}

test('tunWriteV: UDP runs only with uso; interleaved UDP and TCP flows coalesce per flow', { skip }, (t) => {
  const sink = fileSink(t);
  const a = udpRun('10.1.0.1', '10.1.0.2', 5000, [1200, 1200, 1200]);
  const b = udpRun('10.1.0.1', '10.1.0.2', 5001, [600, 600, 600, 100, 600], 2);
  const c = run(FLOW4, FULL);
  const mixed = [a[0], b[0], ...asPackets([c[0]]), a[1], b[1], ...asPackets([c[1]]), a[2], b[2], b[3], b[4], ...asPackets([c[2], c[3]])];
  let r = writeV(sink, mixed);
  assert.equal(r.units.filter((u) => u.hdr.gsoType === GSO.UDP_L4).length, 0, 'no UDP super-packets without uso');
  assert.equal(r.units.length, mixed.length - 3, 'the TCP flow still coalesces');
  r = writeV(sink, mixed, true);
  assert.equal(r.consumed, mixed.length);
  // a: one run of 3; b: 600 x3 then 100 ends the run, 600 starts a new one; c: one run of 4
  assert.deepEqual(
    r.units.map((u) => [u.hdr.gsoType, u.pkt.length]),
    [
      [GSO.UDP_L4, 20 + 8 + 3600],
      [GSO.UDP_L4, 20 + 8 + 1900],
      [GSO.TCPV4, tcpPacket({ ...c[0], payload: new Uint8Array(4000) }).length],
      [GSO.NONE, 20 + 8 + 600],
    ],
  );
});

test('tunReadV drops a malformed UDP_L4 super-packet and counts it', { skip }, (t) => {
  const r = new Reader(fifo(t));
  const d = udpPacket('10.1.0.1', 1, '10.1.0.2', 2, noise(3000, 5));
  const hdr = (over: Partial<Vnet>) => vnetBytes({ flags: NEEDS_CSUM, gsoType: GSO.UDP_L4, hdrLen: 28, gsoSize: 1000, csumStart: 20, csumOffset: 6, ...over });
  assert.equal(r.feed(hdr({ gsoSize: 0 }), d).length, 0);
  assert.equal(r.feed(hdr({ csumStart: 24 }), d).length, 0);
  assert.equal(r.feed(hdr({}), tcpPacket({ ...FLOW4, payload: noise(3000, 6) })).length, 0);
  assert.equal(r.state[2], 3);
  assert.equal(r.feed(hdr({}), d).length, 3);
});

/** IPv4 packet `p` (no IP options) with flags/fragment offset `v`. */
function withFragField(p: Uint8Array, v: number): Uint8Array {
  const q = p.slice();
  new DataView(q.buffer).setUint16(6, v);
  return ipv4Rechecksum(q);
}

/** IPv4 packet `p` (no IP options) with a 4-byte IP option (NOPs) added. */
function withIpOption(p: Uint8Array): Uint8Array {
  const q = concat([p.subarray(0, 20), Uint8Array.from([1, 1, 1, 0]), p.subarray(20)]);
  q[0] = 0x46;
  new DataView(q.buffer).setUint16(2, q.length);
  return ipv4Rechecksum(q);
}

function ipv4Rechecksum(q: Uint8Array): Uint8Array {
  const dv = new DataView(q.buffer, q.byteOffset);
  const ihl = (q[0] & 15) * 4;
  dv.setUint16(10, 0);
  dv.setUint16(10, ~fold(sum16(q, 0, ihl)) & 0xffff);
  return q;
}

test('tunWriteV: at most 64 segments per super-packet', { skip }, (t) => {
  const sink = pipeSink(t);
  const segs = run({ ...FLOW6, seq: 9 }, Array(70).fill(100));
  const { consumed, units } = writeV(sink, asPackets(segs));
  assert.equal(consumed, 70);
  assertWritten(units, segs, [64, 6]);
});

test('tunWriteV stops at EAGAIN with the count written so far, throws errno errors on the first packet', { skip }, (t) => {
  const fd = fifo(t);
  const filler = 65536 - 4096; // all pages of the pipe but one
  writeSync(fd, new Uint8Array(filler));
  const segs = asPackets(run(FLOW4, FULL));
  const udp = udpPacket('10.1.0.1', 1, '10.1.0.2', 2, noise(100, 12));
  const r = writeV({ fd, take: () => drain(fd).subarray(filler) }, [udp, udp, ...segs]);
  assert.equal(r.consumed, 2, 'two small writes share the last page; the super-packet does not fit');
  assert.deepEqual(r.units, [{ hdr: NO_VNET, pkt: udp }, { hdr: NO_VNET, pkt: udp }]);

  const path = join(dir, 'readonly');
  writeFileSync(path, '');
  const ro = openSync(path, constants.O_RDONLY);
  t.after(() => closeSync(ro));
  assert.throws(() => writeV({ fd: ro, take: () => new Uint8Array(0) }, segs), { code: 'EBADF', syscall: 'writev' });
});

for (const [family, flow, hl] of [['IPv4', FLOW4, 20 + 32] as const, ['IPv6', FLOW6, 32] as const]) {
  test(`tunWriteV: an ${family} super-packet stops at the 65535-byte IP length limit`, { skip }, (t) => {
    const sink = fileSink(t);
    const fits = 65535 - hl - 46 * 1400; // the IP length field is exactly 65535 with this last segment
    let segs = run(flow, [...Array(46).fill(1400), fits]);
    let r = writeV(sink, asPackets(segs));
    assertWritten(r.units, segs, [47]);
    const v = new DataView(r.units[0].pkt.buffer);
    assert.equal(family === 'IPv4' ? v.getUint16(2) : v.getUint16(4), 65535);
    segs = run(flow, [...Array(46).fill(1400), fits + 1]);
    r = writeV(sink, asPackets(segs));
    assert.equal(r.consumed, 47);
    assertWritten(r.units, segs, [46, 1]);
  });
}

// ---------------------------------------------------------------- split, then coalesce

test('property: split then coalesce round-trips payload and seq; splitting again gives the same segments', { skip }, (t) => {
  const r = new Reader(fifo(t));
  const sink = fileSink(t);
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.integer({ min: 1, max: 64000 }),
      fc.integer({ min: 500, max: 1460 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_PSH | TCP_FIN),
      fc.boolean(),
      (v6, size, mss, seq, id, flags, withOptions) => {
        const payload = noise(size, seq);
        const spec = { ...(v6 ? FLOW6 : FLOW4), seq, id, flags, payload, options: withOptions ? TIMESTAMPS : undefined };
        const segs = r.split(spec, mss);
        assertSplit(segs, spec, mss);

        const { consumed, units } = writeV(sink, segs);
        assert.equal(consumed, segs.length);
        // Runs of up to 64; a FIN segment goes alone.
        const fin = flags & TCP_FIN ? 1 : 0;
        assert.equal(units.length, Math.ceil((segs.length - fin) / 64) + fin, 'writes');
        let at = 0;
        for (const u of units) {
          const g = parseTcp(u.pkt);
          assert.equal(g.seq, (seq + at) >>> 0, 'seq');
          assert.equal(u.hdr.gsoType === GSO.NONE ? g.payload.length <= mss : u.hdr.gsoSize === mss, true, 'gso_size');
          assert.deepEqual(g.payload, payload.subarray(at, at + g.payload.length), `payload at ${at}`);
          at += g.payload.length;
        }
        assert.equal(at, size);
        assert.deepEqual(
          units.flatMap((u) => r.feed(vnetBytes(u.hdr), u.pkt)),
          segs,
          'split(coalesce(split(x))) = split(x)',
        );
        assert.deepEqual([...r.state], [0, 0, 0]);
      },
    ),
    { numRuns: 150, includeErrorInReport: true },
  );
});
