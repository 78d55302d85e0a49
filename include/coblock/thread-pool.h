/*
 * coblock — worker threads for blocking calls
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A ThreadPool belongs to one AioContext.  Work functions run on worker
 * threads (started on demand, retired when idle); their completion is
 * reported back on the context's thread.  Work functions must not touch
 * state owned by the context: they only run blocking system calls or pure
 * computation (compression) on memory handed to them.
 */
#ifndef COBLOCK_THREAD_POOL_H
#define COBLOCK_THREAD_POOL_H

#include <coblock/aio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ThreadPool ThreadPool;
typedef struct ThreadPoolRequest ThreadPoolRequest;

/* Runs on a worker thread; returns a result (by convention 0 or -errno). */
typedef int ThreadPoolFunc(void *arg);

/* Completion callback: runs on the context's thread with the work
 * function's result, or -ECANCELED if the request was cancelled before a
 * worker picked it up.  It runs exactly once per successful submission,
 * never from inside thread_pool_submit_aio, and @opaque must stay valid
 * until it has run. */
typedef void ThreadPoolCompletionFunc(void *opaque, int ret);

/* The pool of @ctx, created on first use and freed with the context. */
ThreadPool *aio_get_thread_pool(AioContext *ctx);

/* Maximum number of worker threads (default 64). */
void thread_pool_set_max_workers(ThreadPool *pool, int max_workers);

/* Queue @func(@arg); @cb(@opaque, ret) runs on the context when done.
 * The returned handle is valid until @cb has started and may be passed to
 * thread_pool_cancel. */
ThreadPoolRequest *thread_pool_submit_aio(ThreadPool *pool,
                                          ThreadPoolFunc *func, void *arg,
                                          ThreadPoolCompletionFunc *cb,
                                          void *opaque);

/* Cancel a request.  If no worker has started it, it is removed and its
 * callback runs with -ECANCELED (from the loop, as always); if it is
 * already running it completes normally.  Returns true if the request was
 * removed before running. */
bool thread_pool_cancel(ThreadPoolRequest *req);

/* Run @func(@arg) on a worker thread and yield until it is done; returns
 * its result. */
int coroutine_fn thread_pool_submit_co(ThreadPool *pool, ThreadPoolFunc *func,
                                       void *arg);

/* Number of requests queued or running (for tests and diagnostics). */
unsigned thread_pool_in_flight(ThreadPool *pool);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_THREAD_POOL_H */
