/*
 * coblock — what the kernel I/O engines share: their requests' vectors
 * and completion, and merging (see include/block/raw-aio.h)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "block/raw-aio.h"
#include <coblock/coroutine.h>

void raw_aio_req_init(RawAioReq *req, int fd, int64_t offset,
                      QEMUIOVector *qiov, RawAioType type)
{
    *req = (RawAioReq) {
        .co = qemu_coroutine_self(),
        .fd = fd,
        .type = type,
        .offset = offset,
        .qiov = qiov,
        .ret = -EINPROGRESS,
    };
}

void raw_aio_req_vec(RawAioReq *req, struct iovec **iov, int *niov)
{
    if (!req->done) {
        *iov = req->qiov->iov;
        *niov = req->qiov->niov;
        return;
    }
    if (req->has_rest) {
        qemu_iovec_destroy(&req->rest);
    }
    qemu_iovec_init_slice(&req->rest, req->qiov, req->done,
                          req->qiov->size - req->done);
    req->has_rest = true;
    *iov = req->rest.iov;
    *niov = req->rest.niov;
}

void raw_aio_req_finish(RawAioReq *req, int ret)
{
    if (req->has_rest) {
        qemu_iovec_destroy(&req->rest);
        req->has_rest = false;
    }
    req->ret = ret;
    if (req->waiting) {
        aio_co_wake(req->co);
    }
}

bool raw_aio_req_result(RawAioReq *req, int64_t res, RawAioStats *stats)
{
    int ret;

    if (raw_aio_account(req->type, req->qiov, &req->done, res, &ret)) {
        raw_aio_req_finish(req, ret);
        return false;
    }
    if (res == -EAGAIN || res == -EINTR) {
        stats->eagain++;
    }
    stats->resubmitted++;
    return true;
}

/* ---- merging ---- */

/* Can @b share the submission that ends with @a, which holds @niov
 * vector elements and @bytes bytes so far? */
static bool raw_aio_can_merge(const RawAioReq *a, const RawAioReq *b,
                              int niov, size_t bytes)
{
    return b->fd == a->fd && b->type == a->type &&
           b->type != RAW_AIO_FLUSH && !b->no_merge && !b->done &&
           a->offset + (int64_t)a->qiov->size == b->offset &&
           niov + b->qiov->niov <= RAW_AIO_MERGE_MAX_IOV &&
           bytes + b->qiov->size <= RAW_AIO_MERGE_MAX_BYTES;
}

unsigned raw_aio_merge_span(RawAioReq *req, unsigned max)
{
    const RawAioReq *a = req, *b;
    int niov = req->qiov->niov;
    size_t bytes = req->qiov->size;
    unsigned n = 1;

    if (req->type == RAW_AIO_FLUSH || req->no_merge || req->done) {
        return 1;
    }
    while (n < max && (b = QSIMPLEQ_NEXT(a, next)) != NULL &&
           raw_aio_can_merge(a, b, niov, bytes)) {
        niov += b->qiov->niov;
        bytes += b->qiov->size;
        a = b;
        n++;
    }
    return n;
}

void raw_aio_merge_build(RawAioMerge *m, RawAioReq *req, unsigned n)
{
    unsigned i;

    assert(n >= 2);
    m->head = req;
    m->niov = 0;
    for (i = 0; i < n; i++, req = QSIMPLEQ_NEXT(req, next)) {
        assert(m->niov + req->qiov->niov <= RAW_AIO_MERGE_MAX_IOV);
        memcpy(&m->iov[m->niov], req->qiov->iov,
               (size_t)req->qiov->niov * sizeof(struct iovec));
        m->niov += req->qiov->niov;
        req->merge_next = i + 1 < n ? QSIMPLEQ_NEXT(req, next) : NULL;
    }
}

void raw_aio_merge_result(RawAioReq *head, int64_t res, RawAioStats *stats,
                          void (*requeue)(void *opaque, RawAioReq *req),
                          void *opaque)
{
    RawAioReq *req, *next;

    for (req = head; req; req = next) {
        int64_t size = (int64_t)req->qiov->size;
        bool again;

        /* Read before the member can be woken and gone. */
        next = req->merge_next;
        req->merge_next = NULL;
        if (res >= size) {
            res -= size;
            again = raw_aio_req_result(req, size, stats);
        } else if (res > 0) {
            /* Covered in part: it continues alone from there. */
            again = raw_aio_req_result(req, res, stats);
            res = 0;
        } else {
            /* An error, a retry or a stop before this member. */
            req->no_merge = true;
            stats->resubmitted++;
            again = true;
        }
        if (again) {
            requeue(opaque, req);
        }
    }
}

RawAioMerge *raw_aio_merge_get(RawAioMerge **pool, size_t size)
{
    RawAioMerge *m = *pool;

    assert(size >= sizeof(RawAioMerge));
    if (m) {
        *pool = m->next_free;
        return m;
    }
    return qemu_xmalloc(size);
}

void raw_aio_merge_put(RawAioMerge **pool, RawAioMerge *m)
{
    m->next_free = *pool;
    *pool = m;
}

void raw_aio_merge_free_all(RawAioMerge **pool)
{
    while (*pool) {
        RawAioMerge *m = *pool;

        *pool = m->next_free;
        free(m);
    }
}
