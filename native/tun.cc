// TUN device and interface ioctls (Linux).
//
//   tunOpen(name: string, multiQueue?: boolean): { fd: number, name: string }
//   tunRead(fd, buf, slotSize, headroom, maxCount, lengths: Uint32Array, offsets: Uint32Array, stats?: Uint32Array): number
//   tunWrite(fd, buf, offsets: Uint32Array /*absolute*/, lengths: Uint32Array, count): number
//   ifSetMtu(name, mtu): void   ifGetMtu(name): number   ifUp(name): void
#include "common.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TUN_F_USO4  // linux/if_tun.h before 6.2
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

namespace weft {

static Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return env.Undefined();
  if (name.size() >= IFNAMSIZ) return ThrowType(env, "interface name too long (max 15 bytes)");
  bool multi = info.Length() > 1 && info[1].ToBoolean().Value();
  bool vnet = info.Length() > 2 && info[2].ToBoolean().Value();
  const bool wantUso = info.Length() > 3 && info[3].ToBoolean().Value();

  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name.data(), name.size());
  int r = ioctl(fd, TUNSETIFF, &ifr);
  if (r != 0 && vnet && errno == EINVAL) {
    // An existing (persistent) interface created without IFF_VNET_HDR, or an old kernel.
    vnet = false;
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
    r = ioctl(fd, TUNSETIFF, &ifr);
  }
  if (r != 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, err, "ioctl(TUNSETIFF)", name);
  }
  // With a virtio_net_hdr on every packet, ask for checksum and TCP segmentation offload:
  // reads may then return TSO super-packets (split in tunReadV) and writes may carry
  // coalesced ones (tunWriteV). Refused offloads leave plain packets behind the header.
  bool offload = false, uso = false;
  if (vnet) {
    int hdrsz = 10;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) != 0) {
      int err = errno;
      ::close(fd);
      return ThrowErrno(env, err, "ioctl(TUNSETVNETHDRSZ)", name);
    }
    // UDP segmentation (Linux >= 6.2) too when asked and the kernel has it: UDP runs
    // toward the TUN then go as one super-packet each.
    const unsigned tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    uso = wantUso && ioctl(fd, TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) == 0;
    offload = uso || ioctl(fd, TUNSETOFFLOAD, tcp) == 0;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("vnetHdr", Napi::Boolean::New(env, vnet));
  out.Set("offload", Napi::Boolean::New(env, offload));
  out.Set("uso", Napi::Boolean::New(env, uso));
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ))));
  return out;
}

// Reads packets into consecutive slots until EAGAIN or maxCount. Packet i lands at
// i*slotSize + headroom; lengths[i]/offsets[i] (offset relative to the slot) are set.
// Errors other than EAGAIN are thrown only when nothing was read (they recur next call).
// The kernel silently truncates a packet larger than the buffer (MTU raised under us):
// a read that fills the whole slot is dropped and counted in stats[0] if given.
static Napi::Value TunRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slot, headroom, maxCount;
  uint8_t* buf;
  size_t buflen, nlen, noff;
  uint32_t *lengths, *offsets;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgBytes(info, 1, "buf", &buf, &buflen) ||
      !ArgInt(info, 2, "slotSize", 1, UINT32_MAX, &slot) || !ArgInt(info, 3, "headroom", 0, UINT32_MAX, &headroom) ||
      !ArgInt(info, 4, "maxCount", 0, UINT32_MAX, &maxCount) || !ArgU32Array(info, 5, "lengths", &lengths, &nlen) ||
      !ArgU32Array(info, 6, "offsets", &offsets, &noff))
    return env.Undefined();
  uint32_t* stats = nullptr;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    size_t nstats;
    if (!ArgU32Array(info, 7, "stats", &stats, &nstats)) return env.Undefined();
    if (nstats < 1) stats = nullptr;
  }
  if (headroom >= slot) return ThrowType(env, "headroom must be smaller than slotSize");
  size_t max = static_cast<size_t>(maxCount);
  if (max > nlen) max = nlen;
  if (max > noff) max = noff;
  if (max > buflen / static_cast<size_t>(slot)) max = buflen / static_cast<size_t>(slot);
  size_t n = 0;
  const size_t room = static_cast<size_t>(slot - headroom);
  while (n < max) {
    uint8_t* p = buf + n * static_cast<size_t>(slot) + static_cast<size_t>(headroom);
    ssize_t r = ::read(static_cast<int>(fd), p, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || n > 0) break;
      return ThrowErrno(env, errno, "read");
    }
    if (r == 0) break;
    if (static_cast<size_t>(r) >= room) {
      if (stats != nullptr) stats[0]++;
      continue;
    }
    lengths[n] = static_cast<uint32_t>(r);
    offsets[n] = static_cast<uint32_t>(headroom);
    n++;
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// Writes count packets (each at an absolute offset in buf). Stops at EAGAIN/ENOBUFS and
// returns how many were written. A packet the kernel rejects as malformed (EINVAL) is
// skipped. Other errors throw if nothing was written yet, else end the batch early.
static Napi::Value TunWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriteBatch w;
  if (!ArgWriteBatch(info, &w)) return env.Undefined();
  uint8_t* buf = w.buf;
  uint32_t *lengths = w.lengths, *offsets = w.offsets;
  const int fd = w.fd;
  const size_t max = w.count;
  size_t written = 0;
  for (size_t i = 0; i < max; i++) {
    size_t off = offsets[i], len = lengths[i];
    if (len == 0) continue;  // a slot the engine dropped
    ssize_t r;
    do {
      r = ::write(fd, buf + off, len);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
      written++;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    if (errno == EINVAL) continue;
    if (written == 0) return ThrowErrno(env, errno, "write");
    break;
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

static int IfSocket() { return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

static bool IfReq(const Napi::CallbackInfo& info, struct ifreq* ifr) {
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return false;
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowType(info.Env(), "invalid interface name");
    return false;
  }
  memset(ifr, 0, sizeof *ifr);
  memcpy(ifr->ifr_name, name.data(), name.size());
  return true;
}

static Napi::Value DoIoctl(Napi::Env env, unsigned long req, const char* what, struct ifreq* ifr) {
  int s = IfSocket();
  if (s < 0) return ThrowErrno(env, errno, "socket");
  int r = ioctl(s, req, ifr);
  int err = errno;
  ::close(s);
  if (r != 0) return ThrowErrno(env, err, what, ifr->ifr_name);
  return Napi::Value();
}

static Napi::Value IfSetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  int64_t mtu;
  if (!IfReq(info, &ifr) || !ArgInt(info, 1, "mtu", 68, 65535, &mtu)) return env.Undefined();
  ifr.ifr_mtu = static_cast<int>(mtu);
  DoIoctl(env, SIOCSIFMTU, "ioctl(SIOCSIFMTU)", &ifr);
  return env.Undefined();
}

static Napi::Value IfGetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfReq(info, &ifr)) return env.Undefined();
  DoIoctl(env, SIOCGIFMTU, "ioctl(SIOCGIFMTU)", &ifr);
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Number::New(env, ifr.ifr_mtu);
}

static Napi::Value IfUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfReq(info, &ifr)) return env.Undefined();
  int s = IfSocket();
  if (s < 0) return ThrowErrno(env, errno, "socket");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    int err = errno;
    ::close(s);
    return ThrowErrno(env, err, "ioctl(SIOCGIFFLAGS)", ifr.ifr_name);
  }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
    int err = errno;
    ::close(s);
    return ThrowErrno(env, err, "ioctl(SIOCSIFFLAGS)", ifr.ifr_name);
  }
  ::close(s);
  return env.Undefined();
}

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunRead", Napi::Function::New(env, TunRead, "tunRead"));
  exports.Set("tunWrite", Napi::Function::New(env, TunWrite, "tunWrite"));
  InitOffload(env, exports);
  exports.Set("ifSetMtu", Napi::Function::New(env, IfSetMtu, "ifSetMtu"));
  exports.Set("ifGetMtu", Napi::Function::New(env, IfGetMtu, "ifGetMtu"));
  exports.Set("ifUp", Napi::Function::New(env, IfUp, "ifUp"));
}

}  // namespace weft
