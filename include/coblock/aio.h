/*
 * coblock — the event loop (AioContext)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An AioContext is an event loop: it watches file descriptors (POSIX) and
 * event notifiers, runs bottom halves (BHs: deferred callbacks) and timers,
 * and resumes the coroutines whose I/O has completed.  aio_poll() runs one
 * iteration.
 *
 * Thread rules
 * ------------
 * An AioContext is driven by one thread at a time (its "home" thread: the
 * one that calls aio_poll on it).  Everything attached to it — fd handlers,
 * notifiers, timers, BHs, the coroutines it resumes and the block devices
 * that use it — belongs to that thread.  The only calls that are safe from
 * any thread are qemu_bh_schedule(), aio_bh_schedule_oneshot(),
 * aio_co_schedule(), aio_co_wake() and aio_notify().
 *
 * Callback rules
 * --------------
 * Every callback registered here runs from aio_poll() (or aio_dispatch())
 * on the home thread, never from inside the call that registered it.  The
 * opaque pointer given with a callback must stay valid until the callback
 * has been removed (fd handler, notifier, timer: by the matching delete or
 * set-to-NULL call, which takes effect immediately) or, for a one-shot BH,
 * until it has run.
 *
 * Embedding in another event loop
 * -------------------------------
 * An emulator with a loop of its own does not need to call aio_poll() in a
 * blocking way.  On Linux, add the descriptor returned by aio_get_fd() to
 * its poll set (readable means "work may be pending"), bound its sleep by
 * aio_get_timeout_ns(), and call aio_dispatch() whenever the descriptor is
 * readable or the timeout expired.  aio_dispatch() never blocks.  On
 * Windows, wait on the handle returned by aio_get_event_handle() instead.
 */
#ifndef COBLOCK_AIO_H
#define COBLOCK_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <coblock/coroutine.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AioContext AioContext;
typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;

typedef void QEMUBHFunc(void *opaque);
typedef void QEMUTimerCB(void *opaque);
typedef void IOHandler(void *opaque);

/* An event notifier: a level-triggered flag that can be set from any
 * thread and waited on by a loop (an eventfd or pipe on POSIX, an event
 * HANDLE on Windows).  Fields are private. */
typedef struct EventNotifier {
#ifdef _WIN32
    void *event;
#else
    int rfd;
    int wfd;
#endif
    bool initialized;
} EventNotifier;

typedef void EventNotifierHandler(EventNotifier *n);

/* Returns 0 or -errno. */
int event_notifier_init(EventNotifier *e, bool active);
void event_notifier_cleanup(EventNotifier *e);
/* Set the notifier (safe from any thread).  Returns 0 or -errno. */
int event_notifier_set(EventNotifier *e);
/* Clear the notifier; returns true if it was set. */
bool event_notifier_test_and_clear(EventNotifier *e);

/* ---- contexts ---- */

/* Create a loop.  Returns NULL only when the system refuses the resources
 * it needs (file descriptors, handles); errno tells why. */
AioContext *aio_context_new(void);
/* Free a loop.  All handlers, notifiers and timers must have been removed
 * and all BHs deleted; pending one-shot BHs are run first. */
void aio_context_unref(AioContext *ctx);

/* The process-wide default context, created on first use.  The thread that
 * first calls this becomes its home thread. */
AioContext *qemu_get_aio_context(void);

/* The context whose aio_poll() is running on this thread (innermost), else
 * the thread's home context.  A thread without one gets NULL, except that
 * the first thread to ask when no context exists yet creates the default
 * context and becomes its home. */
AioContext *qemu_get_current_aio_context(void);

/* Make @ctx the home context of the calling thread (what
 * qemu_get_current_aio_context returns outside aio_poll). */
void aio_context_set_home_thread(AioContext *ctx);

/* Run one loop iteration: dispatch ready fd handlers and notifiers, BHs and
 * expired timers.  With @blocking, wait until at least one event arrives
 * (or aio_notify() is called).  Returns true if any callback other than the
 * loop's internal wake-up ran.  aio_poll may be called recursively from a
 * callback (a nested loop); handlers are never run concurrently. */
bool aio_poll(AioContext *ctx, bool blocking);

/* Wake a thread blocked in aio_poll(ctx, true).  Safe from any thread. */
void aio_notify(AioContext *ctx);

/* Embedding (see the file comment).  aio_get_fd returns a descriptor that
 * becomes readable when the context has work, or -1 where the platform has
 * none (then poll with aio_dispatch periodically). */
int aio_get_fd(AioContext *ctx);
/* Windows: an event HANDLE (as void *) signalled when work may be pending;
 * NULL elsewhere. */
void *aio_get_event_handle(AioContext *ctx);
/* Nanoseconds until the next timer or pending BH needs the loop: 0 = now,
 * -1 = no deadline. */
int64_t aio_get_timeout_ns(AioContext *ctx);
/* Non-blocking dispatch: same as aio_poll(ctx, false). */
bool aio_dispatch(AioContext *ctx);

/* ---- bottom halves ---- */

/* A BH is a callback scheduled to run once on the context's thread.  A BH
 * scheduled again while it is pending runs once; a BH that schedules
 * itself from its callback runs again in the next loop iteration.  BHs run
 * in the order in which they were scheduled. */
QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);
/* Safe from any thread. */
void qemu_bh_schedule(QEMUBH *bh);
/* Unschedule a pending BH (home thread only). */
void qemu_bh_cancel(QEMUBH *bh);
/* Delete a BH (home thread only); a pending run is cancelled.  The BH may
 * delete itself from its own callback. */
void qemu_bh_delete(QEMUBH *bh);
/* Schedule @cb(@opaque) to run once; the BH frees itself after running.
 * Safe from any thread. */
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/* ---- timers ---- */

/* Current time of @type in nanoseconds (monotonic). */
int64_t qemu_clock_get_ns(QEMUClockType type);

/* Timers fire in deadline order (ties in the order they were armed); a
 * timer callback may re-arm or delete its own timer. */
QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type,
                         QEMUTimerCB *cb, void *opaque);
/* Arm @t to fire at absolute time @expire_ns (re-arms if pending). */
void timer_mod(QEMUTimer *t, int64_t expire_ns);
/* Disarm @t (no-op if not pending). */
void timer_del(QEMUTimer *t);
bool timer_pending(QEMUTimer *t);
/* Absolute deadline of a pending timer, -1 if not pending. */
int64_t timer_expire_time_ns(QEMUTimer *t);
/* Disarm and free. */
void timer_free(QEMUTimer *t);

/* ---- file descriptors (POSIX) and notifiers ---- */

/* Watch @fd: @io_read runs while it is readable, @io_write while it is
 * writable.  Passing NULL for both removes the handler.  On Windows @fd
 * must be a socket. */
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque);

/* Run @handler (with @n as argument) whenever @n is set; NULL removes it.
 * The handler is expected to call event_notifier_test_and_clear(n). */
void aio_set_event_notifier(AioContext *ctx, EventNotifier *n,
                            EventNotifierHandler *handler);

/* ---- coroutines and the loop ---- */

/* Resume @co (which has yielded) in its own context.  If @co's context is
 * the caller's, and the caller is not itself a coroutine, @co is entered
 * immediately; from inside a coroutine the wake-up is deferred until the
 * current coroutine yields or terminates (coroutines never enter each
 * other recursively through wake-ups); from another thread it is scheduled
 * on @co's context.  Safe from any thread. */
void aio_co_wake(Coroutine *co);

/* Schedule @co to be entered by @ctx's loop (from a BH).  Safe from any
 * thread.  Also used to move a coroutine to another context. */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

/* First enter of a new coroutine @co, passing @opaque to its entry
 * function, in @ctx: immediately when @ctx is the caller's context and the
 * caller is not a coroutine, otherwise scheduled like aio_co_schedule. */
void aio_co_enter(AioContext *ctx, Coroutine *co, void *opaque);

/* The context a coroutine was last entered in (NULL before its first
 * enter). */
AioContext *qemu_coroutine_get_aio_context(Coroutine *co);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_AIO_H */
