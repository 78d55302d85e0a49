/*
 * coblock — the coroutine object of the sigsetjmp-based backends
 * (ucontext and sigaltstack), shared with the core so that it can inline
 * their switch
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef COROUTINE_SJLJ_H
#define COROUTINE_SJLJ_H

/* Jumping between stacks is the point; the fortified longjmp refuses it. */
#undef _FORTIFY_SOURCE
#include <setjmp.h>

#include "coroutine/coroutine-int.h"

typedef struct CoroutineSjlj {
    Coroutine base;
    sigjmp_buf env;
    CoroutineStack stack;
} CoroutineSjlj;

#endif /* COROUTINE_SJLJ_H */
