/*
 * coblock — scatter/gather I/O vectors
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include <coblock/iov.h>

size_t iov_size(const struct iovec *iov, unsigned niov)
{
    size_t len = 0;
    unsigned i;

    for (i = 0; i < niov; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

size_t iov_from_buf(const struct iovec *iov, unsigned niov, size_t offset,
                    const void *buf, size_t bytes)
{
    size_t done = 0;
    unsigned i;

    for (i = 0; i < niov && done < bytes; i++) {
        if (offset < iov[i].iov_len) {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);
            memcpy((char *)iov[i].iov_base + offset, (const char *)buf + done, len);
            done += len;
            offset = 0;
        } else {
            offset -= iov[i].iov_len;
        }
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned niov, size_t offset,
                  void *buf, size_t bytes)
{
    size_t done = 0;
    unsigned i;

    for (i = 0; i < niov && done < bytes; i++) {
        if (offset < iov[i].iov_len) {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);
            memcpy((char *)buf + done, (char *)iov[i].iov_base + offset, len);
            done += len;
            offset = 0;
        } else {
            offset -= iov[i].iov_len;
        }
    }
    return done;
}

size_t iov_memset(const struct iovec *iov, unsigned niov, size_t offset,
                  int c, size_t bytes)
{
    size_t done = 0;
    unsigned i;

    for (i = 0; i < niov && done < bytes; i++) {
        if (offset < iov[i].iov_len) {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);
            memset((char *)iov[i].iov_base + offset, c, len);
            done += len;
            offset = 0;
        } else {
            offset -= iov[i].iov_len;
        }
    }
    return done;
}

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint)
{
    if (alloc_hint < 1) {
        alloc_hint = 1;
    }
    qiov->iov = qemu_xmalloc(sizeof(struct iovec) * alloc_hint);
    qiov->niov = 0;
    qiov->nalloc = alloc_hint;
    qiov->size = 0;
}

void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov, int niov)
{
    qiov->iov = iov;
    qiov->niov = niov;
    qiov->nalloc = -1;
    qiov->size = iov_size(iov, niov);
}

void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len)
{
    qiov->local_iov.iov_base = buf;
    qiov->local_iov.iov_len = len;
    qiov->iov = &qiov->local_iov;
    qiov->niov = 1;
    qiov->nalloc = -1;
    qiov->size = len;
}

void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len)
{
    assert(qiov->nalloc != -1);
    if (qiov->niov == qiov->nalloc) {
        qiov->nalloc = 2 * qiov->nalloc + 1;
        qiov->iov = qemu_xrealloc(qiov->iov, sizeof(struct iovec) * qiov->nalloc);
    }
    qiov->iov[qiov->niov].iov_base = base;
    qiov->iov[qiov->niov].iov_len = len;
    qiov->size += len;
    qiov->niov++;
}

void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t sbytes)
{
    int i;

    for (i = 0; i < src->niov && sbytes > 0; i++) {
        size_t len = src->iov[i].iov_len;

        if (soffset >= len) {
            soffset -= len;
            continue;
        }
        len = MIN(len - soffset, sbytes);
        qemu_iovec_add(dst, (char *)src->iov[i].iov_base + soffset, len);
        sbytes -= len;
        soffset = 0;
    }
    assert(sbytes == 0);
}

void qemu_iovec_init_slice(QEMUIOVector *dst, QEMUIOVector *src,
                           size_t offset, size_t len)
{
    qemu_iovec_init(dst, src->niov);
    qemu_iovec_concat(dst, src, offset, len);
}

void qemu_iovec_reset(QEMUIOVector *qiov)
{
    assert(qiov->nalloc != -1);
    qiov->niov = 0;
    qiov->size = 0;
}

void qemu_iovec_destroy(QEMUIOVector *qiov)
{
    if (qiov->nalloc != -1) {
        free(qiov->iov);
    }
    memset(qiov, 0, sizeof(*qiov));
}

size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes)
{
    return iov_to_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes)
{
    return iov_from_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int c,
                         size_t bytes)
{
    return iov_memset(qiov->iov, qiov->niov, offset, c, bytes);
}

bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes)
{
    int i;

    for (i = 0; i < qiov->niov && bytes > 0; i++) {
        size_t len = qiov->iov[i].iov_len;

        if (offset >= len) {
            offset -= len;
            continue;
        }
        len = MIN(len - offset, bytes);
        if (!buffer_is_zero((char *)qiov->iov[i].iov_base + offset, len)) {
            return false;
        }
        bytes -= len;
        offset = 0;
    }
    return true;
}

long long qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b)
{
    size_t off = 0;
    int ia = 0, ib = 0;
    size_t oa = 0, ob = 0;

    assert(a->size == b->size);
    while (off < a->size) {
        const unsigned char *pa, *pb;
        size_t len, k;

        while (oa == a->iov[ia].iov_len) {
            ia++;
            oa = 0;
        }
        while (ob == b->iov[ib].iov_len) {
            ib++;
            ob = 0;
        }
        pa = (const unsigned char *)a->iov[ia].iov_base + oa;
        pb = (const unsigned char *)b->iov[ib].iov_base + ob;
        len = MIN(a->iov[ia].iov_len - oa, b->iov[ib].iov_len - ob);
        if (memcmp(pa, pb, len) != 0) {
            for (k = 0; pa[k] == pb[k]; k++) {
            }
            return (long long)(off + k);
        }
        off += len;
        oa += len;
        ob += len;
    }
    return -1;
}

bool buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t head;

    /* Check the unaligned head byte by byte, then eight words at a time;
     * the first non-zero word ends the scan. */
    head = MIN(len, (size_t)(-(uintptr_t)p & 7));
    for (; head; head--, len--) {
        if (*p++) {
            return false;
        }
    }
    while (len >= 64) {
        const uint64_t *w = (const uint64_t *)(const void *)p;
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) {
            return false;
        }
        p += 64;
        len -= 64;
    }
    while (len >= 8) {
        if (*(const uint64_t *)(const void *)p) {
            return false;
        }
        p += 8;
        len -= 8;
    }
    while (len--) {
        if (*p++) {
            return false;
        }
    }
    return true;
}
