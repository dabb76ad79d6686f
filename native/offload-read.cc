// TUN offloads, the read side (Linux): see offload.cc for the interface.
#include "offload.h"

#include <unistd.h>

namespace weft {

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

// Cuts a super-packet (hl header bytes, then the payload) into gso_size pieces from
// segment *seg on, one slot each: headers copied, IP length (and IPv4 ID and header
// checksum) set, then fix(slot, l4 header, segment, count, payload offset, size) for the
// transport header. Same contract as Emit.
template <typename FixL4>
static bool Split(const uint8_t* pkt, size_t len, bool v6, size_t iphl, size_t hl, size_t gso_size, ReadTarget& t,
                  uint32_t* seg, FixL4 fix) {
  const size_t payload = len - hl;
  const size_t nseg = payload == 0 ? 1 : (payload + gso_size - 1) / gso_size;
  const uint16_t id = Be16(pkt + 4);
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
      PutBe16(p + 4, static_cast<uint16_t>(hl - 40 + chunk));
    }
    fix(p, p + iphl, s, nseg, off, chunk);
    Commit(t, hl + chunk);
  }
  *seg = 0;
  return true;
}

// A USO super-packet (gso_type UDP_L4): datagrams of gso_size payload bytes, each with
// its own IP length/ID and UDP length, and a full UDP checksum. Same contract as Emit.
static bool EmitUdp(uint8_t* pkt, size_t len, size_t gso_size, size_t cs, ReadTarget& t, uint32_t* seg, uint32_t* dropped) {
  const bool v6 = len >= 1 && (pkt[0] >> 4) == 6;
  size_t iphl = 0;
  bool ok = gso_size > 0 && len >= 28;
  if (ok && !v6) {
    iphl = static_cast<size_t>(pkt[0] & 15) * 4;
    ok = (pkt[0] >> 4) == 4 && iphl >= 20 && pkt[9] == IPPROTO_UDP;
  } else if (ok) {
    iphl = 40;
    ok = len >= 48 && pkt[6] == IPPROTO_UDP;
  }
  const size_t hl = iphl + 8;
  ok = ok && cs == iphl && hl <= len && hl + gso_size <= t.room;
  if (!ok) {
    (*dropped)++;
    return true;
  }
  return Split(pkt, len, v6, iphl, hl, gso_size, t, seg, [v6](uint8_t* p, uint8_t* uh, size_t, size_t, size_t, size_t chunk) {
    const uint32_t l4 = static_cast<uint32_t>(8 + chunk);
    PutBe16(uh + 4, static_cast<uint16_t>(l4));
    uh[6] = uh[7] = 0;
    const uint16_t sum = static_cast<uint16_t>(~Fold(Sum(uh, l4, Pseudo(p, v6, l4, IPPROTO_UDP))));
    StoreSum(uh + 6, sum == 0 ? 0xffff : sum);  // 0 means "no checksum" in UDP
  });
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
    const uint32_t seq = Be32(pkt + iphl + 4);
    const uint8_t tflags = pkt[iphl + 13];
    return Split(pkt, len, v6, iphl, hl, gso_size, t, seg, [&](uint8_t* p, uint8_t* th, size_t s, size_t nseg, size_t off, size_t chunk) {
      PutBe32(th + 4, seq + static_cast<uint32_t>(off));
      uint8_t f = tflags;
      if (s + 1 < nseg) f &= static_cast<uint8_t>(~(0x01 | 0x08));  // FIN, PSH only on the last
      if (s > 0) f &= static_cast<uint8_t>(~0x80);                  // CWR only on the first
      th[13] = f;
      th[16] = th[17] = 0;
      const uint32_t l4 = static_cast<uint32_t>(thl + chunk);
      StoreSum(th + 16, static_cast<uint16_t>(~Fold(Sum(th, l4, Pseudo(p, v6, l4, IPPROTO_TCP)))));
    });
  }
  if (gso == VIRTIO_NET_HDR_GSO_UDP_L4) return EmitUdp(pkt, len, gso_size, cs, t, seg, dropped);
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

Napi::Value TunReadV(const Napi::CallbackInfo& info) {
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

}  // namespace weft
