#!/bin/sh
# Builds native/lwip-wasm/lwip.wasm: the vendored lwIP, native/lwip-core.c and glue.c, for the userspace stack
# without a native addon. The .wasm is committed, so installs need no clang; run this
# (`npm run build:wasm`) after changing lwip-core.c, glue.c, lwipopts.h or the vendored lwIP.
# Needs clang and wasm-ld (LLVM >= 14) and wasi-libc (Debian: clang lld wasi-libc).
# OUT=path writes elsewhere (the unit test rebuilds and compares: the build is reproducible).
set -eu
cd "$(dirname "$0")/../native/lwip-wasm"
OUT=${OUT:-lwip.wasm}
CC=${CC:-clang}
SYSROOT=${WASI_SYSROOT:-/usr}
LWIP=vendor/lwip/src
SRCS="glue.c ../lwip-core.c
$LWIP/core/def.c $LWIP/core/inet_chksum.c $LWIP/core/init.c $LWIP/core/ip.c $LWIP/core/mem.c
$LWIP/core/memp.c $LWIP/core/netif.c $LWIP/core/pbuf.c $LWIP/core/tcp.c $LWIP/core/tcp_in.c
$LWIP/core/tcp_out.c $LWIP/core/timeouts.c $LWIP/core/udp.c
$LWIP/core/ipv4/icmp.c $LWIP/core/ipv4/ip4.c $LWIP/core/ipv4/ip4_addr.c $LWIP/core/ipv4/ip4_frag.c
$LWIP/core/ipv6/icmp6.c $LWIP/core/ipv6/inet6.c $LWIP/core/ipv6/ip6.c $LWIP/core/ipv6/ip6_addr.c
$LWIP/core/ipv6/ip6_frag.c $LWIP/core/ipv6/nd6.c $LWIP/core/ipv6/mld6.c"
# -nostartfiles and --no-entry: a library instance (no _start, no WASI imports needed);
# the only imports are the `weft` module's (glue.c IMPORT).
# shellcheck disable=SC2086
"$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -flto -nostdlib \
  -Wall -Wno-unused-parameter -Wno-unused-but-set-variable -Wno-unused-variable \
  -Iinclude -I$LWIP/include \
  -Wl,--no-entry -Wl,--export-dynamic -Wl,--strip-all \
  -Wl,-z,stack-size=262144 -Wl,--initial-memory=4194304 -Wl,--max-memory=1073741824 \
  -o "$OUT.tmp" $SRCS "$SYSROOT/lib/wasm32-wasi/libc.a"
mv "$OUT.tmp" "$OUT"
ls -l "$OUT"
