/*
 * coblock — coroutine backend: makecontext once per stack, then
 * sigsetjmp/siglongjmp for every switch
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * swapcontext saves and restores the signal mask, a system call per
 * switch.  It is used only once, when a stack is created: the new context
 * records a jump buffer with sigsetjmp(env, 0) (no mask) and jumps back.
 * From then on every switch is a sigsetjmp/siglongjmp pair.
 */

/* Jumping between stacks is the point of this file; the fortified
 * longjmp refuses it. */
#undef _FORTIFY_SOURCE

#include "util/osdep.h"
#include "coroutine/coroutine-int.h"
#include "coroutine/sjlj.h"

#include <ucontext.h>

typedef CoroutineSjlj CoroutineUContext;

const char coroutine_backend_name[] = "ucontext";

static QEMU_THREAD_LOCAL CoroutineUContext leader;
static QEMU_THREAD_LOCAL sigjmp_buf *creator_env;
static QEMU_THREAD_LOCAL CoroutineUContext *switch_from;

static QEMU_NOINLINE CoroutineUContext *get_switch_from(void)
{
    return switch_from;
}

static QEMU_NOINLINE sigjmp_buf *get_creator_env(void)
{
    return creator_env;
}

/* Tell ASan which stack we came from (the one that switched to us). */
static QEMU_NOINLINE void note_arrival(void *fake_stack)
{
    CoroutineUContext *from = get_switch_from();

    coroutine_asan_finish(fake_stack, (const void **)&from->stack.base,
                          &from->stack.size);
}

static QEMU_NOINLINE QEMU_NORETURN void return_to_creator(void)
{
    CoroutineUContext *from = get_switch_from();
    void *fake_stack = NULL;

    coroutine_asan_start(&fake_stack, false, from->stack.base, from->stack.size);
    siglongjmp(*get_creator_env(), 1);
}

/* makecontext passes int arguments only: the pointer comes in halves. */
static void QEMU_NORETURN coroutine_uc_entry(int hi, int lo)
{
    CoroutineUContext *co =
        (CoroutineUContext *)(((uintptr_t)(unsigned)hi << 31 << 1) | (uintptr_t)(unsigned)lo);

    note_arrival(NULL);
    if (!sigsetjmp(co->env, 0)) {
        return_to_creator();
    }
    /* First real switch to this coroutine. */
    note_arrival(NULL);
    coroutine_trampoline_body(&co->base);
}

Coroutine *qemu_coroutine_new(void)
{
    CoroutineUContext *co = qemu_xmalloc0(sizeof(*co));
    CoroutineUContext *self;
    ucontext_t old_uc, uc;
    sigjmp_buf old_env;
    void *fake_stack = NULL;
    uintptr_t p = (uintptr_t)co;

    if (!coroutine_stack_alloc(&co->stack, coroutine_stack_size())) {
        qemu_abort("cannot allocate a coroutine stack: %s", strerror(errno));
    }
    if (getcontext(&uc) == -1) {
        qemu_abort("getcontext failed: %s", strerror(errno));
    }
    uc.uc_link = &old_uc;
    uc.uc_stack.ss_sp = co->stack.base;
    uc.uc_stack.ss_size = co->stack.size;
    uc.uc_stack.ss_flags = 0;
    makecontext(&uc, (void (*)(void))coroutine_uc_entry, 2,
                (int)(unsigned)(p >> 31 >> 1), (int)(unsigned)p);

    /* The creator may itself be a coroutine: record who we are so the new
     * stack can tell ASan where to return. */
    self = container_of(qemu_coroutine_self(), CoroutineUContext, base);
    switch_from = self;
    creator_env = &old_env;
    if (!sigsetjmp(old_env, 0)) {
        coroutine_asan_start(&fake_stack, false, co->stack.base, co->stack.size);
        swapcontext(&old_uc, &uc);
    }
    coroutine_asan_finish(fake_stack, NULL, NULL);
    return &co->base;
}

void qemu_coroutine_delete(Coroutine *co_)
{
    CoroutineUContext *co = container_of(co_, CoroutineUContext, base);

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
    CoroutineUContext *from = container_of(from_, CoroutineUContext, base);
    CoroutineUContext *to = container_of(to_, CoroutineUContext, base);
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
