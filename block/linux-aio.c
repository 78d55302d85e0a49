/*
 * coblock — Linux AIO (libaio) engine
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Life of a request (see include/block/raw-aio.h for the contract):
 *
 *   laio_co_submit     puts the request (on the coroutine's stack) on
 *                      the pending queue and yields.  The queue goes
 *                      to the kernel from the submit BH, which runs later
 *                      in the same loop iteration (or in the next one when
 *                      the request came from a BH), so that every request
 *                      started in one iteration shares one io_submit; a
 *                      full batch is submitted at once.  The iocbs are
 *                      filled then.
 *   merging            requests that continue one another in the file
 *                      go to the kernel as one iocb whose vector is
 *                      theirs concatenated (include/block/raw-aio.h); an
 *                      iocb is built when its requests are submitted.
 *   io_submit          may take only a prefix of the batch (or none, with
 *                      -EAGAIN) when the kernel context is full: the rest
 *                      stays queued and is retried after completions.
 *   completion         the kernel bumps our eventfd; the loop runs
 *                      laio_completion_cb, which reaps events straight
 *                      from the ring the kernel shares with us (no system
 *                      call), continues short transfers, wakes finished
 *                      coroutines with aio_co_wake and submits what
 *                      became pending meanwhile.
 *
 * Re-entrancy: waking a coroutine can run arbitrary code, including a
 * nested aio_poll that calls the completion handler again.  So every
 * event is consumed (the ring head advanced) before its coroutine is
 * woken, and no request is touched after its wake-up: it lives on the
 * woken coroutine's stack.
 */
#include "util/osdep.h"
#include "util/aio-int.h"
#include "util/atomic.h"
#include "util/queue.h"
#include "block/raw-aio.h"

#include <libaio.h>
#include <sys/eventfd.h>

/* Kernel ring size of the per-context engine (the kernel doubles it and
 * rounds it up to whole pages). */
#define LAIO_DEFAULT_EVENTS 1024
/* iocbs per io_submit call. */
#define LAIO_SUBMIT_CHUNK 128
/* Events fetched per io_getevents call when the shared ring is unusable. */
#define LAIO_EVENT_CHUNK 128
/* Wait before retrying when the kernel refused everything and nothing of
 * ours is in flight to trigger a retry. */
#define LAIO_RETRY_NS (1 * 1000 * 1000)

/* The completion ring the kernel maps into our address space; an
 * io_context_t is its address.  Layout from the kernel's fs/aio.c ABI. */
struct laio_ring {
    unsigned id;
    unsigned nr;                /* number of io_events */
    unsigned head;              /* consumer index (ours) */
    unsigned tail;              /* producer index (the kernel's) */
    unsigned magic;
    unsigned compat_features;
    unsigned incompat_features;
    unsigned header_length;
    struct io_event io_events[];
};
#define LAIO_RING_MAGIC 0xa10a10a1

typedef struct LaioRequest {
    RawAioReq r;
    struct iocb iocb;
} LaioRequest;

/* The iocb of a merged submission.  @iocb.data points to it, which
 * tells its completion from a single request's (whose data is NULL). */
typedef struct LaioMerge {
    RawAioMerge m;
    struct iocb iocb;
} LaioMerge;

struct LinuxAioState {
    AioContext *ctx;
    io_context_t io_ctx;
    struct laio_ring *ring;     /* NULL: reap with io_getevents */
    int efd;
    bool in_slot;               /* the context's shared engine */

    RawAioReqQueue pending;
    unsigned n_pending;
    unsigned in_flight;
    QEMUBH *submit_bh;
    QEMUTimer *retry_timer;
    bool blocked;               /* the kernel said EAGAIN; wait for room */
    bool in_completion;         /* the completion handler runs: it submits
                                 * what is queued when it finishes */

    RawAioMerge *free_merges;   /* LaioMerge carriers not in use */

    /* io_getevents fallback: fetched events not yet processed. */
    struct io_event events[LAIO_EVENT_CHUNK];
    unsigned ev_pos, ev_count;

    RawAioStats stats;
};

static void laio_submit_pending(LinuxAioState *s);

/* ---- requests ---- */

static LaioRequest *laio_req(RawAioReq *r)
{
    return container_of(r, LaioRequest, r);
}

/* Fill @req's own iocb for what is left of it. */
static void laio_prep(LinuxAioState *s, LaioRequest *req)
{
    struct iovec *iov;
    int niov;
    int64_t offset = req->r.offset + (int64_t)req->r.done;

    raw_aio_req_vec(&req->r, &iov, &niov);
    if (req->r.type == RAW_AIO_READ) {
        io_prep_preadv(&req->iocb, req->r.fd, iov, niov, offset);
    } else {
        io_prep_pwritev(&req->iocb, req->r.fd, iov, niov, offset);
    }
    io_set_eventfd(&req->iocb, s->efd);
}

static void laio_enqueue(void *opaque, RawAioReq *r)
{
    LinuxAioState *s = opaque;

    QSIMPLEQ_INSERT_TAIL(&s->pending, r, next);
    s->n_pending++;
}

/* ---- completions ---- */

/* Take the next completion event, advancing past it before returning. */
static bool laio_next_event(LinuxAioState *s, struct io_event *ev)
{
    struct laio_ring *ring = s->ring;

    if (ring) {
        unsigned head = ring->head;
        unsigned tail = qatomic_load_acquire(&ring->tail);

        if (head == tail) {
            return false;
        }
        *ev = ring->io_events[head];
        qatomic_store_release(&ring->head, (head + 1) % ring->nr);
        return true;
    }
    if (s->ev_pos == s->ev_count) {
        struct timespec zero = { 0, 0 };
        int n;

        do {
            n = io_getevents(s->io_ctx, 0, LAIO_EVENT_CHUNK, s->events, &zero);
        } while (n == -EINTR);
        if (n <= 0) {
            s->ev_pos = s->ev_count = 0;
            return false;
        }
        s->ev_pos = 0;
        s->ev_count = (unsigned)n;
    }
    *ev = s->events[s->ev_pos++];
    return true;
}

static void laio_process_completions(LinuxAioState *s)
{
    struct io_event ev;

    while (laio_next_event(s, &ev)) {
        /* res is the transfer's return value: bytes or -errno. */
        int64_t res = (int64_t)(long)ev.res;

        assert(s->in_flight > 0);
        s->in_flight--;
        s->stats.completions++;
        s->blocked = false;
        if (ev.data) {
            LaioMerge *lm = ev.data;
            RawAioReq *head = lm->m.head;

            raw_aio_merge_put(&s->free_merges, &lm->m);
            raw_aio_merge_result(head, res, &s->stats, laio_enqueue, s);
        } else {
            RawAioReq *r = &container_of(ev.obj, LaioRequest, iocb)->r;

            if (raw_aio_req_result(r, res, &s->stats)) {
                laio_enqueue(s, r);
            }
        }
    }
}

static void laio_completion_cb(void *opaque)
{
    LinuxAioState *s = opaque;
    uint64_t count;

    /* Clear the eventfd first: events that arrive after this set it
     * again, so none is missed. */
    if (read(s->efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        /* Cannot happen for an eventfd we own; reap anyway. */
    }
    s->in_completion = true;
    laio_process_completions(s);
    s->in_completion = false;
    if (!QSIMPLEQ_EMPTY(&s->pending)) {
        laio_submit_pending(s);
    }
}

/* ---- submission ---- */

/* The iocb for the @n queued requests from @r on: @r's own, or a merged
 * one. */
static struct iocb *laio_iocb(LinuxAioState *s, RawAioReq *r, unsigned n)
{
    LaioMerge *lm;

    if (n == 1) {
        laio_prep(s, laio_req(r));
        return &laio_req(r)->iocb;
    }
    lm = (LaioMerge *)raw_aio_merge_get(&s->free_merges, sizeof(LaioMerge));
    raw_aio_merge_build(&lm->m, r, n);
    if (r->type == RAW_AIO_READ) {
        io_prep_preadv(&lm->iocb, r->fd, lm->m.iov, lm->m.niov, r->offset);
    } else {
        io_prep_pwritev(&lm->iocb, r->fd, lm->m.iov, lm->m.niov, r->offset);
    }
    io_set_eventfd(&lm->iocb, s->efd);
    lm->iocb.data = lm;
    return &lm->iocb;
}

static void laio_submit_pending(LinuxAioState *s)
{
    struct iocb *iocbs[LAIO_SUBMIT_CHUNK];
    unsigned members[LAIO_SUBMIT_CHUNK];

    qemu_bh_cancel(s->submit_bh);
    while (!QSIMPLEQ_EMPTY(&s->pending)) {
        RawAioReq *r = QSIMPLEQ_FIRST(&s->pending);
        unsigned left = s->n_pending;
        int n = 0, ret, i, j;

        /* One iocb per run of requests that continue one another. */
        while (r && n < LAIO_SUBMIT_CHUNK) {
            unsigned k = raw_aio_merge_span(r, left);

            members[n] = k;
            iocbs[n++] = laio_iocb(s, r, k);
            left -= k;
            while (k--) {
                r = QSIMPLEQ_NEXT(r, next);
            }
        }
        ret = io_submit(s->io_ctx, n, iocbs);
        s->stats.submit_calls++;
        /* The carriers the kernel did not take are rebuilt next time. */
        for (i = ret > 0 ? ret : 0; i < n; i++) {
            if (members[i] > 1) {
                raw_aio_merge_put(&s->free_merges, iocbs[i]->data);
            }
        }
        if (ret == -EAGAIN || ret == -EINTR || ret == 0) {
            /* No room in the kernel: wait for completions to free some,
             * or for the retry timer if none of ours are in flight. */
            s->stats.eagain++;
            s->blocked = true;
            if (!s->in_flight) {
                timer_mod(s->retry_timer,
                          qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + LAIO_RETRY_NS);
            }
            return;
        }
        if (ret < 0) {
            /* The first iocb is bad (e.g. -EBADF, -EINVAL).  A merged one
             * is split up for each member to get its own result; a
             * single request fails, and the others go on. */
            r = QSIMPLEQ_FIRST(&s->pending);
            if (members[0] > 1) {
                for (j = 0; j < (int)members[0]; j++) {
                    r->no_merge = true;
                    r = QSIMPLEQ_NEXT(r, next);
                }
                continue;
            }
            QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
            s->n_pending--;
            raw_aio_req_finish(r, ret);
            continue;
        }
        for (i = 0; i < ret; i++) {
            for (j = 0; j < (int)members[i]; j++) {
                QSIMPLEQ_REMOVE_HEAD(&s->pending, next);
            }
            s->n_pending -= members[i];
            s->stats.merged += members[i] - 1;
        }
        s->in_flight += (unsigned)ret;
        s->stats.submitted += (uint64_t)ret;
        if (s->in_flight > s->stats.max_in_flight) {
            s->stats.max_in_flight = s->in_flight;
        }
        if (ret < n) {
            /* The kernel took a prefix only: it is full. */
            s->stats.eagain++;
            s->blocked = true;
            return;
        }
    }
}

static void laio_submit_bh(void *opaque)
{
    laio_submit_pending(opaque);
}

static void laio_retry_cb(void *opaque)
{
    LinuxAioState *s = opaque;

    s->blocked = false;
    laio_submit_pending(s);
}

int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, int64_t offset,
                                QEMUIOVector *qiov, RawAioType type,
                                unsigned max_batch)
{
    LaioRequest req;

    assert(qemu_in_coroutine());
    assert(type == RAW_AIO_READ || type == RAW_AIO_WRITE);
    assert(offset >= 0);
    if (!qiov->size) {
        return 0;
    }
    if (max_batch == 0) {
        max_batch = RAW_AIO_DEFAULT_MAX_BATCH;
    }
    max_batch = MIN(max_batch, RAW_AIO_MAX_BATCH_LIMIT);

    s->stats.requests++;
    raw_aio_req_init(&req.r, fd, offset, qiov, type);
    laio_enqueue(s, &req.r);
    if (s->blocked) {
        /* Completions will submit it. */
    } else if (s->n_pending >= max_batch) {
        laio_submit_pending(s);
    } else if (!s->in_completion) {
        /* (The completion handler submits when it has woken everyone,
         * which spares a BH and the loop's wake-up.) */
        qemu_bh_schedule(s->submit_bh);
    }
    if (req.r.ret == -EINPROGRESS) {
        req.r.waiting = true;
        qemu_coroutine_yield();
    }
    assert(req.r.ret != -EINPROGRESS);
    return req.r.ret;
}

/* ---- life cycle ---- */

LinuxAioState *laio_new(AioContext *ctx, unsigned nr_events, Error **errp)
{
    LinuxAioState *s = qemu_xmalloc0(sizeof(*s));
    struct laio_ring *ring;
    int ret;

    s->ctx = ctx;
    QSIMPLEQ_INIT(&s->pending);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        error_setg_errno(errp, errno, "failed to create an eventfd");
        free(s);
        return NULL;
    }
    ret = io_setup(nr_events ? nr_events : 1, &s->io_ctx);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "failed to create linux AIO context");
        close(s->efd);
        free(s);
        return NULL;
    }
    ring = (struct laio_ring *)s->io_ctx;
    if (ring && ring->magic == LAIO_RING_MAGIC && ring->incompat_features == 0 &&
        ring->nr > 0) {
        s->ring = ring;
    }
    s->submit_bh = aio_bh_new(ctx, laio_submit_bh, s);
    s->retry_timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, laio_retry_cb, s);
    aio_set_fd_handler(ctx, s->efd, laio_completion_cb, NULL, s);
    return s;
}

void laio_free(LinuxAioState *s)
{
    if (!s) {
        return;
    }
    /* Nobody may free an engine with requests of theirs outstanding, but
     * be safe: let the kernel finish what it has. */
    while (s->in_flight || !QSIMPLEQ_EMPTY(&s->pending)) {
        aio_poll(s->ctx, true);
    }
    aio_set_fd_handler(s->ctx, s->efd, NULL, NULL, NULL);
    timer_free(s->retry_timer);
    qemu_bh_delete(s->submit_bh);
    io_destroy(s->io_ctx);
    close(s->efd);
    raw_aio_merge_free_all(&s->free_merges);
    free(s);
}

static void laio_slot_cleanup(void *data)
{
    laio_free(data);
}

LinuxAioState *laio_get(AioContext *ctx, Error **errp)
{
    LinuxAioState *s = aio_context_slot_get(ctx, AIO_SLOT_LINUX_AIO);

    if (!s) {
        s = laio_new(ctx, LAIO_DEFAULT_EVENTS, errp);
        if (!s) {
            return NULL;
        }
        s->in_slot = true;
        aio_context_slot_set(ctx, AIO_SLOT_LINUX_AIO, s, laio_slot_cleanup);
    }
    return s;
}

void laio_get_stats(LinuxAioState *s, RawAioStats *stats)
{
    *stats = s->stats;
}
