/*
 * coblock — coroutines
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A coroutine is a function that can suspend itself (qemu_coroutine_yield)
 * and be resumed later (qemu_coroutine_enter) with its stack intact, so that
 * asynchronous code reads like blocking code:
 *
 *     static void coroutine_fn my_coroutine(void *opaque)
 *     {
 *         struct work *w = opaque;
 *         submit_request(w);          // arranges for the coroutine to be
 *         qemu_coroutine_yield();     // woken when the request completes
 *         finish(w);
 *     }
 *
 *     Coroutine *co = qemu_coroutine_create(my_coroutine);
 *     qemu_coroutine_enter(co, &work);
 *
 * Rules
 * -----
 * - A function marked coroutine_fn may yield and must only be called from
 *   coroutine context (qemu_in_coroutine() is true).  Functions without the
 *   mark never yield.
 * - qemu_coroutine_enter() switches into the coroutine; it returns when the
 *   coroutine yields or its entry function returns.  When the entry
 *   function returns the coroutine is freed (its stack goes back to a
 *   per-thread pool); the Coroutine pointer must not be used afterwards.
 * - The opaque argument of the first enter reaches the entry function.  A
 *   later enter resumes the coroutine where it yielded and must pass NULL.
 * - Entering a coroutine that is already running (it has been entered and
 *   has not yielded), or yielding outside a coroutine, aborts the process
 *   with a message: both are programming errors.
 * - Single-thread guarantee: if all coroutines are entered and woken from
 *   the thread that runs their AioContext, they never run concurrently.
 *   Exactly one is active at a time, and another coroutine can only run
 *   while the active one is suspended in a yield.  Code between two yields
 *   therefore needs no locking against other coroutines of that thread.
 * - Never keep the address of a thread-local variable across a yield: a
 *   coroutine woken through another AioContext may resume on another thread.
 *
 * Thread affinity: a Coroutine belongs to the thread that enters it.  To
 * wake a coroutine from another thread use aio_co_wake() (coblock/aio.h).
 */
#ifndef COBLOCK_COROUTINE_H
#define COBLOCK_COROUTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a function that may yield; it documents and does not change code. */
#ifndef coroutine_fn
#define coroutine_fn
#endif

typedef struct Coroutine Coroutine;

/* Entry point of a coroutine.  @opaque is the argument of the first enter. */
typedef void coroutine_fn CoroutineEntry(void *opaque);

/* Create a new coroutine that will run @entry when first entered.  Never
 * returns NULL (aborts when memory for a stack cannot be obtained). */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry);

/* Transfer control to @co.  On the first enter @opaque is passed to the
 * entry function; on later enters it must be NULL.  Returns when @co yields
 * or terminates. */
void qemu_coroutine_enter(Coroutine *co, void *opaque);

/* Enter @co only if it is not running already (a no-op otherwise). */
void qemu_coroutine_enter_if_inactive(Coroutine *co);

/* Suspend the current coroutine and return to whoever entered it. */
void coroutine_fn qemu_coroutine_yield(void);

/* The running coroutine, or, outside coroutine context, a per-thread
 * "leader" object that represents the thread's own stack. */
Coroutine *qemu_coroutine_self(void);

/* True when called from coroutine context. */
bool qemu_in_coroutine(void);

/* True from the first enter of @co until it terminates (in particular true
 * while @co is suspended in a yield). */
bool qemu_coroutine_entered(Coroutine *co);

/* Name of the backend this library was built with: "asm", "ucontext",
 * "sigaltstack" or "windows". */
const char *qemu_coroutine_backend(void);

/* Number of coroutines currently kept in this thread's pool (for tests and
 * diagnostics). */
unsigned qemu_coroutine_pool_size(void);

/* ------------------------------------------------------------------------
 * Synchronisation between coroutines.
 *
 * These primitives may be shared by coroutines of different threads (each
 * structure carries a small internal spin lock); waiters are woken with
 * aio_co_wake(), so a waiter resumes in its own AioContext.  The structures
 * are public only so that they can be embedded; treat the fields as
 * private.
 * ------------------------------------------------------------------------ */

/* A mutex for coroutines.  Waiters sleep (yield) instead of spinning, and
 * the lock is handed over in strict FIFO order. */
typedef struct CoMutex {
    int spin;
    int locked;
    Coroutine *holder;
    struct CoWaitRecord *head, *tail;
} CoMutex;

void qemu_co_mutex_init(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);
/* Take the mutex only if it is free right now; returns true on success. */
bool coroutine_fn qemu_co_mutex_trylock(CoMutex *mutex);
/* Aborts unless the current coroutine holds @mutex. */
void qemu_co_mutex_assert_locked(CoMutex *mutex);

/* A queue of waiting coroutines, usually used with a CoMutex like a
 * condition variable. */
typedef struct CoQueue {
    int spin;
    struct CoWaitRecord *head, *tail;
} CoQueue;

void qemu_co_queue_init(CoQueue *queue);
/* Add the current coroutine to @queue and yield.  If @lock is not NULL it
 * is released while waiting and taken again before returning. */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *lock);
/* Wake the first waiter; returns false if there was none. */
bool qemu_co_queue_next(CoQueue *queue);
/* Wake every waiter. */
void qemu_co_queue_restart_all(CoQueue *queue);
bool qemu_co_queue_empty(CoQueue *queue);

/* A readers/writer lock for coroutines.  Waiters are served in FIFO order:
 * a reader arriving after a waiting writer waits behind it. */
typedef struct CoRwlock {
    int spin;
    int readers;        /* number of holders in read mode */
    int writer;         /* 1 when held in write mode */
    struct CoWaitRecord *head, *tail;
} CoRwlock;

void qemu_co_rwlock_init(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock);
/* Turn a read lock held by the caller into a write lock (waits for the
 * other readers to leave). */
void coroutine_fn qemu_co_rwlock_upgrade(CoRwlock *lock);
/* Turn the write lock held by the caller into a read lock, letting waiting
 * readers in. */
void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock);

/* Clocks for timers and qemu_co_sleep_ns.  Both are monotonic and count
 * nanoseconds; QEMU_CLOCK_REALTIME is the only kind a block layer needs and
 * QEMU_CLOCK_VIRTUAL is accepted as a synonym. */
typedef enum QEMUClockType {
    QEMU_CLOCK_REALTIME = 0,
    QEMU_CLOCK_VIRTUAL = 1,
    QEMU_CLOCK_MAX
} QEMUClockType;

/* Sleep for @ns nanoseconds on the current thread's AioContext timers. */
void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_COROUTINE_H */
