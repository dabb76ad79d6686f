// weft_lwip: Debian's lwIP (liblwip, raw API) as the userspace TCP/IP stack for
// `weft up --tun=userspace` and the embedding API. Only the packet and socket plumbing is
// here; sockets, proxies and policy are TypeScript (src/netstack/).
//
// lwIP is single-threaded and we never start its tcpip thread: every call below runs on
// the JS thread, timers run from a JS interval (checkTimeouts -> sys_check_timeouts).
// lwIP callbacks never call into JS: they queue events and packets, which JS takes with
// drain() and readPackets() after each call, so JS handlers may call back into lwIP
// freely. Queues are bounded (packets beyond OUT_MAX are dropped; TCP retransmits them).
// About 500 lines: the lwIP callbacks and their thin N-API entry points share one state
// and one job (a socket table over lwIP); split by protocol once UDP grows beyond echo-sized use.
#include <napi.h>

#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
}

namespace {

constexpr size_t OUT_MAX = 8192;     // packets waiting for the engine
constexpr size_t EVENTS_MAX = 65536;  // events waiting for JS; beyond it lwIP holds data back (ERR_MEM)

enum EventType { EV_ACCEPT = 1, EV_CONNECTED = 2, EV_DATA = 3, EV_EOF = 4, EV_SENT = 5, EV_ERROR = 6, EV_UDP = 7 };

struct Event {
  int type;
  uint32_t id;
  int64_t num;  // accept: new conn id; sent: bytes; error: lwIP err_t; udp: source port
  std::vector<uint8_t> data;
  std::string addr;  // accept: remote address; udp: source address
  uint16_t port = 0;  // accept: remote port
};

struct Conn {
  uint32_t id;
  tcp_pcb* pcb;      // null once lwIP freed it (error) or we handed it back (close)
  bool listener;
  uint32_t unacked;  // bytes delivered to JS and not yet given back with tcp_recved
};

struct State {
  bool inited = false;
  netif nif;
  std::deque<std::vector<uint8_t>> out;
  std::deque<Event> events;
  std::unordered_map<uint32_t, Conn*> conns;
  std::unordered_map<uint32_t, udp_pcb*> udps;
  uint32_t nextId = 1;
  uint64_t outDrops = 0, inDrops = 0, eventDrops = 0;
};
State st;

bool Full() { return st.events.size() >= EVENTS_MAX; }

// Data and accepts are refused with ERR_MEM when Full() (lwIP keeps the data and offers
// it again from its timer; a refused accept is reset); only EV_SENT may be dropped (the
// next one carries on). EOF and errors always go in: they end a direction or a connection.
void Push(Event&& e) {
  if (Full() && e.type == EV_SENT) {
    st.eventDrops++;
    return;
  }
  st.events.push_back(std::move(e));
}

std::string AddrString(const ip_addr_t* a) {
  char buf[IPADDR_STRLEN_MAX];
  return ipaddr_ntoa_r(a, buf, sizeof buf) ? std::string(buf) : std::string();
}

err_t Output(pbuf* p) {
  if (st.out.size() >= OUT_MAX) {
    st.outDrops++;
    return ERR_OK;  // lost on the wire, as far as TCP can tell
  }
  std::vector<uint8_t> pkt(p->tot_len);
  pbuf_copy_partial(p, pkt.data(), p->tot_len, 0);
  st.out.push_back(std::move(pkt));
  return ERR_OK;
}
err_t Output4(netif*, pbuf* p, const ip4_addr_t*) { return Output(p); }
err_t Output6(netif*, pbuf* p, const ip6_addr_t*) { return Output(p); }

err_t NetifInit(netif* n) {
  n->name[0] = 'w';
  n->name[1] = 'f';
  n->output = Output4;
  n->output_ip6 = Output6;
  n->flags = 0;  // point-to-point IP: no ARP, no broadcast, no MLD
  return ERR_OK;
}

Conn* Lookup(uint32_t id) {
  auto it = st.conns.find(id);
  return it == st.conns.end() ? nullptr : it->second;
}

void Forget(Conn* c) {
  st.conns.erase(c->id);
  delete c;
}

// --- TCP callbacks: queue only --------------------------------------------------------

err_t OnRecv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err) {
  Conn* c = static_cast<Conn*>(arg);
  // lwIP keeps refused data and offers it again; a FIN (p == null) is never refused,
  // lwIP would drop it.
  if (p != nullptr && Full()) return ERR_MEM;
  if (p == nullptr) {
    Push({EV_EOF, c->id, 0, {}, {}, 0});
    return ERR_OK;
  }
  Event e{EV_DATA, c->id, p->tot_len, std::vector<uint8_t>(p->tot_len), {}, 0};
  pbuf_copy_partial(p, e.data.data(), p->tot_len, 0);
  c->unacked += p->tot_len;
  pbuf_free(p);
  Push(std::move(e));
  return ERR_OK;
}

err_t OnSent(void* arg, tcp_pcb*, u16_t len) {
  Push({EV_SENT, static_cast<Conn*>(arg)->id, len, {}, {}, 0});
  return ERR_OK;
}

void OnErr(void* arg, err_t err) {
  Conn* c = static_cast<Conn*>(arg);
  if (c == nullptr) return;
  Push({EV_ERROR, c->id, err, {}, {}, 0});
  c->pcb = nullptr;  // already freed by lwIP
  Forget(c);
}

Conn* Track(tcp_pcb* pcb, bool listener) {
  Conn* c = new Conn{st.nextId++, pcb, listener, 0};
  if (st.nextId == 0) st.nextId = 1;
  st.conns[c->id] = c;
  tcp_arg(pcb, c);
  if (!listener) {
    tcp_recv(pcb, OnRecv);
    tcp_sent(pcb, OnSent);
    tcp_err(pcb, OnErr);
  }
  return c;
}

err_t OnAccept(void* arg, tcp_pcb* pcb, err_t err) {
  if (err != ERR_OK || pcb == nullptr || Full()) return ERR_MEM;
  Conn* l = static_cast<Conn*>(arg);
  Conn* c = Track(pcb, false);
  Event e{EV_ACCEPT, l->id, c->id, {}, AddrString(&pcb->remote_ip), pcb->remote_port};
  Push(std::move(e));
  return ERR_OK;
}

err_t OnConnected(void* arg, tcp_pcb*, err_t err) {
  Push({EV_CONNECTED, static_cast<Conn*>(arg)->id, err, {}, {}, 0});
  return ERR_OK;
}

void OnUdp(void* arg, udp_pcb*, pbuf* p, const ip_addr_t* addr, u16_t port) {
  uint32_t id = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(arg));
  Event e{EV_UDP, id, port, std::vector<uint8_t>(p->tot_len), AddrString(addr), port};
  pbuf_copy_partial(p, e.data.data(), p->tot_len, 0);
  pbuf_free(p);
  Push(std::move(e));
}

// --- helpers for the JS entry points --------------------------------------------------

Napi::Value Fail(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

uint32_t U32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Uint32Value(); }

bool ParseAddr(const Napi::CallbackInfo& info, size_t i, ip_addr_t* out) {
  std::string s = info[i].As<Napi::String>().Utf8Value();
  return ipaddr_aton(s.c_str(), out) == 1;
}

tcp_pcb* LivePcb(const Napi::CallbackInfo& info) {
  Conn* c = Lookup(U32(info, 0));
  return c && c->pcb && !c->listener ? c->pcb : nullptr;
}

// init(mtu): creates the stack's one interface (lwIP is global: later calls only set the MTU).
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t mtu = U32(info, 0);
  st.nif.mtu = st.nif.mtu6 = static_cast<u16_t>(mtu);
  if (st.inited) return env.Undefined();
  lwip_init();
  if (!netif_add_noaddr(&st.nif, nullptr, NetifInit, ip_input)) return Fail(env, "ERR_NETSTACK", "netif_add failed");
  st.nif.mtu = st.nif.mtu6 = static_cast<u16_t>(mtu);
  netif_set_ip6_autoconfig_enabled(&st.nif, 0);
  netif_set_default(&st.nif);
  netif_set_up(&st.nif);
  netif_set_link_up(&st.nif);
  st.nif.rs_count = 0;  // no router solicitations: there is no router
  st.inited = true;
  return env.Undefined();
}

// setAddresses(ipv4, ipv6): the node's mesh addresses (/32 and /128).
Napi::Value SetAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ip_addr_t v4, v6;
  if (!ParseAddr(info, 0, &v4) || !IP_IS_V4(&v4) || !ParseAddr(info, 1, &v6) || !IP_IS_V6(&v6))
    return Fail(env, "ERR_INVALID_ARGUMENT", "setAddresses needs an IPv4 and an IPv6 address");
  ip4_addr_t mask;
  IP4_ADDR(&mask, 255, 255, 255, 255);
  netif_set_addr(&st.nif, ip_2_ip4(&v4), &mask, IP4_ADDR_ANY4);
  netif_ip6_addr_set(&st.nif, 0, ip_2_ip6(&v6));
  netif_ip6_addr_set_state(&st.nif, 0, IP6_ADDR_PREFERRED);
  return env.Undefined();
}

// input(buf, offsets, lengths, count): IP packets from the engine.
Napi::Value Input(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = info[0].As<Napi::Uint8Array>();
  auto offs = info[1].As<Napi::Uint32Array>();
  auto lens = info[2].As<Napi::Uint32Array>();
  uint32_t count = U32(info, 3);
  if (count > offs.ElementLength() || count > lens.ElementLength()) return Fail(env, "ERR_INVALID_ARGUMENT", "count exceeds offsets/lengths");
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offs[i], len = lens[i];
    if (len == 0 || len > 0xFFFF || off > buf.ByteLength() || len > buf.ByteLength() - off) continue;
    // PBUF_RAM: one contiguous block (Debian's build writes past its PBUF_POOL chains).
    pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(len), PBUF_RAM);
    if (p == nullptr) {
      st.inDrops++;
      continue;
    }
    pbuf_take(p, buf.Data() + off, static_cast<u16_t>(len));
    if (st.nif.input(p, &st.nif) != ERR_OK) pbuf_free(p);
  }
  return env.Undefined();
}

// readPackets(buf, slotSize, headroom, maxCount, lengths, offsets): like tunRead.
Napi::Value ReadPackets(const Napi::CallbackInfo& info) {
  auto buf = info[0].As<Napi::Uint8Array>();
  uint32_t slot = U32(info, 1), head = U32(info, 2), max = U32(info, 3);
  auto lens = info[4].As<Napi::Uint32Array>();
  auto offs = info[5].As<Napi::Uint32Array>();
  uint32_t n = 0;
  while (n < max && n < lens.ElementLength() && n < offs.ElementLength() && !st.out.empty() &&
         static_cast<size_t>(n + 1) * slot <= buf.ByteLength()) {
    std::vector<uint8_t>& pkt = st.out.front();
    if (head + pkt.size() <= slot) {
      memcpy(buf.Data() + static_cast<size_t>(n) * slot + head, pkt.data(), pkt.size());
      lens[n] = static_cast<uint32_t>(pkt.size());
      offs[n] = head;
      n++;
    } else {
      st.outDrops++;  // larger than the MTU the engine can carry
    }
    st.out.pop_front();
  }
  return Napi::Number::New(info.Env(), n);
}

Napi::Value CheckTimeouts(const Napi::CallbackInfo& info) {
  sys_check_timeouts();
  return info.Env().Undefined();
}

// drain(cb): cb(type, id, num, data, addr, port) for each queued event, oldest first.
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cb = info[0].As<Napi::Function>();
  while (!st.events.empty()) {
    Event e = std::move(st.events.front());
    st.events.pop_front();
    Napi::Value data = e.data.empty() && e.type != EV_UDP ? env.Null() : Napi::Buffer<uint8_t>::Copy(env, e.data.data(), e.data.size()).As<Napi::Value>();
    cb.Call({Napi::Number::New(env, e.type), Napi::Number::New(env, e.id), Napi::Number::New(env, static_cast<double>(e.num)), data,
             Napi::String::New(env, e.addr), Napi::Number::New(env, e.port)});
    if (env.IsExceptionPending()) break;
  }
  return env.Undefined();
}

Napi::Value Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(st.out.size() + st.events.size()));
}

// tcpListen(port, backlog) -> listener id
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == nullptr) return Fail(env, "ENOMEM", "tcp_new failed");
  if (tcp_bind(pcb, IP_ANY_TYPE, static_cast<u16_t>(U32(info, 0))) != ERR_OK) {
    tcp_close(pcb);
    return Fail(env, "EADDRINUSE", "port in use on the userspace stack");
  }
  err_t err;
  tcp_pcb* l = tcp_listen_with_backlog_and_err(pcb, static_cast<u8_t>(U32(info, 1)), &err);
  if (l == nullptr) {
    tcp_close(pcb);
    return Fail(env, "ENOMEM", "tcp_listen failed");
  }
  Conn* c = Track(l, true);
  tcp_accept(l, OnAccept);
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", c->id);
  r.Set("port", l->local_port);
  return r;
}

// tcpConnect(addr, port) -> conn id; EV_CONNECTED or EV_ERROR follows.
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ip_addr_t addr;
  if (!ParseAddr(info, 0, &addr)) return Fail(env, "ERR_INVALID_ARGUMENT", "not an IP address");
  tcp_pcb* pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
  if (pcb == nullptr) return Fail(env, "ENOMEM", "tcp_new failed");
  Conn* c = Track(pcb, false);
  err_t err = tcp_connect(pcb, &addr, static_cast<u16_t>(U32(info, 1)), OnConnected);
  if (err != ERR_OK) {
    tcp_arg(pcb, nullptr);
    tcp_abort(pcb);
    Forget(c);
    return Fail(env, "EHOSTUNREACH", "tcp_connect failed: " + std::to_string(err));
  }
  return Napi::Number::New(env, c->id);
}

// tcpWrite(id, buf) -> bytes taken (0 when the send buffer is full; -1 when closed)
Napi::Value TcpWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tcp_pcb* pcb = LivePcb(info);
  if (pcb == nullptr) return Napi::Number::New(env, -1);
  auto buf = info[1].As<Napi::Uint8Array>();
  size_t n = std::min<size_t>(buf.ByteLength(), tcp_sndbuf(pcb));
  while (n > 0 && tcp_write(pcb, buf.Data(), static_cast<u16_t>(n), TCP_WRITE_FLAG_COPY) == ERR_MEM) n /= 2;
  if (n > 0) tcp_output(pcb);
  return Napi::Number::New(env, static_cast<double>(n));
}

// tcpRecved(id, n): JS consumed n bytes; opens the receive window again.
Napi::Value TcpRecved(const Napi::CallbackInfo& info) {
  Conn* c = Lookup(U32(info, 0));
  uint32_t n = U32(info, 1);
  if (c && c->pcb && !c->listener) {
    n = std::min(n, c->unacked);
    c->unacked -= n;
    while (n > 0) {
      u16_t k = static_cast<u16_t>(std::min<uint32_t>(n, 0xFFFF));
      tcp_recved(c->pcb, k);
      n -= k;
    }
  }
  return info.Env().Undefined();
}

// tcpShutdown(id): FIN after the queued data (half-close).
Napi::Value TcpShutdown(const Napi::CallbackInfo& info) {
  tcp_pcb* pcb = LivePcb(info);
  if (pcb && tcp_shutdown(pcb, 0, 1) == ERR_OK) tcp_output(pcb);
  return info.Env().Undefined();
}

// tcpClose(id, abort): hands the pcb back to lwIP (FIN, or RST with abort) and forgets the id.
Napi::Value TcpClose(const Napi::CallbackInfo& info) {
  Conn* c = Lookup(U32(info, 0));
  bool abort = info[1].ToBoolean();
  if (c == nullptr) return info.Env().Undefined();
  tcp_pcb* pcb = c->pcb;
  if (pcb) {
    tcp_arg(pcb, nullptr);
    if (c->listener) {
      tcp_accept(pcb, nullptr);
      tcp_close(pcb);
    } else {
      tcp_recv(pcb, nullptr);  // lwIP's tcp_recv_null acks and drops the rest
      tcp_sent(pcb, nullptr);
      tcp_err(pcb, nullptr);
      // Data we never acked would turn the close into a RST: give it back first.
      if (c->unacked) tcp_recved(pcb, static_cast<u16_t>(std::min<uint32_t>(c->unacked, 0xFFFF)));
      if (abort || tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
    }
  }
  Forget(c);
  return info.Env().Undefined();
}

// tcpSetOptions(id, noDelay, keepAliveMs): keepAliveMs 0 turns keepalive off.
Napi::Value TcpSetOptions(const Napi::CallbackInfo& info) {
  tcp_pcb* pcb = LivePcb(info);
  if (pcb == nullptr) return info.Env().Undefined();
  if (info[1].ToBoolean()) tcp_nagle_disable(pcb);
  else tcp_nagle_enable(pcb);
  uint32_t ka = U32(info, 2);
  if (ka) {
    ip_set_option(pcb, SOF_KEEPALIVE);
    pcb->keep_idle = ka;
    pcb->keep_intvl = std::max<uint32_t>(ka / 4, 1000);
    pcb->keep_cnt = 5;
  } else {
    ip_reset_option(pcb, SOF_KEEPALIVE);
  }
  return info.Env().Undefined();
}

// tcpInfo(id) -> { mss, sndbuf, state } (tests and metrics), or null
Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tcp_pcb* pcb = LivePcb(info);
  if (pcb == nullptr) return env.Null();
  Napi::Object r = Napi::Object::New(env);
  r.Set("mss", pcb->mss);
  r.Set("sndbuf", tcp_sndbuf(pcb));
  r.Set("state", tcp_debug_state_str(pcb->state));
  r.Set("localPort", pcb->local_port);
  r.Set("sndScale", pcb->snd_scale);
  r.Set("rcvScale", pcb->rcv_scale);
  return r;
}

// udpBind(port) -> { id, port }
Napi::Value UdpBind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  udp_pcb* pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == nullptr) return Fail(env, "ENOMEM", "udp_new failed");
  if (udp_bind(pcb, IP_ANY_TYPE, static_cast<u16_t>(U32(info, 0))) != ERR_OK) {
    udp_remove(pcb);
    return Fail(env, "EADDRINUSE", "port in use on the userspace stack");
  }
  uint32_t id = st.nextId++;
  st.udps[id] = pcb;
  udp_recv(pcb, OnUdp, reinterpret_cast<void*>(static_cast<uintptr_t>(id)));
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", id);
  r.Set("port", pcb->local_port);
  return r;
}

// udpSend(id, addr, port, buf) -> true when handed to the stack
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto it = st.udps.find(U32(info, 0));
  ip_addr_t addr;
  if (it == st.udps.end() || !ParseAddr(info, 1, &addr)) return Napi::Boolean::New(env, false);
  auto buf = info[3].As<Napi::Uint8Array>();
  if (buf.ByteLength() > 0xFFFF - 48) return Napi::Boolean::New(env, false);
  pbuf* p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(buf.ByteLength()), PBUF_RAM);
  if (p == nullptr) return Napi::Boolean::New(env, false);
  pbuf_take(p, buf.Data(), static_cast<u16_t>(buf.ByteLength()));
  err_t err = udp_sendto(it->second, p, &addr, static_cast<u16_t>(U32(info, 2)));
  pbuf_free(p);
  return Napi::Boolean::New(env, err == ERR_OK);
}

Napi::Value UdpClose(const Napi::CallbackInfo& info) {
  auto it = st.udps.find(U32(info, 0));
  if (it != st.udps.end()) {
    udp_remove(it->second);
    st.udps.erase(it);
  }
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("outDrops", static_cast<double>(st.outDrops));
  r.Set("inDrops", static_cast<double>(st.inDrops));
  r.Set("eventDrops", static_cast<double>(st.eventDrops));
  r.Set("sockets", static_cast<double>(st.conns.size() + st.udps.size()));
  r.Set("tcpMss", TCP_MSS);
  r.Set("tcpWnd", TCP_WND);
  r.Set("tcpSndBuf", TCP_SND_BUF);
  return r;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"init", Init},           {"setAddresses", SetAddresses}, {"input", Input},       {"readPackets", ReadPackets},
      {"checkTimeouts", CheckTimeouts}, {"drain", Drain},       {"pending", Pending},   {"tcpListen", TcpListen},
      {"tcpConnect", TcpConnect}, {"tcpWrite", TcpWrite},       {"tcpRecved", TcpRecved}, {"tcpShutdown", TcpShutdown},
      {"tcpClose", TcpClose},   {"tcpSetOptions", TcpSetOptions}, {"tcpInfo", TcpInfo}, {"udpBind", UdpBind},
      {"udpSend", UdpSend},     {"udpClose", UdpClose},         {"stats", Stats},
  };
  for (const auto& f : fns) exports.Set(f.first, Napi::Function::New(env, f.second, f.first));
  return exports;
}

}  // namespace

NODE_API_MODULE(weft_lwip, InitModule)
