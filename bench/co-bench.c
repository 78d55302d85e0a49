/*
 * coblock — coroutine micro-benchmarks
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints one line per measurement, "BACKEND/NAME: X ns/op":
 *   enter-yield  one qemu_coroutine_enter plus one yield (a round trip)
 *   lifecycle    create + enter + terminate of a pooled coroutine
 *   nesting      create + enter + terminate per level of a 48-deep chain
 *   comutex      uncontended qemu_co_mutex_lock + unlock
 * Each figure is the best of several runs, to filter out noise from other
 * processes on a shared machine.
 *
 * For scale it also prints "floor/swap-pair": two bare stack switches (the
 * inline switch of the asm backend between two noinline functions, with
 * no bookkeeping at all) on the same machine in the same run.  Most of a
 * switch's cost is branch misprediction, which varies a lot between CPUs.
 */
#include "util/osdep.h"
#include <coblock/aio.h>

#if !defined(_WIN32) && (defined(__x86_64__) || defined(__aarch64__))
#include "coroutine/switch-asm.h"
#define HAVE_FLOOR 1

static void *floor_main_sp, *floor_co_sp;

static QEMU_NOINLINE void floor_to_co(void)
{
    coroutine_asm_swap(&floor_main_sp, floor_co_sp, 0, NULL);
}

static QEMU_NOINLINE void floor_to_main(void)
{
    coroutine_asm_swap(&floor_co_sp, floor_main_sp, 0, NULL);
}

void QEMU_NORETURN floor_entry(void);
void QEMU_NORETURN floor_entry(void)
{
    for (;;) {
        floor_to_main();
    }
}

#if defined(__x86_64__)
__asm__(".text\n.p2align 4\nfloor_start:\n    andq $-16, %rsp\n    call floor_entry\n    ud2\n");
#else
__asm__(".text\n.p2align 4\nfloor_start:\n    bl floor_entry\n    brk #0\n");
#endif
extern void floor_start(void);

static double bench_floor(long iters);
#endif

#define RUNS 7

static double now_ns(void)
{
    return (double)qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

/* ---- enter-yield ---- */

static void coroutine_fn yield_loop(void *opaque)
{
    volatile bool *stop = opaque;

    while (!*stop) {
        qemu_coroutine_yield();
    }
}

static double bench_enter_yield(long iters)
{
    volatile bool stop = false;
    Coroutine *co = qemu_coroutine_create(yield_loop);
    double t0, t1;
    long i;

    qemu_coroutine_enter(co, (void *)&stop);
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        qemu_coroutine_enter(co, NULL);
    }
    t1 = now_ns();
    stop = true;
    qemu_coroutine_enter(co, NULL);
    return (t1 - t0) / iters;
}

/* ---- lifecycle ---- */

static void coroutine_fn empty_entry(void *opaque)
{
    (void)opaque;
}

static double bench_lifecycle(long iters)
{
    double t0, t1;
    long i;

    /* Warm the pool. */
    qemu_coroutine_enter(qemu_coroutine_create(empty_entry), NULL);
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(empty_entry), NULL);
    }
    t1 = now_ns();
    return (t1 - t0) / iters;
}

/* ---- nesting ---- */

/* Within the coroutine pool (64 per thread); deeper chains also pay for
 * mmap'ing stacks. */
#define NEST_LEVELS 48

static void coroutine_fn nest_entry(void *opaque)
{
    long *remaining = opaque;

    if (--*remaining > 0) {
        qemu_coroutine_enter(qemu_coroutine_create(nest_entry), remaining);
    }
}

static double bench_nesting(long iters)
{
    double t0, t1;
    long i, remaining;

    iters = MAX(1, iters / NEST_LEVELS);
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        remaining = NEST_LEVELS;
        qemu_coroutine_enter(qemu_coroutine_create(nest_entry), &remaining);
    }
    t1 = now_ns();
    return (t1 - t0) / ((double)iters * NEST_LEVELS);
}

/* ---- comutex ---- */

struct mutex_bench {
    long iters;
    double ns;
};

static void coroutine_fn mutex_entry(void *opaque)
{
    struct mutex_bench *mb = opaque;
    CoMutex m;
    double t0;
    long i;

    qemu_co_mutex_init(&m);
    t0 = now_ns();
    for (i = 0; i < mb->iters; i++) {
        qemu_co_mutex_lock(&m);
        qemu_co_mutex_unlock(&m);
    }
    mb->ns = (now_ns() - t0) / mb->iters;
}

static double bench_comutex(long iters)
{
    struct mutex_bench mb = { .iters = iters };

    qemu_coroutine_enter(qemu_coroutine_create(mutex_entry), &mb);
    return mb.ns;
}

#ifdef HAVE_FLOOR
static double bench_floor(long iters)
{
    static char *stack;
    double t0, t1;
    long i;

    if (!stack) {
        stack = qemu_memalign(64, 65536);
        floor_co_sp = coroutine_asm_initial_sp(stack + 65536, floor_start);
        floor_to_co();
    }
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        floor_to_co();
    }
    t1 = now_ns();
    return (t1 - t0) / iters;
}
#endif

static void report(const char *name, double (*fn)(long), long iters)
{
    double best = 1e30;
    int i;

    fn(iters / 10);     /* warm-up */
    for (i = 0; i < RUNS; i++) {
        double v = fn(iters);
        if (v < best) {
            best = v;
        }
    }
    printf("%s/%s: %.1f ns/op\n",
           strcmp(name, "swap-pair") ? qemu_coroutine_backend() : "floor",
           name, best);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long scale = 1;

    if (argc > 1) {
        scale = atol(argv[1]);
        if (scale < 1) {
            fprintf(stderr, "usage: %s [SCALE]\n", argv[0]);
            return 1;
        }
    }
    /* Make sure the default context exists so enters are on a loop thread. */
    qemu_get_aio_context();
#ifdef HAVE_FLOOR
    if (!strcmp(qemu_coroutine_backend(), "asm")) {
        report("swap-pair", bench_floor, 2000000 * scale);
    }
#endif
    report("enter-yield", bench_enter_yield, 2000000 * scale);
    report("lifecycle", bench_lifecycle, 1000000 * scale);
    report("nesting", bench_nesting, 1000000 * scale);
    report("comutex", bench_comutex, 5000000 * scale);
    return 0;
}
