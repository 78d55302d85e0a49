/*
 * coblock — coroutine tests (built once per backend)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "test-common.h"
#include "util/thread.h"
#include <coblock/aio.h>

MINICHECK_GLOBALS

/* ---- life cycle ---- */

static void coroutine_fn set_flag_entry(void *opaque)
{
    *(bool *)opaque = true;
}

START_TEST(test_create_enter)
{
    bool done = false;
    Coroutine *co = qemu_coroutine_create(set_flag_entry);

    ck_assert_ptr_nonnull(co);
    ck_assert(!qemu_coroutine_entered(co));
    qemu_coroutine_enter(co, &done);
    ck_assert(done);
}
END_TEST

static void coroutine_fn yield_5_entry(void *opaque)
{
    int *counter = opaque;
    int i;

    for (i = 0; i < 5; i++) {
        (*counter)++;
        qemu_coroutine_yield();
    }
    *counter = -1;
}

START_TEST(test_yield)
{
    int counter = 0, expect = 0;
    Coroutine *co = qemu_coroutine_create(yield_5_entry);

    qemu_coroutine_enter(co, &counter);
    expect = 1;
    while (counter != -1) {
        ck_assert_int_eq(counter, expect);
        ck_assert(qemu_coroutine_entered(co));
        qemu_coroutine_enter(co, NULL);
        expect++;
    }
    ck_assert_int_eq(expect, 6);
}
END_TEST

/* The opaque of the first enter reaches the entry function. */
static void coroutine_fn check_opaque_entry(void *opaque)
{
    ck_assert_str_eq((const char *)opaque, "hello");
    qemu_coroutine_yield();
}

START_TEST(test_opaque)
{
    static const char hello[] = "hello";
    Coroutine *co = qemu_coroutine_create(check_opaque_entry);

    qemu_coroutine_enter(co, (void *)hello);
    qemu_coroutine_enter(co, NULL);
}
END_TEST

/* ---- self, in_coroutine, entered ---- */

struct self_check {
    Coroutine *co;
    bool in_coroutine;
    bool entered;
    Coroutine *self;
};

static void coroutine_fn self_entry(void *opaque)
{
    struct self_check *sc = opaque;

    sc->in_coroutine = qemu_in_coroutine();
    sc->self = qemu_coroutine_self();
    sc->entered = qemu_coroutine_entered(sc->co);
}

START_TEST(test_self)
{
    struct self_check sc = { 0 };
    Coroutine *leader = qemu_coroutine_self();

    ck_assert(!qemu_in_coroutine());
    ck_assert_ptr_nonnull(leader);
    ck_assert_ptr_eq(qemu_coroutine_self(), leader);
    sc.co = qemu_coroutine_create(self_entry);
    qemu_coroutine_enter(sc.co, &sc);
    ck_assert(sc.in_coroutine);
    ck_assert(sc.entered);
    ck_assert_ptr_eq(sc.self, sc.co);
    ck_assert_ptr_ne(sc.self, leader);
    ck_assert(!qemu_in_coroutine());
}
END_TEST

/* ---- nesting ---- */

#define NEST_DEPTH 256

struct nest {
    int depth;
    int max_depth;
    int finished;
    Coroutine *chain[NEST_DEPTH];
};

static void coroutine_fn nest_entry(void *opaque)
{
    struct nest *n = opaque;
    int my_depth = n->depth;

    n->chain[my_depth] = qemu_coroutine_self();
    if (my_depth > 0) {
        /* Every level sees its own Coroutine, not its parent's. */
        ck_assert_ptr_ne(n->chain[my_depth], n->chain[my_depth - 1]);
    }
    if (n->depth + 1 < n->max_depth) {
        Coroutine *child = qemu_coroutine_create(nest_entry);
        n->depth++;
        qemu_coroutine_enter(child, n);
        /* The child terminated: control came back to us. */
        ck_assert_ptr_eq(qemu_coroutine_self(), n->chain[my_depth]);
    }
    n->finished++;
}

START_TEST(test_nesting)
{
    struct nest n = { .max_depth = NEST_DEPTH };
    Coroutine *root = qemu_coroutine_create(nest_entry);

    qemu_coroutine_enter(root, &n);
    ck_assert_int_eq(n.finished, NEST_DEPTH);
    ck_assert_int_eq(n.depth, NEST_DEPTH - 1);
    ck_assert(!qemu_in_coroutine());
}
END_TEST

/* A nested coroutine that yields returns control to its parent, and the
 * parent can resume it later. */
static void coroutine_fn inner_yielder(void *opaque)
{
    int *steps = opaque;

    (*steps)++;
    qemu_coroutine_yield();
    (*steps)++;
}

static void coroutine_fn outer_entry(void *opaque)
{
    int *steps = opaque;
    Coroutine *inner = qemu_coroutine_create(inner_yielder);

    qemu_coroutine_enter(inner, steps);
    ck_assert_int_eq(*steps, 1);
    qemu_coroutine_yield();
    qemu_coroutine_enter(inner, NULL);
    ck_assert_int_eq(*steps, 2);
}

START_TEST(test_nested_yield)
{
    int steps = 0;
    Coroutine *outer = qemu_coroutine_create(outer_entry);

    qemu_coroutine_enter(outer, &steps);
    ck_assert_int_eq(steps, 1);
    qemu_coroutine_enter(outer, NULL);
    ck_assert_int_eq(steps, 2);
}
END_TEST

/* ---- ordering ---- */

static char order_log[64];
static int order_pos;

static void record(char c)
{
    order_log[order_pos++] = c;
    order_log[order_pos] = '\0';
}

static void coroutine_fn order_entry(void *opaque)
{
    (void)opaque;
    record('b');
    qemu_coroutine_yield();
    record('d');
}

START_TEST(test_order)
{
    Coroutine *co = qemu_coroutine_create(order_entry);

    order_pos = 0;
    record('a');
    qemu_coroutine_enter(co, NULL);
    record('c');
    qemu_coroutine_enter(co, NULL);
    record('e');
    ck_assert_str_eq(order_log, "abcde");
}
END_TEST

/* ---- pool ---- */

static void coroutine_fn nop_entry(void *opaque)
{
    (void)opaque;
}

static void coroutine_fn pool_state_entry(void *opaque)
{
    int *runs = opaque;

    /* A reused coroutine must look brand new. */
    ck_assert(qemu_in_coroutine());
    ck_assert(qemu_coroutine_entered(qemu_coroutine_self()));
    (*runs)++;
    qemu_coroutine_yield();
    (*runs)++;
}

START_TEST(test_pool_reuse)
{
    Coroutine *co, *first;
    unsigned before;
    int runs = 0, i;

    /* Fill the pool with one terminated coroutine. */
    first = qemu_coroutine_create(nop_entry);
    qemu_coroutine_enter(first, NULL);
    before = qemu_coroutine_pool_size();
    ck_assert_uint_ge(before, 1);

    /* The next create takes it from the pool... */
    co = qemu_coroutine_create(pool_state_entry);
    ck_assert_ptr_eq(co, first);
    ck_assert_uint_eq(qemu_coroutine_pool_size(), before - 1);
    /* ...with no state left from its previous life. */
    ck_assert(!qemu_coroutine_entered(co));
    qemu_coroutine_enter(co, &runs);
    ck_assert_int_eq(runs, 1);
    qemu_coroutine_enter(co, NULL);
    ck_assert_int_eq(runs, 2);
    ck_assert(!qemu_coroutine_entered(co));
    ck_assert_uint_eq(qemu_coroutine_pool_size(), before);

    /* Many lifecycles stay within the pool bound. */
    for (i = 0; i < 1000; i++) {
        co = qemu_coroutine_create(nop_entry);
        qemu_coroutine_enter(co, NULL);
    }
    ck_assert_uint_le(qemu_coroutine_pool_size(), 64);
}
END_TEST

START_TEST(test_pool_bounded)
{
    Coroutine *cos[200];
    int runs = 0, i;

    for (i = 0; i < 200; i++) {
        cos[i] = qemu_coroutine_create(pool_state_entry);
        qemu_coroutine_enter(cos[i], &runs);
    }
    for (i = 0; i < 200; i++) {
        qemu_coroutine_enter(cos[i], NULL);
    }
    ck_assert_int_eq(runs, 400);
    ck_assert_uint_le(qemu_coroutine_pool_size(), 64);
    ck_assert_uint_ge(qemu_coroutine_pool_size(), 1);
}
END_TEST

/* ---- misuse aborts with a message ---- */

#ifndef _WIN32
static void coroutine_fn reenter_self_entry(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_self(), NULL);
}

static void do_reenter(void)
{
    qemu_coroutine_enter(qemu_coroutine_create(reenter_self_entry), NULL);
}

START_TEST(test_reenter_aborts)
{
    expect_abort(do_reenter, "re-entered recursively");
}
END_TEST

static void do_yield_outside(void)
{
    qemu_coroutine_yield();
}

START_TEST(test_yield_outside_aborts)
{
    expect_abort(do_yield_outside, "outside coroutine context");
}
END_TEST
#endif

/* ---- wake-ups through the loop ---- */

struct wake_state {
    Coroutine *sleeper;
    char log[16];
    int pos;
};

static void coroutine_fn sleeper_entry(void *opaque)
{
    struct wake_state *ws = opaque;

    ws->log[ws->pos++] = 's';
    qemu_coroutine_yield();
    ws->log[ws->pos++] = 'S';
}

static void coroutine_fn waker_entry(void *opaque)
{
    struct wake_state *ws = opaque;

    ws->log[ws->pos++] = 'w';
    /* From coroutine context the wake-up is deferred... */
    aio_co_wake(ws->sleeper);
    ws->log[ws->pos++] = 'W';
    /* ...until we yield (or terminate). */
}

START_TEST(test_deferred_wake)
{
    struct wake_state ws = { 0 };
    Coroutine *waker;

    ws.sleeper = qemu_coroutine_create(sleeper_entry);
    qemu_coroutine_enter(ws.sleeper, &ws);
    waker = qemu_coroutine_create(waker_entry);
    qemu_coroutine_enter(waker, &ws);
    ws.log[ws.pos] = '\0';
    ck_assert_str_eq(ws.log, "swWS");
}
END_TEST

/* Outside coroutine context, aio_co_wake enters immediately. */
START_TEST(test_direct_wake)
{
    struct wake_state ws = { 0 };

    ws.sleeper = qemu_coroutine_create(sleeper_entry);
    qemu_coroutine_enter(ws.sleeper, &ws);
    aio_co_wake(ws.sleeper);
    ws.log[ws.pos] = '\0';
    ck_assert_str_eq(ws.log, "sS");
}
END_TEST

/* A long chain of deferred wake-ups does not nest stacks. */
#define CHAIN 2000
static Coroutine *chain_cos[CHAIN];
static int chain_done;

static void coroutine_fn chain_entry(void *opaque)
{
    intptr_t i = (intptr_t)opaque;

    qemu_coroutine_yield();
    if (i + 1 < CHAIN) {
        aio_co_wake(chain_cos[i + 1]);
    }
    chain_done++;
}

START_TEST(test_wake_chain)
{
    intptr_t i;

    chain_done = 0;
    for (i = 0; i < CHAIN; i++) {
        chain_cos[i] = qemu_coroutine_create(chain_entry);
        qemu_coroutine_enter(chain_cos[i], (void *)i);
    }
    aio_co_wake(chain_cos[0]);
    ck_assert_int_eq(chain_done, CHAIN);
}
END_TEST

/* Waking from another thread schedules the coroutine on its context. */
struct xthread {
    Coroutine *co;
    bool resumed;
    uint64_t resumed_on;
};

static void coroutine_fn xthread_entry(void *opaque)
{
    struct xthread *x = opaque;

    qemu_coroutine_yield();
    x->resumed_on = qemu_thread_id();
    x->resumed = true;
}

static void *xthread_waker(void *opaque)
{
    struct xthread *x = opaque;

    aio_co_wake(x->co);
    return NULL;
}

START_TEST(test_cross_thread_wake)
{
    struct xthread x = { 0 };
    AioContext *ctx = qemu_get_aio_context();
    QemuThread t;

    x.co = qemu_coroutine_create(xthread_entry);
    qemu_coroutine_enter(x.co, &x);
    ck_assert_int_eq(qemu_thread_create(&t, "waker", xthread_waker, &x,
                                        QEMU_THREAD_JOINABLE), 0);
    while (!x.resumed) {
        aio_poll(ctx, true);
    }
    qemu_thread_join(&t);
    ck_assert(x.resumed_on == qemu_thread_id());
}
END_TEST

/* ---- CoMutex ---- */

#define MUTEX_COS 8

static CoMutex test_mutex;
static int mutex_holders, mutex_max_holders, mutex_done;
static char mutex_order[64];
static int mutex_order_pos;

static void coroutine_fn mutex_entry(void *opaque)
{
    intptr_t id = (intptr_t)opaque;
    int round;

    for (round = 0; round < 3; round++) {
        qemu_co_mutex_lock(&test_mutex);
        qemu_co_mutex_assert_locked(&test_mutex);
        mutex_holders++;
        mutex_max_holders = MAX(mutex_max_holders, mutex_holders);
        if (round == 0) {
            mutex_order[mutex_order_pos++] = (char)('0' + id);
        }
        /* Hold the lock across a yield so others must queue. */
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 100000);
        mutex_holders--;
        qemu_co_mutex_unlock(&test_mutex);
    }
    mutex_done++;
}

START_TEST(test_comutex_contention)
{
    AioContext *ctx = qemu_get_aio_context();
    Coroutine *cos[MUTEX_COS];
    intptr_t i;

    qemu_co_mutex_init(&test_mutex);
    mutex_holders = mutex_max_holders = mutex_order_pos = mutex_done = 0;
    for (i = 0; i < MUTEX_COS; i++) {
        cos[i] = qemu_coroutine_create(mutex_entry);
        qemu_coroutine_enter(cos[i], (void *)i);
    }
    while (mutex_done < MUTEX_COS) {
        aio_poll(ctx, true);
    }
    mutex_order[mutex_order_pos] = '\0';
    ck_assert_int_eq(mutex_max_holders, 1);
    /* FIFO: the first round is served in arrival order. */
    ck_assert_str_eq(mutex_order, "01234567");
    ck_assert_int_eq(test_mutex.locked, 0);
}
END_TEST

static void coroutine_fn trylock_entry(void *opaque)
{
    CoMutex *m = opaque;

    ck_assert(qemu_co_mutex_trylock(m));
    ck_assert(!qemu_co_mutex_trylock(m));
    qemu_co_mutex_unlock(m);
    ck_assert(qemu_co_mutex_trylock(m));
    qemu_co_mutex_unlock(m);
}

START_TEST(test_comutex_trylock)
{
    CoMutex m;

    qemu_co_mutex_init(&m);
    qemu_coroutine_enter(qemu_coroutine_create(trylock_entry), &m);
    ck_assert_int_eq(m.locked, 0);
}
END_TEST

/* Lock handed over in strict order even when the unlocker re-locks at
 * once: it must queue behind the waiters. */
static CoMutex fair_mutex;
static char fair_log[32];
static int fair_pos;

static void coroutine_fn fair_entry(void *opaque)
{
    char c = (char)(intptr_t)opaque;
    int i;

    for (i = 0; i < 2; i++) {
        qemu_co_mutex_lock(&fair_mutex);
        fair_log[fair_pos++] = c;
        qemu_coroutine_yield();
        qemu_co_mutex_unlock(&fair_mutex);
    }
}

START_TEST(test_comutex_fifo_handoff)
{
    Coroutine *a, *b, *c;

    qemu_co_mutex_init(&fair_mutex);
    fair_pos = 0;
    a = qemu_coroutine_create(fair_entry);
    b = qemu_coroutine_create(fair_entry);
    c = qemu_coroutine_create(fair_entry);
    qemu_coroutine_enter(a, (void *)(intptr_t)'a');   /* a holds, yields */
    qemu_coroutine_enter(b, (void *)(intptr_t)'b');   /* b queues */
    qemu_coroutine_enter(c, (void *)(intptr_t)'c');   /* c queues */
    /* a unlocks (hands to b, woken after a yields), a re-locks: queues
     * behind c.  b runs and yields holding the lock. */
    qemu_coroutine_enter(a, NULL);
    qemu_coroutine_enter(b, NULL);  /* b unlocks -> c; b re-locks, queues */
    qemu_coroutine_enter(c, NULL);  /* c unlocks -> a ... */
    qemu_coroutine_enter(a, NULL);  /* a done -> b */
    qemu_coroutine_enter(b, NULL);  /* b done -> c */
    qemu_coroutine_enter(c, NULL);  /* c done */
    fair_log[fair_pos] = '\0';
    ck_assert_str_eq(fair_log, "abcabc");
    ck_assert_int_eq(fair_mutex.locked, 0);
}
END_TEST

/* ---- CoQueue ---- */

static CoQueue test_queue;
static CoMutex queue_mutex;
static int queue_woken;

static void coroutine_fn queue_waiter(void *opaque)
{
    int *order = opaque;

    qemu_co_mutex_lock(&queue_mutex);
    qemu_co_queue_wait(&test_queue, &queue_mutex);
    /* Woken with the lock held again. */
    qemu_co_mutex_assert_locked(&queue_mutex);
    *order = ++queue_woken;
    qemu_co_mutex_unlock(&queue_mutex);
}

START_TEST(test_coqueue)
{
    int order[5] = { 0 };
    int i;

    qemu_co_queue_init(&test_queue);
    qemu_co_mutex_init(&queue_mutex);
    queue_woken = 0;
    ck_assert(qemu_co_queue_empty(&test_queue));
    for (i = 0; i < 5; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(queue_waiter), &order[i]);
    }
    ck_assert(!qemu_co_queue_empty(&test_queue));
    /* The lock was dropped while waiting. */
    ck_assert_int_eq(queue_mutex.locked, 0);

    ck_assert(qemu_co_queue_next(&test_queue));
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 0);
    ck_assert(qemu_co_queue_next(&test_queue));
    ck_assert_int_eq(order[1], 2);
    qemu_co_queue_restart_all(&test_queue);
    ck_assert_int_eq(order[2], 3);
    ck_assert_int_eq(order[3], 4);
    ck_assert_int_eq(order[4], 5);
    ck_assert(qemu_co_queue_empty(&test_queue));
    ck_assert(!qemu_co_queue_next(&test_queue));
}
END_TEST

/* ---- CoRwlock ---- */

static CoRwlock rw;
static int rw_readers, rw_writers, rw_max_readers;
static char rw_log[64];
static int rw_pos;

static void coroutine_fn rw_reader(void *opaque)
{
    qemu_co_rwlock_rdlock(&rw);
    ck_assert_int_eq(rw_writers, 0);
    rw_readers++;
    rw_max_readers = MAX(rw_max_readers, rw_readers);
    rw_log[rw_pos++] = 'r';
    qemu_coroutine_yield();
    rw_readers--;
    qemu_co_rwlock_unlock(&rw);
}

static void coroutine_fn rw_writer(void *opaque)
{
    qemu_co_rwlock_wrlock(&rw);
    ck_assert_int_eq(rw_readers, 0);
    ck_assert_int_eq(rw_writers, 0);
    rw_writers++;
    rw_log[rw_pos++] = 'W';
    qemu_coroutine_yield();
    rw_writers--;
    qemu_co_rwlock_unlock(&rw);
}

START_TEST(test_corwlock_fifo)
{
    Coroutine *r1, *r2, *w, *r3;

    qemu_co_rwlock_init(&rw);
    rw_readers = rw_writers = rw_max_readers = rw_pos = 0;
    r1 = qemu_coroutine_create(rw_reader);
    r2 = qemu_coroutine_create(rw_reader);
    w = qemu_coroutine_create(rw_writer);
    r3 = qemu_coroutine_create(rw_reader);
    qemu_coroutine_enter(r1, NULL);     /* reads */
    qemu_coroutine_enter(r2, NULL);     /* reads concurrently */
    ck_assert_int_eq(rw_max_readers, 2);
    qemu_coroutine_enter(w, NULL);      /* waits for the readers */
    qemu_coroutine_enter(r3, NULL);     /* waits behind the writer */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rr");
    qemu_coroutine_enter(r1, NULL);
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rr");
    qemu_coroutine_enter(r2, NULL);     /* last reader leaves: writer in */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rrW");
    qemu_coroutine_enter(w, NULL);      /* writer leaves: r3 in */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rrWr");
    qemu_coroutine_enter(r3, NULL);
    ck_assert_int_eq(rw.readers, 0);
    ck_assert_int_eq(rw.writer, 0);
}
END_TEST

static void coroutine_fn rw_upgrader(void *opaque)
{
    qemu_co_rwlock_rdlock(&rw);
    rw_readers++;
    rw_log[rw_pos++] = 'r';
    qemu_coroutine_yield();
    rw_readers--;
    qemu_co_rwlock_upgrade(&rw);
    ck_assert_int_eq(rw_readers, 0);
    rw_writers++;
    rw_log[rw_pos++] = 'U';
    qemu_coroutine_yield();
    rw_writers--;
    qemu_co_rwlock_downgrade(&rw);
    rw_readers++;
    rw_log[rw_pos++] = 'D';
    qemu_coroutine_yield();
    rw_readers--;
    qemu_co_rwlock_unlock(&rw);
}

START_TEST(test_corwlock_upgrade_downgrade)
{
    Coroutine *u, *r, *r2;

    qemu_co_rwlock_init(&rw);
    rw_readers = rw_writers = rw_max_readers = rw_pos = 0;
    u = qemu_coroutine_create(rw_upgrader);
    r = qemu_coroutine_create(rw_reader);
    r2 = qemu_coroutine_create(rw_reader);
    qemu_coroutine_enter(u, NULL);      /* u reads */
    qemu_coroutine_enter(r, NULL);      /* r reads */
    qemu_coroutine_enter(u, NULL);      /* u upgrades: waits for r */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rr");
    qemu_coroutine_enter(r2, NULL);     /* r2 queues behind the upgrade */
    qemu_coroutine_enter(r, NULL);      /* r leaves: u becomes writer */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rrU");
    qemu_coroutine_enter(u, NULL);      /* u downgrades: r2 may read too */
    rw_log[rw_pos] = '\0';
    ck_assert_str_eq(rw_log, "rrUDr");
    ck_assert_int_eq(rw_readers, 2);
    qemu_coroutine_enter(u, NULL);
    qemu_coroutine_enter(r2, NULL);
    ck_assert_int_eq(rw.readers, 0);
    ck_assert_int_eq(rw.writer, 0);
}
END_TEST

/* ---- co_sleep ---- */

struct sleeper {
    int64_t ns;
    int64_t woke_at;
    int *order;
    int rank;
};

static void coroutine_fn sleep_entry(void *opaque)
{
    struct sleeper *s = opaque;

    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, s->ns);
    s->woke_at = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    s->rank = ++*s->order;
}

START_TEST(test_co_sleep)
{
    AioContext *ctx = qemu_get_aio_context();
    int order = 0;
    struct sleeper s[3] = {
        { .ns = 30 * 1000000, .order = &order },
        { .ns = 10 * 1000000, .order = &order },
        { .ns = 20 * 1000000, .order = &order },
    };
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int i;

    for (i = 0; i < 3; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(sleep_entry), &s[i]);
    }
    while (order < 3) {
        aio_poll(ctx, true);
    }
    for (i = 0; i < 3; i++) {
        ck_assert_int_ge(s[i].woke_at - start, s[i].ns);
    }
    ck_assert_int_eq(s[1].rank, 1);
    ck_assert_int_eq(s[2].rank, 2);
    ck_assert_int_eq(s[0].rank, 3);
}
END_TEST

static Suite *coroutine_suite(void)
{
    Suite *s = suite_create("coroutine");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_create_enter);
    tcase_add_test(tc, test_yield);
    tcase_add_test(tc, test_opaque);
    tcase_add_test(tc, test_self);
    tcase_add_test(tc, test_nesting);
    tcase_add_test(tc, test_nested_yield);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_pool_reuse);
    tcase_add_test(tc, test_pool_bounded);
#ifndef _WIN32
    tcase_add_test(tc, test_reenter_aborts);
    tcase_add_test(tc, test_yield_outside_aborts);
#endif
    suite_add_tcase(s, tc);

    tc = tcase_create("wake");
    tcase_add_test(tc, test_deferred_wake);
    tcase_add_test(tc, test_direct_wake);
    tcase_add_test(tc, test_wake_chain);
    tcase_add_test(tc, test_cross_thread_wake);
    suite_add_tcase(s, tc);

    tc = tcase_create("sync");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_comutex_contention);
    tcase_add_test(tc, test_comutex_trylock);
    tcase_add_test(tc, test_comutex_fifo_handoff);
    tcase_add_test(tc, test_coqueue);
    tcase_add_test(tc, test_corwlock_fifo);
    tcase_add_test(tc, test_corwlock_upgrade_downgrade);
    tcase_add_test(tc, test_co_sleep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    printf("coroutine backend: %s\n", qemu_coroutine_backend());
    return run_suite(coroutine_suite());
}
