/*
 * coblock — CoMutex, CoQueue, CoRwlock and qemu_co_sleep_ns
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * All three primitives keep a FIFO of wait records.  A record lives on the
 * waiting coroutine's stack for as long as it waits.  A short internal spin
 * lock protects each structure so that coroutines of different threads may
 * share one; it is never held across a yield or a wake-up.
 *
 * Ownership is handed over directly: the coroutine that releases a lock
 * chooses the next owner(s) and updates the lock state on their behalf
 * before waking them, so a woken waiter never has to compete again.  That
 * is what makes the order strictly FIFO.
 *
 * Wake-ups go through aio_co_wake(), so a waiter resumes in its own
 * AioContext, and a wake-up issued from coroutine context is deferred until
 * the waker yields.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "coroutine/coroutine-int.h"

typedef enum { WAIT_PLAIN, WAIT_READ, WAIT_WRITE } WaitMode;

struct CoWaitRecord {
    Coroutine *co;
    struct CoWaitRecord *next;
    WaitMode mode;
};
typedef struct CoWaitRecord CoWaitRecord;

static inline void wait_append(CoWaitRecord **head, CoWaitRecord **tail,
                               CoWaitRecord *w)
{
    w->next = NULL;
    if (*tail) {
        (*tail)->next = w;
    } else {
        *head = w;
    }
    *tail = w;
}

static inline CoWaitRecord *wait_pop(CoWaitRecord **head, CoWaitRecord **tail)
{
    CoWaitRecord *w = *head;

    if (w) {
        *head = w->next;
        if (!*head) {
            *tail = NULL;
        }
    }
    return w;
}

static void assert_in_coroutine(const char *fn)
{
    if (unlikely(!qemu_in_coroutine())) {
        qemu_abort("%s called outside coroutine context", fn);
    }
}

/* ---- CoMutex ---- */

void qemu_co_mutex_init(CoMutex *mutex)
{
    memset(mutex, 0, sizeof(*mutex));
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self;
    CoWaitRecord w;

    assert_in_coroutine("qemu_co_mutex_lock");
    self = qemu_coroutine_self();
    qemu_spin_lock(&mutex->spin);
    if (!mutex->locked) {
        mutex->locked = 1;
        mutex->holder = self;
        qemu_spin_unlock(&mutex->spin);
        return;
    }
    if (unlikely(mutex->holder == self)) {
        qemu_abort("qemu_co_mutex_lock: coroutine already holds the mutex");
    }
    w.co = self;
    w.mode = WAIT_PLAIN;
    wait_append(&mutex->head, &mutex->tail, &w);
    qemu_spin_unlock(&mutex->spin);

    qemu_coroutine_yield();
    /* The unlocker made us the holder before waking us. */
    assert(qatomic_read(&mutex->holder) == qemu_coroutine_self());
}

bool coroutine_fn qemu_co_mutex_trylock(CoMutex *mutex)
{
    bool ok = false;

    assert_in_coroutine("qemu_co_mutex_trylock");
    qemu_spin_lock(&mutex->spin);
    if (!mutex->locked) {
        mutex->locked = 1;
        mutex->holder = qemu_coroutine_self();
        ok = true;
    }
    qemu_spin_unlock(&mutex->spin);
    return ok;
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    CoWaitRecord *w;
    Coroutine *next = NULL;

    assert_in_coroutine("qemu_co_mutex_unlock");
    qemu_spin_lock(&mutex->spin);
    if (unlikely(!mutex->locked || mutex->holder != qemu_coroutine_self())) {
        qemu_spin_unlock(&mutex->spin);
        qemu_abort("qemu_co_mutex_unlock: mutex not held by this coroutine");
    }
    w = wait_pop(&mutex->head, &mutex->tail);
    if (w) {
        next = w->co;
        mutex->holder = next;
    } else {
        mutex->locked = 0;
        mutex->holder = NULL;
    }
    qemu_spin_unlock(&mutex->spin);
    if (next) {
        aio_co_wake(next);
    }
}

void qemu_co_mutex_assert_locked(CoMutex *mutex)
{
    if (!qatomic_read(&mutex->locked) ||
        qatomic_read(&mutex->holder) != qemu_coroutine_self()) {
        qemu_abort("CoMutex not held by the current coroutine");
    }
}

/* ---- CoQueue ---- */

void qemu_co_queue_init(CoQueue *queue)
{
    memset(queue, 0, sizeof(*queue));
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *lock)
{
    CoWaitRecord w;

    assert_in_coroutine("qemu_co_queue_wait");
    w.co = qemu_coroutine_self();
    w.mode = WAIT_PLAIN;
    qemu_spin_lock(&queue->spin);
    wait_append(&queue->head, &queue->tail, &w);
    qemu_spin_unlock(&queue->spin);

    /* Releasing the lock may wake another coroutine; from coroutine
     * context that wake-up runs only after our yield, so nobody can call
     * qemu_co_queue_next before we are really waiting. */
    if (lock) {
        qemu_co_mutex_unlock(lock);
    }
    qemu_coroutine_yield();
    if (lock) {
        qemu_co_mutex_lock(lock);
    }
}

bool qemu_co_queue_next(CoQueue *queue)
{
    CoWaitRecord *w;
    Coroutine *co = NULL;

    qemu_spin_lock(&queue->spin);
    w = wait_pop(&queue->head, &queue->tail);
    if (w) {
        co = w->co;
    }
    qemu_spin_unlock(&queue->spin);
    if (co) {
        aio_co_wake(co);
    }
    return co != NULL;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    CoWaitRecord *w;

    qemu_spin_lock(&queue->spin);
    w = queue->head;
    queue->head = queue->tail = NULL;
    qemu_spin_unlock(&queue->spin);

    while (w) {
        /* The record dies with its coroutine's frame once it is woken. */
        CoWaitRecord *next = w->next;
        aio_co_wake(w->co);
        w = next;
    }
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return qatomic_read(&queue->head) == NULL;
}

/* ---- CoRwlock ---- */

void qemu_co_rwlock_init(CoRwlock *lock)
{
    memset(lock, 0, sizeof(*lock));
}

/*
 * With the spin lock held: grant the lock to waiters at the head of the
 * queue that can have it now (one writer, or a run of readers), and return
 * them as a chain to wake once the spin lock is dropped.
 */
static CoWaitRecord *rwlock_grant_locked(CoRwlock *lock)
{
    CoWaitRecord *first = NULL, *last = NULL;

    while (lock->head && !lock->writer) {
        CoWaitRecord *w = lock->head;

        if (w->mode == WAIT_WRITE) {
            if (lock->readers) {
                break;
            }
            lock->writer = 1;
        } else {
            lock->readers++;
        }
        wait_pop(&lock->head, &lock->tail);
        w->next = NULL;
        if (last) {
            last->next = w;
        } else {
            first = w;
        }
        last = w;
        if (w->mode == WAIT_WRITE) {
            break;
        }
    }
    return first;
}

static void rwlock_wake_chain(CoWaitRecord *w)
{
    while (w) {
        CoWaitRecord *next = w->next;
        aio_co_wake(w->co);
        w = next;
    }
}

static void coroutine_fn rwlock_wait(CoRwlock *lock, WaitMode mode,
                                     bool at_head)
{
    CoWaitRecord w;

    w.co = qemu_coroutine_self();
    w.mode = mode;
    if (at_head) {
        w.next = lock->head;
        lock->head = &w;
        if (!lock->tail) {
            lock->tail = &w;
        }
    } else {
        wait_append(&lock->head, &lock->tail, &w);
    }
    qemu_spin_unlock(&lock->spin);
    qemu_coroutine_yield();
    /* Granted by whoever woke us. */
}

void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock)
{
    assert_in_coroutine("qemu_co_rwlock_rdlock");
    qemu_spin_lock(&lock->spin);
    if (!lock->writer && !lock->head) {
        lock->readers++;
        qemu_spin_unlock(&lock->spin);
        return;
    }
    rwlock_wait(lock, WAIT_READ, false);
}

void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock)
{
    assert_in_coroutine("qemu_co_rwlock_wrlock");
    qemu_spin_lock(&lock->spin);
    if (!lock->writer && !lock->readers && !lock->head) {
        lock->writer = 1;
        qemu_spin_unlock(&lock->spin);
        return;
    }
    rwlock_wait(lock, WAIT_WRITE, false);
}

void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock)
{
    CoWaitRecord *wake;

    assert_in_coroutine("qemu_co_rwlock_unlock");
    qemu_spin_lock(&lock->spin);
    if (lock->writer) {
        lock->writer = 0;
    } else if (lock->readers > 0) {
        lock->readers--;
    } else {
        qemu_spin_unlock(&lock->spin);
        qemu_abort("qemu_co_rwlock_unlock: lock is not held");
    }
    wake = rwlock_grant_locked(lock);
    qemu_spin_unlock(&lock->spin);
    rwlock_wake_chain(wake);
}

void coroutine_fn qemu_co_rwlock_upgrade(CoRwlock *lock)
{
    assert_in_coroutine("qemu_co_rwlock_upgrade");
    qemu_spin_lock(&lock->spin);
    if (unlikely(lock->writer || lock->readers <= 0)) {
        qemu_spin_unlock(&lock->spin);
        qemu_abort("qemu_co_rwlock_upgrade: no read lock held");
    }
    lock->readers--;
    if (lock->readers == 0) {
        lock->writer = 1;
        qemu_spin_unlock(&lock->spin);
        return;
    }
    /* Wait at the head of the queue for the other readers to leave: the
     * last of them grants us the write lock. */
    rwlock_wait(lock, WAIT_WRITE, true);
}

void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock)
{
    CoWaitRecord *wake;

    assert_in_coroutine("qemu_co_rwlock_downgrade");
    qemu_spin_lock(&lock->spin);
    if (unlikely(!lock->writer)) {
        qemu_spin_unlock(&lock->spin);
        qemu_abort("qemu_co_rwlock_downgrade: no write lock held");
    }
    lock->writer = 0;
    lock->readers = 1;
    wake = rwlock_grant_locked(lock);
    qemu_spin_unlock(&lock->spin);
    rwlock_wake_chain(wake);
}

/* ---- sleeping ---- */

static void co_sleep_cb(void *opaque)
{
    aio_co_wake(opaque);
}

void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns)
{
    AioContext *ctx;
    QEMUTimer *t;

    assert_in_coroutine("qemu_co_sleep_ns");
    ctx = qemu_get_current_aio_context();
    t = aio_timer_new(ctx, type, co_sleep_cb, qemu_coroutine_self());
    timer_mod(t, qemu_clock_get_ns(type) + (ns > 0 ? ns : 0));
    qemu_coroutine_yield();
    timer_free(t);
}
