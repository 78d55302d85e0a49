/*
 * coblock — threads on POSIX
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "util/thread.h"

#include <signal.h>
#include <time.h>

static void check(int rc, const char *what)
{
    if (rc) {
        qemu_abort("%s: %s", what, strerror(rc));
    }
}

void qemu_mutex_init(QemuMutex *m)
{
    check(pthread_mutex_init(&m->lock, NULL), "pthread_mutex_init");
}

void qemu_mutex_destroy(QemuMutex *m)
{
    check(pthread_mutex_destroy(&m->lock), "pthread_mutex_destroy");
}

void qemu_mutex_lock(QemuMutex *m)
{
    check(pthread_mutex_lock(&m->lock), "pthread_mutex_lock");
}

void qemu_mutex_unlock(QemuMutex *m)
{
    check(pthread_mutex_unlock(&m->lock), "pthread_mutex_unlock");
}

void qemu_cond_init(QemuCond *c)
{
    pthread_condattr_t attr;

    check(pthread_condattr_init(&attr), "pthread_condattr_init");
#if defined(CLOCK_MONOTONIC) && !defined(__APPLE__)
    check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC), "pthread_condattr_setclock");
#endif
    check(pthread_cond_init(&c->cond, &attr), "pthread_cond_init");
    pthread_condattr_destroy(&attr);
}

void qemu_cond_destroy(QemuCond *c)
{
    check(pthread_cond_destroy(&c->cond), "pthread_cond_destroy");
}

void qemu_cond_signal(QemuCond *c)
{
    check(pthread_cond_signal(&c->cond), "pthread_cond_signal");
}

void qemu_cond_broadcast(QemuCond *c)
{
    check(pthread_cond_broadcast(&c->cond), "pthread_cond_broadcast");
}

void qemu_cond_wait(QemuCond *c, QemuMutex *m)
{
    check(pthread_cond_wait(&c->cond, &m->lock), "pthread_cond_wait");
}

bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t timeout_ms)
{
    struct timespec ts;
    int rc;

#if defined(CLOCK_MONOTONIC) && !defined(__APPLE__)
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#endif
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    rc = pthread_cond_timedwait(&c->cond, &m->lock, &ts);
    if (rc == ETIMEDOUT) {
        return false;
    }
    check(rc, "pthread_cond_timedwait");
    return true;
}

int qemu_thread_create(QemuThread *t, const char *name,
                       void *(*fn)(void *), void *arg, int mode)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;

    rc = pthread_attr_init(&attr);
    if (rc) {
        return -rc;
    }
    if (mode == QEMU_THREAD_DETACHED) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    }
    /* Workers must not receive the process's signals. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t->thread, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
#ifdef __linux__
    if (!rc && name) {
        char short_name[16];
        snprintf(short_name, sizeof(short_name), "%s", name);
        pthread_setname_np(t->thread, short_name);
    }
#endif
    return -rc;
}

void *qemu_thread_join(QemuThread *t)
{
    void *ret = NULL;
    check(pthread_join(t->thread, &ret), "pthread_join");
    return ret;
}

uint64_t qemu_thread_id(void)
{
    return (uint64_t)(uintptr_t)pthread_self();
}
