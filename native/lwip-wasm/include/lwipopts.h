/* lwIP options for the WebAssembly build of the userspace stack (native/lwip-wasm).
 * The TCP tuning matches Debian's liblwip (the weft_lwip addon) so both stacks behave the
 * same on the wire; the rest is what a raw-API, single-threaded, point-to-point IP
 * interface needs: no OS (NO_SYS), no Ethernet/ARP, no sockets or netconn API. */
#ifndef WEFT_LWIPOPTS_H
#define WEFT_LWIPOPTS_H

#define NO_SYS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define SYS_LIGHTWEIGHT_PROT 0

/* wasi-libc's malloc (linear memory grows on demand) for the heap and every pool. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_USE_POOLS 0
#define MEM_ALIGNMENT 4
/* Counted, so the bench can report lwIP's bytes per connection (glue.c wl_heap_bytes). */
#include <stddef.h>
void *weft_malloc(size_t size);
void weft_free(void *p);
#define mem_clib_malloc weft_malloc
#define mem_clib_free weft_free

#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1

/* TCP tuning: as Debian's lwipopts.h. */
#define TCP_MSS 1460
#define TCP_WND 0xFFFF
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 0x1
#define TCP_SND_BUF TCP_WND
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#define LWIP_TCP_KEEPALIVE 1
/* Random initial sequence numbers (lwIP's default counts up from a constant). */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) (weft_rand())
#define LWIP_CHECKSUM_ON_COPY 1
/* The MSS we announce and use follows the interface MTU (1420 -> 1380 / 1360). */
#define TCP_CALCULATE_EFF_SEND_MSS 1

#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0

#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IPV4 1
#define LWIP_ICMP 1
#define LWIP_IGMP 0
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_UDPLITE 0
#define LWIP_TCP 1
#define LWIP_IPV6 1
#define LWIP_ICMP6 1
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG 1
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0

#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_SINGLE_NETIF 1

#define LWIP_NOASSERT_ON_ERROR 1

#endif
