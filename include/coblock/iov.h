/*
 * coblock — scatter/gather I/O vectors
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A QEMUIOVector describes the memory of one request as a list of
 * (address, length) pieces.  The vector does not own the memory it points
 * to: the caller keeps the buffers alive until the request has completed.
 * A vector initialised with qemu_iovec_init owns its array of pieces (free
 * it with qemu_iovec_destroy); one initialised with
 * qemu_iovec_init_external or qemu_iovec_init_buf does not.
 */
#ifndef COBLOCK_IOV_H
#define COBLOCK_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#ifndef COBLOCK_HAVE_STRUCT_IOVEC
#define COBLOCK_HAVE_STRUCT_IOVEC
/* Windows has no struct iovec; this one has the POSIX layout. */
struct iovec {
    void *iov_base;
    size_t iov_len;
};
#endif
#else
#include <sys/uio.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct QEMUIOVector {
    struct iovec *iov;
    int niov;
    int nalloc;         /* -1: the array is not ours */
    size_t size;        /* total bytes */
    struct iovec local_iov;
} QEMUIOVector;

/* Owned, growable vector with room for @alloc_hint pieces. */
void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint);
/* Vector over a caller-owned array of pieces. */
void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov, int niov);
/* Vector of one piece. */
void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len);
/* Append a piece (owned vectors only). */
void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len);
/* Append the bytes [soffset, soffset + sbytes) of @src (owned @dst). */
void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t sbytes);
/* Make @dst (owned) describe [offset, offset + len) of @src. */
void qemu_iovec_init_slice(QEMUIOVector *dst, QEMUIOVector *src,
                           size_t offset, size_t len);
/* Drop all pieces, keep the array. */
void qemu_iovec_reset(QEMUIOVector *qiov);
/* Free the array of an owned vector. */
void qemu_iovec_destroy(QEMUIOVector *qiov);

/* Copy between a vector and a flat buffer; return the bytes copied. */
size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes);
size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes);
/* Fill [offset, offset + bytes) with @c. */
size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int c,
                         size_t bytes);
/* True if [offset, offset + bytes) is all zero. */
bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes);
/* Offset of the first byte that differs between @a and @b, or -1. */
long long qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b);

/* The same on plain arrays of pieces. */
size_t iov_size(const struct iovec *iov, unsigned niov);
size_t iov_from_buf(const struct iovec *iov, unsigned niov, size_t offset,
                    const void *buf, size_t bytes);
size_t iov_to_buf(const struct iovec *iov, unsigned niov, size_t offset,
                  void *buf, size_t bytes);
size_t iov_memset(const struct iovec *iov, unsigned niov, size_t offset,
                  int c, size_t bytes);

/* True if @len bytes at @buf are all zero (fast for large buffers). */
bool buffer_is_zero(const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_IOV_H */
