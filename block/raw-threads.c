/*
 * coblock — the thread-pool I/O engine
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The portable engine: a worker of the context's thread pool makes the
 * blocking preadv/pwritev/fdatasync calls, and the pool's completion BH
 * wakes the coroutine.  Short transfers follow the same rules as the
 * kernel engines (include/block/raw-aio.h), looping on the worker.
 */
#include "util/osdep.h"
#include "block/raw-aio.h"
#include <coblock/thread-pool.h>

#include <sys/uio.h>

typedef struct RawThreadsWork {
    int fd;
    RawAioType type;
    int64_t offset;
    QEMUIOVector *qiov;
} RawThreadsWork;

static ssize_t raw_threads_transfer(RawThreadsWork *w, struct iovec *iov,
                                    int niov, int64_t offset)
{
    if (w->type == RAW_AIO_READ) {
        return niov == 1 ? pread(w->fd, iov[0].iov_base, iov[0].iov_len, offset)
                         : preadv(w->fd, iov, niov, offset);
    }
    return niov == 1 ? pwrite(w->fd, iov[0].iov_base, iov[0].iov_len, offset)
                     : pwritev(w->fd, iov, niov, offset);
}

static int raw_threads_flush(int fd)
{
    int ret;

    do {
#ifdef HAVE_FDATASYNC
        ret = fdatasync(fd);
#else
        ret = fsync(fd);
#endif
    } while (ret < 0 && errno == EINTR);
    return ret < 0 ? -errno : 0;
}

/* Runs on a worker: touches only the request's memory. */
static int raw_threads_work(void *opaque)
{
    RawThreadsWork *w = opaque;
    QEMUIOVector rest;
    bool has_rest = false;
    size_t done = 0;
    int ret;

    if (w->type == RAW_AIO_FLUSH) {
        return raw_threads_flush(w->fd);
    }
    for (;;) {
        struct iovec *iov = w->qiov->iov;
        int niov = w->qiov->niov;
        ssize_t n;

        if (done) {
            if (has_rest) {
                qemu_iovec_destroy(&rest);
            }
            qemu_iovec_init_slice(&rest, w->qiov, done, w->qiov->size - done);
            has_rest = true;
            iov = rest.iov;
            niov = rest.niov;
        }
        n = raw_threads_transfer(w, iov, niov, w->offset + (int64_t)done);
        if (raw_aio_account(w->type, w->qiov, &done, n < 0 ? -errno : n, &ret)) {
            break;
        }
    }
    if (has_rest) {
        qemu_iovec_destroy(&rest);
    }
    return ret;
}

int coroutine_fn raw_threads_co_submit(AioContext *ctx, int fd, int64_t offset,
                                       QEMUIOVector *qiov, RawAioType type)
{
    RawThreadsWork w = { .fd = fd, .type = type, .offset = offset, .qiov = qiov };

    assert(qemu_in_coroutine());
    assert(offset >= 0);
    if (type != RAW_AIO_FLUSH && !qiov->size) {
        return 0;
    }
    return thread_pool_submit_co(aio_get_thread_pool(ctx), raw_threads_work, &w);
}
