/*
 * coblock — coroutine backend: hand-written stack switch (x86-64, aarch64)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The switch itself is coroutine_asm_swap() in coroutine/switch-asm.h:
 * only the frame pointer and a resume address are stored by hand; the
 * compiler saves whatever callee-saved registers are live, because the asm
 * statement declares all of them clobbered.  No signal mask and no
 * floating-point control state are switched (they are per thread).
 *
 * coroutine/coroutine.c inlines the switch into enter and yield.  The
 * function qemu_coroutine_switch below is the out-of-line version, used
 * by sanitizer builds so that AddressSanitizer can be told about every
 * stack change.
 */
#include "util/osdep.h"
#include "coroutine/coroutine-int.h"
#include "coroutine/switch-asm.h"

typedef struct CoroutineAsm {
    Coroutine base;
    CoroutineStack stack;
} CoroutineAsm;

const char coroutine_backend_name[] = "asm";

void coroutine_asm_start(void);
void QEMU_NORETURN coroutine_asm_entry(Coroutine *co);

/* A new stack starts here with the Coroutine in rdi (x86-64) or x3
 * (aarch64), on a stack that is realigned before the C call. */
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl coroutine_asm_start\n"
    ".hidden coroutine_asm_start\n"
    ".type coroutine_asm_start, @function\n"
    "coroutine_asm_start:\n"
    "    andq $-16, %rsp\n"
    "    call coroutine_asm_entry\n"
    "    ud2\n"
    ".size coroutine_asm_start, .-coroutine_asm_start\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl coroutine_asm_start\n"
    ".hidden coroutine_asm_start\n"
    ".type coroutine_asm_start, %function\n"
    "coroutine_asm_start:\n"
    "    mov x0, x3\n"
    "    bl coroutine_asm_entry\n"
    "    brk #0\n"
    ".size coroutine_asm_start, .-coroutine_asm_start\n");
#endif

static QEMU_THREAD_LOCAL CoroutineAsm leader;
/* Who performed the last switch on this thread (for ASan bookkeeping). */
static QEMU_THREAD_LOCAL CoroutineAsm *switch_from;

static QEMU_NOINLINE CoroutineAsm *get_switch_from(void)
{
    return switch_from;
}

void coroutine_asm_entry(Coroutine *co)
{
    CoroutineAsm *from = get_switch_from();

    if (from) {
        coroutine_asan_finish(NULL, (const void **)&from->stack.base,
                              &from->stack.size);
    }
    coroutine_trampoline_body(co);
}

Coroutine *qemu_coroutine_new(void)
{
    CoroutineAsm *co = qemu_xmalloc0(sizeof(*co));

    if (!coroutine_stack_alloc(&co->stack, coroutine_stack_size())) {
        qemu_abort("cannot allocate a coroutine stack: %s", strerror(errno));
    }
    co->base.switch_sp = coroutine_asm_initial_sp(
        (char *)co->stack.base + co->stack.size, coroutine_asm_start);
    return &co->base;
}

void qemu_coroutine_delete(Coroutine *co_)
{
    CoroutineAsm *co = container_of(co_, CoroutineAsm, base);

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
    CoroutineAsm *from = container_of(from_, CoroutineAsm, base);
    CoroutineAsm *to = container_of(to_, CoroutineAsm, base);
    void *fake_stack = NULL;
    uintptr_t ret;

    coroutine_asan_start(&fake_stack, action == COROUTINE_TERMINATE,
                         to->stack.base, to->stack.size);
    switch_from = from;
    ret = coroutine_asm_swap(&from->base.switch_sp, to->base.switch_sp,
                             action, to_);
    from = get_switch_from();
    coroutine_asan_finish(fake_stack, (const void **)&from->stack.base,
                          &from->stack.size);
    return (CoroutineAction)ret;
}
