/*
 * coblock — atomic operations (thin wrappers over the GCC/Clang builtins)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef UTIL_ATOMIC_H
#define UTIL_ATOMIC_H

#define qatomic_read(p)        __atomic_load_n((p), __ATOMIC_RELAXED)
#define qatomic_set(p, v)      __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define qatomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define qatomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define qatomic_xchg(p, v)     __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define qatomic_cmpxchg(p, old, new) ({                                    \
        __typeof__(*(p)) _old = (old);                                     \
        __atomic_compare_exchange_n((p), &_old, (new), false,              \
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);   \
        _old; })
#define qatomic_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define qatomic_fetch_sub(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define qatomic_fetch_or(p, v)  __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define qatomic_fetch_and(p, v) __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define qatomic_inc(p)         ((void)__atomic_fetch_add((p), 1, __ATOMIC_SEQ_CST))
#define qatomic_dec(p)         ((void)__atomic_fetch_sub((p), 1, __ATOMIC_SEQ_CST))
#define smp_mb()               __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb()              __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb()              __atomic_thread_fence(__ATOMIC_RELEASE)

/* A tiny spin lock for critical sections of a few instructions. */
static inline void qemu_spin_lock(int *lock)
{
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#elif defined(__aarch64__)
            __asm__ volatile("yield" ::: "memory");
#endif
        }
    }
}

static inline void qemu_spin_unlock(int *lock)
{
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

#endif /* UTIL_ATOMIC_H */
