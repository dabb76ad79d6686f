// lwIP raw-API glue shared by the weft_lwip addon and the WebAssembly build (lwip-core.h).
// lwIP is single-threaded and its tcpip thread never runs: every call here comes from the
// JS thread, timers included (lw_check_timeouts, from a JS timeout armed for lwIP's next one).
#include "lwip-core.h"

#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/mem.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"

static struct netif nif;
static int inited;
static uint32_t next_id = 1;
static uint8_t flat[65536];  // copies of pbuf chains (tot_len is 16 bits)
static struct pbuf* pending_in;
static char addr_str[IPADDR_STRLEN_MAX];

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

static const char* addr_string(const ip_addr_t* a) { return ipaddr_ntoa_r(a, addr_str, sizeof addr_str) ? addr_str : ""; }

static err_t output(struct pbuf* p) {
  weft_output(contiguous(p), p->tot_len);
  return ERR_OK;  // dropped beyond the queue's bound: lost on the wire, as far as TCP can tell
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

// --- callbacks: report only -------------------------------------------------------------

static err_t on_recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
  LwConn* c = (LwConn*)arg;
  // lwIP keeps refused data and offers it again; a FIN (p == null) is never refused.
  if (p == NULL) {
    weft_event(LW_EV_EOF, c, c->id, 0, NULL, 0, "", 0);
    return ERR_OK;
  }
  if (weft_full()) return ERR_MEM;
  c->unacked += p->tot_len;
  weft_event(LW_EV_DATA, c, c->id, p->tot_len, contiguous(p), p->tot_len, "", 0);
  pbuf_free(p);
  return ERR_OK;
}

static err_t on_sent(void* arg, struct tcp_pcb* pcb, u16_t len) {
  LwConn* c = (LwConn*)arg;
  weft_event(LW_EV_SENT, c, c->id, len, NULL, 0, "", 0);
  return ERR_OK;
}

static void on_err(void* arg, err_t err) {
  LwConn* c = (LwConn*)arg;
  if (c == NULL) return;
  weft_event(LW_EV_ERROR, c, c->id, err, NULL, 0, "", 0);  // the host forgets the id here
  mem_free(c);                                              // lwIP already freed the pcb
}

static LwConn* track(struct tcp_pcb* pcb, int listener) {
  LwConn* c = (LwConn*)mem_malloc(sizeof(LwConn));
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
  LwConn* l = (LwConn*)arg;
  LwConn* c = track(pcb, 0);
  if (c == NULL) return ERR_MEM;
  weft_event(LW_EV_ACCEPT, c, l->id, (int32_t)c->id, NULL, 0, addr_string(&pcb->remote_ip), pcb->remote_port);
  return ERR_OK;
}

static err_t on_connected(void* arg, struct tcp_pcb* pcb, err_t err) {
  LwConn* c = (LwConn*)arg;
  weft_event(LW_EV_CONNECTED, c, c->id, err, NULL, 0, "", 0);
  return ERR_OK;
}

static void on_udp(void* arg, struct udp_pcb* pcb, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
  LwUdp* u = (LwUdp*)arg;
  weft_event(LW_EV_UDP, u, u->id, port, contiguous(p), p->tot_len, addr_string(addr), port);
  pbuf_free(p);
}

// --- entry points -------------------------------------------------------------------------

int lw_init(uint32_t mtu) {
  nif.mtu = (u16_t)mtu;
  nif.mtu6 = (u16_t)mtu;
  if (inited) return 0;
  lwip_init();
  if (!netif_add_noaddr(&nif, NULL, netif_init_cb, ip_input)) return LW_ENOMEM;
  nif.mtu = (u16_t)mtu;
  nif.mtu6 = (u16_t)mtu;
#if LWIP_IPV6_AUTOCONFIG
  nif.ip6_autoconfig_enabled = 0;
#endif
  netif_set_default(&nif);
  netif_set_up(&nif);
  netif_set_link_up(&nif);
#if LWIP_IPV6_SEND_ROUTER_SOLICIT
  nif.rs_count = 0;  // no router solicitations: there is no router
#endif
  inited = 1;
  return 0;
}

// The node's mesh addresses (/32 and /128).
int lw_set_addresses(const char* ipv4, const char* ipv6) {
  ip_addr_t v4, v6;
  if (ipaddr_aton(ipv4, &v4) != 1 || !IP_IS_V4(&v4) || ipaddr_aton(ipv6, &v6) != 1 || !IP_IS_V6(&v6)) return LW_EINVAL;
  ip4_addr_t mask;
  IP4_ADDR(&mask, 255, 255, 255, 255);
  netif_set_addr(&nif, ip_2_ip4(&v4), &mask, IP4_ADDR_ANY4);
  netif_ip6_addr_set(&nif, 0, ip_2_ip6(&v6));
  netif_ip6_addr_set_state(&nif, 0, IP6_ADDR_PREFERRED);
  return 0;
}

// PBUF_RAM: one contiguous block (Debian's build writes past its PBUF_POOL chains).
uint8_t* lw_input_alloc(uint32_t len) {
  if (pending_in) pbuf_free(pending_in);
  pending_in = len > 0 && len <= 0xFFFF ? pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM) : NULL;
  return pending_in ? (uint8_t*)pending_in->payload : NULL;
}

void lw_input_commit(void) {
  struct pbuf* p = pending_in;
  pending_in = NULL;
  if (p && nif.input(p, &nif) != ERR_OK) pbuf_free(p);
}

// Runs the timers that are due; returns the ms until lwIP's next one (LW_NO_TIMEOUT: none),
// so the host sleeps until then instead of polling. Calls into lwIP may start an earlier
// timer (tcp_timer_needed): the host asks again after each of them.
//
// While no TCP connection needs the TCP timer, the timers left are housekeeping: IP
// reassembly and ND every second, and in Debian's build IGMP and MLD every 100 ms (for
// multicast groups, which the mesh does not use). Those run once a second then, so the
// addon's idle stack does not wake ten times a second for nothing.
#define LW_HOUSEKEEPING_MS 1000
uint32_t lw_check_timeouts(void) {
  sys_check_timeouts();
  uint32_t ms = sys_timeouts_sleeptime();
  if (tcp_active_pcbs == NULL && tcp_tw_pcbs == NULL && ms < LW_HOUSEKEEPING_MS) return LW_HOUSEKEEPING_MS;
  return ms;
}

LwConn* lw_tcp_listen(uint16_t port, uint8_t backlog, int* err) {
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  *err = LW_ENOMEM;
  if (pcb == NULL) return NULL;
  if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    tcp_close(pcb);
    *err = LW_EADDRINUSE;
    return NULL;
  }
  err_t e;
  struct tcp_pcb* l = tcp_listen_with_backlog_and_err(pcb, backlog, &e);
  if (l == NULL) {
    tcp_close(pcb);
    return NULL;
  }
  LwConn* c = track(l, 1);
  if (c == NULL) {
    tcp_close(l);
    return NULL;
  }
  tcp_accept(l, on_accept);
  *err = 0;
  return c;
}

// LW_EV_CONNECTED or LW_EV_ERROR follows.
LwConn* lw_tcp_connect(const char* addr_s, uint16_t port, int* err) {
  ip_addr_t addr;
  *err = LW_EINVAL;
  if (ipaddr_aton(addr_s, &addr) != 1) return NULL;
  *err = LW_ENOMEM;
  struct tcp_pcb* pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
  if (pcb == NULL) return NULL;
  LwConn* c = track(pcb, 0);
  if (c == NULL) {
    tcp_abort(pcb);
    return NULL;
  }
  if (tcp_connect(pcb, &addr, port, on_connected) != ERR_OK) {
    tcp_arg(pcb, NULL);
    tcp_abort(pcb);
    mem_free(c);
    *err = LW_EHOSTUNREACH;
    return NULL;
  }
  *err = 0;
  return c;
}

static struct tcp_pcb* live(LwConn* c) { return c && c->pcb && !c->listener ? c->pcb : NULL; }

int32_t lw_tcp_write(LwConn* c, const uint8_t* data, uint32_t len) {
  struct tcp_pcb* pcb = live(c);
  if (pcb == NULL) return -1;
  uint32_t n = len < tcp_sndbuf(pcb) ? len : tcp_sndbuf(pcb);
  while (n > 0 && tcp_write(pcb, data, (u16_t)n, TCP_WRITE_FLAG_COPY) == ERR_MEM) n /= 2;
  if (n > 0) tcp_output(pcb);
  return (int32_t)n;
}

// JS consumed n bytes: opens the receive window again.
void lw_tcp_recved(LwConn* c, uint32_t n) {
  if (live(c) == NULL) return;
  if (n > c->unacked) n = c->unacked;
  c->unacked -= n;
  while (n > 0) {
    u16_t k = (u16_t)(n < 0xFFFF ? n : 0xFFFF);
    tcp_recved(c->pcb, k);
    n -= k;
  }
}

// FIN after the queued data (half-close).
void lw_tcp_shutdown(LwConn* c) {
  struct tcp_pcb* pcb = live(c);
  if (pcb && tcp_shutdown(pcb, 0, 1) == ERR_OK) tcp_output(pcb);
}

// Hands the pcb back to lwIP (FIN, or RST with abort) and frees the LwConn.
void lw_tcp_close(LwConn* c, int abort) {
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

// keepalive_ms 0 turns keepalive off; probes every keepalive_ms/4 (at least 1 s), 5 of them.
void lw_tcp_set_options(LwConn* c, int no_delay, uint32_t keepalive_ms) {
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

int lw_tcp_info(LwConn* c, uint32_t out[6]) {
  struct tcp_pcb* pcb = live(c);
  if (pcb == NULL) return 0;
  out[0] = pcb->mss;
  out[1] = tcp_sndbuf(pcb);
  out[2] = (uint32_t)pcb->state;
  out[3] = pcb->local_port;
  out[4] = pcb->snd_scale;
  out[5] = pcb->rcv_scale;
  return 1;
}

uint16_t lw_local_port(LwConn* c) { return c->pcb ? c->pcb->local_port : 0; }

LwUdp* lw_udp_bind(uint16_t port, int* err) {
  *err = LW_ENOMEM;
  struct udp_pcb* pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == NULL) return NULL;
  if (udp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    udp_remove(pcb);
    *err = LW_EADDRINUSE;
    return NULL;
  }
  LwUdp* u = (LwUdp*)mem_malloc(sizeof(LwUdp));
  if (u == NULL) {
    udp_remove(pcb);
    return NULL;
  }
  u->id = take_id();
  u->pcb = pcb;
  udp_recv(pcb, on_udp, u);
  *err = 0;
  return u;
}

// 1 when handed to the stack.
int lw_udp_send(LwUdp* u, const char* addr_s, uint16_t port, const uint8_t* data, uint32_t len) {
  ip_addr_t addr;
  if (ipaddr_aton(addr_s, &addr) != 1 || len > 0xFFFF - 48) return 0;
  struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
  if (p == NULL) return 0;
  pbuf_take(p, data, (u16_t)len);
  err_t err = udp_sendto(u->pcb, p, &addr, port);
  pbuf_free(p);
  return err == ERR_OK;
}

void lw_udp_close(LwUdp* u) {
  udp_remove(u->pcb);
  mem_free(u);
}
