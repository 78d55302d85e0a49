/*
 * coblock — worker threads for blocking calls
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Life of a request: QUEUED on the pool's list (under the lock); a worker
 * takes it (RUNNING), runs the function without the lock, then puts it on
 * the done list and schedules the pool's completion BH; the BH, on the
 * context's thread, runs the callbacks in completion order and frees the
 * requests.  A QUEUED request can be cancelled: it goes straight to the
 * done list with -ECANCELED, so its callback still runs exactly once and
 * still from the loop.
 *
 * Workers are started when a request finds no idle worker (up to
 * max_workers) and retire after WORKER_IDLE_MS without work.
 */
#include "util/osdep.h"
#include "util/aio-int.h"
#include "util/thread.h"

#define WORKER_IDLE_MS 10000

typedef enum { REQ_QUEUED, REQ_RUNNING, REQ_DONE } ReqState;

struct ThreadPoolRequest {
    ThreadPool *pool;
    ThreadPoolFunc *func;
    void *arg;
    ThreadPoolCompletionFunc *cb;
    void *opaque;
    int ret;
    ReqState state;
    QTAILQ_ENTRY(ThreadPoolRequest) queue_next;
    QSIMPLEQ_ENTRY(ThreadPoolRequest) done_next;
};

struct ThreadPool {
    AioContext *ctx;
    QEMUBH *completion_bh;

    QemuMutex lock;
    QemuCond work_cond;          /* work queued or stopping */
    QemuCond exit_cond;          /* a worker exited */
    QTAILQ_HEAD(, ThreadPoolRequest) queue;
    QSIMPLEQ_HEAD(, ThreadPoolRequest) done;
    int cur_workers;
    int idle_workers;
    int max_workers;
    bool stopping;

    unsigned in_flight;          /* context thread only */
};

static void *worker_thread(void *opaque)
{
    ThreadPool *pool = opaque;

    qemu_mutex_lock(&pool->lock);
    for (;;) {
        ThreadPoolRequest *req;

        while (QTAILQ_EMPTY(&pool->queue) && !pool->stopping) {
            bool woken;

            pool->idle_workers++;
            woken = qemu_cond_timedwait(&pool->work_cond, &pool->lock,
                                        WORKER_IDLE_MS);
            pool->idle_workers--;
            if (!woken && QTAILQ_EMPTY(&pool->queue)) {
                goto out;
            }
        }
        if (pool->stopping) {
            break;
        }
        req = QTAILQ_FIRST(&pool->queue);
        QTAILQ_REMOVE(&pool->queue, req, queue_next);
        req->state = REQ_RUNNING;
        qemu_mutex_unlock(&pool->lock);

        req->ret = req->func(req->arg);

        qemu_mutex_lock(&pool->lock);
        req->state = REQ_DONE;
        QSIMPLEQ_INSERT_TAIL(&pool->done, req, done_next);
        qemu_bh_schedule(pool->completion_bh);
    }
out:
    pool->cur_workers--;
    qemu_cond_broadcast(&pool->exit_cond);
    qemu_mutex_unlock(&pool->lock);
    return NULL;
}

static void completion_bh(void *opaque)
{
    ThreadPool *pool = opaque;
    QSIMPLEQ_HEAD(, ThreadPoolRequest) done;
    ThreadPoolRequest *req;

    QSIMPLEQ_INIT(&done);
    qemu_mutex_lock(&pool->lock);
    QSIMPLEQ_CONCAT(&done, &pool->done);
    qemu_mutex_unlock(&pool->lock);

    while ((req = QSIMPLEQ_FIRST(&done)) != NULL) {
        QSIMPLEQ_REMOVE_HEAD(&done, done_next);
        pool->in_flight--;
        if (req->cb) {
            req->cb(req->opaque, req->ret);
        }
        free(req);
    }
}

static ThreadPool *thread_pool_new(AioContext *ctx)
{
    ThreadPool *pool = qemu_xmalloc0(sizeof(*pool));

    pool->ctx = ctx;
    pool->completion_bh = aio_bh_new(ctx, completion_bh, pool);
    qemu_mutex_init(&pool->lock);
    qemu_cond_init(&pool->work_cond);
    qemu_cond_init(&pool->exit_cond);
    QTAILQ_INIT(&pool->queue);
    QSIMPLEQ_INIT(&pool->done);
    pool->max_workers = 64;
    return pool;
}

ThreadPool *aio_get_thread_pool(AioContext *ctx)
{
    if (!ctx->thread_pool) {
        ctx->thread_pool = thread_pool_new(ctx);
    }
    return ctx->thread_pool;
}

void thread_pool_set_max_workers(ThreadPool *pool, int max_workers)
{
    qemu_mutex_lock(&pool->lock);
    pool->max_workers = MAX(1, max_workers);
    qemu_mutex_unlock(&pool->lock);
}

ThreadPoolRequest *thread_pool_submit_aio(ThreadPool *pool,
                                          ThreadPoolFunc *func, void *arg,
                                          ThreadPoolCompletionFunc *cb,
                                          void *opaque)
{
    ThreadPoolRequest *req = qemu_xmalloc0(sizeof(*req));

    req->pool = pool;
    req->func = func;
    req->arg = arg;
    req->cb = cb;
    req->opaque = opaque;
    req->state = REQ_QUEUED;
    pool->in_flight++;

    qemu_mutex_lock(&pool->lock);
    QTAILQ_INSERT_TAIL(&pool->queue, req, queue_next);
    if (pool->idle_workers == 0 && pool->cur_workers < pool->max_workers) {
        QemuThread t;
        if (qemu_thread_create(&t, "coblock-worker", worker_thread, pool,
                               QEMU_THREAD_DETACHED) == 0) {
            pool->cur_workers++;
        } else if (pool->cur_workers == 0) {
            qemu_mutex_unlock(&pool->lock);
            qemu_abort("thread pool: cannot start a worker thread");
        }
    } else {
        qemu_cond_signal(&pool->work_cond);
    }
    qemu_mutex_unlock(&pool->lock);
    return req;
}

bool thread_pool_cancel(ThreadPoolRequest *req)
{
    ThreadPool *pool = req->pool;
    bool cancelled = false;

    qemu_mutex_lock(&pool->lock);
    if (req->state == REQ_QUEUED) {
        QTAILQ_REMOVE(&pool->queue, req, queue_next);
        req->ret = -ECANCELED;
        req->state = REQ_DONE;
        QSIMPLEQ_INSERT_TAIL(&pool->done, req, done_next);
        qemu_bh_schedule(pool->completion_bh);
        cancelled = true;
    }
    qemu_mutex_unlock(&pool->lock);
    return cancelled;
}

unsigned thread_pool_in_flight(ThreadPool *pool)
{
    return pool->in_flight;
}

typedef struct ThreadPoolCo {
    Coroutine *co;
    int ret;
} ThreadPoolCo;

static void thread_pool_co_cb(void *opaque, int ret)
{
    ThreadPoolCo *tpc = opaque;

    tpc->ret = ret;
    aio_co_wake(tpc->co);
}

int coroutine_fn thread_pool_submit_co(ThreadPool *pool, ThreadPoolFunc *func,
                                       void *arg)
{
    ThreadPoolCo tpc = { .co = qemu_coroutine_self(), .ret = -EINPROGRESS };

    assert(qemu_in_coroutine());
    thread_pool_submit_aio(pool, func, arg, thread_pool_co_cb, &tpc);
    qemu_coroutine_yield();
    return tpc.ret;
}

void thread_pool_free(ThreadPool *pool)
{
    /* Let queued and running work finish, and their callbacks run. */
    while (pool->in_flight) {
        aio_poll(pool->ctx, true);
    }
    qemu_mutex_lock(&pool->lock);
    pool->stopping = true;
    qemu_cond_broadcast(&pool->work_cond);
    while (pool->cur_workers > 0) {
        qemu_cond_wait(&pool->exit_cond, &pool->lock);
    }
    qemu_mutex_unlock(&pool->lock);

    qemu_bh_delete(pool->completion_bh);
    qemu_cond_destroy(&pool->work_cond);
    qemu_cond_destroy(&pool->exit_cond);
    qemu_mutex_destroy(&pool->lock);
    free(pool);
}
