// lwIP (vendored, raw API) compiled to WebAssembly: the userspace stack for hosts where
// the weft_lwip addon does not load, or WEFT_NATIVE=0. Same job as native/lwip.cc, but
// the socket table lives in JS (src/netstack/lwip-wasm.ts): a connection is a pointer
// to a Conn here and an id there.
//
// Everything runs on the JS thread. lwIP callbacks call the imported weft_event and
// weft_output, which only copy the bytes into JS queues: JS never calls back into lwIP
// from inside them, so JS handlers (run later by drain()) may call into lwIP freely.
// Byte arguments travel through one static scratch buffer: JS writes, then calls.
#include <stdint.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"

#define EXPORT(name) __attribute__((export_name(#name)))
#define IMPORT(name) __attribute__((import_module("weft"), import_name(#name)))

enum { EV_ACCEPT = 1, EV_CONNECTED = 2, EV_DATA = 3, EV_EOF = 4, EV_SENT = 5, EV_ERROR = 6, EV_UDP = 7 };
// Negative results of the entry points; the TS side maps them to error codes.
enum { R_ENOMEM = -1, R_EADDRINUSE = -2, R_EINVAL = -3, R_EHOSTUNREACH = -4 };

IMPORT(now) uint32_t weft_now(void);
IMPORT(assert_fail) void weft_assert_fail(const char* msg, const char* file, int line);
IMPORT(output) void weft_output(const uint8_t* data, uint32_t len);
// `conn` is the new Conn for EV_ACCEPT (JS maps `num`, its id, to it); `addr` is a C string.
IMPORT(event) void weft_event(int type, void* conn, uint32_t id, int32_t num, const uint8_t* data, uint32_t len, const char* addr, uint32_t port);
// True while the JS event queue is full: data and accepts are then refused (ERR_MEM).
IMPORT(full) int weft_full(void);

typedef struct Conn {
  uint32_t id;
  struct tcp_pcb* pcb;  // null once lwIP freed it (error)
  int listener;
  uint32_t unacked;     // bytes delivered to JS and not yet given back with tcp_recved
} Conn;

typedef struct Udp {
  uint32_t id;
  struct udp_pcb* pcb;
} Udp;

static struct netif nif;
static int inited;
static uint32_t next_id = 1;
static uint8_t scratch[65536];  // JS -> C arguments
static uint8_t flat[65536];     // C -> JS copies of pbuf chains (tot_len is 16 bits)
static struct pbuf* pending_in;
static char addr_str[IPADDR_STRLEN_MAX];

uint32_t sys_now(void) { return weft_now(); }
void weft_assert(const char* msg, const char* file, int line) { weft_assert_fail(msg, file, line); }

static uint32_t take_id(void) {
  uint32_t id = next_id++;
  if (next_id == 0) next_id = 1;
  return id;
}

// The bytes of p, contiguous: the payload itself when p is one pbuf, else a copy.
static const uint8_t* contiguous(struct pbuf* p) {
  if (p->next == NULL) return (const uint8_t*)p->payload;
  pbuf_copy_partial(p, flat, p->tot_len, 0);
  return flat;
}

static const char* addr_string(const ip_addr_t* a) {
  return ipaddr_ntoa_r(a, addr_str, sizeof addr_str) ? addr_str : "";
}

static err_t output(struct pbuf* p) {
  weft_output(contiguous(p), p->tot_len);
  return ERR_OK;  // JS drops beyond its bound: lost on the wire, as far as TCP can tell
}
static err_t output4(struct netif* n, struct pbuf* p, const ip4_addr_t* a) { return output(p); }
static err_t output6(struct netif* n, struct pbuf* p, const ip6_addr_t* a) { return output(p); }

static err_t netif_init_cb(struct netif* n) {
  n->name[0] = 'w';
  n->name[1] = 'f';
  n->output = output4;
  n->output_ip6 = output6;
  n->flags = 0;  // point-to-point IP: no ARP, no broadcast, no MLD
  return ERR_OK;
}

// --- TCP callbacks: report only ---------------------------------------------------------

static err_t on_recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
  Conn* c = (Conn*)arg;
  // lwIP keeps refused data and offers it again; a FIN (p == null) is never refused.
  if (p == NULL) {
    weft_event(EV_EOF, c, c->id, 0, NULL, 0, "", 0);
    return ERR_OK;
  }
  if (weft_full()) return ERR_MEM;
  c->unacked += p->tot_len;
  weft_event(EV_DATA, c, c->id, p->tot_len, contiguous(p), p->tot_len, "", 0);
  pbuf_free(p);
  return ERR_OK;
}

static err_t on_sent(void* arg, struct tcp_pcb* pcb, u16_t len) {
  Conn* c = (Conn*)arg;
  weft_event(EV_SENT, c, c->id, len, NULL, 0, "", 0);
  return ERR_OK;
}

static void on_err(void* arg, err_t err) {
  Conn* c = (Conn*)arg;
  if (c == NULL) return;
  // JS forgets the id inside this call, before the Conn is freed.
  weft_event(EV_ERROR, c, c->id, err, NULL, 0, "", 0);
  mem_free(c);
}

static Conn* track(struct tcp_pcb* pcb, int listener) {
  Conn* c = (Conn*)mem_malloc(sizeof(Conn));
  if (c == NULL) return NULL;
  c->id = take_id();
  c->pcb = pcb;
  c->listener = listener;
  c->unacked = 0;
  tcp_arg(pcb, c);
  if (!listener) {
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
  }
  return c;
}

static err_t on_accept(void* arg, struct tcp_pcb* pcb, err_t err) {
  if (err != ERR_OK || pcb == NULL || weft_full()) return ERR_MEM;
  Conn* l = (Conn*)arg;
  Conn* c = track(pcb, 0);
  if (c == NULL) return ERR_MEM;
  weft_event(EV_ACCEPT, c, l->id, (int32_t)c->id, NULL, 0, addr_string(&pcb->remote_ip), pcb->remote_port);
  return ERR_OK;
}

static err_t on_connected(void* arg, struct tcp_pcb* pcb, err_t err) {
  Conn* c = (Conn*)arg;
  weft_event(EV_CONNECTED, c, c->id, err, NULL, 0, "", 0);
  return ERR_OK;
}

static void on_udp(void* arg, struct udp_pcb* pcb, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
  Udp* u = (Udp*)arg;
  weft_event(EV_UDP, u, u->id, port, contiguous(p), p->tot_len, addr_string(addr), port);
  pbuf_free(p);
}

// --- entry points ------------------------------------------------------------------------

EXPORT(wl_scratch) uint8_t* wl_scratch(void) { return scratch; }

// The NUL-terminated address JS wrote at the start of scratch.
static int scratch_addr(ip_addr_t* out) { return ipaddr_aton((const char*)scratch, out) == 1; }

EXPORT(wl_init) int wl_init(uint32_t mtu) {
  nif.mtu = nif.mtu6 = (u16_t)mtu;
  if (inited) return 0;
  lwip_init();
  if (!netif_add_noaddr(&nif, NULL, netif_init_cb, ip_input)) return R_ENOMEM;
  nif.mtu = nif.mtu6 = (u16_t)mtu;
  netif_set_default(&nif);
  netif_set_up(&nif);
  netif_set_link_up(&nif);
  inited = 1;
  return 0;
}

// scratch: "ipv4\0ipv6\0" (the node's /32 and /128).
EXPORT(wl_set_addresses) int wl_set_addresses(void) {
  ip_addr_t v4, v6;
  const char* s6 = (const char*)scratch + strlen((const char*)scratch) + 1;
  if (!scratch_addr(&v4) || !IP_IS_V4(&v4) || ipaddr_aton(s6, &v6) != 1 || !IP_IS_V6(&v6)) return R_EINVAL;
  ip4_addr_t mask;
  IP4_ADDR(&mask, 255, 255, 255, 255);
  netif_set_addr(&nif, ip_2_ip4(&v4), &mask, IP4_ADDR_ANY4);
  netif_ip6_addr_set(&nif, 0, ip_2_ip6(&v6));
  netif_ip6_addr_set_state(&nif, 0, IP6_ADDR_PREFERRED);
  return 0;
}

// Input in two steps so JS copies the packet straight into the pbuf:
// wl_input_alloc(len) -> payload pointer (0: out of memory), then wl_input_commit().
EXPORT(wl_input_alloc) uint8_t* wl_input_alloc(uint32_t len) {
  if (pending_in) pbuf_free(pending_in);
  pending_in = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
  return pending_in ? (uint8_t*)pending_in->payload : NULL;
}

EXPORT(wl_input_commit) void wl_input_commit(void) {
  struct pbuf* p = pending_in;
  pending_in = NULL;
  if (p && nif.input(p, &nif) != ERR_OK) pbuf_free(p);
}

EXPORT(wl_check_timeouts) void wl_check_timeouts(void) { sys_check_timeouts(); }

EXPORT(wl_conn_id) uint32_t wl_conn_id(Conn* c) { return c->id; }
EXPORT(wl_udp_id) uint32_t wl_udp_id(Udp* u) { return u->id; }

EXPORT(wl_tcp_listen) int32_t wl_tcp_listen(uint32_t port, uint32_t backlog) {
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == NULL) return R_ENOMEM;
  if (tcp_bind(pcb, IP_ANY_TYPE, (u16_t)port) != ERR_OK) {
    tcp_close(pcb);
    return R_EADDRINUSE;
  }
  err_t err;
  struct tcp_pcb* l = tcp_listen_with_backlog_and_err(pcb, (u8_t)backlog, &err);
  if (l == NULL) {
    tcp_close(pcb);
    return R_ENOMEM;
  }
  Conn* c = track(l, 1);
  if (c == NULL) {
    tcp_close(l);
    return R_ENOMEM;
  }
  tcp_accept(l, on_accept);
  return (int32_t)(uintptr_t)c;
}

EXPORT(wl_local_port) uint32_t wl_local_port(Conn* c) { return c->pcb ? c->pcb->local_port : 0; }

// scratch: address. Returns the Conn; EV_CONNECTED or EV_ERROR follows.
EXPORT(wl_tcp_connect) int32_t wl_tcp_connect(uint32_t port) {
  ip_addr_t addr;
  if (!scratch_addr(&addr)) return R_EINVAL;
  struct tcp_pcb* pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
  if (pcb == NULL) return R_ENOMEM;
  Conn* c = track(pcb, 0);
  if (c == NULL) {
    tcp_abort(pcb);
    return R_ENOMEM;
  }
  if (tcp_connect(pcb, &addr, (u16_t)port, on_connected) != ERR_OK) {
    tcp_arg(pcb, NULL);
    tcp_abort(pcb);
    mem_free(c);
    return R_EHOSTUNREACH;
  }
  return (int32_t)(uintptr_t)c;
}

static struct tcp_pcb* live(Conn* c) { return c && c->pcb && !c->listener ? c->pcb : NULL; }

// scratch: len bytes. Returns bytes taken (0: send buffer full, wait for EV_SENT).
EXPORT(wl_tcp_write) int32_t wl_tcp_write(Conn* c, uint32_t len) {
  struct tcp_pcb* pcb = live(c);
  if (pcb == NULL) return -1;
  uint32_t n = len < tcp_sndbuf(pcb) ? len : tcp_sndbuf(pcb);
  while (n > 0 && tcp_write(pcb, scratch, (u16_t)n, TCP_WRITE_FLAG_COPY) == ERR_MEM) n /= 2;
  if (n > 0) tcp_output(pcb);
  return (int32_t)n;
}

EXPORT(wl_tcp_recved) void wl_tcp_recved(Conn* c, uint32_t n) {
  if (live(c) == NULL) return;
  if (n > c->unacked) n = c->unacked;
  c->unacked -= n;
  while (n > 0) {
    u16_t k = (u16_t)(n < 0xFFFF ? n : 0xFFFF);
    tcp_recved(c->pcb, k);
    n -= k;
  }
}

EXPORT(wl_tcp_shutdown) void wl_tcp_shutdown(Conn* c) {
  struct tcp_pcb* pcb = live(c);
  if (pcb && tcp_shutdown(pcb, 0, 1) == ERR_OK) tcp_output(pcb);
}

// Hands the pcb back to lwIP (FIN, or RST with abort) and frees the Conn.
EXPORT(wl_tcp_close) void wl_tcp_close(Conn* c, int abort) {
  struct tcp_pcb* pcb = c->pcb;
  if (pcb) {
    tcp_arg(pcb, NULL);
    if (c->listener) {
      tcp_accept(pcb, NULL);
      tcp_close(pcb);
    } else {
      tcp_recv(pcb, NULL);  // lwIP's tcp_recv_null acks and drops the rest
      tcp_sent(pcb, NULL);
      tcp_err(pcb, NULL);
      // Data we never acked would turn the close into a RST: give it back first.
      if (c->unacked) tcp_recved(pcb, (u16_t)(c->unacked < 0xFFFF ? c->unacked : 0xFFFF));
      if (abort || tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
    }
  }
  mem_free(c);
}

EXPORT(wl_tcp_set_options) void wl_tcp_set_options(Conn* c, int no_delay, uint32_t keepalive_ms) {
  struct tcp_pcb* pcb = live(c);
  if (pcb == NULL) return;
  if (no_delay) tcp_nagle_disable(pcb);
  else tcp_nagle_enable(pcb);
  if (keepalive_ms) {
    ip_set_option(pcb, SOF_KEEPALIVE);
    pcb->keep_idle = keepalive_ms;
    pcb->keep_intvl = keepalive_ms / 4 > 1000 ? keepalive_ms / 4 : 1000;
    pcb->keep_cnt = 5;
  } else {
    ip_reset_option(pcb, SOF_KEEPALIVE);
  }
}

// Writes mss, sndbuf, state, local port, send and receive window scale as u32s to scratch.
EXPORT(wl_tcp_info) int wl_tcp_info(Conn* c) {
  struct tcp_pcb* pcb = live(c);
  if (pcb == NULL) return 0;
  uint32_t v[6] = {pcb->mss, tcp_sndbuf(pcb), (uint32_t)pcb->state, pcb->local_port, pcb->snd_scale, pcb->rcv_scale};
  memcpy(scratch, v, sizeof v);
  return 1;
}

EXPORT(wl_udp_bind) int32_t wl_udp_bind(uint32_t port) {
  struct udp_pcb* pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == NULL) return R_ENOMEM;
  if (udp_bind(pcb, IP_ANY_TYPE, (u16_t)port) != ERR_OK) {
    udp_remove(pcb);
    return R_EADDRINUSE;
  }
  Udp* u = (Udp*)mem_malloc(sizeof(Udp));
  if (u == NULL) {
    udp_remove(pcb);
    return R_ENOMEM;
  }
  u->id = take_id();
  u->pcb = pcb;
  udp_recv(pcb, on_udp, u);
  return (int32_t)(uintptr_t)u;
}

EXPORT(wl_udp_port) uint32_t wl_udp_port(Udp* u) { return u->pcb->local_port; }

// scratch: address, NUL, then len bytes at offset 64. Returns 1 when handed to the stack.
EXPORT(wl_udp_send) int wl_udp_send(Udp* u, uint32_t port, uint32_t len) {
  ip_addr_t addr;
  if (!scratch_addr(&addr) || len > 0xFFFF - 48 || len > sizeof scratch - 64) return 0;
  struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
  if (p == NULL) return 0;
  pbuf_take(p, scratch + 64, (u16_t)len);
  err_t err = udp_sendto(u->pcb, p, &addr, (u16_t)port);
  pbuf_free(p);
  return err == ERR_OK;
}

EXPORT(wl_udp_close) void wl_udp_close(Udp* u) {
  udp_remove(u->pcb);
  mem_free(u);
}

// Build constants for stats(): 0 TCP_MSS, 1 TCP_WND, 2 TCP_SND_BUF.
EXPORT(wl_const) uint32_t wl_const(uint32_t which) {
  switch (which) {
    case 0: return TCP_MSS;
    case 1: return TCP_WND;
    case 2: return TCP_SND_BUF;
    default: return 0;
  }
}
