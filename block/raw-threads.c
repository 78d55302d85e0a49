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
#ifdef HAVE_FALLOCATE
#include <fcntl.h>
#include <linux/falloc.h>
#endif

typedef struct RawThreadsWork {
    int fd;
    RawAioType type;
    int64_t offset;
    QEMUIOVector *qiov;
    bool alloc_first;           /* in: allocate the range first; out:
                                 * cleared if the file system cannot */
} RawThreadsWork;

/*
 * Before a write into a hole: have the file system allocate the range in
 * one call (unwritten extents, reading as zeroes, the file size kept).
 * On ext4 a buffered write into allocated space costs well under what
 * one into a hole does (there every page reserves its block and its
 * quota on its own).  Purely an optimisation: the data is unchanged
 * whatever happens, so failures are ignored.
 */
bool raw_allocate_range(int fd, int64_t offset, int64_t bytes)
{
#if defined(HAVE_FALLOCATE) && defined(FALLOC_FL_KEEP_SIZE)
    int ret;

    do {
        ret = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)bytes);
    } while (ret < 0 && errno == EINTR);
    return !(ret < 0 && (errno == EOPNOTSUPP || errno == ENOSYS));
#else
    (void)fd;
    (void)offset;
    (void)bytes;
    return false;
#endif
}

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
    if (w->alloc_first &&
        !raw_allocate_range(w->fd, w->offset, (int64_t)w->qiov->size)) {
        w->alloc_first = false;
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
    return raw_threads_co_write_new(ctx, fd, offset, qiov, type, NULL);
}

int coroutine_fn raw_threads_co_write_new(AioContext *ctx, int fd,
                                          int64_t offset, QEMUIOVector *qiov,
                                          RawAioType type, bool *alloc_first)
{
    RawThreadsWork w = { .fd = fd, .type = type, .offset = offset, .qiov = qiov,
                         .alloc_first = type == RAW_AIO_WRITE && alloc_first &&
                                        *alloc_first };
    int ret;

    assert(qemu_in_coroutine());
    assert(offset >= 0);
    if (type != RAW_AIO_FLUSH && !qiov->size) {
        return 0;
    }
    ret = thread_pool_submit_co(aio_get_thread_pool(ctx), raw_threads_work, &w);
    if (alloc_first && *alloc_first && type == RAW_AIO_WRITE && !w.alloc_first) {
        *alloc_first = false;
    }
    return ret;
}
