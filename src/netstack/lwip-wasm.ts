import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetstackError } from './errors.js';
import { EV_ACCEPT, EV_ERROR, EV_SENT, NO_TIMEOUT, type LwipAddon, type LwipEventHandler, type TcpInfo } from './lwip.js';

// lwIP compiled to WebAssembly (native/lwip-wasm: the vendored lwIP, native/lwip-core.c
// shared with the addon, and glue.c, built by
// `npm run build:wasm`, the .wasm committed) behind the same LwipAddon interface as the
// weft_lwip addon: the userspace stack where no C addon loads, or WEFT_NATIVE=0.
//
// Each instance is its own lwIP (its own linear memory), unlike the process-global addon.
// The queues the addon keeps in C++ live here: lwIP's callbacks (the `weft` imports)
// only copy bytes into them, and drain()/readPackets() hand them on, so handlers may
// call back into lwIP. Both queues are bounded like the addon's.

const OUT_MAX = 8192;
const EVENTS_MAX = 65536;
/** glue.c's scratch buffer: an address string at 0, then up to SCRATCH bytes at DATA. */
const SCRATCH = 65536;
const DATA = 64;
/** lwip-core.h's negative results. */
const RESULT_CODES: Record<number, string> = { [-1]: 'ENOMEM', [-2]: 'EADDRINUSE', [-3]: 'ERR_INVALID_ARGUMENT', [-4]: 'EHOSTUNREACH' };
/** lwIP's enum tcp_state, named as tcp_debug_state_str names them. */
const TCP_STATES = ['CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RCVD', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT'];

/** The slice of the WebAssembly JS API used here (tsconfig's lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Exports {
  memory: { buffer: ArrayBuffer };
  wl_scratch(): number;
  wl_init(mtu: number): number;
  wl_set_addresses(): number;
  wl_input_alloc(len: number): number;
  wl_input_commit(): void;
  wl_check_timeouts(): number;
  wl_conn_id(c: number): number;
  wl_udp_id(u: number): number;
  wl_tcp_listen(port: number, backlog: number): number;
  wl_local_port(c: number): number;
  wl_tcp_connect(port: number): number;
  wl_tcp_write(c: number, len: number): number;
  wl_tcp_recved(c: number, n: number): void;
  wl_tcp_shutdown(c: number): void;
  wl_tcp_close(c: number, abort: number): void;
  wl_tcp_set_options(c: number, noDelay: number, keepAliveMs: number): void;
  wl_tcp_info(c: number): number;
  wl_udp_bind(port: number): number;
  wl_udp_port(u: number): number;
  wl_udp_send(u: number, port: number, len: number): number;
  wl_udp_close(u: number): void;
  wl_const(which: number): number;
  wl_heap_bytes(): number;
}

type Event = [type: number, id: number, num: number, data: Buffer | null, addr: string, port: number];

/** Path of the committed lwip.wasm: native/lwip-wasm/ under the package root. */
export function wasmPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'native', 'lwip-wasm', 'lwip.wasm');
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) throw new NetstackError('ERR_NETSTACK_UNAVAILABLE', 'native/lwip-wasm/lwip.wasm not found; run `npm run build:wasm`');
    dir = up;
  }
}

let compiled: object | undefined;

function codeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class WasmLwip implements LwipAddon {
  readonly kind = 'wasm' as const;
  private readonly x: Exports;
  private readonly scratch: number;
  private mem: Uint8Array;
  private readonly out: Buffer[] = [];
  private events: Event[] = [];
  /** JS side of the socket table: lwIP id -> pointer to its LwConn or LwUdp (lwip-core.h). */
  private readonly conns = new Map<number, number>();
  private readonly udps = new Map<number, number>();
  private outDrops = 0;
  private inDrops = 0;
  private eventDrops = 0;
  private readonly rand = new Uint32Array(64);
  private randLeft = 0;
  private readonly t0 = performance.now();

  /** Compiles (once per process; synchronous, ~100 KB) and instantiates a fresh lwIP. */
  constructor() {
    compiled ??= new WA.Module(readFileSync(wasmPath()));
    const imports = {
      weft: {
        now: () => (performance.now() - this.t0) >>> 0,
        rand: () => this.random(),
        assert_fail: (msg: number, file: number, line: number) => {
          process.emitWarning(`lwIP assertion "${this.cstring(msg)}" failed at ${this.cstring(file)}:${line}`);
        },
        output: (ptr: number, len: number) => this.onOutput(ptr, len),
        event: (type: number, conn: number, id: number, num: number, ptr: number, len: number, addr: number, port: number) =>
          this.onEvent(type, conn, id, num, ptr, len, addr, port),
        full: () => (this.events.length >= EVENTS_MAX ? 1 : 0),
      },
    };
    this.x = new WA.Instance(compiled, imports).exports as unknown as Exports;
    this.mem = new Uint8Array(this.x.memory.buffer);
    this.scratch = this.x.wl_scratch();
  }

  /** The current view of linear memory (a grow detaches the old one). */
  private get heap(): Uint8Array {
    if (this.mem.byteLength === 0 || this.mem.buffer !== this.x.memory.buffer) this.mem = new Uint8Array(this.x.memory.buffer);
    return this.mem;
  }

  private random(): number {
    if (this.randLeft === 0) {
      randomFillSync(this.rand);
      this.randLeft = this.rand.length;
    }
    return this.rand[--this.randLeft];
  }

  private cstring(ptr: number): string {
    const h = this.heap;
    let end = ptr;
    while (end < h.length && h[end] !== 0) end++;
    return Buffer.from(h.buffer, h.byteOffset + ptr, end - ptr).toString('latin1');
  }

  private copyOut(ptr: number, len: number): Buffer {
    const b = Buffer.allocUnsafe(len);
    b.set(this.heap.subarray(ptr, ptr + len));
    return b;
  }

  private onOutput(ptr: number, len: number): void {
    if (this.out.length >= OUT_MAX) {
      this.outDrops++;
      return;
    }
    this.out.push(this.copyOut(ptr, len));
  }

  // lwip-core.c refuses data and accepts itself when full(); only EV_SENT is dropped here
  // (the next one carries on). EOF and errors always go in.
  private onEvent(type: number, conn: number, id: number, num: number, ptr: number, len: number, addr: number, port: number): void {
    id >>>= 0; // wasm i32s arrive signed; ids are u32 like the addon's
    if (type === EV_ACCEPT) this.conns.set((num >>>= 0), conn);
    else if (type === EV_ERROR) this.conns.delete(id); // lwip-core.c frees the LwConn after this call
    if (type === EV_SENT && this.events.length >= EVENTS_MAX) {
      this.eventDrops++;
      return;
    }
    const data = ptr ? this.copyOut(ptr, len) : null;
    this.events.push([type, id, num, data, addr ? this.cstring(addr) : '', port]);
  }

  /** Writes a NUL-terminated ASCII string at the start of scratch (addresses are short). */
  private putString(s: string, at = 0): number {
    const n = this.heap.subarray(this.scratch + at, this.scratch + DATA - 1);
    const w = Buffer.from(n.buffer, n.byteOffset, n.length).write(s, 'latin1');
    this.heap[this.scratch + at + w] = 0;
    return at + w + 1;
  }

  private check(r: number, what: string): number {
    if (r < 0) throw codeError(RESULT_CODES[r] ?? 'ERR_NETSTACK', `${what} failed (${RESULT_CODES[r] ?? r})`);
    return r;
  }

  init(mtu: number): void {
    this.check(this.x.wl_init(mtu), 'lwIP init');
  }

  setAddresses(ipv4: string, ipv6: string): void {
    this.putString(ipv6, this.putString(ipv4));
    if (this.x.wl_set_addresses() !== 0) throw codeError('ERR_INVALID_ARGUMENT', 'setAddresses needs an IPv4 and an IPv6 address');
  }

  input(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): void {
    if (count > offsets.length || count > lengths.length) throw codeError('ERR_INVALID_ARGUMENT', 'count exceeds offsets/lengths');
    for (let i = 0; i < count; i++) {
      const off = offsets[i];
      const len = lengths[i];
      if (len === 0 || len > 0xffff || off > buf.byteLength || len > buf.byteLength - off) continue;
      const p = this.x.wl_input_alloc(len);
      if (p === 0) {
        this.inDrops++;
        continue;
      }
      this.heap.set(buf.subarray(off, off + len), p);
      this.x.wl_input_commit();
    }
  }

  readPackets(buf: Uint8Array, slotSize: number, headroom: number, maxCount: number, lengths: Uint32Array, offsets: Uint32Array): number {
    let n = 0;
    let taken = 0;
    while (n < maxCount && n < lengths.length && n < offsets.length && taken < this.out.length && (n + 1) * slotSize <= buf.byteLength) {
      const pkt = this.out[taken++];
      if (headroom + pkt.length <= slotSize) {
        buf.set(pkt, n * slotSize + headroom);
        lengths[n] = pkt.length;
        offsets[n] = headroom;
        n++;
      } else {
        this.outDrops++; // larger than the MTU the engine can carry
      }
    }
    if (taken === this.out.length) this.out.length = 0;
    else this.out.splice(0, taken);
    return n;
  }

  checkTimeouts(): number {
    // A u32 comes back as an i32: lwip-core.h's LW_NO_TIMEOUT (all ones) reads as -1.
    const ms = this.x.wl_check_timeouts();
    return ms < 0 ? NO_TIMEOUT : ms;
  }

  drain(cb: LwipEventHandler): void {
    // Handlers may call into lwIP, which queues new events: those wait for the next drain.
    const batch = this.events;
    this.events = [];
    for (let i = 0; i < batch.length; i++) {
      const [type, id, num, data, addr, port] = batch[i];
      try {
        cb(type, id, num, data, addr, port);
      } catch (err) {
        // Like the addon, stop at a throwing callback and keep the rest queued.
        this.events = batch.slice(i + 1).concat(this.events);
        throw err;
      }
    }
  }

  pending(): number {
    return this.out.length + this.events.length;
  }

  tcpListen(port: number, backlog: number): { id: number; port: number } {
    const c = this.check(this.x.wl_tcp_listen(port, backlog), 'tcp listen');
    const id = this.x.wl_conn_id(c) >>> 0;
    this.conns.set(id, c);
    return { id, port: this.x.wl_local_port(c) };
  }

  tcpConnect(addr: string, port: number): number {
    this.putString(addr);
    const c = this.check(this.x.wl_tcp_connect(port), `tcp connect to ${addr}`);
    const id = this.x.wl_conn_id(c) >>> 0;
    this.conns.set(id, c);
    return id;
  }

  tcpWrite(id: number, data: Uint8Array): number {
    const c = this.conns.get(id);
    if (c === undefined) return -1;
    const n = Math.min(data.byteLength, SCRATCH);
    this.heap.set(n === data.byteLength ? data : data.subarray(0, n), this.scratch + DATA);
    return this.x.wl_tcp_write(c, n);
  }

  tcpRecved(id: number, n: number): void {
    const c = this.conns.get(id);
    if (c !== undefined) this.x.wl_tcp_recved(c, n >>> 0);
  }

  tcpShutdown(id: number): void {
    const c = this.conns.get(id);
    if (c !== undefined) this.x.wl_tcp_shutdown(c);
  }

  tcpClose(id: number, abort: boolean): void {
    const c = this.conns.get(id);
    if (c === undefined) return;
    this.conns.delete(id);
    this.x.wl_tcp_close(c, abort ? 1 : 0);
  }

  tcpSetOptions(id: number, noDelay: boolean, keepAliveMs: number): void {
    const c = this.conns.get(id);
    if (c !== undefined) this.x.wl_tcp_set_options(c, noDelay ? 1 : 0, keepAliveMs >>> 0);
  }

  tcpInfo(id: number): TcpInfo | null {
    const c = this.conns.get(id);
    if (c === undefined || !this.x.wl_tcp_info(c)) return null;
    const h = this.heap;
    const v = new Uint32Array(h.buffer.slice(h.byteOffset + this.scratch, h.byteOffset + this.scratch + 24));
    return { mss: v[0], sndbuf: v[1], state: TCP_STATES[v[2]] ?? String(v[2]), localPort: v[3], sndScale: v[4], rcvScale: v[5] };
  }

  udpBind(port: number): { id: number; port: number } {
    const u = this.check(this.x.wl_udp_bind(port), 'udp bind');
    const id = this.x.wl_udp_id(u) >>> 0;
    this.udps.set(id, u);
    return { id, port: this.x.wl_udp_port(u) };
  }

  udpSend(id: number, addr: string, port: number, data: Uint8Array): boolean {
    const u = this.udps.get(id);
    if (u === undefined || data.byteLength > SCRATCH) return false;
    this.putString(addr);
    this.heap.set(data, this.scratch + DATA);
    return this.x.wl_udp_send(u, port, data.byteLength) === 1;
  }

  udpClose(id: number): void {
    const u = this.udps.get(id);
    if (u === undefined) return;
    this.udps.delete(id);
    this.x.wl_udp_close(u);
  }

  /** Bytes of linear memory (it grows with connections and buffered data, never shrinks). */
  memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  /** Bytes lwIP holds from its allocator now (pcbs, pbufs, queued segments). */
  heapBytes(): number {
    return this.x.wl_heap_bytes();
  }

  stats(): { outDrops: number; inDrops: number; eventDrops: number; sockets: number; tcpMss: number; tcpWnd: number; tcpSndBuf: number } {
    return {
      outDrops: this.outDrops,
      inDrops: this.inDrops,
      eventDrops: this.eventDrops,
      sockets: this.conns.size + this.udps.size,
      tcpMss: this.x.wl_const(0),
      tcpWnd: this.x.wl_const(1),
      tcpSndBuf: this.x.wl_const(2),
    };
  }
}
