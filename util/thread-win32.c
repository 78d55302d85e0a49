/*
 * coblock — threads on Windows
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "util/thread.h"

#include <process.h>

void qemu_mutex_init(QemuMutex *m)
{
    InitializeSRWLock(&m->lock);
}

void qemu_mutex_destroy(QemuMutex *m)
{
    (void)m;
}

void qemu_mutex_lock(QemuMutex *m)
{
    AcquireSRWLockExclusive(&m->lock);
}

void qemu_mutex_unlock(QemuMutex *m)
{
    ReleaseSRWLockExclusive(&m->lock);
}

void qemu_cond_init(QemuCond *c)
{
    InitializeConditionVariable(&c->cv);
}

void qemu_cond_destroy(QemuCond *c)
{
    (void)c;
}

void qemu_cond_signal(QemuCond *c)
{
    WakeConditionVariable(&c->cv);
}

void qemu_cond_broadcast(QemuCond *c)
{
    WakeAllConditionVariable(&c->cv);
}

void qemu_cond_wait(QemuCond *c, QemuMutex *m)
{
    if (!SleepConditionVariableSRW(&c->cv, &m->lock, INFINITE, 0)) {
        qemu_abort("SleepConditionVariableSRW failed: %lu", GetLastError());
    }
}

bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t timeout_ms)
{
    if (!SleepConditionVariableSRW(&c->cv, &m->lock, (DWORD)timeout_ms, 0)) {
        if (GetLastError() == ERROR_TIMEOUT) {
            return false;
        }
        qemu_abort("SleepConditionVariableSRW failed: %lu", GetLastError());
    }
    return true;
}

static unsigned __stdcall thread_trampoline(void *opaque)
{
    QemuThread *t = opaque;
    t->ret = t->fn(t->arg);
    return 0;
}

typedef struct DetachedStart {
    void *(*fn)(void *);
    void *arg;
} DetachedStart;

static unsigned __stdcall detached_trampoline(void *opaque)
{
    DetachedStart s = *(DetachedStart *)opaque;
    free(opaque);
    s.fn(s.arg);
    return 0;
}

int qemu_thread_create(QemuThread *t, const char *name,
                       void *(*fn)(void *), void *arg, int mode)
{
    uintptr_t h;

    (void)name;
    if (mode == QEMU_THREAD_DETACHED) {
        DetachedStart *s = qemu_xmalloc(sizeof(*s));
        s->fn = fn;
        s->arg = arg;
        h = _beginthreadex(NULL, 0, detached_trampoline, s, 0, NULL);
        if (!h) {
            free(s);
            return -EAGAIN;
        }
        CloseHandle((HANDLE)h);
        t->handle = NULL;
        return 0;
    }
    t->fn = fn;
    t->arg = arg;
    t->ret = NULL;
    h = _beginthreadex(NULL, 0, thread_trampoline, t, 0, NULL);
    if (!h) {
        return -EAGAIN;
    }
    t->handle = (HANDLE)h;
    return 0;
}

void *qemu_thread_join(QemuThread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    t->handle = NULL;
    return t->ret;
}

uint64_t qemu_thread_id(void)
{
    return GetCurrentThreadId();
}
