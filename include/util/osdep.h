/*
 * coblock — common definitions for every private source file
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Include this first in every .c file of the project (after config.h,
 * which it includes itself).
 */
#ifndef UTIL_OSDEP_H
#define UTIL_OSDEP_H

#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#else
#include <unistd.h>
#endif

#include <coblock/coroutine.h>
#include <coblock/error.h>

/* errno values some platforms lack (mingw). */
#ifndef ENOMEDIUM
#define ENOMEDIUM ENODEV
#endif
#ifndef ENOTSUP
#define ENOTSUP 129
#endif
#ifndef ECANCELED
#define ECANCELED 140
#endif
#ifndef ELOOP
#define ELOOP 114
#endif

/* ---- compiler helpers ---- */

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define QEMU_NORETURN __attribute__((noreturn))
#define QEMU_NOINLINE __attribute__((noinline))
#define QEMU_PACKED __attribute__((packed))
#define QEMU_UNUSED __attribute__((unused))
#define QEMU_WARN_UNUSED_RESULT __attribute__((warn_unused_result))
#define QEMU_FALLTHROUGH __attribute__((fallthrough))
#ifdef __MINGW32__
/* mingw builds use its C99 printf (__USE_MINGW_ANSI_STDIO). */
#define QEMU_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#else
#define QEMU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#endif

/* Thread-local storage.  The library is built position-independent, where
 * the default TLS model costs a __tls_get_addr call per access; the
 * initial-exec model is a single %fs/tpidr-relative load.  (It takes a
 * little of the static TLS space that glibc reserves for dlopen'ed
 * libraries, which our few variables fit easily.) */
#ifdef _WIN32
#define QEMU_THREAD_LOCAL __thread
#else
#define QEMU_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
#endif

/* ARRAY_SIZE refuses a pointer: the second term fails to compile unless
 * @a is a real array. */
#define QEMU_IS_ARRAY(a) \
    (!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])))
#define ARRAY_SIZE(a) \
    (sizeof(a) / sizeof((a)[0]) + 0 * sizeof(struct { int _x : QEMU_IS_ARRAY(a) ? 1 : -1; }))

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
/* Minimum that treats 0 as "no limit". */
#define MIN_NON_ZERO(a, b) \
    ((a) == 0 ? (b) : ((b) == 0 ? (a) : MIN(a, b)))

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ROUND_UP(n, d) (DIV_ROUND_UP(n, d) * (d))
/* For power-of-two @m only. */
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_PTR_IS_ALIGNED(p, n) QEMU_IS_ALIGNED((uintptr_t)(p), (n))

static inline bool is_power_of_2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Position of the highest set bit + 1 (0 for 0). */
static inline int bit_length64(uint64_t v)
{
    return v ? 64 - __builtin_clzll(v) : 0;
}

static inline int ctz64(uint64_t v)
{
    return v ? __builtin_ctzll(v) : 64;
}

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)
#define PiB (INT64_C(1) << 50)
#define EiB (INT64_C(1) << 60)

#define BDRV_SECTOR_BITS 9
#define BDRV_SECTOR_SIZE (1ULL << BDRV_SECTOR_BITS)
/* The largest image length and request end (QEMU's limit): INT64_MAX
 * rounded down to 1 GiB, so that aligning an offset up to any request
 * alignment cannot overflow. */
#define BDRV_MAX_LENGTH (INT64_MAX - (GiB - 1))

#define QEMU_BUILD_BUG_ON(x) _Static_assert(!(x), "build assertion: " #x)

/* ---- allocation: these abort on exhaustion, like the rest of the
 * process would.  Sizes derived from untrusted input must be bounded by
 * the caller before allocating; for those, use the _try variants. ---- */

void *qemu_xmalloc(size_t size);
void *qemu_xmalloc0(size_t size);
void *qemu_xrealloc(void *ptr, size_t size);
char *qemu_xstrdup(const char *s);
char *qemu_xstrndup(const char *s, size_t n);
char *qemu_xasprintf(const char *fmt, ...) QEMU_PRINTF(1, 2);
char *qemu_xvasprintf(const char *fmt, va_list ap) QEMU_PRINTF(1, 0);
/* Return NULL instead of aborting. */
void *qemu_try_malloc(size_t size);
void *qemu_try_malloc0(size_t size);
/* Aligned memory (for O_DIRECT buffers); free with qemu_vfree. */
void *qemu_try_memalign(size_t alignment, size_t size);
void *qemu_memalign(size_t alignment, size_t size);
void qemu_vfree(void *ptr);

#define qemu_new(type, n)  ((type *)qemu_xmalloc(sizeof(type) * (n)))
#define qemu_new0(type, n) ((type *)qemu_xmalloc0(sizeof(type) * (n)))

/* Abort with a message (for broken invariants, never for bad input). */
void QEMU_NORETURN qemu_abort(const char *fmt, ...) QEMU_PRINTF(1, 2);

/* Host page size. */
size_t qemu_real_host_page_size(void);
/* Processors online now (at least 1). */
int qemu_online_cpus(void);

#endif /* UTIL_OSDEP_H */
