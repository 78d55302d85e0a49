/*
 * coblock — coroutine backend: Windows fibers
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each coroutine is a fiber with its own stack; the thread becomes a fiber
 * (ConvertThreadToFiber) the first time it needs a leader.  The action
 * handed over by a switch is stored in the target before SwitchToFiber and
 * read back by it when it resumes.
 */
#include "util/osdep.h"
#include "coroutine/coroutine-int.h"

typedef struct CoroutineWin32 {
    Coroutine base;
    LPVOID fiber;
    CoroutineAction action;
} CoroutineWin32;

const char coroutine_backend_name[] = "windows";

static QEMU_THREAD_LOCAL CoroutineWin32 leader;

static VOID CALLBACK coroutine_fiber_entry(LPVOID param)
{
    coroutine_trampoline_body(param);
}

Coroutine *qemu_coroutine_new(void)
{
    CoroutineWin32 *co = qemu_xmalloc0(sizeof(*co));

    /* Reserve the configured stack size; commit on demand. */
    co->fiber = CreateFiberEx(0, COROUTINE_STACK_SIZE, FIBER_FLAG_FLOAT_SWITCH,
                              coroutine_fiber_entry, &co->base);
    if (!co->fiber) {
        qemu_abort("CreateFiberEx failed: error %lu", GetLastError());
    }
    return &co->base;
}

void qemu_coroutine_delete(Coroutine *co_)
{
    CoroutineWin32 *co = container_of(co_, CoroutineWin32, base);

    DeleteFiber(co->fiber);
    free(co);
}

Coroutine *qemu_coroutine_leader(void)
{
    if (!leader.fiber) {
        leader.fiber = ConvertThreadToFiberEx(NULL, FIBER_FLAG_FLOAT_SWITCH);
        if (!leader.fiber) {
            if (GetLastError() == ERROR_ALREADY_FIBER) {
                /* mingw's GetCurrentFiber reads %gs:0x20 in a way GCC 12's
                 * bounds checker misreads as an array overrun. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
                leader.fiber = GetCurrentFiber();
#pragma GCC diagnostic pop
            } else {
                qemu_abort("ConvertThreadToFiber failed: error %lu",
                           GetLastError());
            }
        }
    }
    return &leader.base;
}

CoroutineAction qemu_coroutine_switch(Coroutine *from_, Coroutine *to_,
                                      CoroutineAction action)
{
    CoroutineWin32 *from = container_of(from_, CoroutineWin32, base);
    CoroutineWin32 *to = container_of(to_, CoroutineWin32, base);

    to->action = action;
    SwitchToFiber(to->fiber);
    return from->action;
}
