/*
 * coblock — allocation and small OS helpers
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"

static void QEMU_NORETURN out_of_memory(size_t size)
{
    fprintf(stderr, "coblock: failed to allocate %zu bytes\n", size);
    abort();
}

void *qemu_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *qemu_xmalloc0(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *qemu_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

char *qemu_xstrdup(const char *s)
{
    return s ? qemu_xstrndup(s, strlen(s)) : NULL;
}

char *qemu_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = qemu_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *qemu_xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    int len;
    char *p;

    va_copy(ap2, ap);
    len = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (len < 0) {
        qemu_abort("bad format string '%s'", fmt);
    }
    p = qemu_xmalloc((size_t)len + 1);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    return p;
}

char *qemu_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void *qemu_try_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

void *qemu_try_malloc0(size_t size)
{
    return calloc(1, size ? size : 1);
}

void *qemu_try_memalign(size_t alignment, size_t size)
{
    void *p;

    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }
    if (!size) {
        size = alignment;
    }
#ifdef _WIN32
    p = _aligned_malloc(size, alignment);
#else
    if (posix_memalign(&p, alignment, size)) {
        p = NULL;
    }
#endif
    return p;
}

void *qemu_memalign(size_t alignment, size_t size)
{
    void *p = qemu_try_memalign(alignment, size);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void qemu_vfree(void *ptr)
{
#ifdef _WIN32
    _aligned_free(ptr);
#else
    free(ptr);
#endif
}

void qemu_abort(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "coblock: internal error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

int qemu_online_cpus(void)
{
#ifdef _WIN32
    SYSTEM_INFO si;

    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? (int)si.dwNumberOfProcessors : 1;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (int)MIN(n, 4096) : 1;
#endif
}

size_t qemu_real_host_page_size(void)
{
    static size_t page_size;

    if (!page_size) {
#ifdef _WIN32
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        page_size = si.dwPageSize;
#else
        long ps = sysconf(_SC_PAGESIZE);
        page_size = ps > 0 ? (size_t)ps : 4096;
#endif
    }
    return page_size;
}
