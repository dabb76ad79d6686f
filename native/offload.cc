// TUN offloads (Linux): reads (offload-read.cc) and writes on a TUN opened with IFF_VNET_HDR, where every
// packet is preceded by a 10-byte virtio_net_hdr.
//
//   tunReadV(fd, scratch, buf, slotSize, headroom, maxCount, lengths, offsets, state: Uint32Array(3)): number
//     Like tunRead, but each read() goes to `scratch` (>= 65546 bytes). A TSO super-packet
//     (gso_type TCPV4/TCPV6) is split into MSS-sized TCP segments, one per slot, with IP
//     lengths/IDs, sequence numbers, flags and checksums rewritten; a packet that asks for
//     checksum completion (NEEDS_CSUM) gets it. A USO super-packet (gso_type UDP_L4) is
//     split the same way into datagrams with full UDP checksums. When the batch fills in the middle of a
//     super-packet, the rest stays in scratch: state[0] = its size (0 = none pending),
//     state[1] = next segment; the next call continues there. state[2] counts dropped
//     (truncated or malformed) reads.
//   tunWriteV(fd, buf, offsets /*absolute*/, lengths, count, uso?: boolean): number
//     Writes the packets with a virtio_net_hdr each. Runs of TCP segments of one flow (in
//     sequence, same ACK/window/options, equal sizes but the last) are coalesced
//     GRO-style into one super-packet (gso_type TCPV4/TCPV6, checksum left partial) and
//     written with one writev() straight from the slots; the first segment's headers are
//     edited in place. Up to 8 flows are followed at once, so interleaved streams
//     coalesce; a super-packet goes out at its first segment's place, which reorders
//     packets of different flows but never those of one. With uso (the TUN took
//     TUN_F_USO4/6), runs of UDP datagrams of one flow (equal sizes but the last) go the
//     same way as one gso_type UDP_L4 super-packet. Returns how many packets were written.
//
// The ideas follow wireguard-go's tun/offload_linux.go; this is an independent
// implementation.
#include "offload.h"

#include <sys/uio.h>
#include <unistd.h>

#include <vector>

namespace weft {

Napi::Value TunReadV(const Napi::CallbackInfo& info);  // offload-read.cc

// ---------------------------------------------------------------- coalesce + write

struct Seg {
  uint8_t* p;
  size_t len, iphl, thl, hl, payload;  // thl: the TCP header, or 8 for UDP
  bool v6, udp;
  uint32_t seq;
  uint8_t flags;
};

// Parses a plain TCP segment or (with udp) UDP datagram (IPv4 without options or
// fragmentation, or IPv6 without extension headers) that could take part in coalescing.
static bool ParseL4(uint8_t* p, size_t len, bool udp, Seg* s) {
  if (len < 28) return false;
  const int v = p[0] >> 4;
  uint8_t proto;
  if (v == 4) {
    if ((p[0] & 15) != 5 || Be16(p + 2) != len || (Be16(p + 6) & 0x3fff) != 0) return false;
    proto = p[9];
    s->iphl = 20;
    s->v6 = false;
  } else if (v == 6) {
    if (len < 48 || static_cast<size_t>(Be16(p + 4)) + 40 != len) return false;
    proto = p[6];
    s->iphl = 40;
    s->v6 = true;
  } else {
    return false;
  }
  if (proto == IPPROTO_UDP && udp) {
    s->udp = true;
    s->thl = 8;
    if (Be16(p + s->iphl + 4) != len - s->iphl) return false;
  } else if (proto == IPPROTO_TCP && len >= s->iphl + 20) {
    s->udp = false;
    s->thl = static_cast<size_t>(p[s->iphl + 12] >> 4) * 4;
  } else {
    return false;
  }
  s->hl = s->iphl + s->thl;
  if (s->thl < 8 || s->hl > len) return false;
  s->p = p;
  s->len = len;
  s->payload = len - s->hl;
  s->seq = s->udp ? 0 : Be32(p + s->iphl + 4);
  s->flags = s->udp ? 0 : p[s->iphl + 13];
  return true;
}

// Whether b can follow a in one super-packet (same flow and headers but length/seq/ID/flags).
static bool SameFlow(const Seg& a, const Seg& b) {
  if (a.v6 != b.v6 || a.udp != b.udp || a.thl != b.thl) return false;
  const uint8_t *x = a.p, *y = b.p;
  if (!a.v6) {
    if (x[1] != y[1] || x[8] != y[8] || (x[6] & 0x40) != (y[6] & 0x40) || memcmp(x + 12, y + 12, 8) != 0) return false;
  } else {
    if (memcmp(x, y, 4) != 0 || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return false;
  }
  const uint8_t *tx = x + a.iphl, *ty = y + b.iphl;
  if (a.udp) return memcmp(tx, ty, 4) == 0;  // ports
  // ports; ACK number; data offset; window; options (the kernel's GRO rules)
  return memcmp(tx, ty, 4) == 0 && memcmp(tx + 8, ty + 8, 5) == 0 && memcmp(tx + 14, ty + 14, 2) == 0 &&
         memcmp(tx + 20, ty + 20, a.thl - 20) == 0;
}

static const uint8_t kAck = 0x10, kPsh = 0x08;

// The same connection (addresses and ports): what decides whether a segment may go into
// an earlier super-packet without reordering its own flow.
static bool SameConn(const Seg& a, const Seg& b) {
  if (a.v6 != b.v6 || a.udp != b.udp) return false;
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

// Whether s (same connection) continues g. UDP: equal sizes, the last may be shorter.
static bool Continues(const Group& g, const Seg& s) {
  const size_t mss = g.first.payload;
  const size_t limit = 65535 - (g.first.v6 ? g.first.thl : g.first.hl);
  if (g.members >= static_cast<size_t>(kMaxCoalesce) || g.lastPayload != mss) return false;
  if (s.udp) return s.payload > 0 && s.payload <= mss && g.total + s.payload <= limit && SameFlow(g.first, s);
  return !g.lastPsh &&
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
  const uint32_t l4 = static_cast<uint32_t>(f.thl + g.total);
  if (f.udp) {
    PutBe16(th + 4, static_cast<uint16_t>(l4));
    StoreSum(th + 6, Fold(Pseudo(p, f.v6, l4, IPPROTO_UDP)));  // partial, like TCP's
    vh[1] = VIRTIO_NET_HDR_GSO_UDP_L4;
  } else {
    if (g.lastPsh) th[13] |= kPsh;
    StoreSum(th + 16, Fold(Pseudo(p, f.v6, l4, IPPROTO_TCP)));  // partial: the kernel completes it
    vh[1] = f.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  }
  vh[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  const uint16_t fields[4] = {static_cast<uint16_t>(f.hl), static_cast<uint16_t>(f.payload), static_cast<uint16_t>(f.iphl),
                              static_cast<uint16_t>(f.udp ? 6 : 16)};
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
  const bool uso = info.Length() > 5 && info[5].ToBoolean().Value();
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
    if (lengths[i] == 0 || !ParseL4(buf + offsets[i], lengths[i], uso, &s)) continue;
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
    if (s.payload == 0 || (!s.udp && s.flags != kAck)) continue;
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
