/*
 * coblock — coroutine life cycle: create, enter, yield, terminate, pool
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The backends (coroutine/backend-*.c) only switch stacks; everything that
 * gives coroutines their semantics lives here:
 *
 * - `current` is the running coroutine of this thread, or NULL while the
 *   thread runs on its own stack (the "leader").
 * - A coroutine's `caller` is whoever entered it; yield switches back to
 *   it.  A non-NULL caller means "running", which is how re-entering a
 *   running coroutine is caught.
 * - Wake-ups requested by a running coroutine (aio_co_wake from coroutine
 *   context) are queued on it and run by the enter loop below after it
 *   yields or terminates, iteratively, so that a chain of wake-ups never
 *   nests stacks.
 * - A terminated coroutine keeps its stack and goes to a per-thread pool;
 *   its trampoline loops, so the next create+enter of a pooled coroutine
 *   costs no allocation and no stack setup.
 */

/* The sigsetjmp backends are inlined here; the fortified longjmp refuses
 * to jump between stacks.  This must precede every libc header. */
#undef _FORTIFY_SOURCE

#include "util/osdep.h"
#include "coroutine/coroutine-int.h"
#include "util/aio-int.h"

#include "coroutine/switch-inline.h"

#ifndef _WIN32
#include <pthread.h>
#endif

/* Pooled coroutines kept per thread.  Each holds a stack whose touched
 * pages stay resident, so the bound trades memory for speed. */
#define COROUTINE_POOL_MAX 64

static QEMU_THREAD_LOCAL Coroutine *current;
static QEMU_THREAD_LOCAL Coroutine *leader_cache;
static QEMU_THREAD_LOCAL Coroutine *pool_head;
static QEMU_THREAD_LOCAL unsigned pool_size;

#ifndef _WIN32
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void pool_thread_exit(void *unused)
{
    Coroutine *co;

    (void)unused;
    while ((co = pool_head) != NULL) {
        pool_head = co->pool_next.sle_next;
        qemu_coroutine_delete(co);
    }
    pool_size = 0;
}

static void pool_key_init(void)
{
    if (pthread_key_create(&pool_key, pool_thread_exit)) {
        qemu_abort("pthread_key_create failed");
    }
}
#endif

const char *qemu_coroutine_backend(void)
{
    return coroutine_backend_name;
}

unsigned qemu_coroutine_pool_size(void)
{
    return pool_size;
}

/*
 * Thread-local state and stack switches
 * -------------------------------------
 * A coroutine that yields on one thread can resume on another, so code
 * that runs after a switch must not reuse a thread-local address computed
 * before it.  qemu_coroutine_enter resumes on the thread that called it
 * (its caller side never migrates), so it may use `current` directly.  The
 * trampoline loop, which resumes after a switch in whatever thread reuses
 * the coroutine, goes through the out-of-line accessors below.
 */
static QEMU_NOINLINE Coroutine *get_current_fresh(void)
{
    return current;
}

static QEMU_NOINLINE void set_current_fresh(Coroutine *co)
{
    current = co;
}

static QEMU_NOINLINE bool is_leader_fresh(Coroutine *co)
{
    return co == leader_cache;
}

static inline Coroutine *get_current(void)
{
    return current;
}

static Coroutine *get_leader(void)
{
    Coroutine *l = leader_cache;

    if (unlikely(!l)) {
        l = qemu_coroutine_leader();
        l->entered = true;
        leader_cache = l;
    }
    return l;
}

Coroutine *qemu_coroutine_self(void)
{
    Coroutine *co = get_current_fresh();
    return co ? co : get_leader();
}

bool qemu_in_coroutine(void)
{
    return get_current_fresh() != NULL;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->entered;
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return co->ctx;
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry)
{
    Coroutine *co = pool_head;

    if (co) {
        pool_head = co->pool_next.sle_next;
        pool_size--;
    } else {
        co = qemu_coroutine_new();
#ifndef _WIN32
        pthread_once(&pool_key_once, pool_key_init);
        /* Any non-NULL value arms the destructor for this thread. */
        pthread_setspecific(pool_key, (void *)1);
#endif
    }
    co->entry = entry;
    co->entry_arg = NULL;
    co->caller = NULL;
    co->ctx = NULL;
    co->entered = false;
    co->scheduled = NULL;
    QSIMPLEQ_INIT(&co->co_queue_wakeup);
    return co;
}

static void coroutine_release(Coroutine *co)
{
    if (pool_size < COROUTINE_POOL_MAX) {
        co->pool_next.sle_next = pool_head;
        pool_head = co;
        pool_size++;
    } else {
        qemu_coroutine_delete(co);
    }
}

void coroutine_trampoline_body(Coroutine *co)
{
    for (;;) {
        Coroutine *to;

        co->entry(co->entry_arg);

        /* Terminate: hand control back for good.  The enter loop returns
         * this coroutine to the pool; if it is reused, the switch below
         * returns and the loop runs the new entry function. */
        to = co->caller;
        co->caller = NULL;
        co->entered = false;
        set_current_fresh(is_leader_fresh(to) ? NULL : to);
        coroutine_switch(co, to, COROUTINE_TERMINATE);
    }
}

/* Switch into @to on behalf of @self; returns the action @to left with. */
static inline CoroutineAction coroutine_switch_into(Coroutine *self,
                                                    Coroutine *to)
{
    if (unlikely(to->caller != NULL)) {
        qemu_abort("Co-routine re-entered recursively");
    }
    if (unlikely(to->scheduled)) {
        qemu_abort("Co-routine was already scheduled in '%s'", to->scheduled);
    }
    to->caller = self;
    to->entered = true;
    to->ctx = aio_get_current_ctx();
    current = to;
    return coroutine_switch(self, to, COROUTINE_ENTER);
}

/* Slow part of enter: run the wake-ups queued while coroutines ran, one
 * after the other (never nested), until none is left. */
static QEMU_NOINLINE void coroutine_run_wakeups(Coroutine *self, Coroutine *co)
{
    QSIMPLEQ_HEAD(, Coroutine) pending;
    Coroutine *to;

    QSIMPLEQ_INIT(&pending);
    QSIMPLEQ_CONCAT(&pending, &co->co_queue_wakeup);
    while ((to = QSIMPLEQ_FIRST(&pending)) != NULL) {
        CoroutineAction ret;

        QSIMPLEQ_REMOVE_HEAD(&pending, co_queue_next);
        to->scheduled = NULL;
        ret = coroutine_switch_into(self, to);
        QSIMPLEQ_CONCAT(&pending, &to->co_queue_wakeup);
        if (ret == COROUTINE_TERMINATE) {
            coroutine_release(to);
        }
    }
}

void qemu_coroutine_enter(Coroutine *co, void *opaque)
{
    Coroutine *cur = get_current();
    Coroutine *self = cur ? cur : get_leader();
    CoroutineAction ret;

    if (!co->entered) {
        co->entry_arg = opaque;
    } else if (unlikely(opaque != NULL)) {
        qemu_abort("qemu_coroutine_enter: re-entering a started coroutine "
                   "must pass a NULL opaque");
    }

    ret = coroutine_switch_into(self, co);

    /* Back here: @co yielded or terminated (and reset `current`).  The
     * wake-ups it asked for while it ran are run before we return. */
    if (unlikely(!QSIMPLEQ_EMPTY(&co->co_queue_wakeup))) {
        coroutine_run_wakeups(self, co);
    }
    if (ret == COROUTINE_TERMINATE) {
        coroutine_release(co);
    }
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!co->caller) {
        qemu_coroutine_enter(co, NULL);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *self = get_current();
    Coroutine *to;

    if (unlikely(!self)) {
        qemu_abort("qemu_coroutine_yield called outside coroutine context");
    }
    to = self->caller;
    self->caller = NULL;
    current = (to == leader_cache) ? NULL : to;
    coroutine_switch(self, to, COROUTINE_YIELD);
    /* We may be on another thread now: no thread-local access here. */
}

/* Called by aio_co_wake from coroutine context: run @co after the current
 * coroutine yields. */
void qemu_coroutine_defer_wake(Coroutine *co)
{
    Coroutine *self = get_current_fresh();

    assert(self);
    if (unlikely(co == self)) {
        qemu_abort("aio_co_wake: a coroutine cannot wake itself");
    }
    co->scheduled = "aio_co_wake";
    QSIMPLEQ_INSERT_TAIL(&self->co_queue_wakeup, co, co_queue_next);
}
