// UDP receive with UDP_GRO (Linux >= 5.0): the kernel hands over runs of datagrams of
// one flow as one buffer plus the segment size, and they are split here into the same
// one-datagram-per-slot batch udpRecv produces.
//
//   udpSetGro(fd, on: boolean): boolean   (false: the kernel does not know UDP_GRO)
//   udpRecvGro(fd, buf, slotSize, maxCount, lengths, sources, scratch, state: Uint32Array): number
//
// scratch holds M = scratch.length / kGroMsgBytes coalesced messages (M <= kMaxGroMsgs):
// M * 65536 bytes of data, then M 18-byte endpoints. state: [0] messages held from the
// last recvmmsg, [1] next message to split, [2] byte offset of its next segment, [3]
// segments dropped (a truncated message, or a segment longer than slotSize), then per
// message its length and gso_size (0: a single datagram). What does not fit the batch
// stays in scratch for the next call, like tunReadV's pending super-packet. Without a
// gso_size cmsg a message is one datagram, so this also works when GRO is off.
#include "udp.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace weft {

static const size_t kGroData = 65536;                 // the largest UDP payload, rounded up
static const size_t kGroMsgBytes = kGroData + 18;     // data plus its endpoint
static const size_t kMaxGroMsgs = 64;
static const size_t kStateHead = 4;

static Napi::Value UdpSetGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return env.Undefined();
  int on = info.Length() > 1 && info[1].ToBoolean().Value() ? 1 : 0;
  if (setsockopt(static_cast<int>(fd), SOL_UDP, UDP_GRO, &on, sizeof on) == 0) return Napi::Boolean::New(env, true);
  int err = errno;
  if (err == ENOPROTOOPT || err == EINVAL) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, err, "setsockopt(UDP_GRO)");
}

// One recvmmsg into the scratch messages; returns the count (0 on EAGAIN and the
// transient errors udpRecv also ignores, -1 with errno set otherwise).
static int RecvInto(int fd, uint8_t* scratch, size_t m, uint32_t* meta, uint32_t* dropped) {
  union Cmsg {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  };
  struct mmsghdr msgs[kMaxGroMsgs];
  struct iovec iovs[kMaxGroMsgs];
  struct sockaddr_storage addrs[kMaxGroMsgs];
  Cmsg cms[kMaxGroMsgs];
  for (size_t i = 0; i < m; i++) {
    PrepRecv(msgs[i], iovs[i], scratch + i * kGroData, kGroData, addrs[i]);
    msgs[i].msg_hdr.msg_control = cms[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof cms[i].buf;
  }
  int r;
  do {
    r = recvmmsg(fd, msgs, static_cast<unsigned>(m), MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return RecvNothing(errno) ? 0 : -1;
  uint8_t* eps = scratch + m * kGroData;
  for (int i = 0; i < r; i++) {
    const struct msghdr& h = msgs[i].msg_hdr;
    uint32_t len = msgs[i].msg_len, gso = 0;
    if (h.msg_flags & MSG_TRUNC) {  // cannot be split reliably: drop it whole
      (*dropped)++;
      len = 0xffffffff;
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<struct msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        if (v > 0) gso = static_cast<uint32_t>(v);
      }
    }
    meta[2 * i] = len;
    meta[2 * i + 1] = gso;
    ToEndpoint(addrs[i], eps + static_cast<size_t>(i) * 18);
  }
  return r;
}

static Napi::Value UdpRecvGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slot, maxCount;
  uint8_t *buf, *src, *scratch;
  size_t buflen, nlen, srclen, scratchlen, nstate;
  uint32_t *lengths, *state;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgBytes(info, 1, "buf", &buf, &buflen) ||
      !ArgInt(info, 2, "slotSize", 1, UINT32_MAX, &slot) || !ArgInt(info, 3, "maxCount", 0, UINT32_MAX, &maxCount) ||
      !ArgU32Array(info, 4, "lengths", &lengths, &nlen) || !ArgBytes(info, 5, "sources", &src, &srclen) ||
      !ArgBytes(info, 6, "scratch", &scratch, &scratchlen) || !ArgU32Array(info, 7, "state", &state, &nstate))
    return env.Undefined();
  size_t m = scratchlen / kGroMsgBytes;
  if (m > kMaxGroMsgs) m = kMaxGroMsgs;
  if (m == 0) return ThrowType(env, "scratch must hold at least one 65554-byte message");
  if (nstate < kStateHead + 2 * m) return ThrowType(env, "state must have 4 + 2 * messages elements");
  const size_t slotz = static_cast<size_t>(slot);
  size_t max = static_cast<size_t>(maxCount);
  if (max > nlen) max = nlen;
  if (max > srclen / 18) max = srclen / 18;
  if (max > buflen / slotz) max = buflen / slotz;
  uint32_t* meta = state + kStateHead;
  const uint8_t* eps = scratch + m * kGroData;
  if (state[0] > m || state[1] > state[0]) state[0] = state[1] = state[2] = 0;  // not ours: start over

  size_t out = 0;
  while (out < max) {
    if (state[1] >= state[0]) {
      int r = RecvInto(static_cast<int>(fd), scratch, m, meta, &state[3]);
      if (r < 0) {
        if (out > 0) break;
        state[0] = state[1] = state[2] = 0;
        return ThrowErrno(env, errno, "recvmmsg");
      }
      state[0] = static_cast<uint32_t>(r);
      state[1] = state[2] = 0;
      if (r == 0) break;
    }
    // Split messages into slots until the batch is full.
    while (state[1] < state[0] && out < max) {
      const size_t k = state[1];
      const uint32_t len = meta[2 * k], gso = meta[2 * k + 1];
      size_t off = state[2];
      size_t seg = len == 0xffffffff ? 0 : len - off;
      if (gso != 0 && seg > gso) seg = gso;
      if (len == 0xffffffff) {
        off = 0;  // dropped when received
      } else if (seg > slotz) {
        state[3]++;
        off += seg;
      } else {
        memcpy(buf + out * slotz, scratch + k * kGroData + off, seg);
        lengths[out] = static_cast<uint32_t>(seg);
        memcpy(src + out * 18, eps + k * 18, 18);
        out++;
        off += seg;
      }
      if (len == 0xffffffff || off >= len) {
        state[1]++;
        state[2] = 0;
      } else {
        state[2] = static_cast<uint32_t>(off);
      }
    }
    // A short recvmmsg means the socket is drained: skip the syscall that would say so.
    if (state[1] >= state[0] && state[0] < m) break;
  }
  return Napi::Number::New(env, static_cast<double>(out));
}

void InitUdpGro(Napi::Env env, Napi::Object exports) {
  exports.Set("udpSetGro", Napi::Function::New(env, UdpSetGro, "udpSetGro"));
  exports.Set("udpRecvGro", Napi::Function::New(env, UdpRecvGro, "udpRecvGro"));
  exports.Set("udpGroMessageBytes", Napi::Number::New(env, static_cast<double>(kGroMsgBytes)));
}

}  // namespace weft
