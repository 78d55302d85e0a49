/*
 * coblock — the inline stack switch of the asm backend
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Why inline, and why no call/ret: on current CPUs a context switch costs
 * mostly branch mispredictions.  A `ret` that lands on the other stack is
 * mispredicted by the return-stack buffer, and so is every later `ret`
 * whose call was made on the other stack.  The switch is therefore an
 * inline asm statement placed directly in qemu_coroutine_enter and
 * qemu_coroutine_yield: it pushes the frame pointer and a resume address,
 * stores the stack pointer, loads the other one and jumps to the address
 * found there with an indirect jmp, which the branch target buffer
 * predicts well in steady state.  The compiler is told that every other
 * register is clobbered, so it saves exactly the callee-saved registers
 * that are live at the switch, no more.
 *
 * Frame of a suspended context (at its saved stack pointer):
 *     x86-64:  [resume address][saved rbp]      (128-byte red zone above)
 *     aarch64: [saved x29][resume address]
 * A new stack gets the same frame with coroutine_asm_start as the resume
 * address; it receives the Coroutine pointer in a register (rdi / x3).
 *
 * The value handed over by a switch (the CoroutineAction) travels in
 * rax / x0.
 */
#ifndef COROUTINE_SWITCH_ASM_H
#define COROUTINE_SWITCH_ASM_H

#include <stdint.h>

#if defined(__x86_64__)

static inline __attribute__((always_inline)) uintptr_t
coroutine_asm_swap(void **save_sp, void *load_sp, uintptr_t value, void *to)
{
    register uintptr_t rax __asm__("rax") = value;
    register void **rdx __asm__("rdx") = save_sp;
    register void *rsi __asm__("rsi") = load_sp;
    register void *rdi __asm__("rdi") = to;

    __asm__ __volatile__(
        "lea -128(%%rsp), %%rsp\n\t"   /* keep the red zone intact */
        "lea 1f(%%rip), %%rcx\n\t"
        "push %%rbp\n\t"
        "push %%rcx\n\t"
        "mov %%rsp, (%%rdx)\n\t"
        "mov %%rsi, %%rsp\n\t"
        "pop %%rcx\n\t"
        "jmp *%%rcx\n"
        "1:\n\t"
        "pop %%rbp\n\t"
        "lea 128(%%rsp), %%rsp\n\t"
        : "+r"(rax), "+r"(rdx), "+r"(rsi), "+r"(rdi)
        :
        : "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
          "memory", "cc");
    return rax;
}

/* Build the initial frame of a new stack whose top (exclusive) is @top. */
static inline void *coroutine_asm_initial_sp(void *top, void (*start)(void))
{
    uintptr_t *sp = (uintptr_t *)((uintptr_t)top & ~(uintptr_t)15);

    *--sp = 0;                      /* rbp: ends backtraces */
    *--sp = (uintptr_t)start;       /* resume address */
    return sp;
}

#elif defined(__aarch64__)

static inline __attribute__((always_inline)) uintptr_t
coroutine_asm_swap(void **save_sp, void *load_sp, uintptr_t value, void *to)
{
    register uintptr_t x0 __asm__("x0") = value;
    register void **x1 __asm__("x1") = save_sp;
    register void *x2 __asm__("x2") = load_sp;
    register void *x3 __asm__("x3") = to;

    __asm__ __volatile__(
        "adr x4, 1f\n\t"
        "stp x29, x4, [sp, #-16]!\n\t"
        "mov x4, sp\n\t"
        "str x4, [x1]\n\t"
        "mov sp, x2\n\t"
        "ldp x29, x4, [sp], #16\n\t"
        "br x4\n"
        "1:\n\t"
        : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
        :
        : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
          "x14", "x15", "x16", "x17", "x19", "x20", "x21", "x22", "x23",
          "x24", "x25", "x26", "x27", "x28", "x30",
          "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",
          "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",
          "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
          "v29", "v30", "v31", "memory", "cc");
    return x0;
}

static inline void *coroutine_asm_initial_sp(void *top, void (*start)(void))
{
    uintptr_t *sp = (uintptr_t *)((uintptr_t)top & ~(uintptr_t)15);

    *--sp = (uintptr_t)start;       /* resume address */
    *--sp = 0;                      /* x29 */
    return sp;
}

#else
#error "the asm coroutine backend supports x86-64 and aarch64 only"
#endif

#endif /* COROUTINE_SWITCH_ASM_H */
