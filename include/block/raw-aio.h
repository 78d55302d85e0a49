/*
 * coblock — asynchronous I/O engines for the file protocol driver
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An engine moves the data of one request between a file descriptor and
 * an I/O vector while the requesting coroutine is suspended.  There are
 * three, chosen per image with file.aio=:
 *
 *   threads   the context's thread pool runs preadv/pwritev (in
 *             block/file-posix.c, which owns the blocking helpers);
 *   native    Linux AIO (libaio), block/linux-aio.c;
 *   io_uring  block/io-uring.c.
 *
 * The two kernel engines share one contract:
 *
 *  - One engine instance per AioContext, created on first use by
 *    laio_get()/luring_get() and destroyed with the context (through the
 *    context's engine slots, see util/aio-int.h).  An instance is used
 *    from its context's thread only.
 *
 *  - *_co_submit() is coroutine_fn: it queues the request and yields.
 *    Requests queued during one loop iteration go to the kernel in one
 *    system call, made from a bottom half (or at once when @max_batch
 *    requests are waiting).  Completions arrive through a descriptor the
 *    context watches (an eventfd for Linux AIO, the ring itself for
 *    io_uring); the loop's handler reaps them and wakes each coroutine
 *    with aio_co_wake().
 *
 *  - When the kernel has no room (a full ring, io_submit returning
 *    -EAGAIN, a completion with -EAGAIN or -EINTR), requests stay queued
 *    and are submitted again as completions free room.  They are never
 *    failed for that reason.
 *
 *  - Result: 0 when all bytes were transferred, else -errno.  A read that
 *    stops short is continued from where it stopped; a read that reaches
 *    the end of the file fills the rest of the vector with zeroes and
 *    succeeds.  A write that stops short is continued too, and fails
 *    with -ENOSPC if the kernel then writes nothing (or with the error
 *    the continuation returned).
 *
 *  - The caller keeps @qiov and its buffers untouched until the call
 *    returns.  For O_DIRECT descriptors the caller is responsible for
 *    alignment (block/file-posix.c bounces misaligned buffers).
 */
#ifndef BLOCK_RAW_AIO_H
#define BLOCK_RAW_AIO_H

#include "util/osdep.h"
#include <coblock/aio.h>
#include <coblock/iov.h>
#include "util/queue.h"
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/memcheck.h>
#endif

typedef enum RawAioType {
    RAW_AIO_READ,
    RAW_AIO_WRITE,
    RAW_AIO_FLUSH,          /* fdatasync; @offset and @qiov are ignored */
} RawAioType;

/* Default and largest number of requests per submission system call
 * (file.aio-max-batch=0 means the default). */
#define RAW_AIO_DEFAULT_MAX_BATCH 32
#define RAW_AIO_MAX_BATCH_LIMIT   1024

/* Counters an engine keeps for tests and diagnostics. */
typedef struct RawAioStats {
    uint64_t requests;        /* requests handed to the engine */
    uint64_t submit_calls;    /* io_submit / io_uring_enter calls */
    uint64_t submitted;       /* kernel requests submitted (incl. resubmits) */
    uint64_t completions;     /* kernel completions reaped */
    uint64_t eagain;          /* times the kernel said "no room" */
    uint64_t resubmitted;     /* continuations of short transfers and retries */
    uint64_t merged;          /* requests that went to the kernel inside an
                               * iocb started by the one before them */
    unsigned max_in_flight;   /* largest number in the kernel at once */
} RawAioStats;

/* The kernel engines fill buffers asynchronously, behind valgrind's back:
 * tell it which bytes a completed read defined. */
static inline void raw_aio_mark_defined(QEMUIOVector *qiov, size_t offset,
                                        size_t len)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
    int i;

    if (!RUNNING_ON_VALGRIND) {
        return;
    }
    for (i = 0; i < qiov->niov && len; i++) {
        struct iovec *v = &qiov->iov[i];

        if (offset >= v->iov_len) {
            offset -= v->iov_len;
            continue;
        }
        {
            size_t n = MIN(len, v->iov_len - offset);

            VALGRIND_MAKE_MEM_DEFINED((char *)v->iov_base + offset, n);
            len -= n;
            offset = 0;
        }
    }
#else
    (void)qiov;
    (void)offset;
    (void)len;
#endif
}

/*
 * The shared rule for partial transfers.  A request of @qiov->size bytes
 * has *@done bytes behind it, and the kernel just reported @res (bytes
 * moved by the last submission, or -errno).  Returns true when the
 * request is finished, with its result in *@ret; false when it must be
 * submitted again for the bytes from *@done on (after a short transfer,
 * or because the kernel asked for a retry).
 */
static inline bool raw_aio_account(RawAioType type, QEMUIOVector *qiov,
                                   size_t *done, int64_t res, int *ret)
{
    if (res == -EAGAIN || res == -EINTR) {
        return false;
    }
    if (type == RAW_AIO_FLUSH) {
        *ret = res < 0 ? (int)res : 0;
        return true;
    }
    if (res < 0) {
        if (res == -EINVAL && type == RAW_AIO_READ && *done > 0) {
            /* A read came back short, which for O_DIRECT only happens at
             * the end of the file, and the file system refuses to
             * continue at the unaligned end: the rest is past EOF. */
            qemu_iovec_memset(qiov, *done, 0, qiov->size - *done);
            *ret = 0;
            return true;
        }
        *ret = (int)res;
        return true;
    }
    if ((uint64_t)res > qiov->size - *done) {
        *ret = -EIO;            /* the kernel cannot move more than asked */
        return true;
    }
    if (type == RAW_AIO_READ) {
        raw_aio_mark_defined(qiov, *done, (size_t)res);
    }
    *done += (size_t)res;
    if (*done == qiov->size) {
        *ret = 0;
        return true;
    }
    if (res == 0) {
        if (type == RAW_AIO_READ) {
            qemu_iovec_memset(qiov, *done, 0, qiov->size - *done);
            *ret = 0;
        } else {
            *ret = -ENOSPC;
        }
        return true;
    }
    return false;
}

/* The thread-pool engine (block/raw-threads.c): blocking preadv, pwritev
 * or fdatasync on a worker of @ctx's pool, same result rules. */
int coroutine_fn raw_threads_co_submit(AioContext *ctx, int fd, int64_t offset,
                                       QEMUIOVector *qiov, RawAioType type);
/* Have the file system allocate [@offset, @offset + @bytes) of @fd (a
 * hole about to be written), keeping the file size; false if it cannot
 * (other failures are ignored: this only saves time).  Blocks. */
bool raw_allocate_range(int fd, int64_t offset, int64_t bytes);
/* The same as raw_threads_co_submit; a RAW_AIO_WRITE with *@alloc_first
 * true has the file system allocate its range first (the caller knows it
 * is a hole).  *@alloc_first is cleared when the file system cannot. */
int coroutine_fn raw_threads_co_write_new(AioContext *ctx, int fd,
                                          int64_t offset, QEMUIOVector *qiov,
                                          RawAioType type, bool *alloc_first);

/* ---- requests of the kernel engines (block/raw-aio-req.c) ---- */

/*
 * A request as both kernel engines keep it, inside the engine's own
 * request structure on the submitting coroutine's stack.  The engine
 * queues it (@next), submits what raw_aio_req_vec() gives, hands each
 * kernel result to raw_aio_account() and finishes it with
 * raw_aio_req_finish().
 */
typedef struct RawAioReq {
    Coroutine *co;
    int fd;
    RawAioType type;
    int64_t offset;
    QEMUIOVector *qiov;
    size_t done;                /* bytes already transferred */
    QEMUIOVector rest;          /* [done, size) of qiov, for continuations */
    bool has_rest;
    bool waiting;               /* co has yielded and wants a wake-up */
    bool no_merge;              /* submit alone (see merging, below) */
    int ret;                    /* -EINPROGRESS until finished */
    struct RawAioReq *merge_next;   /* next member of its merged submission */
    QSIMPLEQ_ENTRY(RawAioReq) next; /* the engine's queue */
} RawAioReq;

typedef QSIMPLEQ_HEAD(RawAioReqQueue, RawAioReq) RawAioReqQueue;

void raw_aio_req_init(RawAioReq *req, int fd, int64_t offset,
                      QEMUIOVector *qiov, RawAioType type);
/* The vector of the bytes still to move (from @req->done on). */
void raw_aio_req_vec(RawAioReq *req, struct iovec **iov, int *niov);
/* Store @ret and wake the coroutine if it waits: from here on @req
 * belongs to that coroutine. */
void raw_aio_req_finish(RawAioReq *req, int ret);
/* A kernel result @res for @req: finishes it (raw_aio_account) and
 * returns false, or counts a resubmission in @stats and returns true
 * when the rest must be submitted again. */
bool raw_aio_req_result(RawAioReq *req, int64_t res, RawAioStats *stats);

/*
 * Merging.  Queued reads or writes that continue one another in a file
 * (same descriptor and direction, each starting where the one before it
 * ends, none of them a continuation) can go to the kernel as one
 * submission whose vector is theirs concatenated, up to these bounds.
 * The kernel's cost is per submission (allocating it, looking up the
 * descriptor, setting up direct I/O, posting a completion), and a
 * guest's or a benchmark's sequential requests arrive this way.
 *
 * raw_aio_merge_span() counts how many queued requests from @req on can
 * share its submission; raw_aio_merge_build() fills a carrier with
 * them.  The carrier stays the engine's until the submission's result
 * comes back, which raw_aio_merge_result() hands out: members covered
 * whole get their size, one covered in part gets the bytes it got (and
 * is continued alone from there), and the others — all of them after an
 * error or a retry — are marked no_merge to go again alone, so that
 * each request gets exactly the result it would have got alone; every
 * member to submit again goes to @requeue.  A submission the kernel
 * refuses outright is split the same way by the engine.
 */
#define RAW_AIO_MERGE_MAX_IOV 256
#define RAW_AIO_MERGE_MAX_BYTES (1024 * 1024)

typedef struct RawAioMerge {
    RawAioReq *head;            /* members in file order, via merge_next */
    int niov;
    struct RawAioMerge *next_free;
    struct iovec iov[RAW_AIO_MERGE_MAX_IOV];
} RawAioMerge;

unsigned raw_aio_merge_span(RawAioReq *req, unsigned max);
void raw_aio_merge_build(RawAioMerge *m, RawAioReq *req, unsigned n);
void raw_aio_merge_result(RawAioReq *head, int64_t res, RawAioStats *stats,
                          void (*requeue)(void *opaque, RawAioReq *req),
                          void *opaque);
/* Carriers of @size bytes (an engine may put its own data after the
 * RawAioMerge), kept on a free list. */
RawAioMerge *raw_aio_merge_get(RawAioMerge **pool, size_t size);
void raw_aio_merge_put(RawAioMerge **pool, RawAioMerge *m);
void raw_aio_merge_free_all(RawAioMerge **pool);

#ifdef CONFIG_LINUX_AIO
typedef struct LinuxAioState LinuxAioState;

/* The Linux AIO engine of @ctx, created on first use.  Returns NULL with
 * *errp set if the kernel refuses an AIO context. */
LinuxAioState *laio_get(AioContext *ctx, Error **errp);
/* A private engine with a kernel ring of @nr_events slots (tests use a
 * small ring to exercise queueing); free with laio_free. */
LinuxAioState *laio_new(AioContext *ctx, unsigned nr_events, Error **errp);
void laio_free(LinuxAioState *s);
/* RAW_AIO_READ or RAW_AIO_WRITE (Linux AIO has no usable fdatasync).
 * @max_batch 0 means RAW_AIO_DEFAULT_MAX_BATCH. */
int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, int64_t offset,
                                QEMUIOVector *qiov, RawAioType type,
                                unsigned max_batch);
void laio_get_stats(LinuxAioState *s, RawAioStats *stats);
#endif

#ifdef CONFIG_LINUX_IO_URING
typedef struct LuringState LuringState;

/* The io_uring engine of @ctx, created on first use.  Returns NULL with
 * *errp set if the kernel refuses a ring. */
LuringState *luring_get(AioContext *ctx, Error **errp);
/* A private engine with @entries submission slots; free with
 * luring_free. */
LuringState *luring_new(AioContext *ctx, unsigned entries, Error **errp);
void luring_free(LuringState *s);
/* RAW_AIO_READ, RAW_AIO_WRITE or RAW_AIO_FLUSH. */
int coroutine_fn luring_co_submit(LuringState *s, int fd, int64_t offset,
                                  QEMUIOVector *qiov, RawAioType type,
                                  unsigned max_batch);
void luring_get_stats(LuringState *s, RawAioStats *stats);
#endif

#endif /* BLOCK_RAW_AIO_H */
