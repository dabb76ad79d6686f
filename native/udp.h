// Shared by udp.cc and udp-gro.cc (Linux).
#pragma once
#include "common.h"

#include <sys/socket.h>

namespace weft {

// A socket address as the 18-byte endpoint form: IPv6 (IPv4 as ::ffff:a.b.c.d), port big-endian.
void ToEndpoint(const struct sockaddr_storage& ss, uint8_t* out);

// Message m of a recvmmsg: one buffer, the source address into addr.
void PrepRecv(struct mmsghdr& m, struct iovec& iov, uint8_t* base, size_t len, struct sockaddr_storage& addr);

// recvmmsg errors that mean "nothing now" (an ICMP error queued by an earlier send included).
inline bool RecvNothing(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

}  // namespace weft
