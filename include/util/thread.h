/*
 * coblock — portable threads, mutexes and condition variables
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * POSIX threads on POSIX hosts (util/thread-posix.c), native primitives on
 * Windows (util/thread-win32.c).  Failure of these calls means a broken
 * process, so they abort instead of returning errors — except thread
 * creation, which reports -errno.
 */
#ifndef UTIL_THREAD_H
#define UTIL_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#ifdef _WIN32
#include <windows.h>
typedef struct QemuMutex { SRWLOCK lock; } QemuMutex;
typedef struct QemuCond { CONDITION_VARIABLE cv; } QemuCond;
typedef struct QemuThread { HANDLE handle; void *(*fn)(void *); void *arg; void *ret; } QemuThread;
#else
#include <pthread.h>
typedef struct QemuMutex { pthread_mutex_t lock; } QemuMutex;
typedef struct QemuCond { pthread_cond_t cond; } QemuCond;
typedef struct QemuThread { pthread_t thread; } QemuThread;
#endif

void qemu_mutex_init(QemuMutex *m);
void qemu_mutex_destroy(QemuMutex *m);
void qemu_mutex_lock(QemuMutex *m);
void qemu_mutex_unlock(QemuMutex *m);

void qemu_cond_init(QemuCond *c);
void qemu_cond_destroy(QemuCond *c);
void qemu_cond_signal(QemuCond *c);
void qemu_cond_broadcast(QemuCond *c);
void qemu_cond_wait(QemuCond *c, QemuMutex *m);
/* Returns false on timeout. */
bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t timeout_ms);

#define QEMU_THREAD_JOINABLE 0
#define QEMU_THREAD_DETACHED 1
/* Start @fn(@arg) on a new thread; returns 0 or -errno. */
int qemu_thread_create(QemuThread *t, const char *name,
                       void *(*fn)(void *), void *arg, int mode);
void *qemu_thread_join(QemuThread *t);
/* A small integer-ish identifier of the calling thread. */
uint64_t qemu_thread_id(void);

#endif /* UTIL_THREAD_H */
