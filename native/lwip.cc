// weft_lwip: Debian's lwIP (liblwip, raw API) as the userspace TCP/IP stack for
// `weft up --tun=userspace` and the embedding API. The lwIP glue is lwip-core.c, shared
// with the WebAssembly build; here are its hooks (bounded queues of packets and events)
// and the N-API entry points. Sockets, proxies and policy are TypeScript (src/netstack/).
//
// lwIP is single-threaded and we never start its tcpip thread: every call below runs on
// the JS thread; lwIP's timers run when JS's timer, armed for the next one, fires
// (checkTimeouts runs the due ones and returns the ms until the next).
// The hooks only queue; JS takes the queues with drain() and readPackets() after each
// call, so JS handlers may call back into lwIP freely. Packets beyond OUT_MAX are
// dropped (TCP retransmits them).
#include <napi.h>

#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "lwip-core.h"

extern "C" {
#include "lwip/tcp.h"
}

namespace {

constexpr size_t OUT_MAX = 8192;     // packets waiting for the engine
constexpr size_t EVENTS_MAX = 65536;  // events waiting for JS; beyond it lwIP holds data back (ERR_MEM)

struct Event {
  int type;
  uint32_t id;
  int64_t num;  // accept: new conn id; sent: bytes; error: lwIP err_t; udp: source port
  std::vector<uint8_t> data;
  std::string addr;   // accept: remote address; udp: source address
  uint16_t port = 0;  // accept: remote port
};

struct State {
  std::deque<std::vector<uint8_t>> out;
  std::deque<Event> events;
  std::unordered_map<uint32_t, LwConn*> conns;
  std::unordered_map<uint32_t, LwUdp*> udps;
  uint64_t outDrops = 0, inDrops = 0, eventDrops = 0;
};
State st;

}  // namespace

// --- lwip-core.c's hooks ------------------------------------------------------------------

extern "C" int weft_full(void) { return st.events.size() >= EVENTS_MAX; }

extern "C" void weft_output(const uint8_t* data, uint32_t len) {
  if (st.out.size() >= OUT_MAX) {
    st.outDrops++;
    return;
  }
  st.out.emplace_back(data, data + len);
}

// lwip-core.c refuses data and accepts itself when full; only EV_SENT may be dropped here
// (the next one carries on). EOF and errors always go in: they end a direction or a connection.
extern "C" void weft_event(int type, void* obj, uint32_t id, int32_t num, const uint8_t* data, uint32_t len, const char* addr, uint32_t port) {
  if (type == LW_EV_ACCEPT) st.conns[static_cast<uint32_t>(num)] = static_cast<LwConn*>(obj);
  if (type == LW_EV_ERROR) st.conns.erase(id);  // lwip-core.c frees it after this call
  if (type == LW_EV_SENT && weft_full()) {
    st.eventDrops++;
    return;
  }
  Event e{type, id, num, data ? std::vector<uint8_t>(data, data + len) : std::vector<uint8_t>(), addr, static_cast<uint16_t>(port)};
  st.events.push_back(std::move(e));
}

namespace {

Napi::Value Fail(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// lwip-core.h's negative results as errno-style codes.
Napi::Value FailWith(Napi::Env env, int err, const std::string& what) {
  const char* code = err == LW_EADDRINUSE ? "EADDRINUSE" : err == LW_EINVAL ? "ERR_INVALID_ARGUMENT" : err == LW_EHOSTUNREACH ? "EHOSTUNREACH" : "ENOMEM";
  return Fail(env, code, what + " failed (" + code + ")");
}

uint32_t U32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Uint32Value(); }

LwConn* Conn(const Napi::CallbackInfo& info) {
  auto it = st.conns.find(U32(info, 0));
  return it == st.conns.end() ? nullptr : it->second;
}

// init(mtu): creates the stack's one interface (lwIP is global: later calls only set the MTU).
Napi::Value Init(const Napi::CallbackInfo& info) {
  if (lw_init(U32(info, 0)) != 0) return Fail(info.Env(), "ERR_NETSTACK", "netif_add failed");
  return info.Env().Undefined();
}

// setAddresses(ipv4, ipv6): the node's mesh addresses (/32 and /128).
Napi::Value SetAddresses(const Napi::CallbackInfo& info) {
  std::string v4 = info[0].As<Napi::String>().Utf8Value(), v6 = info[1].As<Napi::String>().Utf8Value();
  if (lw_set_addresses(v4.c_str(), v6.c_str()) != 0) return Fail(info.Env(), "ERR_INVALID_ARGUMENT", "setAddresses needs an IPv4 and an IPv6 address");
  return info.Env().Undefined();
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
    uint8_t* p = lw_input_alloc(static_cast<uint32_t>(len));
    if (p == nullptr) {
      st.inDrops++;
      continue;
    }
    memcpy(p, buf.Data() + off, len);
    lw_input_commit();
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

// checkTimeouts(): ms until lwIP's next timer, -1 for none.
Napi::Value CheckTimeouts(const Napi::CallbackInfo& info) {
  uint32_t ms = lw_check_timeouts();
  return Napi::Number::New(info.Env(), ms == LW_NO_TIMEOUT ? -1.0 : static_cast<double>(ms));
}

// drain(cb): cb(type, id, num, data, addr, port) for each queued event, oldest first.
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cb = info[0].As<Napi::Function>();
  while (!st.events.empty()) {
    Event e = std::move(st.events.front());
    st.events.pop_front();
    Napi::Value data = e.data.empty() && e.type != LW_EV_UDP ? env.Null() : Napi::Buffer<uint8_t>::Copy(env, e.data.data(), e.data.size()).As<Napi::Value>();
    cb.Call({Napi::Number::New(env, e.type), Napi::Number::New(env, e.id), Napi::Number::New(env, static_cast<double>(e.num)), data,
             Napi::String::New(env, e.addr), Napi::Number::New(env, e.port)});
    if (env.IsExceptionPending()) break;
  }
  return env.Undefined();
}

Napi::Value Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(st.out.size() + st.events.size()));
}

// tcpListen(port, backlog) -> { id, port }
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err;
  LwConn* c = lw_tcp_listen(static_cast<uint16_t>(U32(info, 0)), static_cast<uint8_t>(U32(info, 1)), &err);
  if (c == nullptr) return FailWith(env, err, "tcp listen");
  st.conns[c->id] = c;
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", c->id);
  r.Set("port", lw_local_port(c));
  return r;
}

// tcpConnect(addr, port) -> conn id; EV_CONNECTED or EV_ERROR follows.
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string addr = info[0].As<Napi::String>().Utf8Value();
  int err;
  LwConn* c = lw_tcp_connect(addr.c_str(), static_cast<uint16_t>(U32(info, 1)), &err);
  if (c == nullptr) return FailWith(env, err, "tcp connect to " + addr);
  st.conns[c->id] = c;
  return Napi::Number::New(env, c->id);
}

// tcpWrite(id, buf) -> bytes taken (0 when the send buffer is full; -1 when closed)
Napi::Value TcpWrite(const Napi::CallbackInfo& info) {
  auto buf = info[1].As<Napi::Uint8Array>();
  size_t len = std::min<size_t>(buf.ByteLength(), 0xFFFF);
  return Napi::Number::New(info.Env(), lw_tcp_write(Conn(info), buf.Data(), static_cast<uint32_t>(len)));
}

// tcpRecved(id, n): JS consumed n bytes; opens the receive window again.
Napi::Value TcpRecved(const Napi::CallbackInfo& info) {
  if (LwConn* c = Conn(info)) lw_tcp_recved(c, U32(info, 1));
  return info.Env().Undefined();
}

// tcpShutdown(id): FIN after the queued data (half-close).
Napi::Value TcpShutdown(const Napi::CallbackInfo& info) {
  if (LwConn* c = Conn(info)) lw_tcp_shutdown(c);
  return info.Env().Undefined();
}

// tcpClose(id, abort): hands the pcb back to lwIP (FIN, or RST with abort) and forgets the id.
Napi::Value TcpClose(const Napi::CallbackInfo& info) {
  if (LwConn* c = Conn(info)) {
    st.conns.erase(c->id);
    lw_tcp_close(c, info[1].ToBoolean());
  }
  return info.Env().Undefined();
}

// tcpSetOptions(id, noDelay, keepAliveMs): keepAliveMs 0 turns keepalive off.
Napi::Value TcpSetOptions(const Napi::CallbackInfo& info) {
  if (LwConn* c = Conn(info)) lw_tcp_set_options(c, info[1].ToBoolean(), U32(info, 2));
  return info.Env().Undefined();
}

// tcpInfo(id) -> { mss, sndbuf, state, localPort, sndScale, rcvScale } (tests and metrics), or null
Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t v[6];
  LwConn* c = Conn(info);
  if (c == nullptr || !lw_tcp_info(c, v)) return env.Null();
  Napi::Object r = Napi::Object::New(env);
  r.Set("mss", v[0]);
  r.Set("sndbuf", v[1]);
  r.Set("state", tcp_debug_state_str(static_cast<enum tcp_state>(v[2])));
  r.Set("localPort", v[3]);
  r.Set("sndScale", v[4]);
  r.Set("rcvScale", v[5]);
  return r;
}

// udpBind(port) -> { id, port }
Napi::Value UdpBind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err;
  LwUdp* u = lw_udp_bind(static_cast<uint16_t>(U32(info, 0)), &err);
  if (u == nullptr) return FailWith(env, err, "udp bind");
  st.udps[u->id] = u;
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", u->id);
  r.Set("port", u->pcb->local_port);
  return r;
}

// udpSend(id, addr, port, buf) -> true when handed to the stack
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  auto it = st.udps.find(U32(info, 0));
  if (it == st.udps.end()) return Napi::Boolean::New(info.Env(), false);
  std::string addr = info[1].As<Napi::String>().Utf8Value();
  auto buf = info[3].As<Napi::Uint8Array>();
  int ok = lw_udp_send(it->second, addr.c_str(), static_cast<uint16_t>(U32(info, 2)), buf.Data(), static_cast<uint32_t>(buf.ByteLength()));
  return Napi::Boolean::New(info.Env(), ok == 1);
}

Napi::Value UdpClose(const Napi::CallbackInfo& info) {
  auto it = st.udps.find(U32(info, 0));
  if (it != st.udps.end()) {
    lw_udp_close(it->second);
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
