import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WeftError } from '../errors.js';

// Typed loader for the weft_native addon (binding.gyp, native/*.cc). The addon only does
// syscalls and batching; all policy lives in TypeScript. Every function is synchronous
// and works on non-blocking fds; failures throw an Error whose `code` is the errno name
// (e.g. 'EPERM', 'EADDRINUSE') with `errno` and `syscall` set, like Node's own errors.

/** Watches an fd for readability on Node's event loop (libuv uv_poll_t). */
export interface NativePoller {
  /** Closes the uv handle (not the fd). Idempotent; afterwards nothing keeps the process alive. */
  stop(): void;
  ref(): this;
  unref(): this;
  /** False after stop() or after an fd error (which closes the handle automatically). */
  readonly active: boolean;
  readonly fd: number;
}

export interface NativePollerConstructor {
  /**
   * `callback()` runs on the main thread whenever `fd` is readable (level-triggered: it
   * fires again next loop turn if data remains). On POLLERR/hangup the handle is closed and
   * `callback(err)` is called once with err.code 'EBADF'.
   */
  new (fd: number, callback: (err?: Error & { code?: string }) => void): NativePoller;
}

export interface WeftNative {
  Poller: NativePollerConstructor;
  close(fd: number): void;
  /** malloc_trim(0) under glibc (free arena pages back to the OS); absent from addons built before it. */
  trimMemory?(): boolean;
  /** sched_yield(): another thread runnable on this core runs now; absent from addons built before it. */
  yieldCpu?(): void;
  /**
   * The calling thread's scheduler slice in ns (Linux >= 6.12: a short one runs sooner after a
   * wake-up); false where the kernel does not take it. Absent from addons built before it.
   */
  setSchedSlice?(ns: number): boolean;
  /** SO_PEERCRED of a connected unix socket: who is on the other end (user null when the uid has no passwd entry). */
  peerCred(fd: number): { pid: number; uid: number; gid: number; user: string | null };

  /**
   * Opens /dev/net/tun (O_NONBLOCK|O_CLOEXEC), TUNSETIFF IFF_TUN|IFF_NO_PI[|IFF_MULTI_QUEUE][|IFF_VNET_HDR]. `name` may
   * contain %d. With vnetHdr it also tries TUNSETOFFLOAD(CSUM|TSO4|TSO6), with USO4|USO6 first when `uso`; the
   * result says what was granted (vnetHdr false: the kernel refused the header and the fd is a plain TUN).
   */
  tunOpen(name: string, multiQueue?: boolean, vnetHdr?: boolean, uso?: boolean): { fd: number; name: string; vnetHdr: boolean; offload: boolean; uso: boolean };
  /**
   * tunRead for an fd opened with IFF_VNET_HDR: reads go to `scratch` (>= 65546 bytes), TSO and USO
   * super-packets are split into segments (one per slot) and checksums completed. A
   * super-packet that does not fit the batch stays pending in scratch: state[0] = its size,
   * state[1] = next segment; state[2] counts dropped reads. See native/offload.cc.
   */
  tunReadV(fd: number, scratch: Uint8Array, buf: Uint8Array, slotSize: number, headroom: number, maxCount: number, lengths: Uint32Array, offsets: Uint32Array, state: Uint32Array): number;
  /**
   * tunWrite for an IFF_VNET_HDR fd, coalescing runs of TCP segments of one flow (up to 8 flows interleaved) into
   * super-packets, and runs of UDP datagrams too with uso (the fd must have USO). Returns packets written.
   */
  tunWriteV(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, uso?: boolean): number;
  /**
   * Reads packets until EAGAIN or maxCount; packet i goes to i*slotSize+headroom with
   * lengths[i] and offsets[i] (= headroom, relative to the slot) set. Returns the count.
   * Throws only when the first read fails with something other than EAGAIN. A read that
   * fills the whole slot was truncated by the kernel (packet larger than the slot, e.g.
   * the MTU was raised): it is dropped and counted in stats[0] when `stats` is given.
   */
  tunRead(fd: number, buf: Uint8Array, slotSize: number, headroom: number, maxCount: number, lengths: Uint32Array, offsets: Uint32Array, stats?: Uint32Array): number;
  /** Writes `count` packets at absolute `offsets`; returns how many were written (stops at EAGAIN/ENOBUFS, skips EINVAL). */
  tunWrite(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  ifSetMtu(name: string, mtu: number): void;
  ifGetMtu(name: string): number;
  /** Sets IFF_UP|IFF_RUNNING. */
  ifUp(name: string): void;

  /**
   * UDP socket bound to the wildcard address, non-blocking, 7 MB buffers (SO_*BUFFORCE,
   * else SO_*BUF). family 0 (default): dual-stack AF_INET6 with IPV6_V6ONLY=0, falling back
   * to AF_INET if IPv6 is unavailable; 4: AF_INET only; 6: dual-stack, no fallback.
   */
  udpOpen(port: number, family?: 0 | 4 | 6): { fd: number; port: number; v6: boolean };
  /** SO_MARK (needs CAP_NET_ADMIN). */
  udpSetMark(fd: number, mark: number): void;
  /** IP_TTL and (dual-stack) IPV6_UNICAST_HOPS of later sends; -1 restores the default. */
  udpSetTtl(fd: number, ttl: number): void;
  /**
   * One recvmmsg(MSG_DONTWAIT) of up to maxCount datagrams; datagram i goes to i*slotSize,
   * its length to lengths[i] and its source (18-byte endpoint form) to sources[i*18..].
   * Returns 0 on EAGAIN. Datagrams longer than slotSize are dropped.
   */
  udpRecv(fd: number, buf: Uint8Array, slotSize: number, maxCount: number, lengths: Uint32Array, sources: Uint8Array): number;
  /**
   * sendmmsg of `count` datagrams at absolute `offsets` to one 18-byte destination; returns how many were sent
   * (EAGAIN: fewer). With gso, runs of equal-sized datagrams go as one UDP_SEGMENT message each; EIO (thrown
   * when nothing was sent) means the path cannot do GSO.
   */
  udpSend(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dest: Uint8Array, gso?: boolean): number;
  /**
   * sendmmsg of `count` datagrams at absolute `offsets`, datagram i to the 18-byte endpoint at dests[18*i];
   * returns how many were sent (EAGAIN: fewer). An IPv6 destination on an IPv4-only socket is skipped.
   */
  udpSendMany(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, dests: Uint8Array): number;
  /** Whether the kernel supports UDP_SEGMENT (UDP GSO) on this socket. */
  udpProbeGso(fd: number): boolean;
  /** setsockopt(SOL_UDP, UDP_GRO); false when the kernel does not know it (then udpRecv as before). */
  udpSetGro(fd: number, on: boolean): boolean;
  /**
   * Like udpRecv for a socket with UDP_GRO: recvmmsg into `scratch` (whole messages of udpGroMessageBytes, at most
   * 64), each coalesced message split into its datagrams, one per slot. What does not fit stays in scratch (state[0]
   * messages held, state[1] next, state[2] byte offset; the next call goes on there); state[3] counts dropped
   * segments (truncated messages, segments longer than slotSize); state needs 4 + 2 * messages elements.
   */
  udpRecvGro(fd: number, buf: Uint8Array, slotSize: number, maxCount: number, lengths: Uint32Array, sources: Uint8Array, scratch: Uint8Array, state: Uint32Array): number;
  /** Bytes of udpRecvGro's scratch per message: 64 KiB of data plus an 18-byte endpoint. */
  udpGroMessageBytes: number;

  /**
   * X25519(priv, pub) into out (all 32 bytes) with the node binary's OpenSSL; false when the result is
   * all zeros (a low-order point). Absent when that OpenSSL lacks it, or from addons built before it.
   */
  x25519?(out: Uint8Array, priv: Uint8Array, pub: Uint8Array): boolean;

  /** True when ChaCha20/Poly1305 primitives were found in the node binary (the calls below throw otherwise). */
  aeadAvailable: boolean;
  /** RFC 8439 AEAD seal; out.length must be plaintext.length + 16. */
  aeadSeal(key: Uint8Array, nonce12: Uint8Array, ad: Uint8Array | null, plaintext: Uint8Array, out: Uint8Array): void;
  /** RFC 8439 AEAD open; out.length must be ciphertext.length - 16. False when not authentic. */
  aeadOpen(key: Uint8Array, nonce12: Uint8Array, ad: Uint8Array | null, ciphertext: Uint8Array, out: Uint8Array): boolean;
  /** See TransportAead.sealBatch (src/crypto/transport-aead.ts). */
  sealBatch(
    src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array, count: number,
    dst: Uint8Array, dstSlotSize: number, dstFirst: number, dstLengths: Uint32Array,
    key: Uint8Array, remoteIndex: number, counter: number, mtu: number,
  ): void;
  /** See TransportAead.openBatch. */
  openBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, key: Uint8Array, ok: Uint8Array): number;

  /** BLAKE2s of a ‖ b ‖ c into out (1..32 bytes, the digest length), keyed when key (≤ 32 bytes) is given. */
  blake2s(out: Uint8Array, key: Uint8Array | null, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void;
  /** HMAC-BLAKE2s (RFC 2104) into out (32 bytes). */
  hmacBlake2s(out: Uint8Array, key: Uint8Array, msg: Uint8Array): void;
  /** WireGuard's KDF1/2/3 (HKDF over HMAC-BLAKE2s): out is 32, 64 or 96 bytes, τ1 ‖ τ2 ‖ τ3. */
  hkdfBlake2s(out: Uint8Array, key: Uint8Array, input: Uint8Array): void;
}

const ADDON = 'weft_native.node';
let cached: WeftNative | undefined;
let loadError: Error | undefined;

/** Candidate paths: $WEFT_NATIVE_PATH (for weft_native), then build/{Release,Debug} under each ancestor holding a package.json. */
export function nativeCandidates(addon = ADDON): string[] {
  const out: string[] = [];
  const env = process.env.WEFT_NATIVE_PATH;
  if (env && addon === ADDON) out.push(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      out.push(join(dir, 'build', 'Release', addon), join(dir, 'build', 'Debug', addon));
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

/** Loads (once) and returns the addon; throws WeftError ERR_NATIVE_UNAVAILABLE if it is missing or fails to load. */
export function loadNative(): WeftNative {
  if (cached) return cached;
  if (loadError) throw loadError;
  if (process.env.WEFT_NATIVE === '0') {
    loadError = new WeftError('ERR_NATIVE_UNAVAILABLE', 'weft native addon turned off (WEFT_NATIVE=0)');
    throw loadError;
  }
  const require = createRequire(import.meta.url);
  const candidates = nativeCandidates();
  const failures: string[] = [];
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    try {
      cached = require(p) as WeftNative;
      return cached;
    } catch (err) {
      failures.push(`${p}: ${(err as Error).message}`);
    }
  }
  const detail = failures.length ? `failed to load: ${failures.join('; ')}` : `not found (looked in ${candidates.join(', ')})`;
  loadError = new WeftError('ERR_NATIVE_UNAVAILABLE', `weft native addon ${detail}; build it with \`npm run build:native\` (node-gyp rebuild)`);
  throw loadError;
}

/** One of the addon's optional functions, or undefined without the addon or in one built before it. */
export function nativeOptional<K extends 'trimMemory' | 'yieldCpu' | 'setSchedSlice' | 'x25519'>(name: K): WeftNative[K] {
  try {
    return loadNative()[name];
  } catch {
    return undefined;
  }
}

/** True when the addon loads (and this is a platform it supports). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
