// TUN offloads (Linux): reads and writes on a TUN opened with IFF_VNET_HDR, where every
// packet is preceded by a 10-byte virtio_net_hdr.
//
//   tunReadV(fd, scratch, buf, slotSize, headroom, maxCount, lengths, offsets, state: Uint32Array(3)): number
//     Like tunRead, but each read() goes to `scratch` (>= 65546 bytes). A TSO super-packet
//     (gso_type TCPV4/TCPV6) is split into MSS-sized TCP segments, one per slot, with IP
//     lengths/IDs, sequence numbers, flags and checksums rewritten; a packet that asks for
//     checksum completion (NEEDS_CSUM) gets it. When the batch fills in the middle of a
//     super-packet, the rest stays in scratch: state[0] = its size (0 = none pending),
//     state[1] = next segment; the next call continues there. state[2] counts dropped
//     (truncated or malformed) reads.
//   tunWriteV(fd, buf, offsets /*absolute*/, lengths, count): number
//     Writes the packets with a virtio_net_hdr each. Runs of TCP segments of one flow (in
//     sequence, same ACK/window/options, equal sizes but the last) are coalesced
//     GRO-style into one super-packet (gso_type TCPV4/TCPV6, checksum left partial) and
//     written with one writev() straight from the slots; the first segment's headers are
//     edited in place. Up to 8 flows are followed at once, so interleaved streams
//     coalesce; a super-packet goes out at its first segment's place, which reorders
//     packets of different flows but never those of one. Returns how many packets were
//     written.
//
// The ideas follow wireguard-go's tun/offload_linux.go; this is an independent
// implementation.
#include "common.h"

#include <netinet/in.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vector>

namespace weft {

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++): flags,
// gso_type, then hdr_len, gso_size, csum_start, csum_offset as host-order u16.
static const size_t kVnetHdr = 10;
static const uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
static const uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
static const uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
static const uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
static const uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;
static const int kMaxCoalesce = 64;

static inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
static inline uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
static inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
static inline void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
static inline uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// Internet checksum arithmetic on native-order words: the folded sum, stored with memcpy,
// has the right bytes in memory whatever the host byte order (RFC 1071 §2(B)).
static inline uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
  while (len >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    acc += static_cast<uint64_t>(a) + b;
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t a;
    memcpy(&a, p, 4);
    acc += a;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t a;
    memcpy(&a, p, 2);
    acc += a;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint8_t last[2] = {p[0], 0};
    uint16_t a;
    memcpy(&a, last, 2);
    acc += a;
  }
  return acc;
}
static inline uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
static inline uint64_t NetWord(uint16_t v) {  // a big-endian 16-bit field as a native-order word
  uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  uint16_t w;
  memcpy(&w, b, 2);
  return w;
}
static inline void StoreSum(uint8_t* field, uint16_t v) { memcpy(field, &v, 2); }

// Pseudo-header sum for TCP (proto 6) over l4len bytes; ip points at the IP header.
static inline uint64_t Pseudo(const uint8_t* ip, bool v6, uint32_t l4len, uint8_t proto) {
  uint64_t acc = v6 ? Sum(ip + 8, 32, 0) : Sum(ip + 12, 8, 0);
  return acc + NetWord(proto) + NetWord(static_cast<uint16_t>(l4len >> 16)) + NetWord(static_cast<uint16_t>(l4len));
}

static inline void Ip4Checksum(uint8_t* ip, size_t ihl) {
  ip[10] = ip[11] = 0;
  StoreSum(ip + 10, static_cast<uint16_t>(~Fold(Sum(ip, ihl, 0))));
}

// ---------------------------------------------------------------- read + split

struct ReadTarget {
  uint8_t* buf;
  size_t slot, headroom, room, max;
  uint32_t *lengths, *offsets;
  size_t n;
};

static inline uint8_t* NextSlot(ReadTarget& t) { return t.buf + t.n * t.slot + t.headroom; }
static inline void Commit(ReadTarget& t, size_t len) {
  t.lengths[t.n] = static_cast<uint32_t>(len);
  t.offsets[t.n] = static_cast<uint32_t>(t.headroom);
  t.n++;
}

// Emits the packet in scratch (after its vnet header) into slots, from segment *seg on.
// Returns false when the batch filled first (the rest stays pending), true when done
// (including when the packet was dropped; *dropped is then incremented).
static bool Emit(const uint8_t* raw, size_t rawlen, ReadTarget& t, uint32_t* seg, uint32_t* dropped) {
  if (rawlen < kVnetHdr + 1) {
    (*dropped)++;
    return true;
  }
  const uint8_t flags = raw[0];
  const uint8_t gso = raw[1] & static_cast<uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
  const size_t gso_size = Le16(raw + 4), cs = Le16(raw + 6), co = Le16(raw + 8);
  uint8_t* pkt = const_cast<uint8_t*>(raw + kVnetHdr);
  const size_t len = rawlen - kVnetHdr;

  if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
    const bool v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
    bool ok = gso_size > 0 && len >= 20;
    size_t iphl = 0;
    if (ok && !v6) {
      iphl = static_cast<size_t>(pkt[0] & 15) * 4;
      ok = (pkt[0] >> 4) == 4 && iphl >= 20 && pkt[9] == IPPROTO_TCP && cs == iphl;
    } else if (ok) {
      iphl = 40;
      ok = len >= 40 && (pkt[0] >> 4) == 6 && pkt[6] == IPPROTO_TCP && cs == 40;
    }
    ok = ok && len >= iphl + 20;
    const size_t thl = ok ? static_cast<size_t>(pkt[iphl + 12] >> 4) * 4 : 0;
    const size_t hl = iphl + thl;
    ok = ok && thl >= 20 && hl <= len && hl + gso_size <= t.room;
    if (!ok) {
      (*dropped)++;
      return true;
    }
    const size_t payload = len - hl;
    const size_t nseg = payload == 0 ? 1 : (payload + gso_size - 1) / gso_size;
    const uint16_t id = Be16(pkt + 4);
    const uint32_t seq = Be32(pkt + iphl + 4);
    const uint8_t tflags = pkt[iphl + 13];
    for (size_t s = *seg; s < nseg; s++) {
      if (t.n >= t.max) {
        *seg = static_cast<uint32_t>(s);
        return false;
      }
      const size_t off = s * gso_size;
      const size_t chunk = payload - off < gso_size ? payload - off : gso_size;
      uint8_t* p = NextSlot(t);
      memcpy(p, pkt, hl);
      memcpy(p + hl, pkt + hl + off, chunk);
      if (!v6) {
        PutBe16(p + 2, static_cast<uint16_t>(hl + chunk));
        PutBe16(p + 4, static_cast<uint16_t>(id + s));
        Ip4Checksum(p, iphl);
      } else {
        PutBe16(p + 4, static_cast<uint16_t>(thl + chunk));
      }
      uint8_t* th = p + iphl;
      PutBe32(th + 4, seq + static_cast<uint32_t>(off));
      uint8_t f = tflags;
      if (s + 1 < nseg) f &= static_cast<uint8_t>(~(0x01 | 0x08));  // FIN, PSH only on the last
      if (s > 0) f &= static_cast<uint8_t>(~0x80);                  // CWR only on the first
      th[13] = f;
      th[16] = th[17] = 0;
      const uint32_t l4 = static_cast<uint32_t>(thl + chunk);
      StoreSum(th + 16, static_cast<uint16_t>(~Fold(Sum(th, l4, Pseudo(p, v6, l4, IPPROTO_TCP)))));
      Commit(t, hl + chunk);
    }
    *seg = 0;
    return true;
  }
  if (gso != VIRTIO_NET_HDR_GSO_NONE || len > t.room) {
    (*dropped)++;
    return true;
  }
  if (t.n >= t.max) return false;
  uint8_t* p = NextSlot(t);
  memcpy(p, pkt, len);
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && cs + co + 2 <= len) {
    // The field holds the pseudo-header sum; the checksum covers csum_start..end.
    StoreSum(p + cs + co, static_cast<uint16_t>(~Fold(Sum(p + cs, len - cs, 0))));
  }
  Commit(t, len);
  return true;
}

static Napi::Value TunReadV(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slot, headroom, maxCount;
  uint8_t *scratch, *buf;
  size_t scratchlen, buflen, nlen, noff, nstate;
  uint32_t *lengths, *offsets, *state;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd) || !ArgBytes(info, 1, "scratch", &scratch, &scratchlen) ||
      !ArgBytes(info, 2, "buf", &buf, &buflen) || !ArgInt(info, 3, "slotSize", 1, UINT32_MAX, &slot) ||
      !ArgInt(info, 4, "headroom", 0, UINT32_MAX, &headroom) || !ArgInt(info, 5, "maxCount", 0, UINT32_MAX, &maxCount) ||
      !ArgU32Array(info, 6, "lengths", &lengths, &nlen) || !ArgU32Array(info, 7, "offsets", &offsets, &noff) ||
      !ArgU32Array(info, 8, "state", &state, &nstate))
    return env.Undefined();
  if (headroom >= slot) return ThrowType(env, "headroom must be smaller than slotSize");
  if (nstate < 3) return ThrowType(env, "state must have 3 elements");
  if (scratchlen < 65535 + kVnetHdr + 1) return ThrowType(env, "scratch must be at least 65546 bytes");
  ReadTarget t;
  t.buf = buf;
  t.slot = static_cast<size_t>(slot);
  t.headroom = static_cast<size_t>(headroom);
  t.room = t.slot - t.headroom;
  t.max = static_cast<size_t>(maxCount);
  if (t.max > nlen) t.max = nlen;
  if (t.max > noff) t.max = noff;
  if (t.max > buflen / t.slot) t.max = buflen / t.slot;
  t.lengths = lengths;
  t.offsets = offsets;
  t.n = 0;
  if (state[0] > scratchlen) state[0] = 0;
  while (t.n < t.max) {
    if (state[0] == 0) {
      ssize_t r = ::read(static_cast<int>(fd), scratch, scratchlen);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || t.n > 0) break;
        return ThrowErrno(env, errno, "read");
      }
      if (r == 0) break;
      if (static_cast<size_t>(r) >= scratchlen) {  // truncated
        state[2]++;
        continue;
      }
      state[0] = static_cast<uint32_t>(r);
      state[1] = 0;
    }
    if (!Emit(scratch, state[0], t, &state[1], &state[2])) break;
    state[0] = 0;
  }
  return Napi::Number::New(env, static_cast<double>(t.n));
}

// ---------------------------------------------------------------- coalesce + write

struct Seg {
  uint8_t* p;
  size_t len, iphl, thl, hl, payload;
  bool v6;
  uint32_t seq;
  uint8_t flags;
};

// Parses a plain TCP segment (IPv4 without options or fragmentation, or IPv6 without
// extension headers) that could take part in coalescing.
static bool ParseTcp(uint8_t* p, size_t len, Seg* s) {
  if (len < 40) return false;
  const int v = p[0] >> 4;
  if (v == 4) {
    if ((p[0] & 15) != 5 || p[9] != IPPROTO_TCP || Be16(p + 2) != len || (Be16(p + 6) & 0x3fff) != 0) return false;
    s->iphl = 20;
    s->v6 = false;
  } else if (v == 6) {
    if (len < 60 || p[6] != IPPROTO_TCP || static_cast<size_t>(Be16(p + 4)) + 40 != len) return false;
    s->iphl = 40;
    s->v6 = true;
  } else {
    return false;
  }
  s->thl = static_cast<size_t>(p[s->iphl + 12] >> 4) * 4;
  s->hl = s->iphl + s->thl;
  if (s->thl < 20 || s->hl > len) return false;
  s->p = p;
  s->len = len;
  s->payload = len - s->hl;
  s->seq = Be32(p + s->iphl + 4);
  s->flags = p[s->iphl + 13];
  return true;
}

// Whether b can follow a in one super-packet (same flow and headers but length/seq/ID/flags).
static bool SameFlow(const Seg& a, const Seg& b) {
  if (a.v6 != b.v6 || a.thl != b.thl) return false;
  const uint8_t *x = a.p, *y = b.p;
  if (!a.v6) {
    if (x[1] != y[1] || x[8] != y[8] || (x[6] & 0x40) != (y[6] & 0x40) || memcmp(x + 12, y + 12, 8) != 0) return false;
  } else {
    if (memcmp(x, y, 4) != 0 || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return false;
  }
  const uint8_t *tx = x + a.iphl, *ty = y + b.iphl;
  // ports; ACK number; data offset; window; options (the kernel's GRO rules)
  return memcmp(tx, ty, 4) == 0 && memcmp(tx + 8, ty + 8, 5) == 0 && memcmp(tx + 14, ty + 14, 2) == 0 &&
         memcmp(tx + 20, ty + 20, a.thl - 20) == 0;
}

static const uint8_t kAck = 0x10, kPsh = 0x08;

// The same connection (addresses and ports): what decides whether a segment may go into
// an earlier super-packet without reordering its own flow.
static bool SameConn(const Seg& a, const Seg& b) {
  if (a.v6 != b.v6) return false;
  const bool addrs = a.v6 ? memcmp(a.p + 8, b.p + 8, 32) == 0 : memcmp(a.p + 12, b.p + 12, 8) == 0;
  return addrs && memcmp(a.p + a.iphl, b.p + b.iphl, 4) == 0;
}

// A super-packet being built: its first segment and where the run stands.
struct Group {
  Seg first;
  size_t last;  // index of the newest member (members are chained through Chain::next)
  size_t members, total, lastPayload;
  uint32_t nextSeq;
  bool lastPsh;
};

// Whether s (same connection) continues g.
static bool Continues(const Group& g, const Seg& s) {
  const size_t mss = g.first.payload;
  const size_t limit = 65535 - (g.first.v6 ? g.first.thl : g.first.hl);
  return g.members < static_cast<size_t>(kMaxCoalesce) && g.lastPayload == mss && !g.lastPsh &&
         (s.flags == kAck || s.flags == (kAck | kPsh)) && s.payload > 0 && s.payload <= mss && s.seq == g.nextSeq &&
         g.total + s.payload <= limit && SameFlow(g.first, s);
}

// Turns the group's first segment into the super-packet header and fills vh.
static void SuperHeader(const Group& g, uint8_t* vh) {
  const Seg& f = g.first;
  uint8_t* p = f.p;
  uint8_t* th = p + f.iphl;
  if (!f.v6) {
    PutBe16(p + 2, static_cast<uint16_t>(f.hl + g.total));
    Ip4Checksum(p, f.iphl);
  } else {
    PutBe16(p + 4, static_cast<uint16_t>(f.thl + g.total));
  }
  if (g.lastPsh) th[13] |= kPsh;
  const uint32_t l4 = static_cast<uint32_t>(f.thl + g.total);
  StoreSum(th + 16, Fold(Pseudo(p, f.v6, l4, IPPROTO_TCP)));  // partial: the kernel completes it
  vh[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh[1] = f.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  const uint16_t fields[4] = {static_cast<uint16_t>(f.hl), static_cast<uint16_t>(f.payload), static_cast<uint16_t>(f.iphl), 16};
  for (int k = 0; k < 4; k++) {
    vh[2 + 2 * k] = static_cast<uint8_t>(fields[k]);
    vh[3 + 2 * k] = static_cast<uint8_t>(fields[k] >> 8);
  }
}

// Per packet: -1 written on its own, -2 a member written with an earlier packet, else the
// index of the group it heads; next chains a group's members.
struct Chain {
  int32_t role;
  int32_t next;
};
static const size_t kOpenFlows = 8;

static Napi::Value TunWriteV(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriteBatch w;
  if (!ArgWriteBatch(info, &w)) return env.Undefined();
  uint8_t* buf = w.buf;
  uint32_t *lengths = w.lengths, *offsets = w.offsets;
  const size_t max = w.count;
  thread_local std::vector<Chain> chain;
  thread_local std::vector<Group> groups;
  thread_local std::vector<Seg> segs;
  if (chain.size() < max) {
    chain.resize(max);
    segs.resize(max);
  }
  groups.clear();

  // Pass 1: runs of in-order segments per connection, up to kOpenFlows connections open
  // at once, so interleaved flows (several TCP streams) coalesce too. A segment that does
  // not continue its connection's run closes it: a flow is never reordered.
  size_t open[kOpenFlows];
  size_t nopen = 0, oldest = 0;
  for (size_t i = 0; i < max; i++) {
    chain[i].role = -1;
    chain[i].next = -1;
    Seg& s = segs[i];
    if (lengths[i] == 0 || !ParseTcp(buf + offsets[i], lengths[i], &s)) continue;
    size_t k = 0;
    while (k < nopen && !SameConn(groups[open[k]].first, s)) k++;
    if (k < nopen) {
      Group& g = groups[open[k]];
      if (Continues(g, s)) {
        chain[g.last].next = static_cast<int32_t>(i);
        chain[i].role = -2;
        g.last = i;
        g.members++;
        g.total += s.payload;
        g.nextSeq += static_cast<uint32_t>(s.payload);
        g.lastPayload = s.payload;
        g.lastPsh = (s.flags & kPsh) != 0;
        continue;
      }
      open[k] = open[--nopen];  // closed
    }
    if (s.payload == 0 || s.flags != kAck) continue;
    if (nopen == kOpenFlows) {  // evict in turn: the table stays small
      open[oldest] = open[--nopen];
      oldest = (oldest + 1) % kOpenFlows;
    }
    chain[i].role = static_cast<int32_t>(groups.size());
    groups.push_back(Group{s, i, 1, s.payload, s.payload, s.seq + static_cast<uint32_t>(s.payload), false});
    open[nopen++] = groups.size() - 1;
  }

  // Pass 2: in order of each write's first packet.
  size_t written = 0;
  struct iovec iov[kMaxCoalesce + 1];
  uint8_t vh[kVnetHdr];
  for (size_t i = 0; i < max; i++) {
    if (lengths[i] == 0 || chain[i].role == -2) continue;
    memset(vh, 0, sizeof vh);
    iov[0].iov_base = vh;
    iov[0].iov_len = kVnetHdr;
    iov[1].iov_base = buf + offsets[i];
    iov[1].iov_len = lengths[i];
    int niov = 2;
    size_t members = 1;
    if (chain[i].role >= 0 && groups[static_cast<size_t>(chain[i].role)].members > 1) {
      const Group& g = groups[static_cast<size_t>(chain[i].role)];
      for (int32_t j = chain[i].next; j >= 0; j = chain[static_cast<size_t>(j)].next) {
        const Seg& s = segs[static_cast<size_t>(j)];
        iov[niov].iov_base = s.p + s.hl;
        iov[niov].iov_len = s.payload;
        niov++;
      }
      members = g.members;
      SuperHeader(g, vh);
    }
    ssize_t r;
    do {
      r = ::writev(w.fd, iov, niov);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      if (errno != EINVAL) {
        if (written == 0) return ThrowErrno(env, errno, "writev");
        break;
      }
    } else {
      written += members;
    }
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

void InitOffload(Napi::Env env, Napi::Object exports) {
  exports.Set("tunReadV", Napi::Function::New(env, TunReadV, "tunReadV"));
  exports.Set("tunWriteV", Napi::Function::New(env, TunWriteV, "tunWriteV"));
}

}  // namespace weft
