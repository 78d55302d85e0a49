/*
 * coblock — io_uring engine
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Same life cycle as the Linux AIO engine (block/linux-aio.c), with a
 * submission ring instead of io_submit's array:
 *
 *   luring_co_submit   queues the request (on the coroutine's stack) and
 *                      yields; the submit BH, later in the same loop
 *                      iteration, turns the queue into SQEs and enters
 *                      the kernel once for all of them.  A full batch is
 *                      submitted at once.
 *   merging            requests that continue one another in the file
 *                      share one SQE whose vector is theirs concatenated
 *                      (include/block/raw-aio.h).
 *   room               at most as many requests are in the kernel as the
 *                      completion ring holds, so completions can never
 *                      overflow; a full submission ring, or the kernel
 *                      refusing with -EAGAIN/-EBUSY, leaves requests
 *                      queued until completions make room.
 *   completion         the ring's descriptor is readable while
 *                      completions are waiting; the loop runs
 *                      luring_completion_cb, which consumes each CQE
 *                      before it wakes the request's coroutine (the
 *                      wake-up may re-enter the handler through a nested
 *                      aio_poll).
 */
#include "util/osdep.h"
#include "util/aio-int.h"
#include "util/queue.h"
#include "block/raw-aio.h"

#include <liburing.h>

/* Submission ring size of the per-context engine; the completion ring is
 * twice as large. */
#define LURING_DEFAULT_ENTRIES 128
#define LURING_RETRY_NS (1 * 1000 * 1000)

struct LuringState {
    AioContext *ctx;
    struct io_uring ring;
    unsigned cq_entries;
    bool in_slot;

    RawAioReqQueue pending;     /* not yet in the SQ ring */
    unsigned n_pending;
    unsigned sq_ready;          /* SQEs filled but not yet taken by the kernel */
    unsigned in_flight;         /* taken by the kernel, not yet reaped */
    QEMUBH *submit_bh;
    QEMUTimer *retry_timer;
    bool blocked;
    bool in_completion;         /* see linux-aio.c */
    RawAioMerge *free_merges;   /* carriers not in use */

    RawAioStats stats;
};

static void luring_submit_pending(LuringState *s);

/* ---- requests ---- */

/* A merged SQE's user data is its carrier with the lowest bit set;
 * a single request's is its RawAioReq. */
#define LURING_MERGED ((uintptr_t)1)

static void luring_prep_rw(struct io_uring_sqe *sqe, RawAioType type, int fd,
                           struct iovec *iov, int niov, int64_t offset)
{
    if (niov == 1) {
        /* The plain opcodes spare the kernel an iovec import. */
        if (type == RAW_AIO_READ) {
            io_uring_prep_read(sqe, fd, iov[0].iov_base,
                               (unsigned)iov[0].iov_len, (uint64_t)offset);
        } else {
            io_uring_prep_write(sqe, fd, iov[0].iov_base,
                                (unsigned)iov[0].iov_len, (uint64_t)offset);
        }
    } else if (type == RAW_AIO_READ) {
        io_uring_prep_readv(sqe, fd, iov, (unsigned)niov, (uint64_t)offset);
    } else {
        io_uring_prep_writev(sqe, fd, iov, (unsigned)niov, (uint64_t)offset);
    }
}

/* Fill @sqe for the @n queued requests from @r on (taken off the queue
 * by the caller): @r alone, or merged. */
static void luring_prep(LuringState *s, struct io_uring_sqe *sqe,
                        RawAioReq *r, unsigned n)
{
    struct iovec *iov;
    int niov;

    if (r->type == RAW_AIO_FLUSH) {
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(sqe, r);
        return;
    }
    if (n > 1) {
        RawAioMerge *m = raw_aio_merge_get(&s->free_merges, sizeof(*m));

        raw_aio_merge_build(m, r, n);
        luring_prep_rw(sqe, r->type, r->fd, m->iov, m->niov, r->offset);
        io_uring_sqe_set_data(sqe, (void *)((uintptr_t)m | LURING_MERGED));
        return;
    }
    raw_aio_req_vec(r, &iov, &niov);
    luring_prep_rw(sqe, r->type, r->fd, iov, niov,
                   r->offset + (int64_t)r->done);
    io_uring_sqe_set_data(sqe, r);
}

static void luring_enqueue(void *opaque, RawAioReq *r)
{
    LuringState *s = opaque;

    QSIMPLEQ_INSERT_TAIL(&s->pending, r, next);
    s->n_pending++;
}

/* ---- completions ---- */

static void luring_process_completions(LuringState *s)
{
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&s->ring, &cqe) == 0 && cqe) {
        uintptr_t data = (uintptr_t)io_uring_cqe_get_data(cqe);
        int64_t res = cqe->res;

        /* Consume the CQE before anything can re-enter us. */
        io_uring_cqe_seen(&s->ring, cqe);
        assert(s->in_flight > 0);
        s->in_flight--;
        s->stats.completions++;
        s->blocked = false;
        if (data & LURING_MERGED) {
            RawAioMerge *m = (RawAioMerge *)(data & ~LURING_MERGED);
            RawAioReq *head = m->head;

            raw_aio_merge_put(&s->free_merges, m);
            raw_aio_merge_result(head, res, &s->stats, luring_enqueue, s);
        } else if (raw_aio_req_result((RawAioReq *)data, res, &s->stats)) {
            luring_enqueue(s, (RawAioReq *)data);
        }
    }
}

static void luring_completion_cb(void *opaque)
{
    LuringState *s = opaque;

    s->in_completion = true;
    luring_process_completions(s);
    s->in_completion = false;
    if (!QSIMPLEQ_EMPTY(&s->pending) || s->sq_ready) {
        luring_submit_pending(s);
    }
}

/* ---- submission ---- */

static void luring_block(LuringState *s)
{
    s->stats.eagain++;
    s->blocked = true;
    if (!s->in_flight) {
        timer_mod(s->retry_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + LURING_RETRY_NS);
    }
}

static void luring_submit_pending(LuringState *s)
{
    qemu_bh_cancel(s->submit_bh);
    for (;;) {
        unsigned before;
        int ret;

        /* Fill SQEs while the completion ring has room for them all, one
         * per run of requests that continue one another.  (A filled
         * SQE is the kernel's to take: one the kernel refuses for now
         * stays in the ring, carrier and all, for the next call.) */
        while (!QSIMPLEQ_EMPTY(&s->pending) &&
               s->in_flight + s->sq_ready < s->cq_entries) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
            RawAioReq *r;
            unsigned k, i;

            if (!sqe) {
                break;
            }
            r = QSIMPLEQ_FIRST(&s->pending);
            k = raw_aio_merge_span(r, s->n_pending);
            luring_prep(s, sqe, r, k);
            for (i = 0; i < k; i++) {
                QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
            }
            s->n_pending -= k;
            s->stats.merged += k - 1;
            s->sq_ready++;
        }
        if (!s->sq_ready) {
            return;
        }
        before = s->sq_ready;
        ret = io_uring_submit(&s->ring);
        s->stats.submit_calls++;
        if (ret < 0) {
            /* -EAGAIN, -EBUSY, -EINTR: the SQEs stay in the ring and go
             * with the next submission. */
            luring_block(s);
            return;
        }
        s->sq_ready -= MIN((unsigned)ret, s->sq_ready);
        s->in_flight += (unsigned)ret;
        s->stats.submitted += (uint64_t)ret;
        if (s->in_flight > s->stats.max_in_flight) {
            s->stats.max_in_flight = s->in_flight;
        }
        if ((unsigned)ret < before) {
            luring_block(s);
            return;
        }
        if (QSIMPLEQ_EMPTY(&s->pending)) {
            return;
        }
        if (s->in_flight >= s->cq_entries) {
            /* Full until completions arrive. */
            s->stats.eagain++;
            return;
        }
    }
}

static void luring_submit_bh(void *opaque)
{
    luring_submit_pending(opaque);
}

static void luring_retry_cb(void *opaque)
{
    LuringState *s = opaque;

    s->blocked = false;
    luring_submit_pending(s);
}

int coroutine_fn luring_co_submit(LuringState *s, int fd, int64_t offset,
                                  QEMUIOVector *qiov, RawAioType type,
                                  unsigned max_batch)
{
    RawAioReq req;

    assert(qemu_in_coroutine());
    assert(offset >= 0);
    if (type != RAW_AIO_FLUSH && !qiov->size) {
        return 0;
    }
    if (max_batch == 0) {
        max_batch = RAW_AIO_DEFAULT_MAX_BATCH;
    }
    max_batch = MIN(max_batch, RAW_AIO_MAX_BATCH_LIMIT);

    s->stats.requests++;
    raw_aio_req_init(&req, fd, offset, qiov, type);
    luring_enqueue(s, &req);
    if (s->blocked) {
        /* Completions will submit it. */
    } else if (s->n_pending + s->sq_ready >= max_batch) {
        luring_submit_pending(s);
    } else if (!s->in_completion) {
        qemu_bh_schedule(s->submit_bh);
    }
    if (req.ret == -EINPROGRESS) {
        req.waiting = true;
        qemu_coroutine_yield();
    }
    assert(req.ret != -EINPROGRESS);
    return req.ret;
}

/* ---- life cycle ---- */

LuringState *luring_new(AioContext *ctx, unsigned entries, Error **errp)
{
    LuringState *s = qemu_xmalloc0(sizeof(*s));
    int ret;

    s->ctx = ctx;
    QSIMPLEQ_INIT(&s->pending);
    /* Completions' task work need not interrupt us while we run: we
     * enter the kernel often enough (kernels before 5.19 refuse the
     * flag; then without it). */
#ifdef IORING_SETUP_COOP_TASKRUN
    ret = io_uring_queue_init(entries ? entries : 1, &s->ring,
                              IORING_SETUP_COOP_TASKRUN);
    if (ret == -EINVAL)
#endif
    {
        ret = io_uring_queue_init(entries ? entries : 1, &s->ring, 0);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "failed to init linux io_uring ring");
        free(s);
        return NULL;
    }
    s->cq_entries = s->ring.cq.ring_entries;
    s->submit_bh = aio_bh_new(ctx, luring_submit_bh, s);
    s->retry_timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, luring_retry_cb, s);
    aio_set_fd_handler(ctx, s->ring.ring_fd, luring_completion_cb, NULL, s);
    return s;
}

void luring_free(LuringState *s)
{
    if (!s) {
        return;
    }
    while (s->in_flight || s->sq_ready || !QSIMPLEQ_EMPTY(&s->pending)) {
        aio_poll(s->ctx, true);
    }
    aio_set_fd_handler(s->ctx, s->ring.ring_fd, NULL, NULL, NULL);
    timer_free(s->retry_timer);
    qemu_bh_delete(s->submit_bh);
    io_uring_queue_exit(&s->ring);
    raw_aio_merge_free_all(&s->free_merges);
    free(s);
}

static void luring_slot_cleanup(void *data)
{
    luring_free(data);
}

LuringState *luring_get(AioContext *ctx, Error **errp)
{
    LuringState *s = aio_context_slot_get(ctx, AIO_SLOT_IO_URING);

    if (!s) {
        s = luring_new(ctx, LURING_DEFAULT_ENTRIES, errp);
        if (!s) {
            return NULL;
        }
        s->in_slot = true;
        aio_context_slot_set(ctx, AIO_SLOT_IO_URING, s, luring_slot_cleanup);
    }
    return s;
}

void luring_get_stats(LuringState *s, RawAioStats *stats)
{
    *stats = s->stats;
}
