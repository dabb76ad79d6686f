// UDP socket with recvmmsg/sendmmsg batching (Linux).
//
//   udpOpen(port: number, family?: 0 | 4 | 6): { fd: number, port: number, v6: boolean }
//   udpSetMark(fd, mark): void
//   udpSetTtl(fd, ttl): void   (ttl -1 = the default again)
//   udpRecv(fd, buf, slotSize, maxCount, lengths: Uint32Array, sources: Uint8Array): number
//   udpSend(fd, buf, offsets: Uint32Array /*absolute*/, lengths: Uint32Array, count, dest18: Uint8Array, gso?: boolean): number
//   udpProbeGso(fd): boolean
//
// Endpoints are 18 bytes: a 16-byte IPv6 address (IPv4 as ::ffff:a.b.c.d) then the port
// big-endian. Packet i of udpRecv lands at i*slotSize.
#include "udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace weft {

static const int kBufBytes = 7 * 1024 * 1024;
static const size_t kMaxBatch = 1024;

static void SetBuf(int fd, int force_opt, int opt) {
  int v = kBufBytes;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);  // best effort, capped by rmem_max/wmem_max
}

static Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t port;
  int64_t family = 0;  // 0: dual-stack with IPv4 fallback; 4: IPv4 only; 6: dual-stack, no fallback
  if (!ArgInt(info, 0, "port", 0, 65535, &port)) return env.Undefined();
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!ArgInt(info, 1, "family", 0, 6, &family)) return env.Undefined();
    if (family != 0 && family != 4 && family != 6) return ThrowType(env, "family must be 0, 4 or 6");
  }
  bool v6 = true;
  int fd = -1;
  if (family != 4) {
    fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && family == 6) return ThrowErrno(env, errno, "socket");
  }
  if (fd >= 0) {
    int zero = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) {
      int err = errno;
      ::close(fd);
      fd = -1;
      if (family == 6) return ThrowErrno(env, err, "setsockopt(IPV6_V6ONLY)");
    }
  }
  if (fd < 0) {
    v6 = false;
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ThrowErrno(env, errno, "socket");
  }
  SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  int r;
  if (v6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    r = ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    r = ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  }
  if (r != 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, err, "bind", "port " + std::to_string(port));
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &sl) != 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, err, "getsockname");
  }
  uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port)
                                            : ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("port", Napi::Number::New(env, bound));
  out.Set("v6", Napi::Boolean::New(env, v6));
  return out;
}

static Napi::Value UdpSetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, mark;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgInt(info, 1, "mark", 0, UINT32_MAX, &mark)) return env.Undefined();
  uint32_t m = static_cast<uint32_t>(mark);
  if (setsockopt(static_cast<int>(fd), SOL_SOCKET, SO_MARK, &m, sizeof m) != 0)
    return ThrowErrno(env, errno, "setsockopt(SO_MARK)");
  return env.Undefined();
}

// The TTL (IPv4, also for v4-mapped sends on a dual-stack socket) and hop limit (IPv6)
// of later sends. Path discovery sets it around one send: a packet that refreshes our own
// NAT's conntrack entry but dies before the peer's router (docs/NAT.md, open routers).
static Napi::Value UdpSetTtl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, ttl;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgInt(info, 1, "ttl", -1, 255, &ttl) || ttl == 0) {
    if (!env.IsExceptionPending()) return ThrowType(env, "ttl must be -1 or 1..255");
    return env.Undefined();
  }
  int v = static_cast<int>(ttl);
  int s = static_cast<int>(fd);
  bool v4 = setsockopt(s, IPPROTO_IP, IP_TTL, &v, sizeof v) == 0;
  int err = errno;
  bool v6 = setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof v) == 0;  // fails on AF_INET: fine
  if (!v4 && !v6) return ThrowErrno(env, err, "setsockopt(IP_TTL)");
  return env.Undefined();
}

void PrepRecv(struct mmsghdr& m, struct iovec& iov, uint8_t* base, size_t len, struct sockaddr_storage& addr) {
  iov.iov_base = base;
  iov.iov_len = len;
  memset(&m, 0, sizeof m);
  m.msg_hdr.msg_iov = &iov;
  m.msg_hdr.msg_iovlen = 1;
  m.msg_hdr.msg_name = &addr;
  m.msg_hdr.msg_namelen = sizeof addr;
}

void ToEndpoint(const struct sockaddr_storage& ss, uint8_t* out) {
  memset(out, 0, 18);
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    memcpy(out, &a->sin6_addr, 16);
    memcpy(out + 16, &a->sin6_port, 2);  // already big-endian
  } else if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, &a->sin_addr, 4);
    memcpy(out + 16, &a->sin_port, 2);
  }
}

// Receives up to maxCount datagrams with one recvmmsg (MSG_DONTWAIT). Truncated
// datagrams (larger than slotSize) are dropped. Returns 0 on EAGAIN.
static Napi::Value UdpRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slot, maxCount;
  uint8_t *buf, *src;
  size_t buflen, nlen, srclen;
  uint32_t* lengths;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgBytes(info, 1, "buf", &buf, &buflen) ||
      !ArgInt(info, 2, "slotSize", 1, UINT32_MAX, &slot) || !ArgInt(info, 3, "maxCount", 0, UINT32_MAX, &maxCount) ||
      !ArgU32Array(info, 4, "lengths", &lengths, &nlen) || !ArgBytes(info, 5, "sources", &src, &srclen))
    return env.Undefined();
  size_t max = static_cast<size_t>(maxCount);
  const size_t slotz = static_cast<size_t>(slot);
  if (max > nlen) max = nlen;
  if (max > srclen / 18) max = srclen / 18;
  if (max > buflen / slotz) max = buflen / slotz;
  if (max > kMaxBatch) max = kMaxBatch;
  if (max == 0) return Napi::Number::New(env, 0);

  thread_local std::vector<struct mmsghdr> msgs;
  thread_local std::vector<struct iovec> iovs;
  thread_local std::vector<struct sockaddr_storage> addrs;
  if (msgs.size() < max) {
    msgs.resize(max);
    iovs.resize(max);
    addrs.resize(max);
  }
  for (size_t i = 0; i < max; i++) PrepRecv(msgs[i], iovs[i], buf + i * slotz, slotz, addrs[i]);
  int r;
  do {
    r = recvmmsg(static_cast<int>(fd), msgs.data(), static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int err = errno;
    if (RecvNothing(err)) return Napi::Number::New(env, 0);
    return ThrowErrno(env, err, "recvmmsg");
  }
  size_t out = 0;
  for (size_t i = 0; i < static_cast<size_t>(r); i++) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;  // oversized: drop
    if (out != i) memmove(buf + out * slotz, buf + i * slotz, msgs[i].msg_len);
    lengths[out] = msgs[i].msg_len;
    ToEndpoint(addrs[i], src + out * 18);
    out++;
  }
  return Napi::Number::New(env, static_cast<double>(out));
}

// Sends count datagrams to one destination with sendmmsg. Returns how many were sent;
// EAGAIN/ENOBUFS end the batch early without throwing. Other errors throw only if
// nothing was sent. With gso (7th argument true), runs of equal-sized datagrams (the
// last of a run may be shorter) go out as one message with a UDP_SEGMENT cmsg, its
// iovecs pointing straight at the slots: one trip through the stack for up to 64
// datagrams. A kernel or device that cannot do it answers EIO, thrown as such when
// nothing was sent, so the caller can switch GSO off and resend.
static const size_t kMaxGsoSegs = 64;
static const size_t kMaxGsoBytes = 65000;

// The arguments of both sends: the batch, then where it goes (argument 5).
struct SendArgs {
  WriteBatch w;
  uint8_t* dest;
  size_t destlen;
};

static bool ArgSend(const Napi::CallbackInfo& info, const char* name, SendArgs* a) {
  return ArgWriteBatch(info, &a->w) && ArgBytes(info, 5, name, &a->dest, &a->destlen);
}

static Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SendArgs a;
  if (!ArgSend(info, "dest", &a)) return env.Undefined();
  const WriteBatch& w = a.w;
  uint8_t* dest = a.dest;
  const size_t destlen = a.destlen;
  uint8_t* buf = w.buf;
  uint32_t *offsets = w.offsets, *lengths = w.lengths;
  const int64_t fd = w.fd;
  const size_t max = w.count;
  const bool gso = info.Length() > 6 && info[6].ToBoolean().Value();
  if (destlen < 18) return ThrowType(env, "dest must be an 18-byte endpoint");
  if (max == 0) return Napi::Number::New(env, 0);

  // Address the destination as AF_INET6 (dual-stack sockets take IPv4-mapped addresses);
  // an AF_INET socket rejects that with EAFNOSUPPORT, and we retry as AF_INET. This avoids
  // a getsockname() per batch.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const bool mapped = memcmp(dest, kMapped, 12) == 0;
  struct sockaddr_storage to;
  socklen_t tolen;
  memset(&to, 0, sizeof to);
  {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&to);
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_addr, dest, 16);
    memcpy(&a->sin6_port, dest + 16, 2);
    tolen = sizeof *a;
  }
  bool tried_v4 = false;

  // Group datagrams into messages: one each, or GSO runs.
  thread_local std::vector<struct mmsghdr> msgs;
  thread_local std::vector<struct iovec> iovs;
  thread_local std::vector<uint32_t> segs;  // datagrams per message
  union Cmsg {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  };
  thread_local std::vector<Cmsg> cmsgs;
  if (iovs.size() < max) iovs.resize(max);
  if (msgs.size() < max) {
    msgs.resize(max);
    segs.resize(max);
    cmsgs.resize(max);
  }
  size_t nmsg = 0;
  for (size_t i = 0; i < max;) {
    size_t j = i + 1;
    size_t bytes = lengths[i];
    if (gso) {
      // (an empty datagram cannot be a segment: it would vanish from the run)
      while (j < max && j - i < kMaxGsoSegs && lengths[j] <= lengths[i] && lengths[j] > 0 && bytes + lengths[j] <= kMaxGsoBytes &&
             lengths[j - 1] == lengths[i]) {
        bytes += lengths[j];
        j++;
      }
    }
    struct mmsghdr& m = msgs[nmsg];
    memset(&m, 0, sizeof m);
    for (size_t k = i; k < j; k++) {
      iovs[k].iov_base = buf + offsets[k];
      iovs[k].iov_len = lengths[k];
    }
    m.msg_hdr.msg_iov = &iovs[i];
    m.msg_hdr.msg_iovlen = j - i;
    m.msg_hdr.msg_name = &to;
    m.msg_hdr.msg_namelen = tolen;
    if (j - i > 1) {
      Cmsg& c = cmsgs[nmsg];
      memset(&c, 0, sizeof c);
      m.msg_hdr.msg_control = c.buf;
      m.msg_hdr.msg_controllen = sizeof c.buf;
      struct cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t sz = static_cast<uint16_t>(lengths[i]);
      memcpy(CMSG_DATA(cm), &sz, sizeof sz);
    }
    segs[nmsg] = static_cast<uint32_t>(j - i);
    nmsg++;
    i = j;
  }

  size_t sent = 0, done = 0;
  while (done < nmsg) {
    size_t n = nmsg - done;
    if (n > kMaxBatch) n = kMaxBatch;
    int r = sendmmsg(static_cast<int>(fd), &msgs[done], static_cast<unsigned>(n), MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAFNOSUPPORT && sent == 0 && !tried_v4) {
        tried_v4 = true;
        if (!mapped) return ThrowErrno(env, EAFNOSUPPORT, "sendmmsg", "IPv6 destination on an IPv4-only socket");
        memset(&to, 0, sizeof to);
        auto* a = reinterpret_cast<struct sockaddr_in*>(&to);
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, dest + 12, 4);
        memcpy(&a->sin_port, dest + 16, 2);
        tolen = sizeof *a;
        for (size_t k = 0; k < nmsg; k++) msgs[k].msg_hdr.msg_namelen = tolen;
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) break;
      if (sent == 0) return ThrowErrno(env, err, "sendmmsg");
      break;
    }
    for (int k = 0; k < r; k++) sent += segs[done + k];
    done += static_cast<size_t>(r);
    if (r == 0) break;
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

// udpSendMany(fd, buf, offsets, lengths, count, dests): datagram i to the 18-byte
// endpoint at dests[18*i], all in one sendmmsg (handshake responses and cookie replies
// of one event-loop turn go to as many peers). Returns how many were sent, stopping at
// EAGAIN/ENOBUFS; other errors throw only if nothing was sent. A datagram the socket
// cannot address (IPv6 on an IPv4-only socket) is skipped, not sent.
static Napi::Value UdpSendMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SendArgs a;
  if (!ArgSend(info, "dests", &a)) return env.Undefined();
  const WriteBatch& w = a.w;
  const uint8_t* dests = a.dest;
  if (a.destlen < w.count * 18) return ThrowType(env, "dests must hold 18 bytes per datagram");
  if (w.count == 0) return Napi::Number::New(env, 0);
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  int family = AF_INET6;
  socklen_t fl = sizeof family;
  if (getsockopt(w.fd, SOL_SOCKET, SO_DOMAIN, &family, &fl) != 0) return ThrowErrno(env, errno, "getsockopt");
  thread_local std::vector<struct mmsghdr> msgs;
  thread_local std::vector<struct iovec> iovs;
  thread_local std::vector<struct sockaddr_storage> addrs;
  if (msgs.size() < w.count) {
    msgs.resize(w.count);
    iovs.resize(w.count);
    addrs.resize(w.count);
  }
  size_t n = 0;
  for (size_t i = 0; i < w.count; i++) {
    const uint8_t* d = dests + 18 * i;
    struct sockaddr_storage& to = addrs[n];
    memset(&to, 0, sizeof to);
    socklen_t tolen;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<struct sockaddr_in6*>(&to);
      a->sin6_family = AF_INET6;
      memcpy(&a->sin6_addr, d, 16);
      memcpy(&a->sin6_port, d + 16, 2);
      tolen = sizeof *a;
    } else if (memcmp(d, kMapped, 12) == 0) {
      auto* a = reinterpret_cast<struct sockaddr_in*>(&to);
      a->sin_family = AF_INET;
      memcpy(&a->sin_addr, d + 12, 4);
      memcpy(&a->sin_port, d + 16, 2);
      tolen = sizeof *a;
    } else {
      continue;
    }
    iovs[n].iov_base = w.buf + w.offsets[i];
    iovs[n].iov_len = w.lengths[i];
    struct mmsghdr& m = msgs[n];
    memset(&m, 0, sizeof m);
    m.msg_hdr.msg_iov = &iovs[n];
    m.msg_hdr.msg_iovlen = 1;
    m.msg_hdr.msg_name = &to;
    m.msg_hdr.msg_namelen = tolen;
    n++;
  }
  size_t sent = 0;
  while (sent < n) {
    size_t k = n - sent;
    if (k > kMaxBatch) k = kMaxBatch;
    int r = sendmmsg(w.fd, &msgs[sent], static_cast<unsigned>(k), MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) break;
      if (sent == 0) return ThrowErrno(env, err, "sendmmsg");
      break;
    }
    if (r == 0) break;
    sent += static_cast<size_t>(r);
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

// udpProbeGso(fd): whether the kernel knows UDP_SEGMENT.
static Napi::Value UdpProbeGso(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return env.Undefined();
  int v = 0;
  socklen_t l = sizeof v;
  // getsockopt(UDP_SEGMENT) exists exactly when the kernel knows UDP GSO.
  return Napi::Boolean::New(env, getsockopt(static_cast<int>(fd), SOL_UDP, UDP_SEGMENT, &v, &l) == 0);
}

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("udpSetMark", Napi::Function::New(env, UdpSetMark, "udpSetMark"));
  exports.Set("udpSetTtl", Napi::Function::New(env, UdpSetTtl, "udpSetTtl"));
  exports.Set("udpRecv", Napi::Function::New(env, UdpRecv, "udpRecv"));
  exports.Set("udpSend", Napi::Function::New(env, UdpSend, "udpSend"));
  exports.Set("udpSendMany", Napi::Function::New(env, UdpSendMany, "udpSendMany"));
  exports.Set("udpProbeGso", Napi::Function::New(env, UdpProbeGso, "udpProbeGso"));
}

}  // namespace weft
