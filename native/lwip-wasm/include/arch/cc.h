/* lwIP's platform glue for wasm32 (clang + wasi-libc headers, no OS): see glue.c. */
#ifndef WEFT_LWIP_ARCH_CC_H
#define WEFT_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LWIP_NO_STDINT_H 0
#define LWIP_NO_INTTYPES_H 0
#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_TIMEVAL_PRIVATE 0
/* lwIP's own errno values; there is no OS errno to share. */
#define LWIP_PROVIDE_ERRNO 1

typedef unsigned int sys_prot_t;

/* Imported from JS (src/netstack/lwip-wasm.ts): crypto-strength random numbers. */
__attribute__((import_module("weft"), import_name("rand"))) uint32_t weft_rand(void);
#define LWIP_RAND() (weft_rand())

/* An assertion means lwIP's state is broken: report it to JS, then trap (like abort()). */
void weft_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) do { weft_assert((x), __FILE__, __LINE__); __builtin_trap(); } while (0)
#define LWIP_PLATFORM_DIAG(x) do { } while (0)

#define LWIP_ERROR(message, expression, handler) do { if (!(expression)) { handler; } } while (0)

#endif
