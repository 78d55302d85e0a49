/*
 * coblock — coroutine backend: the signal-stack trick
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * For systems without makecontext.  To start running on a fresh stack
 * using only POSIX signals:
 *
 *  1. install the new stack as the alternate signal stack and a handler
 *     for SIGUSR2 that runs on it (SA_ONSTACK);
 *  2. send ourselves SIGUSR2 and wait for it with sigsuspend: the handler
 *     runs on the new stack, records a jump buffer there with sigsetjmp
 *     and returns normally;
 *  3. restore the old handler, alternate stack and signal mask;
 *  4. siglongjmp to the recorded buffer: we are on the new stack again,
 *     now outside signal context.  Record the coroutine's own jump buffer
 *     and jump back to the creator.
 *
 * Creation is serialised with a process-wide lock because the signal
 * disposition is process-wide.  SIGUSR2 is borrowed only while all signals
 * are blocked, so an application's own SIGUSR2 handler is unaffected
 * except that a SIGUSR2 arriving during a creation is delivered after it.
 * Switches are sigsetjmp/siglongjmp without the signal mask.
 */
#undef _FORTIFY_SOURCE

#include "util/osdep.h"
#include "coroutine/coroutine-int.h"
#include "coroutine/sjlj.h"

#include <pthread.h>
#include <signal.h>

typedef CoroutineSjlj CoroutineSigAltStack;

const char coroutine_backend_name[] = "sigaltstack";

static pthread_mutex_t creation_lock = PTHREAD_MUTEX_INITIALIZER;

static QEMU_THREAD_LOCAL CoroutineSigAltStack leader;
static QEMU_THREAD_LOCAL CoroutineSigAltStack *switch_from;

/* Hand-over between the creator and the signal handler. */
static QEMU_THREAD_LOCAL struct {
    sigjmp_buf reenter;     /* recorded by the handler on the new stack */
    sigjmp_buf back;        /* recorded by the creator */
    CoroutineSigAltStack *co;
    volatile sig_atomic_t called;
} tr;

static QEMU_NOINLINE CoroutineSigAltStack *get_switch_from(void)
{
    return switch_from;
}

static QEMU_NOINLINE CoroutineSigAltStack *get_tr_co(void)
{
    return tr.co;
}

static QEMU_NOINLINE sigjmp_buf *get_tr_back(void)
{
    return &tr.back;
}

static void QEMU_NORETURN coroutine_bootstrap(CoroutineSigAltStack *co)
{
    CoroutineSigAltStack *from;

    if (!sigsetjmp(co->env, 0)) {
        siglongjmp(*get_tr_back(), 1);
    }
    from = get_switch_from();
    coroutine_asan_finish(NULL, (const void **)&from->stack.base,
                          &from->stack.size);
    coroutine_trampoline_body(&co->base);
}

static void coroutine_sigusr2(int signo)
{
    (void)signo;
    tr.called = 1;
    if (!sigsetjmp(tr.reenter, 0)) {
        return;
    }
    /* Re-entered by siglongjmp from the creator, off signal context. */
    coroutine_bootstrap(get_tr_co());
}

Coroutine *qemu_coroutine_new(void)
{
    CoroutineSigAltStack *co = qemu_xmalloc0(sizeof(*co));
    struct sigaction sa, old_sa;
    stack_t ss, old_ss;
    sigset_t all, old_mask, wait_mask;

    if (!coroutine_stack_alloc(&co->stack, coroutine_stack_size())) {
        qemu_abort("cannot allocate a coroutine stack: %s", strerror(errno));
    }

    pthread_mutex_lock(&creation_lock);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = coroutine_sigusr2;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK;
    if (sigaction(SIGUSR2, &sa, &old_sa) != 0) {
        qemu_abort("sigaction failed: %s", strerror(errno));
    }

    ss.ss_sp = co->stack.base;
    ss.ss_size = co->stack.size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, &old_ss) < 0) {
        qemu_abort("sigaltstack failed: %s", strerror(errno));
    }

    tr.co = co;
    tr.called = 0;
    pthread_kill(pthread_self(), SIGUSR2);
    sigfillset(&wait_mask);
    sigdelset(&wait_mask, SIGUSR2);
    while (!tr.called) {
        sigsuspend(&wait_mask);
    }

    /* Put back the alternate stack and handler of the application. */
    sigaltstack(NULL, &ss);
    ss.ss_flags = SS_DISABLE;
    if (sigaltstack(&ss, NULL) < 0) {
        qemu_abort("sigaltstack failed: %s", strerror(errno));
    }
    if (!(old_ss.ss_flags & SS_DISABLE)) {
        sigaltstack(&old_ss, NULL);
    }
    sigaction(SIGUSR2, &old_sa, NULL);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    pthread_mutex_unlock(&creation_lock);

    /* Step 4: run the bootstrap on the new stack once. */
    switch_from = container_of(qemu_coroutine_self(), CoroutineSigAltStack, base);
    if (!sigsetjmp(tr.back, 0)) {
        siglongjmp(tr.reenter, 1);
    }
    return &co->base;
}

void qemu_coroutine_delete(Coroutine *co_)
{
    CoroutineSigAltStack *co = container_of(co_, CoroutineSigAltStack, base);

    coroutine_stack_free(&co->stack);
    free(co);
}

Coroutine *qemu_coroutine_leader(void)
{
    return &leader.base;
}

CoroutineAction qemu_coroutine_switch(Coroutine *from_, Coroutine *to_,
                                      CoroutineAction action)
{
    CoroutineSigAltStack *from = container_of(from_, CoroutineSigAltStack, base);
    CoroutineSigAltStack *to = container_of(to_, CoroutineSigAltStack, base);
    void *fake_stack = NULL;
    int ret;

    coroutine_asan_start(&fake_stack, action == COROUTINE_TERMINATE,
                         to->stack.base, to->stack.size);
    switch_from = from;
    ret = sigsetjmp(from->env, 0);
    if (ret == 0) {
        siglongjmp(to->env, action);
    }
    from = get_switch_from();
    coroutine_asan_finish(fake_stack, (const void **)&from->stack.base,
                          &from->stack.size);
    return (CoroutineAction)ret;
}
