/*
 * coblock — AioContext internals
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * util/async.c holds what every platform shares (BHs, timers, coroutine
 * scheduling, the context life cycle); util/aio-posix.c and
 * util/aio-win32.c hold the waiting: descriptors or handles, and aio_poll
 * itself.
 */
#ifndef UTIL_AIO_INT_H
#define UTIL_AIO_INT_H

#include "util/osdep.h"
#include "util/queue.h"
#include "util/thread.h"
#include <coblock/aio.h>
#include <coblock/thread-pool.h>

/* BH flags (atomic). */
enum {
    BH_QUEUED    = 1 << 0,  /* on the context's pending stack */
    BH_SCHEDULED = 1 << 1,  /* should run when dequeued */
    BH_DELETED   = 1 << 2,  /* free when dequeued */
    BH_ONESHOT   = 1 << 3,  /* free after running */
    BH_INTERNAL  = 1 << 4,  /* does not count as progress */
};

struct QEMUBH {
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    unsigned flags;
    QEMUBH *next;            /* pending stack (atomic push) */
    QSIMPLEQ_ENTRY(QEMUBH) ready_next;
};

struct QEMUTimer {
    AioContext *ctx;
    QEMUClockType type;
    QEMUTimerCB *cb;
    void *opaque;
    int64_t expire_ns;       /* -1 when not pending */
    QTAILQ_ENTRY(QEMUTimer) next;
};

typedef struct AioHandler AioHandler;

/* Per-context state that subsystems outside util/ attach to a context
 * (the block layer's I/O engines: one instance per context).  The owner
 * creates it on first use and registers a destructor, which
 * aio_context_unref runs before it tears anything else down. */
typedef enum AioContextSlotId {
    AIO_SLOT_LINUX_AIO,
    AIO_SLOT_IO_URING,
    AIO_SLOT__MAX
} AioContextSlotId;

typedef void AioContextSlotCleanup(void *data);

struct AioContext {
    /* ---- bottom halves ---- */
    QEMUBH *bh_pending;                         /* atomic LIFO */
    QSIMPLEQ_HEAD(, QEMUBH) bh_ready;           /* home thread only */

    /* ---- wake-ups ---- */
    EventNotifier notifier;
    int notify_me;          /* a thread is (about to be) blocked in poll */
    bool notified;          /* aio_notify called since the last poll */
    bool always_notify;     /* embedded: notify on every schedule */

    /* ---- timers (home thread only) ---- */
    QTAILQ_HEAD(, QEMUTimer) timers;            /* by deadline */

    /* ---- coroutines scheduled from anywhere ---- */
    Coroutine *scheduled_coroutines;            /* atomic LIFO */
    QEMUBH *co_schedule_bh;

    /* ---- fd handlers / handles (platform files) ---- */
    QLIST_HEAD(, AioHandler) handlers;
    unsigned walking_handlers;
    bool handlers_deleted;
#ifdef _WIN32
    HANDLE *wait_handles;
    AioHandler **wait_owners;
    unsigned wait_alloc;
    struct AioWin32Port *win32_port;    /* completion port, on first use */
#else
    int epollfd;             /* -1 when using poll() */
    struct pollfd *pollfds;
    AioHandler **poll_owners;
    unsigned poll_alloc;
#endif

    ThreadPool *thread_pool;
    int poll_depth;

    /* ---- engine slots (home thread only) ---- */
    struct {
        void *data;
        AioContextSlotCleanup *cleanup;
    } slots[AIO_SLOT__MAX];
};

/* The data in slot @id of @ctx, NULL if empty. */
static inline void *aio_context_slot_get(AioContext *ctx, AioContextSlotId id)
{
    return ctx->slots[id].data;
}

/* Fill an empty slot; @cleanup(@data) runs when the context is freed. */
void aio_context_slot_set(AioContext *ctx, AioContextSlotId id, void *data,
                          AioContextSlotCleanup *cleanup);

/* Platform part (aio-posix.c / aio-win32.c). */
int aio_context_platform_init(AioContext *ctx);
void aio_context_platform_cleanup(AioContext *ctx);
/* Register the context's own notifier with the platform waiter. */
void aio_set_internal_notifier(AioContext *ctx, EventNotifier *n,
                               EventNotifierHandler *handler);

/* Shared part (async.c), used by aio_poll. */
bool aio_bh_poll(AioContext *ctx);
bool aio_bh_pending(AioContext *ctx);
bool aio_timers_run(AioContext *ctx);
int64_t aio_timers_deadline_ns(AioContext *ctx);
void aio_poll_enter(AioContext *ctx, AioContext **saved);
void aio_poll_leave(AioContext *ctx, AioContext *saved);

/* The current context of this thread (see qemu_get_current_aio_context),
 * NULL until the thread has one. */
extern QEMU_THREAD_LOCAL AioContext *aio_current_ctx;
AioContext *qemu_get_current_aio_context_slow(void);

static inline AioContext *aio_get_current_ctx(void)
{
    AioContext *ctx = aio_current_ctx;
    return likely(ctx) ? ctx : qemu_get_current_aio_context_slow();
}

/* Convert a ns timeout (-1 = infinite) to ms rounded up. */
static inline int aio_timeout_to_ms(int64_t ns)
{
    if (ns < 0) {
        return -1;
    }
    if (ns > (int64_t)INT_MAX * 1000000) {
        return INT_MAX;
    }
    return (int)((ns + 999999) / 1000000);
}

void thread_pool_free(ThreadPool *pool);

#endif /* UTIL_AIO_INT_H */
