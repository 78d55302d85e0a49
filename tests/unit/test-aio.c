/*
 * coblock — event loop and thread pool tests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every test makes its own AioContext and frees it, so leaks of handlers,
 * timers or BHs show up (aio_context_unref aborts on armed timers and set
 * handlers; valgrind sees the rest).  On POSIX the whole suite runs twice:
 * with epoll and with the poll() fallback.
 */
#include "test-common.h"
#include "util/thread.h"
#include "util/atomic.h"
#include <coblock/aio.h>
#include <coblock/thread-pool.h>

#ifndef _WIN32
#include <poll.h>
#endif

MINICHECK_GLOBALS

static AioContext *ctx;

static void setup(void)
{
    ctx = aio_context_new();
    ck_assert_ptr_nonnull(ctx);
    aio_context_set_home_thread(ctx);
}

static void teardown(void)
{
    aio_context_unref(ctx);
    ctx = NULL;
}

/* Poll without blocking until nothing more happens. */
static void drain(void)
{
    while (aio_poll(ctx, false)) {
    }
}

/* ---- bottom halves ---- */

static char bh_log[64];
static int bh_pos;

static void log_bh(void *opaque)
{
    bh_log[bh_pos++] = (char)(intptr_t)opaque;
    bh_log[bh_pos] = '\0';
}

START_TEST(test_bh_order)
{
    QEMUBH *a = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'a');
    QEMUBH *b = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'b');
    QEMUBH *c = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'c');

    bh_pos = 0;
    bh_log[0] = '\0';
    qemu_bh_schedule(b);
    qemu_bh_schedule(c);
    qemu_bh_schedule(a);
    qemu_bh_schedule(b);          /* already pending: runs once */
    ck_assert(aio_poll(ctx, false));
    ck_assert_str_eq(bh_log, "bca");
    ck_assert(!aio_poll(ctx, false));
    qemu_bh_delete(a);
    qemu_bh_delete(b);
    qemu_bh_delete(c);
}
END_TEST

static QEMUBH *resched_bh;
static int resched_count;

static void resched_cb(void *opaque)
{
    (void)opaque;
    if (++resched_count < 3) {
        qemu_bh_schedule(resched_bh);
    }
}

START_TEST(test_bh_reschedule)
{
    resched_count = 0;
    resched_bh = aio_bh_new(ctx, resched_cb, NULL);
    qemu_bh_schedule(resched_bh);
    /* A self-rescheduling BH runs once per iteration, not in a loop. */
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(resched_count, 1);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(resched_count, 2);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(resched_count, 3);
    ck_assert(!aio_poll(ctx, false));
    qemu_bh_delete(resched_bh);
}
END_TEST

START_TEST(test_bh_cancel_delete)
{
    QEMUBH *a = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'a');
    QEMUBH *b = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'b');

    bh_pos = 0;
    bh_log[0] = '\0';
    qemu_bh_schedule(a);
    qemu_bh_cancel(a);
    qemu_bh_schedule(b);
    qemu_bh_delete(b);            /* pending, deleted: never runs */
    drain();
    ck_assert_str_eq(bh_log, "");
    qemu_bh_schedule(a);          /* cancelled BHs can be scheduled again */
    drain();
    ck_assert_str_eq(bh_log, "a");
    qemu_bh_delete(a);
}
END_TEST

static void self_delete_cb(void *opaque)
{
    QEMUBH **bh = opaque;

    qemu_bh_delete(*bh);
    *bh = NULL;
}

START_TEST(test_bh_self_delete)
{
    QEMUBH *bh = NULL;

    bh = aio_bh_new(ctx, self_delete_cb, &bh);
    qemu_bh_schedule(bh);
    drain();
    ck_assert_ptr_null(bh);
}
END_TEST

START_TEST(test_bh_oneshot)
{
    bh_pos = 0;
    bh_log[0] = '\0';
    aio_bh_schedule_oneshot(ctx, log_bh, (void *)(intptr_t)'x');
    aio_bh_schedule_oneshot(ctx, log_bh, (void *)(intptr_t)'y');
    ck_assert_int_eq(aio_get_timeout_ns(ctx), 0);
    drain();
    ck_assert_str_eq(bh_log, "xy");
}
END_TEST

/* Nested aio_poll from a BH keeps the order of the outer iteration. */
static void nested_bh(void *opaque)
{
    (void)opaque;
    log_bh((void *)(intptr_t)'n');
    aio_poll(ctx, false);
    log_bh((void *)(intptr_t)'N');
}

START_TEST(test_bh_nested_poll)
{
    QEMUBH *n = aio_bh_new(ctx, nested_bh, NULL);
    QEMUBH *a = aio_bh_new(ctx, log_bh, (void *)(intptr_t)'a');

    bh_pos = 0;
    qemu_bh_schedule(n);
    qemu_bh_schedule(a);
    drain();
    ck_assert_str_eq(bh_log, "naN");
    qemu_bh_delete(n);
    qemu_bh_delete(a);
}
END_TEST

/* ---- cross-thread BHs and notify ---- */

struct xbh {
    QEMUBH *bh;
    int ran;
    uint64_t ran_on;
    int count;
};

static void xbh_cb(void *opaque)
{
    struct xbh *x = opaque;

    x->ran++;
    x->ran_on = qemu_thread_id();
}

static void *xbh_thread(void *opaque)
{
    struct xbh *x = opaque;
    int i;

    for (i = 0; i < x->count; i++) {
        /* Sleep a little so the main thread is really blocked. */
#ifdef _WIN32
        Sleep(1);
#else
        usleep(1000);
#endif
        aio_bh_schedule_oneshot(ctx, xbh_cb, x);
    }
    return NULL;
}

START_TEST(test_bh_cross_thread)
{
    struct xbh x = { .count = 20 };
    QemuThread t;

    ck_assert_int_eq(qemu_thread_create(&t, "sched", xbh_thread, &x,
                                        QEMU_THREAD_JOINABLE), 0);
    while (x.ran < x.count) {
        aio_poll(ctx, true);    /* must wake up for each schedule */
    }
    qemu_thread_join(&t);
    ck_assert(x.ran_on == qemu_thread_id());
    drain();
}
END_TEST

static void *notify_thread(void *opaque)
{
#ifdef _WIN32
    Sleep(20);
#else
    usleep(20000);
#endif
    aio_notify(opaque);
    return NULL;
}

START_TEST(test_notify_wakes)
{
    QemuThread t;
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    ck_assert_int_eq(qemu_thread_create(&t, "notify", notify_thread, ctx,
                                        QEMU_THREAD_JOINABLE), 0);
    /* Nothing else would ever wake this poll. */
    aio_poll(ctx, true);
    qemu_thread_join(&t);
    ck_assert_int_lt(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start,
                     (int64_t)5 * 1000000000);
}
END_TEST

/* ---- timers ---- */

static void log_timer(void *opaque)
{
    log_bh(opaque);
}

START_TEST(test_timer_order)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    QEMUTimer *a = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'a');
    QEMUTimer *b = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'b');
    QEMUTimer *c = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'c');
    QEMUTimer *d = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, log_timer, (void *)(intptr_t)'d');

    bh_pos = 0;
    bh_log[0] = '\0';
    timer_mod(a, now + 30 * 1000000);
    timer_mod(b, now + 10 * 1000000);
    timer_mod(c, now + 20 * 1000000);
    timer_mod(d, now + 20 * 1000000);   /* same deadline: after c */
    ck_assert(timer_pending(a));
    ck_assert_int_eq(timer_expire_time_ns(b), now + 10 * 1000000);
    /* The next deadline bounds the poll timeout. */
    ck_assert_int_le(aio_get_timeout_ns(ctx), 10 * 1000000);
    ck_assert_int_gt(aio_get_timeout_ns(ctx), 0);
    while (bh_pos < 4) {
        aio_poll(ctx, true);
    }
    ck_assert_str_eq(bh_log, "bcda");
    /* Nothing fired early. */
    ck_assert_int_ge(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - now, 30 * 1000000);
    ck_assert(!timer_pending(a));
    ck_assert_int_eq(aio_get_timeout_ns(ctx), -1);
    timer_free(a);
    timer_free(b);
    timer_free(c);
    timer_free(d);
}
END_TEST

START_TEST(test_timer_mod_del)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    QEMUTimer *a = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'a');
    QEMUTimer *b = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'b');

    bh_pos = 0;
    bh_log[0] = '\0';
    timer_mod(a, now + 5 * 1000000);
    timer_mod(b, now + 10 * 1000000);
    timer_mod(a, now + 15 * 1000000);   /* re-arm later */
    timer_del(b);
    ck_assert(!timer_pending(b));
    while (bh_pos < 1) {
        aio_poll(ctx, true);
    }
    ck_assert_str_eq(bh_log, "a");
    ck_assert_int_ge(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - now, 15 * 1000000);
    timer_free(a);
    timer_free(b);
}
END_TEST

static QEMUTimer *rearm_timer;
static int rearm_count;

static void rearm_cb(void *opaque)
{
    (void)opaque;
    if (++rearm_count < 5) {
        /* Re-armed for "now": runs in a later iteration. */
        timer_mod(rearm_timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    }
}

START_TEST(test_timer_rearm)
{
    rearm_count = 0;
    rearm_timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, rearm_cb, NULL);
    timer_mod(rearm_timer, 0);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(rearm_count, 1);
    while (rearm_count < 5) {
        aio_poll(ctx, true);
    }
    ck_assert(!timer_pending(rearm_timer));
    timer_free(rearm_timer);
}
END_TEST

/* ---- notifiers ---- */

static int notifier_runs;

static void notifier_cb(EventNotifier *n)
{
    ck_assert(event_notifier_test_and_clear(n));
    notifier_runs++;
}

START_TEST(test_event_notifier)
{
    EventNotifier n;

    ck_assert_int_eq(event_notifier_init(&n, false), 0);
    ck_assert(!event_notifier_test_and_clear(&n));
    notifier_runs = 0;
    aio_set_event_notifier(ctx, &n, notifier_cb);
    ck_assert(!aio_poll(ctx, false));
    ck_assert_int_eq(notifier_runs, 0);
    ck_assert_int_eq(event_notifier_set(&n), 0);
    ck_assert_int_eq(event_notifier_set(&n), 0);   /* level, not count */
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(notifier_runs, 1);
    ck_assert(!aio_poll(ctx, false));
    event_notifier_set(&n);
    aio_poll(ctx, true);
    ck_assert_int_eq(notifier_runs, 2);
    aio_set_event_notifier(ctx, &n, NULL);
    event_notifier_set(&n);
    ck_assert(!aio_poll(ctx, false));
    ck_assert_int_eq(notifier_runs, 2);
    event_notifier_cleanup(&n);

    /* Initially active. */
    ck_assert_int_eq(event_notifier_init(&n, true), 0);
    ck_assert(event_notifier_test_and_clear(&n));
    event_notifier_cleanup(&n);
}
END_TEST

#ifndef _WIN32
/* ---- fd handlers ---- */

struct fdh {
    int fd;
    int reads;
    int writes;
    bool remove_on_read;
    char buf[16];
};

static void fd_read_cb(void *opaque)
{
    struct fdh *f = opaque;

    ck_assert_int_gt(read(f->fd, f->buf, sizeof(f->buf)), 0);
    f->reads++;
    if (f->remove_on_read) {
        aio_set_fd_handler(ctx, f->fd, NULL, NULL, NULL);
    }
}

static void fd_write_cb(void *opaque)
{
    struct fdh *f = opaque;

    f->writes++;
    /* Level-triggered: stop watching or it fires forever. */
    aio_set_fd_handler(ctx, f->fd, NULL, NULL, NULL);
}

START_TEST(test_fd_handlers)
{
    int fds[2];
    struct fdh r = { 0 }, w = { 0 };

    ck_assert_int_eq(pipe(fds), 0);
    r.fd = fds[0];
    w.fd = fds[1];
    aio_set_fd_handler(ctx, r.fd, fd_read_cb, NULL, &r);
    ck_assert(!aio_poll(ctx, false));
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(r.reads, 1);
    ck_assert_int_eq(r.buf[0], 'x');

    /* Blocking poll woken by a write from the same thread (already
     * readable) and a handler removing itself while dispatching. */
    r.remove_on_read = true;
    ck_assert_int_eq(write(fds[1], "y", 1), 1);
    aio_poll(ctx, true);
    ck_assert_int_eq(r.reads, 2);
    ck_assert_int_eq(write(fds[1], "z", 1), 1);
    ck_assert(!aio_poll(ctx, false));
    ck_assert_int_eq(r.reads, 2);

    /* Write handler: a pipe with room is writable at once. */
    aio_set_fd_handler(ctx, w.fd, NULL, fd_write_cb, &w);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(w.writes, 1);
    ck_assert(!aio_poll(ctx, false));

    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Changing a handler from read to write on the same fd. */
START_TEST(test_fd_handler_modify)
{
    int fds[2];
    struct fdh f = { 0 };

    ck_assert_int_eq(pipe(fds), 0);
    f.fd = fds[1];
    aio_set_fd_handler(ctx, fds[1], fd_read_cb, NULL, &f);
    ck_assert(!aio_poll(ctx, false));   /* write end never readable */
    aio_set_fd_handler(ctx, fds[1], NULL, fd_write_cb, &f);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(f.writes, 1);
    ck_assert_int_eq(f.reads, 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* ---- embedding: the application's own poll() drives the context ---- */

static void *embed_thread(void *opaque)
{
    struct xbh *x = opaque;

    usleep(10000);
    aio_bh_schedule_oneshot(ctx, xbh_cb, x);
    return NULL;
}

START_TEST(test_embedding)
{
    int fd = aio_get_fd(ctx);
    struct xbh x = { 0 };
    QemuThread t;
    QEMUTimer *tm;
    struct pollfd pfd;
    int64_t timeout;

    if (fd < 0) {
        /* poll() fallback: no single descriptor to export. */
        return;
    }
    /* A BH scheduled from another thread makes the fd readable. */
    ck_assert_int_eq(qemu_thread_create(&t, "embed", embed_thread, &x,
                                        QEMU_THREAD_JOINABLE), 0);
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (!x.ran) {
        timeout = aio_get_timeout_ns(ctx);
        ck_assert_int_ge(poll(&pfd, 1, timeout < 0 ? 5000 : (int)(timeout / 1000000)), 0);
        aio_dispatch(ctx);
    }
    qemu_thread_join(&t);

    /* A timer: the application sleeps for aio_get_timeout_ns. */
    bh_pos = 0;
    bh_log[0] = '\0';
    tm = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, log_timer, (void *)(intptr_t)'t');
    timer_mod(tm, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 5 * 1000000);
    while (bh_pos == 0) {
        timeout = aio_get_timeout_ns(ctx);
        ck_assert_int_ge(timeout, 0);
        poll(&pfd, 1, (int)((timeout + 999999) / 1000000));
        aio_dispatch(ctx);
    }
    ck_assert_str_eq(bh_log, "t");
    timer_free(tm);

    /* A BH scheduled on the same thread: timeout 0. */
    aio_bh_schedule_oneshot(ctx, xbh_cb, &x);
    ck_assert_int_eq(aio_get_timeout_ns(ctx), 0);
    aio_dispatch(ctx);
    ck_assert_int_eq(x.ran, 2);
}
END_TEST
#endif

/* ---- coroutines scheduled on a context ---- */

static void coroutine_fn sched_entry(void *opaque)
{
    int *n = opaque;

    (*n)++;
    qemu_coroutine_yield();
    (*n)++;
}

START_TEST(test_co_schedule)
{
    int n = 0;
    Coroutine *co = qemu_coroutine_create(sched_entry);

    aio_co_enter(ctx, co, &n);          /* same context, not a coroutine */
    ck_assert_int_eq(n, 1);
    aio_co_schedule(ctx, co);           /* runs from the loop */
    ck_assert_int_eq(n, 1);
    ck_assert(aio_poll(ctx, false));
    ck_assert_int_eq(n, 2);
}
END_TEST

/* ---- thread pool ---- */

static int square_work(void *arg)
{
    int *v = arg;
    *v = *v * *v;
    return 7;
}

struct tp_done {
    int count;
    int last_ret;
    bool in_submit;
};

static void tp_cb(void *opaque, int ret)
{
    struct tp_done *d = opaque;

    ck_assert(!d->in_submit);
    d->count++;
    d->last_ret = ret;
}

START_TEST(test_thread_pool_basic)
{
    ThreadPool *pool = aio_get_thread_pool(ctx);
    struct tp_done d = { 0 };
    int values[100];
    int i;

    for (i = 0; i < 100; i++) {
        values[i] = i;
        d.in_submit = true;
        thread_pool_submit_aio(pool, square_work, &values[i], tp_cb, &d);
        d.in_submit = false;
    }
    ck_assert_uint_eq(thread_pool_in_flight(pool), 100 - d.count);
    while (d.count < 100) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(d.last_ret, 7);
    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(values[i], i * i);
    }
    ck_assert_uint_eq(thread_pool_in_flight(pool), 0);
}
END_TEST

/* A gate that keeps the single worker busy so later requests queue. */
struct gate {
    QemuMutex lock;
    QemuCond cond;
    bool open;
    bool entered;
};

static int gate_work(void *arg)
{
    struct gate *g = arg;

    qemu_mutex_lock(&g->lock);
    g->entered = true;
    qemu_cond_broadcast(&g->cond);
    while (!g->open) {
        qemu_cond_wait(&g->cond, &g->lock);
    }
    qemu_mutex_unlock(&g->lock);
    return 0;
}

START_TEST(test_thread_pool_cancel)
{
    ThreadPool *pool = aio_get_thread_pool(ctx);
    struct gate g = { 0 };
    struct tp_done running = { 0 }, queued = { 0 };
    ThreadPoolRequest *r1, *r2;
    int v = 3;

    qemu_mutex_init(&g.lock);
    qemu_cond_init(&g.cond);
    thread_pool_set_max_workers(pool, 1);
    r1 = thread_pool_submit_aio(pool, gate_work, &g, tp_cb, &running);
    qemu_mutex_lock(&g.lock);
    while (!g.entered) {
        qemu_cond_wait(&g.cond, &g.lock);
    }
    qemu_mutex_unlock(&g.lock);
    r2 = thread_pool_submit_aio(pool, square_work, &v, tp_cb, &queued);

    /* Running: cannot be cancelled.  Queued: can. */
    ck_assert(!thread_pool_cancel(r1));
    ck_assert(thread_pool_cancel(r2));
    /* The callback still comes from the loop, not from cancel. */
    ck_assert_int_eq(queued.count, 0);
    while (queued.count == 0) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(queued.last_ret, -ECANCELED);
    ck_assert_int_eq(v, 3);             /* never ran */

    qemu_mutex_lock(&g.lock);
    g.open = true;
    qemu_cond_broadcast(&g.cond);
    qemu_mutex_unlock(&g.lock);
    while (running.count == 0) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(running.last_ret, 0);
    ck_assert_int_eq(queued.count, 1);
    thread_pool_set_max_workers(pool, 64);
    qemu_cond_destroy(&g.cond);
    qemu_mutex_destroy(&g.lock);
}
END_TEST

struct tp_co {
    ThreadPool *pool;
    int value;
    int ret;
    bool done;
};

static void coroutine_fn tp_co_entry(void *opaque)
{
    struct tp_co *t = opaque;

    t->ret = thread_pool_submit_co(t->pool, square_work, &t->value);
    t->done = true;
}

START_TEST(test_thread_pool_co)
{
    struct tp_co t[16];
    int i, done;

    for (i = 0; i < 16; i++) {
        t[i].pool = aio_get_thread_pool(ctx);
        t[i].value = i + 1;
        t[i].done = false;
        aio_co_enter(ctx, qemu_coroutine_create(tp_co_entry), &t[i]);
    }
    do {
        aio_poll(ctx, true);
        for (done = 0, i = 0; i < 16; i++) {
            done += t[i].done;
        }
    } while (done < 16);
    for (i = 0; i < 16; i++) {
        ck_assert_int_eq(t[i].ret, 7);
        ck_assert_int_eq(t[i].value, (i + 1) * (i + 1));
    }
}
END_TEST

static Suite *aio_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase_create("bh");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bh_order);
    tcase_add_test(tc, test_bh_reschedule);
    tcase_add_test(tc, test_bh_cancel_delete);
    tcase_add_test(tc, test_bh_self_delete);
    tcase_add_test(tc, test_bh_oneshot);
    tcase_add_test(tc, test_bh_nested_poll);
    tcase_add_test(tc, test_bh_cross_thread);
    tcase_add_test(tc, test_notify_wakes);
    suite_add_tcase(s, tc);

    tc = tcase_create("timer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_timer_order);
    tcase_add_test(tc, test_timer_mod_del);
    tcase_add_test(tc, test_timer_rearm);
    suite_add_tcase(s, tc);

    tc = tcase_create("handlers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_event_notifier);
#ifndef _WIN32
    tcase_add_test(tc, test_fd_handlers);
    tcase_add_test(tc, test_fd_handler_modify);
    tcase_add_test(tc, test_embedding);
#endif
    tcase_add_test(tc, test_co_schedule);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread-pool");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_thread_pool_basic);
    tcase_add_test(tc, test_thread_pool_cancel);
    tcase_add_test(tc, test_thread_pool_co);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int ret;

#ifndef _WIN32
    unsetenv("COBLOCK_AIO_POLL");
    printf("aio: epoll (where available)\n");
    ret = run_suite(aio_suite("aio-epoll"));
    setenv("COBLOCK_AIO_POLL", "poll", 1);
    printf("aio: poll() fallback\n");
    ret |= run_suite(aio_suite("aio-poll"));
#else
    ret = run_suite(aio_suite("aio-win32"));
#endif
    return ret;
}
