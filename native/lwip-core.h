// The lwIP raw-API glue both userspace stacks share: the weft_lwip addon (native/lwip.cc,
// Debian's liblwip) and the WebAssembly build (native/lwip-wasm/glue.c, vendored lwIP).
// It drives lwIP and reports through three hooks each build supplies; a hook only copies
// bytes into a queue, never calls back into lwIP, so JS handlers run later may.
#ifndef WEFT_LWIP_CORE_H
#define WEFT_LWIP_CORE_H

#include <stdint.h>

#include "lwip/tcp.h"
#include "lwip/udp.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { LW_EV_ACCEPT = 1, LW_EV_CONNECTED = 2, LW_EV_DATA = 3, LW_EV_EOF = 4, LW_EV_SENT = 5, LW_EV_ERROR = 6, LW_EV_UDP = 7 };
// Failures of lw_init, lw_tcp_listen, lw_tcp_connect, lw_udp_bind (in *err).
enum { LW_ENOMEM = -1, LW_EADDRINUSE = -2, LW_EINVAL = -3, LW_EHOSTUNREACH = -4 };
// lw_check_timeouts: no timer pending (lwIP's SYS_TIMEOUTS_SLEEPTIME_INFINITE).
#define LW_NO_TIMEOUT 0xFFFFFFFFu

typedef struct LwConn {
  uint32_t id;
  struct tcp_pcb* pcb;  // null once lwIP freed it (error)
  int listener;
  uint32_t unacked;     // bytes delivered to JS and not yet given back with tcp_recved
} LwConn;

typedef struct LwUdp {
  uint32_t id;
  struct udp_pcb* pcb;
} LwUdp;

// --- hooks, supplied by each build --------------------------------------------------------
#ifdef __wasm__
#define LW_HOOK(name) __attribute__((import_module("weft"), import_name(#name)))
#else
#define LW_HOOK(name)
#endif
// One IP packet from lwIP (the build bounds its queue and drops beyond it).
LW_HOOK(output) void weft_output(const uint8_t* data, uint32_t len);
// A socket event. `obj` is the LwConn (LwUdp for LW_EV_UDP); for LW_EV_ACCEPT it is the
// new connection and `num` its id, `id` the listener's. After LW_EV_ERROR the LwConn is freed.
LW_HOOK(event) void weft_event(int type, void* obj, uint32_t id, int32_t num, const uint8_t* data, uint32_t len, const char* addr, uint32_t port);
// True while the event queue is full: data and accepts are then refused (ERR_MEM).
LW_HOOK(full) int weft_full(void);

// --- the stack ------------------------------------------------------------------------------
int lw_init(uint32_t mtu);
int lw_set_addresses(const char* ipv4, const char* ipv6);
// Input in two steps, so the caller copies the packet straight into the pbuf.
uint8_t* lw_input_alloc(uint32_t len);
void lw_input_commit(void);
uint32_t lw_check_timeouts(void);
LwConn* lw_tcp_listen(uint16_t port, uint8_t backlog, int* err);
LwConn* lw_tcp_connect(const char* addr, uint16_t port, int* err);
// Bytes taken (0: send buffer full, wait for LW_EV_SENT; -1: not a live connection).
int32_t lw_tcp_write(LwConn* c, const uint8_t* data, uint32_t len);
void lw_tcp_recved(LwConn* c, uint32_t n);
void lw_tcp_shutdown(LwConn* c);
void lw_tcp_close(LwConn* c, int abort);
void lw_tcp_set_options(LwConn* c, int no_delay, uint32_t keepalive_ms);
// mss, sndbuf, state (enum tcp_state), local port, send and receive window scale; 0 if closed.
int lw_tcp_info(LwConn* c, uint32_t out[6]);
uint16_t lw_local_port(LwConn* c);
LwUdp* lw_udp_bind(uint16_t port, int* err);
int lw_udp_send(LwUdp* u, const char* addr, uint16_t port, const uint8_t* data, uint32_t len);
void lw_udp_close(LwUdp* u);

#ifdef __cplusplus
}
#endif

#endif
