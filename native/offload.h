// Shared by the TUN offload files (offload-read.cc, offload.cc): the virtio_net_hdr
// layout and Internet checksum arithmetic.
#pragma once
#include "common.h"

#include <netinet/in.h>

namespace weft {

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++): flags,
// gso_type, then hdr_len, gso_size, csum_start, csum_offset as host-order u16.
inline constexpr size_t kVnetHdr = 10;
inline constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;
inline constexpr int kMaxCoalesce = 64;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// Internet checksum arithmetic on native-order words: the folded sum, stored with memcpy,
// has the right bytes in memory whatever the host byte order (RFC 1071 §2(B)).
inline uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
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
inline uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
inline uint64_t NetWord(uint16_t v) {  // a big-endian 16-bit field as a native-order word
  uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  uint16_t w;
  memcpy(&w, b, 2);
  return w;
}
inline void StoreSum(uint8_t* field, uint16_t v) { memcpy(field, &v, 2); }

// Pseudo-header sum for TCP or UDP over l4len bytes; ip points at the IP header.
inline uint64_t Pseudo(const uint8_t* ip, bool v6, uint32_t l4len, uint8_t proto) {
  uint64_t acc = v6 ? Sum(ip + 8, 32, 0) : Sum(ip + 12, 8, 0);
  return acc + NetWord(proto) + NetWord(static_cast<uint16_t>(l4len >> 16)) + NetWord(static_cast<uint16_t>(l4len));
}

inline void Ip4Checksum(uint8_t* ip, size_t ihl) {
  ip[10] = ip[11] = 0;
  StoreSum(ip + 10, static_cast<uint16_t>(~Fold(Sum(ip, ihl, 0))));
}
}  // namespace weft
