import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nativeCandidates } from '../io/native.js';
import { NetstackError } from './errors.js';

// Typed loader for the weft_lwip addon (native/lwip.cc, linked against Debian's liblwip),
// and the interface the WebAssembly build (lwip-wasm.ts) implements too; select.ts picks
// one. It is a separate addon from weft_native so a host without liblwip loses only the
// addon stack; without it, or with WEFT_NATIVE=0, the wasm build runs the userspace stack.

/** Event types delivered by drain() (native/lwip.cc EventType). */
export const EV_ACCEPT = 1;
export const EV_CONNECTED = 2;
export const EV_DATA = 3;
export const EV_EOF = 4;
export const EV_SENT = 5;
export const EV_ERROR = 6;
export const EV_UDP = 7;

/** checkTimeouts(): lwIP has no timer pending. */
export const NO_TIMEOUT = -1;

/** lwIP err_t values seen in EV_ERROR (lwip/err.h). */
export const ERR_ABRT = -13;
export const ERR_RST = -14;
export const ERR_CLSD = -15;

export type LwipEventHandler = (type: number, id: number, num: number, data: Buffer | null, addr: string, port: number) => void;

export interface TcpInfo {
  mss: number;
  sndbuf: number;
  state: string;
  localPort: number;
  sndScale: number;
  rcvScale: number;
}

export interface LwipAddon {
  /** 'wasm' for the WebAssembly build (lwip-wasm.ts); absent on the addon. */
  readonly kind?: 'wasm';
  /** Creates the one interface (lwIP is process-global; later calls only set the MTU). */
  init(mtu: number): void;
  setAddresses(ipv4: string, ipv6: string): void;
  input(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): void;
  /** Moves queued output packets into slots like tunRead; returns the count. */
  readPackets(buf: Uint8Array, slotSize: number, headroom: number, maxCount: number, lengths: Uint32Array, offsets: Uint32Array): number;
  /** Runs lwIP's due timers; returns the ms until its next one, NO_TIMEOUT for none. */
  checkTimeouts(): number;
  drain(cb: LwipEventHandler): void;
  /** Packets plus events still queued. */
  pending(): number;
  tcpListen(port: number, backlog: number): { id: number; port: number };
  tcpConnect(addr: string, port: number): number;
  /** Bytes taken (0: send buffer full, wait for EV_SENT; -1: no such connection). */
  tcpWrite(id: number, data: Uint8Array): number;
  tcpRecved(id: number, n: number): void;
  tcpShutdown(id: number): void;
  tcpClose(id: number, abort: boolean): void;
  tcpSetOptions(id: number, noDelay: boolean, keepAliveMs: number): void;
  tcpInfo(id: number): TcpInfo | null;
  udpBind(port: number): { id: number; port: number };
  udpSend(id: number, addr: string, port: number, data: Uint8Array): boolean;
  udpClose(id: number): void;
  stats(): { outDrops: number; inDrops: number; eventDrops: number; sockets: number; tcpMss: number; tcpWnd: number; tcpSndBuf: number };
}

const ADDON = 'weft_lwip.node';
let cached: LwipAddon | undefined;

/** Loads (once) the addon; throws NetstackError ERR_NETSTACK_UNAVAILABLE when it cannot. */
export function loadLwip(): LwipAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const p of nativeCandidates(ADDON)) {
    if (!existsSync(p)) continue;
    try {
      cached = require(p) as LwipAddon;
      return cached;
    } catch (err) {
      failures.push(`${p}: ${(err as Error).message}`);
    }
  }
  const detail = failures.length ? failures.join('; ') : 'build/Release/weft_lwip.node not found';
  throw new NetstackError('ERR_NETSTACK_UNAVAILABLE', `userspace stack unavailable (${detail}); install liblwip-dev and run \`npm run build:native\``);
}
