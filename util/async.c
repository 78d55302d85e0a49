/*
 * coblock — AioContext: bottom halves, timers, coroutine wake-ups
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Bottom halves
 * -------------
 * Scheduling pushes the BH on a lock-free stack (any thread may do it) and
 * pokes the loop.  The loop moves the whole stack, reversed into
 * scheduling order, to a FIFO of ready BHs that only the home thread
 * touches, and runs them.  A BH scheduled while the loop runs BHs lands on
 * the stack again and runs in the next iteration, so a BH that keeps
 * rescheduling itself cannot starve the loop.  Nested aio_poll calls keep
 * draining the same ready FIFO, so order holds across nesting.
 *
 * Wake-up protocol (why blocking polls never miss a schedule)
 * ------------------------------------------------------------
 * A poller about to block sets notify_me, then (full barrier) looks for
 * pending work; a scheduler publishes its work, then (full barrier) reads
 * notify_me and sets the event notifier if it is set.  One of the two
 * always sees the other.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "util/aio-int.h"
#include "coroutine/coroutine-int.h"

#include <time.h>

/* Innermost context whose aio_poll runs on this thread, the thread's home
 * context, and which of the two is current (read on every coroutine
 * enter, so it is kept ready rather than computed). */
static QEMU_THREAD_LOCAL AioContext *polling_ctx;
static QEMU_THREAD_LOCAL AioContext *home_ctx;
QEMU_THREAD_LOCAL AioContext *aio_current_ctx;

static void update_current_ctx(void)
{
    aio_current_ctx = polling_ctx ? polling_ctx : home_ctx;
}

static AioContext *default_ctx;
static QemuMutex default_ctx_lock;
static bool default_ctx_lock_ready;

/* ---- clocks ---- */

int64_t qemu_clock_get_ns(QEMUClockType type)
{
#ifdef _WIN32
    static LARGE_INTEGER freq;
    LARGE_INTEGER now;

    (void)type;
    if (!freq.QuadPart) {
        QueryPerformanceFrequency(&freq);
    }
    QueryPerformanceCounter(&now);
    return (int64_t)((__int128)now.QuadPart * 1000000000 / freq.QuadPart);
#else
    struct timespec ts;

    (void)type;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
#endif
}

/* ---- context life cycle ---- */

static void aio_context_notifier_cb(EventNotifier *n)
{
    event_notifier_test_and_clear(n);
}

static void co_schedule_bh_cb(void *opaque);

AioContext *aio_context_new(void)
{
    AioContext *ctx = qemu_xmalloc0(sizeof(*ctx));
    int ret;

    QSIMPLEQ_INIT(&ctx->bh_ready);
    QTAILQ_INIT(&ctx->timers);
    QLIST_INIT(&ctx->handlers);

    ret = event_notifier_init(&ctx->notifier, false);
    if (ret < 0) {
        free(ctx);
        errno = -ret;
        return NULL;
    }
    ret = aio_context_platform_init(ctx);
    if (ret < 0) {
        event_notifier_cleanup(&ctx->notifier);
        free(ctx);
        errno = -ret;
        return NULL;
    }
    aio_set_internal_notifier(ctx, &ctx->notifier, aio_context_notifier_cb);
    ctx->co_schedule_bh = aio_bh_new(ctx, co_schedule_bh_cb, ctx);
    return ctx;
}

void aio_context_slot_set(AioContext *ctx, AioContextSlotId id, void *data,
                          AioContextSlotCleanup *cleanup)
{
    assert(id < AIO_SLOT__MAX && !ctx->slots[id].data);
    ctx->slots[id].data = data;
    ctx->slots[id].cleanup = cleanup;
}

void aio_context_unref(AioContext *ctx)
{
    int i;

    if (!ctx) {
        return;
    }
    /* Engines first: they may still need the loop to finish requests. */
    for (i = 0; i < AIO_SLOT__MAX; i++) {
        void *data = ctx->slots[i].data;

        if (data) {
            ctx->slots[i].data = NULL;
            ctx->slots[i].cleanup(data);
        }
    }
    if (ctx->thread_pool) {
        thread_pool_free(ctx->thread_pool);
        ctx->thread_pool = NULL;
    }
    /* Run what is still pending (one-shot BHs own memory that their
     * callbacks free) until nothing is left. */
    while (aio_bh_pending(ctx)) {
        aio_bh_poll(ctx);
    }
    qemu_bh_delete(ctx->co_schedule_bh);
    aio_bh_poll(ctx);
    if (!QTAILQ_EMPTY(&ctx->timers)) {
        qemu_abort("aio_context_unref: timers still armed");
    }
    aio_set_internal_notifier(ctx, &ctx->notifier, NULL);
    aio_context_platform_cleanup(ctx);
    event_notifier_cleanup(&ctx->notifier);
    if (home_ctx == ctx) {
        home_ctx = NULL;
        update_current_ctx();
    }
    if (default_ctx == ctx) {
        default_ctx = NULL;
    }
    free(ctx);
}

AioContext *qemu_get_aio_context(void)
{
    AioContext *ctx = qatomic_load_acquire(&default_ctx);

    if (ctx) {
        return ctx;
    }
    /* First use; guarded because helper threads may race here. */
    if (!qatomic_xchg(&default_ctx_lock_ready, true)) {
        qemu_mutex_init(&default_ctx_lock);
        qatomic_store_release(&default_ctx_lock_ready, true);
    }
    qemu_mutex_lock(&default_ctx_lock);
    if (!default_ctx) {
        ctx = aio_context_new();
        if (!ctx) {
            qemu_abort("cannot create the main AioContext: %s", strerror(errno));
        }
        if (!home_ctx) {
            home_ctx = ctx;
            update_current_ctx();
        }
        qatomic_store_release(&default_ctx, ctx);
    }
    qemu_mutex_unlock(&default_ctx_lock);
    return default_ctx;
}

AioContext *qemu_get_current_aio_context_slow(void)
{
    if (aio_current_ctx) {
        return aio_current_ctx;
    }
    if (!qatomic_load_acquire(&default_ctx)) {
        /* Nobody has a loop yet: this thread creates the default one and
         * becomes its home. */
        qemu_get_aio_context();
        return home_ctx;
    }
    /* A thread without a loop of its own (a worker, say). */
    return NULL;
}

AioContext *qemu_get_current_aio_context(void)
{
    return aio_get_current_ctx();
}

void aio_context_set_home_thread(AioContext *ctx)
{
    home_ctx = ctx;
    update_current_ctx();
}

void aio_poll_enter(AioContext *ctx, AioContext **saved)
{
    *saved = polling_ctx;
    polling_ctx = ctx;
    aio_current_ctx = ctx;
    ctx->poll_depth++;
}

void aio_poll_leave(AioContext *ctx, AioContext *saved)
{
    ctx->poll_depth--;
    polling_ctx = saved;
    update_current_ctx();
}

void aio_notify(AioContext *ctx)
{
    /* Pairs with the barrier in aio_poll after setting notify_me. */
    qatomic_set(&ctx->notified, true);
    smp_mb();
    if (qatomic_read(&ctx->notify_me) || qatomic_read(&ctx->always_notify)) {
        event_notifier_set(&ctx->notifier);
    }
}

/* ---- bottom halves ---- */

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = qemu_xmalloc0(sizeof(*bh));

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    return bh;
}

static void aio_bh_enqueue(QEMUBH *bh, unsigned new_flags)
{
    AioContext *ctx = bh->ctx;
    unsigned old = qatomic_fetch_or(&bh->flags, new_flags | BH_QUEUED);

    if (!(old & BH_QUEUED)) {
        QEMUBH *head = qatomic_read(&ctx->bh_pending);
        do {
            bh->next = head;
        } while (!__atomic_compare_exchange_n(&ctx->bh_pending, &head, bh,
                                              true, __ATOMIC_SEQ_CST,
                                              __ATOMIC_RELAXED));
    }
    aio_notify(ctx);
}

void qemu_bh_schedule(QEMUBH *bh)
{
    aio_bh_enqueue(bh, BH_SCHEDULED);
}

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = aio_bh_new(ctx, cb, opaque);
    aio_bh_enqueue(bh, BH_SCHEDULED | BH_ONESHOT);
}

void qemu_bh_cancel(QEMUBH *bh)
{
    qatomic_fetch_and(&bh->flags, ~(unsigned)BH_SCHEDULED);
}

void qemu_bh_delete(QEMUBH *bh)
{
    unsigned old;

    if (!bh) {
        return;
    }
    old = qatomic_fetch_or(&bh->flags, BH_DELETED);
    qatomic_fetch_and(&bh->flags, ~(unsigned)BH_SCHEDULED);
    if (!(old & BH_QUEUED)) {
        free(bh);
    }
    /* else: freed by aio_bh_poll when it is dequeued */
}

bool aio_bh_pending(AioContext *ctx)
{
    return qatomic_read(&ctx->bh_pending) != NULL ||
           !QSIMPLEQ_EMPTY(&ctx->bh_ready);
}

/* Move the pending stack to the ready FIFO, in scheduling order. */
static void aio_bh_collect(AioContext *ctx)
{
    QEMUBH *list = qatomic_xchg(&ctx->bh_pending, NULL);
    QEMUBH *rev = NULL;

    while (list) {
        QEMUBH *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        QEMUBH *next = rev->next;
        QSIMPLEQ_INSERT_TAIL(&ctx->bh_ready, rev, ready_next);
        rev = next;
    }
}

bool aio_bh_poll(AioContext *ctx)
{
    bool progress = false;
    QEMUBH *bh;

    aio_bh_collect(ctx);
    while ((bh = QSIMPLEQ_FIRST(&ctx->bh_ready)) != NULL) {
        unsigned old;

        QSIMPLEQ_REMOVE_HEAD(&ctx->bh_ready, ready_next);
        /* Clearing QUEUED first lets the callback reschedule its BH. */
        old = qatomic_fetch_and(&bh->flags,
                                ~(unsigned)(BH_QUEUED | BH_SCHEDULED));
        if (old & BH_DELETED) {
            free(bh);
            continue;
        }
        if (old & BH_SCHEDULED) {
            if (!(old & BH_INTERNAL)) {
                progress = true;
            }
            bh->cb(bh->opaque);
        }
        if (old & BH_ONESHOT) {
            free(bh);
        }
    }
    return progress;
}

/* ---- timers ---- */

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type,
                         QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *t = qemu_xmalloc0(sizeof(*t));

    assert(type < QEMU_CLOCK_MAX);
    t->ctx = ctx;
    t->type = type;
    t->cb = cb;
    t->opaque = opaque;
    t->expire_ns = -1;
    return t;
}

bool timer_pending(QEMUTimer *t)
{
    return t->expire_ns >= 0;
}

int64_t timer_expire_time_ns(QEMUTimer *t)
{
    return t->expire_ns;
}

void timer_del(QEMUTimer *t)
{
    if (timer_pending(t)) {
        QTAILQ_REMOVE(&t->ctx->timers, t, next);
        t->expire_ns = -1;
    }
}

void timer_mod(QEMUTimer *t, int64_t expire_ns)
{
    AioContext *ctx = t->ctx;
    QEMUTimer *pos;

    timer_del(t);
    if (expire_ns < 0) {
        expire_ns = 0;
    }
    t->expire_ns = expire_ns;
    /* Insert after every timer with an equal or earlier deadline. */
    QTAILQ_FOREACH(pos, &ctx->timers, next) {
        if (pos->expire_ns > expire_ns) {
            QTAILQ_INSERT_BEFORE(pos, t, next);
            goto inserted;
        }
    }
    QTAILQ_INSERT_TAIL(&ctx->timers, t, next);
inserted:
    /* Timers belong to the home thread, which is not blocked in a poll
     * while it runs this: the next poll computes its timeout afresh. */
    return;
}

void timer_free(QEMUTimer *t)
{
    if (t) {
        timer_del(t);
        free(t);
    }
}

int64_t aio_timers_deadline_ns(AioContext *ctx)
{
    QEMUTimer *t = QTAILQ_FIRST(&ctx->timers);
    int64_t now;

    if (!t) {
        return -1;
    }
    now = qemu_clock_get_ns(t->type);
    return t->expire_ns > now ? t->expire_ns - now : 0;
}

bool aio_timers_run(AioContext *ctx)
{
    bool progress = false;
    QEMUTimer *t;
    int64_t now;

    if (QTAILQ_EMPTY(&ctx->timers)) {
        return false;
    }
    now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    /* Only timers due now; ones armed by callbacks for "now" run in the
     * next iteration, so a zero-delay re-arm cannot loop forever. */
    while ((t = QTAILQ_FIRST(&ctx->timers)) != NULL && t->expire_ns <= now) {
        QTAILQ_REMOVE(&ctx->timers, t, next);
        t->expire_ns = -1;
        progress = true;
        t->cb(t->opaque);
        now = MIN(now, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    }
    return progress;
}

int64_t aio_get_timeout_ns(AioContext *ctx)
{
    if (aio_bh_pending(ctx) || qatomic_read(&ctx->notified)) {
        return 0;
    }
    return aio_timers_deadline_ns(ctx);
}

bool aio_dispatch(AioContext *ctx)
{
    return aio_poll(ctx, false);
}

/* ---- coroutines ---- */

static void co_schedule_bh_cb(void *opaque)
{
    AioContext *ctx = opaque;
    Coroutine *list = qatomic_xchg(&ctx->scheduled_coroutines, NULL);
    Coroutine *rev = NULL;

    while (list) {
        Coroutine *next = list->sched_next;
        list->sched_next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        Coroutine *co = rev;
        rev = rev->sched_next;
        co->sched_next = NULL;
        qatomic_set(&co->scheduled, NULL);
        qemu_coroutine_enter(co, co->entered ? NULL : co->entry_arg);
    }
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    const char *was = qatomic_cmpxchg(&co->scheduled, (const char *)NULL,
                                      "aio_co_schedule");
    Coroutine *head;

    if (was) {
        qemu_abort("aio_co_schedule: Co-routine was already scheduled in '%s'",
                   was);
    }
    head = qatomic_read(&ctx->scheduled_coroutines);
    do {
        co->sched_next = head;
    } while (!__atomic_compare_exchange_n(&ctx->scheduled_coroutines, &head,
                                          co, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    qemu_bh_schedule(ctx->co_schedule_bh);
}

void aio_co_enter(AioContext *ctx, Coroutine *co, void *opaque)
{
    if (!co->entered) {
        co->entry_arg = opaque;
    }
    if (ctx != qemu_get_current_aio_context()) {
        aio_co_schedule(ctx, co);
        return;
    }
    if (qemu_in_coroutine()) {
        qemu_coroutine_defer_wake(co);
        return;
    }
    qemu_coroutine_enter(co, co->entered ? NULL : co->entry_arg);
}

void aio_co_wake(Coroutine *co)
{
    AioContext *ctx = qatomic_read(&co->ctx);

    if (!ctx) {
        qemu_abort("aio_co_wake: coroutine was never entered");
    }
    aio_co_enter(ctx, co, NULL);
}
