// The WebAssembly build's exports: lwip-core.c (shared with the weft_lwip addon) behind
// entry points JS can call (src/netstack/lwip-wasm.ts). Pointers cross as i32 (a
// connection is a pointer to its LwConn here and an id in JS); strings and bytes go
// through one static scratch buffer: JS writes, then calls. The core's hooks
// (weft_output, weft_event, weft_full) and the ones below are the `weft` imports.
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lwip-core.h"

#define EXPORT(name) __attribute__((export_name(#name)))
#define IMPORT(name) __attribute__((import_module("weft"), import_name(#name)))

IMPORT(now) uint32_t weft_now(void);
IMPORT(assert_fail) void weft_assert_fail(const char* msg, const char* file, int line);

// Arguments from JS: an address string at 0 (NUL-terminated), bytes at DATA.
#define DATA 64
static uint8_t scratch[DATA + 65536];

static size_t heap_bytes;  // held by lwIP's mem_malloc (pcbs, pbufs, segments, LwConns)

void* weft_malloc(size_t size) {
  void* p = malloc(size);
  if (p) heap_bytes += malloc_usable_size(p);
  return p;
}

void weft_free(void* p) {
  if (p) heap_bytes -= malloc_usable_size(p);
  free(p);
}

uint32_t sys_now(void) { return weft_now(); }
void weft_assert(const char* msg, const char* file, int line) { weft_assert_fail(msg, file, line); }

static int32_t result(void* p, int err) { return p ? (int32_t)(uintptr_t)p : err; }
static const char* addr(void) { return (const char*)scratch; }

EXPORT(wl_scratch) uint8_t* wl_scratch(void) { return scratch; }
EXPORT(wl_init) int wl_init(uint32_t mtu) { return lw_init(mtu); }
// scratch: "ipv4\0ipv6\0".
EXPORT(wl_set_addresses) int wl_set_addresses(void) { return lw_set_addresses(addr(), addr() + strlen(addr()) + 1); }
EXPORT(wl_input_alloc) uint8_t* wl_input_alloc(uint32_t len) { return lw_input_alloc(len); }
EXPORT(wl_input_commit) void wl_input_commit(void) { lw_input_commit(); }
EXPORT(wl_check_timeouts) uint32_t wl_check_timeouts(void) { return lw_check_timeouts(); }

EXPORT(wl_conn_id) uint32_t wl_conn_id(LwConn* c) { return c->id; }
EXPORT(wl_local_port) uint32_t wl_local_port(LwConn* c) { return lw_local_port(c); }

EXPORT(wl_tcp_listen) int32_t wl_tcp_listen(uint32_t port, uint32_t backlog) {
  int err;
  LwConn* c = lw_tcp_listen((uint16_t)port, (uint8_t)backlog, &err);
  return result(c, err);
}

// scratch: the address.
EXPORT(wl_tcp_connect) int32_t wl_tcp_connect(uint32_t port) {
  int err;
  LwConn* c = lw_tcp_connect(addr(), (uint16_t)port, &err);
  return result(c, err);
}

// scratch + DATA: len bytes.
EXPORT(wl_tcp_write) int32_t wl_tcp_write(LwConn* c, uint32_t len) { return lw_tcp_write(c, scratch + DATA, len); }
EXPORT(wl_tcp_recved) void wl_tcp_recved(LwConn* c, uint32_t n) { lw_tcp_recved(c, n); }
EXPORT(wl_tcp_shutdown) void wl_tcp_shutdown(LwConn* c) { lw_tcp_shutdown(c); }
EXPORT(wl_tcp_close) void wl_tcp_close(LwConn* c, int abort) { lw_tcp_close(c, abort); }
EXPORT(wl_tcp_set_options) void wl_tcp_set_options(LwConn* c, int no_delay, uint32_t ka) { lw_tcp_set_options(c, no_delay, ka); }
// Six u32s to scratch (lw_tcp_info).
EXPORT(wl_tcp_info) int wl_tcp_info(LwConn* c) { return lw_tcp_info(c, (uint32_t*)scratch); }

EXPORT(wl_udp_bind) int32_t wl_udp_bind(uint32_t port) {
  int err;
  LwUdp* u = lw_udp_bind((uint16_t)port, &err);
  return result(u, err);
}
EXPORT(wl_udp_id) uint32_t wl_udp_id(LwUdp* u) { return u->id; }
EXPORT(wl_udp_port) uint32_t wl_udp_port(LwUdp* u) { return u->pcb->local_port; }
// scratch: the address; scratch + DATA: len bytes.
EXPORT(wl_udp_send) int wl_udp_send(LwUdp* u, uint32_t port, uint32_t len) { return lw_udp_send(u, addr(), (uint16_t)port, scratch + DATA, len); }
EXPORT(wl_udp_close) void wl_udp_close(LwUdp* u) { lw_udp_close(u); }

EXPORT(wl_heap_bytes) uint32_t wl_heap_bytes(void) { return (uint32_t)heap_bytes; }

// Build constants for stats(): 0 TCP_MSS, 1 TCP_WND, 2 TCP_SND_BUF.
EXPORT(wl_const) uint32_t wl_const(uint32_t which) {
  const uint32_t v[3] = {TCP_MSS, TCP_WND, TCP_SND_BUF};
  return which < 3 ? v[which] : 0;
}
