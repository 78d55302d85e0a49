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
 *   room               at most as many requests are in the kernel as the
 *                      completion ring holds, so completions can never
 *                      overflow; a full submission ring, or the kernel
 *                      refusing with -EAGAIN/-EBUSY, leaves requests
 *                      queued until completions make room.
 *   alloc_first        a write into a hole (luring_co_write_new) goes
 *                      as two SQEs, hard-linked: a fallocate of its range
 *                      (keeping the size), then the write, which starts
 *                      when the allocation is done whatever its result.
 *                      The allocation's CQE carries the request's
 *                      address with the low bit set; the request is
 *                      finished only when both CQEs are in, in either
 *                      order, so nothing points at its stack afterwards.
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
#ifdef HAVE_FALLOCATE
#include <linux/falloc.h>
#endif

/* Submission ring size of the per-context engine; the completion ring is
 * twice as large. */
#define LURING_DEFAULT_ENTRIES 128
#define LURING_RETRY_NS (1 * 1000 * 1000)

typedef struct LuringRequest {
    LuringState *s;
    Coroutine *co;
    int fd;
    RawAioType type;
    int64_t offset;
    QEMUIOVector *qiov;
    size_t done;
    QEMUIOVector rest;
    bool has_rest;
    bool waiting;
    bool alloc_first;           /* prep an allocation before the write */
    bool alloc_in_flight;       /* its CQE has not been reaped yet */
    bool alloc_refused;         /* the file system cannot allocate */
    bool finished;              /* the write's result is in @ret */
    int ret;
    QSIMPLEQ_ENTRY(LuringRequest) next;
} LuringRequest;

struct LuringState {
    AioContext *ctx;
    struct io_uring ring;
    unsigned cq_entries;
    bool in_slot;

    QSIMPLEQ_HEAD(, LuringRequest) pending;   /* not yet in the SQ ring */
    unsigned n_pending;
    unsigned sq_ready;          /* SQEs filled but not yet taken by the kernel */
    unsigned in_flight;         /* taken by the kernel, not yet reaped */
    QEMUBH *submit_bh;
    QEMUTimer *retry_timer;
    bool blocked;
    bool in_completion;         /* see linux-aio.c */

    RawAioStats stats;
};

static void luring_submit_pending(LuringState *s);

/* ---- requests ---- */

/* The allocation's user data: the request's address, low bit set. */
#define LURING_ALLOC_TAG ((uintptr_t)1)

/* SQEs that @req takes: two while its allocation is still to be sent. */
static unsigned luring_sqes_needed(LuringRequest *req)
{
    return req->alloc_first && !req->done ? 2 : 1;
}

static void luring_prep(LuringState *s, struct io_uring_sqe *sqe,
                        LuringRequest *req)
{
    struct iovec *iov = req->qiov->iov;
    int niov = req->qiov->niov;
    int64_t offset = req->offset + (int64_t)req->done;

    if (req->type == RAW_AIO_FLUSH) {
        io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(sqe, req);
        return;
    }
    if (req->done) {
        if (req->has_rest) {
            qemu_iovec_destroy(&req->rest);
        }
        qemu_iovec_init_slice(&req->rest, req->qiov, req->done,
                              req->qiov->size - req->done);
        req->has_rest = true;
        iov = req->rest.iov;
        niov = req->rest.niov;
    }
    if (niov == 1) {
        /* The plain opcodes spare the kernel an iovec import. */
        if (req->type == RAW_AIO_READ) {
            io_uring_prep_read(sqe, req->fd, iov[0].iov_base,
                               (unsigned)iov[0].iov_len, (uint64_t)offset);
        } else {
            io_uring_prep_write(sqe, req->fd, iov[0].iov_base,
                                (unsigned)iov[0].iov_len, (uint64_t)offset);
        }
    } else if (req->type == RAW_AIO_READ) {
        io_uring_prep_readv(sqe, req->fd, iov, (unsigned)niov, (uint64_t)offset);
    } else {
        io_uring_prep_writev(sqe, req->fd, iov, (unsigned)niov, (uint64_t)offset);
    }
    io_uring_sqe_set_data(sqe, req);
}

/* The allocation ahead of a write into a hole: its range, the file size
 * kept, hard-linked so that the write follows it whatever its result. */
static void luring_prep_alloc(struct io_uring_sqe *sqe, LuringRequest *req)
{
#ifdef FALLOC_FL_KEEP_SIZE
    io_uring_prep_fallocate(sqe, req->fd, FALLOC_FL_KEEP_SIZE,
                            (off_t)req->offset, (off_t)req->qiov->size);
#else
    io_uring_prep_nop(sqe);
#endif
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)req | LURING_ALLOC_TAG));
    sqe->flags |= IOSQE_IO_HARDLINK;
    req->alloc_first = false;
    req->alloc_in_flight = true;
}

static void luring_enqueue(LuringState *s, LuringRequest *req)
{
    QSIMPLEQ_INSERT_TAIL(&s->pending, req, next);
    s->n_pending++;
}

static void luring_finish(LuringRequest *req, int ret)
{
    if (req->has_rest) {
        qemu_iovec_destroy(&req->rest);
        req->has_rest = false;
    }
    req->ret = ret;
    req->finished = true;
    if (req->alloc_in_flight) {
        return;                 /* luring_alloc_done finishes it */
    }
    if (req->waiting) {
        aio_co_wake(req->co);
    }
}

static void luring_result(LuringState *s, LuringRequest *req, int64_t res)
{
    int ret;

    if (raw_aio_account(req->type, req->qiov, &req->done, res, &ret)) {
        luring_finish(req, ret);
        return;
    }
    if (res == -EAGAIN || res == -EINTR) {
        s->stats.eagain++;
    }
    s->stats.resubmitted++;
    luring_enqueue(s, req);
}

/* ---- completions ---- */

static void luring_alloc_done(LuringRequest *req, int64_t res)
{
    req->alloc_in_flight = false;
    if (res == -EOPNOTSUPP || res == -ENOSYS || res == -EINVAL) {
        req->alloc_refused = true;
    }
    if (req->finished && req->waiting) {
        aio_co_wake(req->co);
    }
}

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
        if (data & LURING_ALLOC_TAG) {
            luring_alloc_done((LuringRequest *)(data & ~LURING_ALLOC_TAG), res);
        } else {
            luring_result(s, (LuringRequest *)data, res);
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

        /* Fill SQEs while the completion ring has room for them all. */
        while (!QSIMPLEQ_EMPTY(&s->pending)) {
            LuringRequest *req = QSIMPLEQ_FIRST(&s->pending);
            unsigned need = luring_sqes_needed(req);
            struct io_uring_sqe *sqe;

            if (s->in_flight + s->sq_ready + need > s->cq_entries ||
                io_uring_sq_space_left(&s->ring) < need) {
                break;
            }
            QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
            s->n_pending--;
            if (need == 2) {
                sqe = io_uring_get_sqe(&s->ring);
                luring_prep_alloc(sqe, req);
                s->sq_ready++;
            }
            sqe = io_uring_get_sqe(&s->ring);
            luring_prep(s, sqe, req);
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

static int coroutine_fn luring_co_do(LuringState *s, int fd, int64_t offset,
                                     QEMUIOVector *qiov, RawAioType type,
                                     unsigned max_batch, bool *alloc_first)
{
    LuringRequest req = {
        .s = s,
        .co = qemu_coroutine_self(),
        .fd = fd,
        .type = type,
        .offset = offset,
        .qiov = qiov,
        /* (a ring of one SQE could never take the pair) */
        .alloc_first = type == RAW_AIO_WRITE && alloc_first && *alloc_first &&
                       s->ring.sq.ring_entries >= 2,
        .ret = -EINPROGRESS,
    };

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
    luring_enqueue(s, &req);
    if (s->blocked) {
        /* Completions will submit it. */
    } else if (s->n_pending + s->sq_ready >= max_batch) {
        luring_submit_pending(s);
    } else if (!s->in_completion) {
        qemu_bh_schedule(s->submit_bh);
    }
    if (!req.finished || req.alloc_in_flight) {
        req.waiting = true;
        qemu_coroutine_yield();
    }
    assert(req.finished && !req.alloc_in_flight);
    if (req.alloc_refused) {
        *alloc_first = false;
    }
    return req.ret;
}

int coroutine_fn luring_co_submit(LuringState *s, int fd, int64_t offset,
                                  QEMUIOVector *qiov, RawAioType type,
                                  unsigned max_batch)
{
    return luring_co_do(s, fd, offset, qiov, type, max_batch, NULL);
}

int coroutine_fn luring_co_write_new(LuringState *s, int fd, int64_t offset,
                                     QEMUIOVector *qiov, unsigned max_batch,
                                     bool *alloc_first)
{
    return luring_co_do(s, fd, offset, qiov, RAW_AIO_WRITE, max_batch,
                        alloc_first);
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
