/*
 * coblock — coroutine stacks and sanitizer annotations (POSIX backends)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "coroutine/coroutine-int.h"

#include <sys/mman.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#if defined(CONFIG_SANITIZERS) && defined(HAVE_SANITIZER_ASAN_INTERFACE_H)
#include <sanitizer/asan_interface.h>
#define COROUTINE_ASAN 1
#endif

#ifndef MAP_STACK
#define MAP_STACK 0
#endif

size_t coroutine_stack_size(void)
{
    return COROUTINE_STACK_SIZE;
}

bool coroutine_stack_alloc(CoroutineStack *stack, size_t size)
{
    size_t page = qemu_real_host_page_size();
    size_t total;
    void *p;

    size = ROUND_UP(size, page);
    total = size + page;
    p = mmap(NULL, total, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
        return false;
    }
    /* Guard page below the stack: an overflow faults instead of silently
     * corrupting the neighbouring mapping. */
    if (mprotect(p, page, PROT_NONE) != 0) {
        munmap(p, total);
        return false;
    }
    stack->base = (char *)p + page;
    stack->size = size;
#ifdef HAVE_VALGRIND_VALGRIND_H
    stack->valgrind_id = VALGRIND_STACK_REGISTER(stack->base,
                                                 (char *)stack->base + size);
#else
    stack->valgrind_id = 0;
#endif
    return true;
}

void coroutine_stack_free(CoroutineStack *stack)
{
    size_t page = qemu_real_host_page_size();

    if (!stack->base) {
        return;
    }
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(stack->valgrind_id);
#endif
    munmap((char *)stack->base - page, stack->size + page);
    stack->base = NULL;
}

void coroutine_asan_start(void **fake_stack, bool terminating,
                          const void *to_bottom, size_t to_size)
{
#ifdef COROUTINE_ASAN
    __sanitizer_start_switch_fiber(terminating ? NULL : fake_stack,
                                   to_bottom, to_size);
#else
    (void)fake_stack;
    (void)terminating;
    (void)to_bottom;
    (void)to_size;
#endif
}

void coroutine_asan_finish(void *fake_stack, const void **from_bottom,
                           size_t *from_size)
{
#ifdef COROUTINE_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, from_bottom, from_size);
#else
    (void)fake_stack;
    (void)from_bottom;
    (void)from_size;
#endif
}
