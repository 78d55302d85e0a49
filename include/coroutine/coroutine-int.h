/*
 * coblock — coroutine internals shared by the core and the backends
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The core (coroutine/coroutine.c) owns the life cycle: pooling, the caller
 * chain, deferred wake-ups and the checks.  A backend only provides a stack
 * and a context switch through three functions:
 *
 *   qemu_coroutine_new()     a Coroutine whose stack, when first switched
 *                            to, runs coroutine_trampoline_body(co) forever
 *   qemu_coroutine_delete()  free it (never the running one)
 *   qemu_coroutine_switch()  save the current context in @from, resume @to,
 *                            and hand @action over; returns the action
 *                            handed over by whoever switches back to @from
 *
 * and a per-thread "leader" (the thread's own stack, never freed by the
 * core), returned by qemu_coroutine_leader().
 *
 * The core is compiled together with each backend (it is part of the
 * backend's convenience library), so that the asm backend can inline its
 * switch into enter and yield (see coroutine/switch-asm.h).
 */
#ifndef COROUTINE_COROUTINE_INT_H
#define COROUTINE_COROUTINE_INT_H

#include "util/osdep.h"
#include "util/queue.h"
#include <coblock/aio.h>

typedef enum {
    COROUTINE_YIELD = 1,
    COROUTINE_TERMINATE = 2,
    COROUTINE_ENTER = 3,
} CoroutineAction;

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    /* Who entered us and gets control back at yield; NULL while the
     * coroutine is suspended or not started. */
    Coroutine *caller;
    /* Context of the last enter (where aio_co_wake sends it). */
    AioContext *ctx;
    /* Set from first enter to termination. */
    bool entered;
    /* A wake-up is queued (deferred or scheduled); guards double wakes. */
    const char *scheduled;

    /* Wake-ups requested while this coroutine was running; run after it
     * yields or terminates. */
    QSIMPLEQ_HEAD(, Coroutine) co_queue_wakeup;
    QSIMPLEQ_ENTRY(Coroutine) co_queue_next;

    /* Saved stack pointer of a suspended coroutine (asm backend). */
    void *switch_sp;

    /* Pool and cross-thread schedule links. */
    QSLIST_ENTRY(Coroutine) pool_next;
    Coroutine *sched_next;
};

/* Backend interface. */
Coroutine *qemu_coroutine_new(void);
void qemu_coroutine_delete(Coroutine *co);
CoroutineAction qemu_coroutine_switch(Coroutine *from, Coroutine *to,
                                      CoroutineAction action);
Coroutine *qemu_coroutine_leader(void);
extern const char coroutine_backend_name[];

/* Run by every backend's entry stub on the coroutine's own stack: runs
 * entry functions in a loop (a pooled stack is reused), switching back to
 * the caller with COROUTINE_TERMINATE after each.  Never returns. */
void QEMU_NORETURN coroutine_trampoline_body(Coroutine *co);

/* Stack helpers for the POSIX backends (coroutine/stack.c): an mmap'ed
 * area of @size usable bytes plus a PROT_NONE guard page below it,
 * registered with valgrind when built with its headers. */
typedef struct CoroutineStack {
    void *base;         /* lowest usable address */
    size_t size;        /* usable bytes */
    unsigned valgrind_id;
} CoroutineStack;

bool coroutine_stack_alloc(CoroutineStack *stack, size_t size);
void coroutine_stack_free(CoroutineStack *stack);
size_t coroutine_stack_size(void);

/* AddressSanitizer fiber annotations (no-ops without sanitizers).  Call
 * start right before a switch and finish right after control comes back;
 * the backend keeps a fake-stack pointer per switch. */
void coroutine_asan_start(void **fake_stack, bool terminating,
                          const void *to_bottom, size_t to_size);
void coroutine_asan_finish(void *fake_stack, const void **from_bottom,
                           size_t *from_size);

/* Used by aio_co_wake (util/async.c) from coroutine context: queue @co to
 * be entered after the running coroutine yields or terminates. */
void qemu_coroutine_defer_wake(Coroutine *co);

#endif /* COROUTINE_COROUTINE_INT_H */
