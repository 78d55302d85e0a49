/*
 * coblock — choosing how the core switches stacks
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * coroutine/coroutine.c is compiled once per backend.  Where possible the
 * switch is inlined into qemu_coroutine_enter and qemu_coroutine_yield:
 * every `ret` executed on the far side of a switch is a return-stack
 * misprediction, and an out-of-line switch function doubles their number
 * (see coroutine/switch-asm.h).  Sanitizer builds and the fibers backend
 * call the backend's qemu_coroutine_switch instead, which is where the
 * AddressSanitizer stack annotations live.
 */
#ifndef COROUTINE_SWITCH_INLINE_H
#define COROUTINE_SWITCH_INLINE_H

#include "coroutine/coroutine-int.h"

#if defined(CONFIG_SANITIZERS) || defined(COROUTINE_BACKEND_WINDOWS) || \
    !(defined(COROUTINE_BACKEND_ASM) || defined(COROUTINE_BACKEND_UCONTEXT) || \
      defined(COROUTINE_BACKEND_SIGALTSTACK))

#define coroutine_switch qemu_coroutine_switch

#elif defined(COROUTINE_BACKEND_ASM)

#include "coroutine/switch-asm.h"

static inline __attribute__((always_inline)) CoroutineAction
coroutine_switch(Coroutine *from, Coroutine *to, CoroutineAction action)
{
    return (CoroutineAction)coroutine_asm_swap(&from->switch_sp, to->switch_sp,
                                               action, to);
}

#else /* ucontext, sigaltstack: sigsetjmp/siglongjmp without the mask */

#include "coroutine/sjlj.h"

/*
 * In the function this is inlined into, nothing runs between the
 * sigsetjmp and the siglongjmp that comes back to it (we jump away at
 * once), so no local can be stale when sigsetjmp returns the second time;
 * GCC's -Wclobbered cannot see that.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

/* A macro, because GCC never inlines a function that calls setjmp. */
#define coroutine_switch(from, to, action) ({                               \
        CoroutineSjlj *f_ = container_of((from), CoroutineSjlj, base);      \
        CoroutineSjlj *t_ = container_of((to), CoroutineSjlj, base);        \
        int ret_ = sigsetjmp(f_->env, 0);                                   \
        if (ret_ == 0) {                                                    \
            siglongjmp(t_->env, (int)(action));                             \
        }                                                                   \
        (CoroutineAction)ret_; })

#endif

#endif /* COROUTINE_SWITCH_INLINE_H */
