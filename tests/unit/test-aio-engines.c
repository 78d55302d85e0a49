/*
 * coblock — I/O engine tests: threads, Linux AIO, io_uring
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each engine is driven directly, with a plain descriptor on a real file
 * (in $COBLOCK_TEST_DIR, default /var/tmp, so that O_DIRECT has a real
 * file system under it), from coroutines of a private AioContext.  Every
 * test runs for every engine this build has, with and without O_DIRECT,
 * and checks the bytes on disk with plain pread/pwrite.
 */
#include "test-common.h"
#include "util/aio-int.h"
#include "block/raw-aio.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

MINICHECK_GLOBALS

enum { ENG_THREADS, ENG_NATIVE, ENG_IO_URING, ENG__MAX };
static const char *const engine_names[ENG__MAX] = { "threads", "native", "io_uring" };

static AioContext *ctx;
static char tmpdir[256];
static char path[300];
static int engine;
static bool direct;
static int fd = -1;
#define ALIGN 4096

#ifdef CONFIG_LINUX_AIO
static LinuxAioState *laio;
#endif
#ifdef CONFIG_LINUX_IO_URING
static LuringState *luring;
#endif

static bool engine_available(int e)
{
    switch (e) {
    case ENG_THREADS: return true;
#ifdef CONFIG_LINUX_AIO
    case ENG_NATIVE: return true;
#endif
#ifdef CONFIG_LINUX_IO_URING
    case ENG_IO_URING: return true;
#endif
    default: return false;
    }
}

static int coroutine_fn eng_submit(int fd_, int64_t offset, QEMUIOVector *qiov,
                                   RawAioType type, unsigned max_batch)
{
    switch (engine) {
#ifdef CONFIG_LINUX_AIO
    case ENG_NATIVE:
        return laio_co_submit(laio, fd_, offset, qiov, type, max_batch);
#endif
#ifdef CONFIG_LINUX_IO_URING
    case ENG_IO_URING:
        return luring_co_submit(luring, fd_, offset, qiov, type, max_batch);
#endif
    default:
        return raw_threads_co_submit(ctx, fd_, offset, qiov, type);
    }
}

static bool eng_stats(RawAioStats *st)
{
    memset(st, 0, sizeof(*st));
    switch (engine) {
#ifdef CONFIG_LINUX_AIO
    case ENG_NATIVE:
        laio_get_stats(laio, st);
        return true;
#endif
#ifdef CONFIG_LINUX_IO_URING
    case ENG_IO_URING:
        luring_get_stats(luring, st);
        return true;
#endif
    default:
        return false;
    }
}

static void open_file(int extra_flags)
{
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (direct ? O_DIRECT : 0) |
              extra_flags, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
}

/* The loop index encodes (engine, direct). */
static bool setup_index(int i)
{
    engine = i / 2;
    direct = i % 2;
    if (!engine_available(engine)) {
        return false;
    }
    ctx = aio_context_new();
    ck_assert_ptr_nonnull(ctx);
    aio_context_set_home_thread(ctx);
    {
        const char *base = getenv("COBLOCK_TEST_DIR");

        snprintf(tmpdir, sizeof(tmpdir), "%s/coblock-engines-XXXXXX",
                 base ? base : "/var/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        snprintf(path, sizeof(path), "%s/img", tmpdir);
    }
    open_file(0);
#ifdef CONFIG_LINUX_AIO
    if (engine == ENG_NATIVE) {
        laio = laio_get(ctx, &error_abort);
        ck_assert_ptr_eq(laio, laio_get(ctx, &error_abort));
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (engine == ENG_IO_URING) {
        luring = luring_get(ctx, &error_abort);
        ck_assert_ptr_eq(luring, luring_get(ctx, &error_abort));
    }
#endif
    return true;
}

static void teardown_index(void)
{
    if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    unlink(path);
    rmdir(tmpdir);
    /* Frees the per-context engines through their slots. */
    aio_context_unref(ctx);
    ctx = NULL;
}

#define SETUP_OR_SKIP()                                  \
    do {                                                 \
        if (!setup_index(_i)) {                          \
            return;                                      \
        }                                                \
    } while (0)

/* ---- running coroutines ---- */

typedef struct Job {
    int64_t offset;
    QEMUIOVector *qiov;
    RawAioType type;
    unsigned max_batch;
    int fd;
    bool *alloc_first;      /* a write into a hole (threads engine) */
    int ret;
    bool done;
} Job;

static void coroutine_fn job_entry(void *opaque)
{
    Job *j = opaque;

    if (j->alloc_first) {
        j->ret = raw_threads_co_write_new(ctx, j->fd, j->offset, j->qiov,
                                          j->type, j->alloc_first);
    } else {
        j->ret = eng_submit(j->fd, j->offset, j->qiov, j->type, j->max_batch);
    }
    j->done = true;
}

/* Start every job in the same loop iteration, then run the loop until
 * all are done. */
static void run_jobs(Job *jobs, int n)
{
    int i, left;

    for (i = 0; i < n; i++) {
        jobs[i].done = false;
        jobs[i].ret = -EINPROGRESS;
        if (!jobs[i].fd) {
            jobs[i].fd = fd;
        }
        aio_co_enter(ctx, qemu_coroutine_create(job_entry), &jobs[i]);
    }
    do {
        for (left = 0, i = 0; i < n; i++) {
            left += !jobs[i].done;
        }
        if (left) {
            aio_poll(ctx, true);
        }
    } while (left);
}

static int run_one(int64_t offset, QEMUIOVector *qiov, RawAioType type)
{
    Job j = { .offset = offset, .qiov = qiov, .type = type };

    run_jobs(&j, 1);
    return j.ret;
}

static uint8_t *abuf(size_t len)
{
    uint8_t *p = qemu_memalign(ALIGN, len ? len : 1);
    memset(p, 0xcc, len);
    return p;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static int rw_buf(int64_t offset, void *buf, size_t len, RawAioType type)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, len);
    return run_one(offset, &qiov, type);
}

/* What is on disk, read around the engine (buffered, own descriptor). */
static void disk_read(int64_t offset, void *buf, size_t len)
{
    int rfd = open(path, O_RDONLY);
    ssize_t n;

    ck_assert_int_ge(rfd, 0);
    memset(buf, 0, len);
    n = pread(rfd, buf, len, offset);
    ck_assert_int_ge(n, 0);
    close(rfd);
}

static void disk_write(int64_t offset, const void *buf, size_t len)
{
    int wfd = open(path, O_WRONLY);

    ck_assert_int_ge(wfd, 0);
    ck_assert_int_eq(pwrite(wfd, buf, len, offset), (ssize_t)len);
    ck_assert_int_eq(fsync(wfd), 0);
    close(wfd);
}

/* ---- tests ---- */

START_TEST(test_rw_basic)
{
    size_t len = 64 * KiB;
    uint8_t *w, *r, *d;

    SETUP_OR_SKIP();
    w = abuf(len);
    r = abuf(len);
    d = abuf(len);
    fill(w, len, 1);
    ck_assert_int_eq(rw_buf(4096, w, len, RAW_AIO_WRITE), 0);
    ck_assert_int_eq(rw_buf(4096, r, len, RAW_AIO_READ), 0);
    ck_assert_mem_eq(r, w, len);
    disk_read(4096, d, len);
    ck_assert_mem_eq(d, w, len);
    /* Data written around the engine is what the engine reads. */
    fill(d, len, 2);
    disk_write(8192, d, len);
    ck_assert_int_eq(rw_buf(8192, r, len, RAW_AIO_READ), 0);
    ck_assert_mem_eq(r, d, len);
    qemu_vfree(w);
    qemu_vfree(r);
    qemu_vfree(d);
    teardown_index();
}
END_TEST

START_TEST(test_vectored)
{
    enum { PIECES = 9 };
    size_t sizes[PIECES] = { 4096, 8192, 4096, 12288, 4096, 4096, 16384, 4096, 8192 };
    uint8_t *bufs[PIECES], *flat, *back;
    struct iovec iov[PIECES];
    QEMUIOVector qiov, half;
    size_t total = 0, i, off = 0;

    SETUP_OR_SKIP();
    for (i = 0; i < PIECES; i++) {
        bufs[i] = abuf(sizes[i]);
        fill(bufs[i], sizes[i], (unsigned)i + 10);
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizes[i];
        total += sizes[i];
    }
    qemu_iovec_init_external(&qiov, iov, PIECES);
    ck_assert_int_eq(run_one(3 * ALIGN, &qiov, RAW_AIO_WRITE), 0);

    flat = abuf(total);
    disk_read(3 * ALIGN, flat, total);
    for (i = 0; i < PIECES; i++) {
        ck_assert_mem_eq(flat + off, bufs[i], sizes[i]);
        off += sizes[i];
    }
    /* Read back with a different split: two pieces. */
    back = abuf(total);
    qemu_iovec_init(&half, 2);
    qemu_iovec_add(&half, back, 20480);
    qemu_iovec_add(&half, back + 20480, total - 20480);
    ck_assert_int_eq(run_one(3 * ALIGN, &half, RAW_AIO_READ), 0);
    ck_assert_mem_eq(back, flat, total);
    qemu_iovec_destroy(&half);
    for (i = 0; i < PIECES; i++) {
        qemu_vfree(bufs[i]);
    }
    qemu_vfree(flat);
    qemu_vfree(back);
    teardown_index();
}
END_TEST

/* Reads past the end of the file return zeroes, also when the file ends
 * in the middle of an O_DIRECT block. */
START_TEST(test_read_past_eof)
{
    uint8_t *data, *r, *zero;

    SETUP_OR_SKIP();
    data = abuf(16 * KiB);
    r = abuf(16 * KiB);
    zero = abuf(16 * KiB);
    memset(zero, 0, 16 * KiB);
    fill(data, 16 * KiB, 3);
    disk_write(0, data, 10 * KiB);          /* file: 10 KiB */
    ck_assert_int_eq(rw_buf(0, r, 16 * KiB, RAW_AIO_READ), 0);
    ck_assert_mem_eq(r, data, 10 * KiB);
    ck_assert_mem_eq(r + 10 * KiB, zero, 6 * KiB);

    memset(r, 0xaa, 16 * KiB);
    ck_assert_int_eq(rw_buf(1 * MiB, r, 16 * KiB, RAW_AIO_READ), 0);
    ck_assert_mem_eq(r, zero, 16 * KiB);

    /* A file whose length is not a multiple of anything. */
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    disk_write(0, data, 1000);
    memset(r, 0xaa, 16 * KiB);
    ck_assert_int_eq(rw_buf(0, r, 8192, RAW_AIO_READ), 0);
    ck_assert_mem_eq(r, data, 1000);
    ck_assert_mem_eq(r + 1000, zero, 8192 - 1000);
    qemu_vfree(data);
    qemu_vfree(r);
    qemu_vfree(zero);
    teardown_index();
}
END_TEST

START_TEST(test_large)
{
    size_t len = 48 * MiB;
    uint8_t *w, *r;

    SETUP_OR_SKIP();
    w = abuf(len);
    r = abuf(len);
    fill(w, len, 4);
    ck_assert_int_eq(rw_buf(ALIGN, w, len, RAW_AIO_WRITE), 0);
    ck_assert_int_eq(rw_buf(ALIGN, r, len, RAW_AIO_READ), 0);
    ck_assert(memcmp(r, w, len) == 0);
    qemu_vfree(w);
    qemu_vfree(r);
    teardown_index();
}
END_TEST

/* Many coroutines at once: each writes its own block, then all read
 * their blocks back; requests started in one loop iteration are
 * submitted together. */
START_TEST(test_concurrent)
{
    enum { N = 128, BLK = 4096 };
    static Job jobs[N];
    static QEMUIOVector qiovs[N];
    uint8_t *bufs[N], *expect;
    RawAioStats st;
    int i;

    SETUP_OR_SKIP();
    expect = abuf(BLK);
    for (i = 0; i < N; i++) {
        bufs[i] = abuf(BLK);
        fill(bufs[i], BLK, (unsigned)i + 100);
        qemu_iovec_init_buf(&qiovs[i], bufs[i], BLK);
        /* Scattered, in an order unlike the submission order. */
        jobs[i] = (Job) { .offset = (int64_t)((i * 37) % N) * 2 * BLK,
                          .qiov = &qiovs[i], .type = RAW_AIO_WRITE };
    }
    run_jobs(jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        memset(bufs[i], 0, BLK);
        jobs[i].type = RAW_AIO_READ;
    }
    run_jobs(jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        fill(expect, BLK, (unsigned)i + 100);
        ck_assert_mem_eq(bufs[i], expect, BLK);
        disk_read(jobs[i].offset, expect, BLK);
        ck_assert_mem_eq(bufs[i], expect, BLK);
    }
    if (eng_stats(&st)) {
        ck_assert_uint_eq(st.requests, 2 * N);
        /* Batches of RAW_AIO_DEFAULT_MAX_BATCH: 4 calls per 128. */
        ck_assert_msg(st.submit_calls <= 2 * N / RAW_AIO_DEFAULT_MAX_BATCH + 2,
                      "%" PRIu64 " submit calls for %d requests",
                      st.submit_calls, 2 * N);
        ck_assert_uint_ge(st.max_in_flight, RAW_AIO_DEFAULT_MAX_BATCH);
    }
    for (i = 0; i < N; i++) {
        qemu_vfree(bufs[i]);
    }
    qemu_vfree(expect);
    teardown_index();
}
END_TEST

/* Requests of one loop iteration go to the kernel in one call; a full
 * batch goes at once. */
START_TEST(test_batching)
{
    enum { N = 16, BLK = 4096 };
    Job jobs[N];
    QEMUIOVector qiovs[N];
    uint8_t *buf;
    RawAioStats before, after;
    int i;

    SETUP_OR_SKIP();
    if (engine == ENG_THREADS) {
        teardown_index();
        return;
    }
    buf = abuf(N * BLK);
    fill(buf, N * BLK, 5);
    for (i = 0; i < N; i++) {
        qemu_iovec_init_buf(&qiovs[i], buf + i * BLK, BLK);
        jobs[i] = (Job) { .offset = i * BLK, .qiov = &qiovs[i],
                          .type = RAW_AIO_WRITE };
    }
    eng_stats(&before);
    run_jobs(jobs, N);
    eng_stats(&after);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
    }
    ck_assert_uint_eq(after.requests - before.requests, N);
    ck_assert_uint_eq(after.submit_calls - before.submit_calls, 1);

    for (i = 0; i < N; i++) {
        jobs[i].type = RAW_AIO_READ;
        jobs[i].max_batch = 4;
    }
    eng_stats(&before);
    run_jobs(jobs, N);
    eng_stats(&after);
    ck_assert_uint_eq(after.submit_calls - before.submit_calls, N / 4);
    qemu_vfree(buf);
    teardown_index();
}
END_TEST

/* Coroutines that start their next request as soon as the previous one
 * completes: the new requests are queued from inside the completion
 * handler, which submits each wave in one call. */
typedef struct Chain {
    uint8_t *buf;
    int index;
    int ret;
    bool done;
} Chain;

enum { CHAIN_CO = 32, CHAIN_LEN = 8, CHAIN_BLK = 4096 };

static void coroutine_fn chain_entry(void *opaque)
{
    Chain *c = opaque;
    int k;

    c->ret = 0;
    for (k = 0; k < CHAIN_LEN && c->ret == 0; k++) {
        QEMUIOVector qiov;
        int64_t block = (int64_t)(k * CHAIN_CO + c->index);

        qemu_iovec_init_buf(&qiov, c->buf + k * CHAIN_BLK, CHAIN_BLK);
        c->ret = eng_submit(fd, block * CHAIN_BLK, &qiov, RAW_AIO_READ, 0);
    }
    c->done = true;
}

START_TEST(test_chained)
{
    static Chain chains[CHAIN_CO];
    uint8_t *data, *expect;
    RawAioStats before, after;
    int i, k, left;

    SETUP_OR_SKIP();
    data = abuf(CHAIN_CO * CHAIN_LEN * CHAIN_BLK);
    expect = abuf(CHAIN_BLK);
    fill(data, CHAIN_CO * CHAIN_LEN * CHAIN_BLK, 9);
    disk_write(0, data, CHAIN_CO * CHAIN_LEN * CHAIN_BLK);
    eng_stats(&before);
    for (i = 0; i < CHAIN_CO; i++) {
        chains[i] = (Chain) { .buf = abuf(CHAIN_LEN * CHAIN_BLK), .index = i };
        aio_co_enter(ctx, qemu_coroutine_create(chain_entry), &chains[i]);
    }
    do {
        for (left = 0, i = 0; i < CHAIN_CO; i++) {
            left += !chains[i].done;
        }
        if (left) {
            aio_poll(ctx, true);
        }
    } while (left);
    eng_stats(&after);
    for (i = 0; i < CHAIN_CO; i++) {
        ck_assert_int_eq(chains[i].ret, 0);
        for (k = 0; k < CHAIN_LEN; k++) {
            memcpy(expect, data + (size_t)(k * CHAIN_CO + i) * CHAIN_BLK, CHAIN_BLK);
            ck_assert_mem_eq(chains[i].buf + k * CHAIN_BLK, expect, CHAIN_BLK);
        }
        qemu_vfree(chains[i].buf);
    }
    if (engine != ENG_THREADS) {
        ck_assert_uint_eq(after.requests - before.requests, CHAIN_CO * CHAIN_LEN);
        /* At least as few calls as waves (completions may split a wave). */
        ck_assert_msg(after.submit_calls - before.submit_calls <= CHAIN_CO * CHAIN_LEN / 4,
                      "%" PRIu64 " submit calls for %d requests",
                      after.submit_calls - before.submit_calls, CHAIN_CO * CHAIN_LEN);
    }
    qemu_vfree(data);
    qemu_vfree(expect);
    teardown_index();
}
END_TEST

/* Requests that continue one another in the file.  The kernel engines
 * submit them as one iocb or SQE; each must still get exactly the
 * result it would have got alone (every engine runs this, the counters
 * are checked for the kernel engines). */
static void merge_jobs(Job *jobs, QEMUIOVector *qiovs, uint8_t *buf, int n,
                       int64_t start, RawAioType type, int jfd)
{
    int i;

    for (i = 0; i < n; i++) {
        qemu_iovec_init_buf(&qiovs[i], buf + (size_t)i * ALIGN, ALIGN);
        jobs[i] = (Job) { .offset = start + (int64_t)i * ALIGN,
                          .qiov = &qiovs[i], .type = type, .fd = jfd,
                          .max_batch = RAW_AIO_MAX_BATCH_LIMIT };
    }
}

START_TEST(test_merging)
{
    enum { N = 64 };
    static Job jobs[N];
    static QEMUIOVector qiovs[N];
    static struct iovec iovs[N][2];
    uint8_t *data, *buf, *zero;
    RawAioStats before, after;
    bool kernel;
    int i, wfd;

    SETUP_OR_SKIP();
    kernel = engine != ENG_THREADS;
    data = abuf((size_t)N * ALIGN);
    buf = abuf((size_t)N * ALIGN);
    zero = abuf(ALIGN);
    memset(zero, 0, ALIGN);
    fill(data, (size_t)N * ALIGN, 31);
    disk_write(0, data, (size_t)N * ALIGN);

    /* Reads of consecutive blocks: one iocb (a megabyte holds 256). */
    merge_jobs(jobs, qiovs, buf, N, 0, RAW_AIO_READ, 0);
    eng_stats(&before);
    run_jobs(jobs, N);
    eng_stats(&after);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
    }
    ck_assert(memcmp(buf, data, (size_t)N * ALIGN) == 0);
    if (kernel) {
        ck_assert_uint_eq(after.requests - before.requests, N);
        ck_assert_uint_eq(after.submitted - before.submitted, 1);
        ck_assert_uint_eq(after.merged - before.merged, N - 1);
        ck_assert_uint_eq(after.completions - before.completions, 1);
    }

    /* Vectored writes (two elements each, in reverse order within the
     * block) of consecutive blocks, from the second block on. */
    fill(buf, (size_t)N * ALIGN, 32);
    for (i = 0; i < N - 1; i++) {
        uint8_t *b = buf + (size_t)i * ALIGN;

        iovs[i][0] = (struct iovec) { b + 1024, ALIGN - 1024 };
        iovs[i][1] = (struct iovec) { b, 1024 };
        qemu_iovec_init_external(&qiovs[i], iovs[i], 2);
        jobs[i] = (Job) { .offset = (int64_t)(i + 1) * ALIGN, .qiov = &qiovs[i],
                          .type = RAW_AIO_WRITE,
                          .max_batch = RAW_AIO_MAX_BATCH_LIMIT };
    }
    eng_stats(&before);
    run_jobs(jobs, N - 1);
    eng_stats(&after);
    for (i = 0; i < N - 1; i++) {
        uint8_t *b = buf + (size_t)i * ALIGN;

        ck_assert_int_eq(jobs[i].ret, 0);
        memcpy(data + (size_t)(i + 1) * ALIGN, b + 1024, ALIGN - 1024);
        memcpy(data + (size_t)(i + 1) * ALIGN + ALIGN - 1024, b, 1024);
    }
    {
        uint8_t *back = abuf((size_t)N * ALIGN);

        disk_read(0, back, (size_t)N * ALIGN);
        ck_assert(memcmp(back, data, (size_t)N * ALIGN) == 0);
        qemu_vfree(back);
    }
    if (kernel) {
        ck_assert_uint_eq(after.submitted - before.submitted, 1);
        ck_assert_uint_eq(after.merged - before.merged, N - 2);
    }

    /* Alternating directions, and gaps: nothing merges. */
    for (i = 0; i < N; i++) {
        qemu_iovec_init_buf(&qiovs[i], buf + (size_t)i * ALIGN, ALIGN);
        jobs[i] = (Job) { .offset = (int64_t)i * ALIGN, .qiov = &qiovs[i],
                          .type = i % 2 ? RAW_AIO_READ : RAW_AIO_WRITE,
                          .max_batch = RAW_AIO_MAX_BATCH_LIMIT };
        if (i >= N / 2) {
            jobs[i].type = RAW_AIO_READ;
            jobs[i].offset = (int64_t)i * 2 * ALIGN;
        }
    }
    eng_stats(&before);
    run_jobs(jobs, N);
    eng_stats(&after);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
    }
    if (kernel) {
        ck_assert_uint_eq(after.merged - before.merged, 0);
        ck_assert_uint_eq(after.submitted - before.submitted, N);
    }

    /* The file ends inside block 10: blocks 0-9 come back whole, block
     * 10 is continued alone and zero-filled past the end, blocks 11 on
     * are read again alone and come back as zeroes. */
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    fill(data, (size_t)N * ALIGN, 33);
    disk_write(0, data, 10 * ALIGN + 1000);
    merge_jobs(jobs, qiovs, buf, 16, 0, RAW_AIO_READ, 0);
    memset(buf, 0xaa, 16 * ALIGN);
    eng_stats(&before);
    run_jobs(jobs, 16);
    eng_stats(&after);
    for (i = 0; i < 16; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
    }
    ck_assert(memcmp(buf, data, 10 * ALIGN + 1000) == 0);
    ck_assert(memcmp(buf + 10 * ALIGN + 1000, zero, ALIGN - 1000) == 0);
    for (i = 11; i < 16; i++) {
        ck_assert_mem_eq(buf + (size_t)i * ALIGN, zero, ALIGN);
    }
    if (kernel) {
        ck_assert_uint_eq(after.merged - before.merged, 15);
        ck_assert_uint_ge(after.resubmitted - before.resubmitted, 5);
    }

    /* A descriptor that cannot read: io_submit refuses the merged iocb,
     * and each request fails on its own with the kernel's error. */
    wfd = open(path, O_WRONLY | (direct ? O_DIRECT : 0));
    ck_assert_int_ge(wfd, 0);
    merge_jobs(jobs, qiovs, buf, 8, 0, RAW_AIO_READ, wfd);
    run_jobs(jobs, 8);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(jobs[i].ret, -EBADF);
    }
    close(wfd);

    if (direct) {
        /* Misaligned for O_DIRECT: the merged iocb completes with
         * -EINVAL, and so does each request alone. */
        merge_jobs(jobs, qiovs, buf, 8, 1, RAW_AIO_READ, 0);
        eng_stats(&before);
        run_jobs(jobs, 8);
        eng_stats(&after);
        for (i = 0; i < 8; i++) {
            ck_assert_int_eq(jobs[i].ret, -EINVAL);
        }
        if (kernel) {
            ck_assert_uint_eq(after.merged - before.merged, 7);
            ck_assert_uint_eq(after.submitted - before.submitted, 9);
        }
    }
    qemu_vfree(data);
    qemu_vfree(buf);
    qemu_vfree(zero);
    teardown_index();
}
END_TEST

/* A tiny kernel ring and far more requests than it holds: requests wait
 * in the queue (Linux AIO: io_submit says -EAGAIN) and all complete. */
START_TEST(test_ring_full)
{
    enum { N = 1024, BLK = 4096 };
    static Job jobs[N];
    static QEMUIOVector qiovs[N];
    uint8_t *buf, *back;
    RawAioStats st;
    int i;

    SETUP_OR_SKIP();
    if (engine == ENG_THREADS) {
        teardown_index();
        return;
    }
#ifdef CONFIG_LINUX_AIO
    if (engine == ENG_NATIVE) {
        laio = laio_new(ctx, 1, &error_abort);
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (engine == ENG_IO_URING) {
        luring = luring_new(ctx, 2, &error_abort);
    }
#endif
    buf = abuf(N * BLK);
    back = abuf(N * BLK);
    fill(buf, N * BLK, 6);
    for (i = 0; i < N; i++) {
        qemu_iovec_init_buf(&qiovs[i], buf + (size_t)i * BLK, BLK);
        /* Every other block: requests that continue one another would
         * be merged into a few iocbs (Linux AIO) and fit. */
        jobs[i] = (Job) { .offset = (int64_t)i * 2 * BLK, .qiov = &qiovs[i],
                          .type = RAW_AIO_WRITE, .max_batch = 1024 };
    }
    run_jobs(jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        qemu_iovec_init_buf(&qiovs[i], back + (size_t)i * BLK, BLK);
        jobs[i].type = RAW_AIO_READ;
    }
    run_jobs(jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
    }
    ck_assert(memcmp(back, buf, (size_t)N * BLK) == 0);
    eng_stats(&st);
    ck_assert_uint_eq(st.requests, 2 * N);
    ck_assert_uint_gt(st.eagain, 0);
    if (engine == ENG_IO_URING) {
        /* Never more in flight than the completion ring holds. */
        ck_assert_uint_le(st.max_in_flight, 4);
    }
#ifdef CONFIG_LINUX_AIO
    if (engine == ENG_NATIVE) {
        laio_free(laio);
    }
#endif
#ifdef CONFIG_LINUX_IO_URING
    if (engine == ENG_IO_URING) {
        luring_free(luring);
    }
#endif
    qemu_vfree(buf);
    qemu_vfree(back);
    teardown_index();
}
END_TEST

/*
 * A write that the kernel cuts short (here: at RLIMIT_FSIZE) is an error,
 * not a silent partial write.  Runs in a child process, which needs its
 * own loop and engine.
 */
static int short_write_child(void)
{
    struct rlimit rl;
    uint8_t *buf = qemu_memalign(ALIGN, 16 * KiB);
    int ret;

    signal(SIGXFSZ, SIG_IGN);
    if (getrlimit(RLIMIT_FSIZE, &rl) < 0) {
        return 77;
    }
    rl.rlim_cur = 64 * KiB;
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0) {
        return 77;
    }
    memset(buf, 0x5a, 16 * KiB);
    /* [56 KiB, 72 KiB) crosses the 64 KiB limit. */
    ret = rw_buf(56 * KiB, buf, 16 * KiB, RAW_AIO_WRITE);
    qemu_vfree(buf);
    if (ret >= 0) {
        fprintf(stderr, "short write reported success\n");
        return 1;
    }
    if (ret != -EFBIG && ret != -ENOSPC && ret != -EIO) {
        fprintf(stderr, "unexpected error %d\n", ret);
        return 1;
    }
    return 0;
}

START_TEST(test_short_write)
{
    pid_t pid;
    int status;

    if (!engine_available(_i / 2)) {
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child has a loop and engine of its own. */
        int ret;

        setup_index(_i);
        ret = short_write_child();
        teardown_index();
        _exit(ret);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) != 77) {
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
}
END_TEST

START_TEST(test_flush)
{
    uint8_t *w;
    QEMUIOVector none = { 0 };

    SETUP_OR_SKIP();
    w = abuf(ALIGN);
    fill(w, ALIGN, 7);
    ck_assert_int_eq(rw_buf(0, w, ALIGN, RAW_AIO_WRITE), 0);
    if (engine != ENG_NATIVE) {
        ck_assert_int_eq(run_one(0, &none, RAW_AIO_FLUSH), 0);
        /* fdatasync on a pipe fails: the error comes back. */
        {
            int p[2];
            Job j = { .qiov = &none, .type = RAW_AIO_FLUSH };

            ck_assert_int_eq(pipe(p), 0);
            j.fd = p[1];
            run_jobs(&j, 1);
            ck_assert_int_eq(j.ret, -EINVAL);
            close(p[0]);
            close(p[1]);
        }
    }
    qemu_vfree(w);
    teardown_index();
}
END_TEST

/* ---- writes into holes (allocation first) ---- */

/* Bytes the file system has allocated for @path. */
static int64_t allocated(void)
{
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/*
 * Concurrent writes into the holes of a sparse file through
 * raw_threads_co_write_new, which has each range allocated first on its
 * worker: the data lands, the size stays, exactly the written ranges are
 * allocated, and the flag stays set where the file system can allocate.
 * An allocation that fails for another reason than "unsupported"
 * (fallocate on /dev/null: ENODEV) does not hold the write back.
 */
START_TEST(test_write_new)
{
    enum { N = 48, BLK = 64 * KiB };
    static Job jobs[N];
    static QEMUIOVector qiovs[N];
    uint8_t *buf, *back;
    bool can_alloc, alloc_first = true;
    int i, nfd;
    Job j;

    SETUP_OR_SKIP();
    if (engine != ENG_THREADS) {
        teardown_index();
        return;
    }
    buf = abuf((size_t)N * BLK);
    back = abuf((size_t)N * BLK);
    ck_assert_int_eq(ftruncate(fd, (off_t)2 * N * BLK), 0);
    can_alloc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)2 * N * BLK), 0);
    ck_assert_int_eq(allocated(), 0);
    fill(buf, (size_t)N * BLK, 21);
    for (i = 0; i < N; i++) {
        qemu_iovec_init_buf(&qiovs[i], buf + (size_t)i * BLK, BLK);
        /* Every other block, so that the holes between stay. */
        jobs[i] = (Job) { .fd = fd, .offset = (int64_t)i * 2 * BLK,
                          .qiov = &qiovs[i], .type = RAW_AIO_WRITE,
                          .alloc_first = &alloc_first };
    }
    run_jobs(jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        disk_read(jobs[i].offset, back + (size_t)i * BLK, BLK);
    }
    ck_assert(memcmp(back, buf, (size_t)N * BLK) == 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_END), (off_t)2 * N * BLK);
    ck_assert_int_eq(alloc_first, can_alloc);
    if (can_alloc) {
        ck_assert_int_ge(allocated(), (int64_t)N * BLK);
        ck_assert_int_le(allocated(), (int64_t)N * BLK + 64 * KiB);
    }

    nfd = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(nfd, 0);
    alloc_first = true;
    qemu_iovec_init_buf(&qiovs[0], buf, BLK);
    j = (Job) { .fd = nfd, .qiov = &qiovs[0], .type = RAW_AIO_WRITE,
                .alloc_first = &alloc_first };
    run_jobs(&j, 1);
    ck_assert_int_eq(j.ret, 0);
    ck_assert(alloc_first);
    close(nfd);
    qemu_vfree(buf);
    qemu_vfree(back);
    teardown_index();
}
END_TEST

/* Errors the kernel reports come back as -errno. */
START_TEST(test_errors)
{
    uint8_t *buf;
    QEMUIOVector qiov;
    Job j;
    int wfd;

    SETUP_OR_SKIP();
    buf = abuf(ALIGN);
    wfd = open(path, O_WRONLY | (direct ? O_DIRECT : 0));
    ck_assert_int_ge(wfd, 0);
    qemu_iovec_init_buf(&qiov, buf, ALIGN);
    j = (Job) { .fd = wfd, .qiov = &qiov, .type = RAW_AIO_READ };
    run_jobs(&j, 1);
    ck_assert_int_eq(j.ret, -EBADF);
    close(wfd);
    if (direct) {
        /* O_DIRECT with a misaligned offset. */
        j = (Job) { .offset = 1, .qiov = &qiov, .type = RAW_AIO_WRITE };
        run_jobs(&j, 1);
        ck_assert_int_eq(j.ret, -EINVAL);
    }
    qemu_vfree(buf);
    teardown_index();
}
END_TEST

static Suite *engines_suite(void)
{
    Suite *s = suite_create("aio-engines");
    TCase *tc = tcase_create("engines");
    int n = ENG__MAX * 2;

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_rw_basic, 0, n);
    tcase_add_loop_test(tc, test_vectored, 0, n);
    tcase_add_loop_test(tc, test_read_past_eof, 0, n);
    tcase_add_loop_test(tc, test_large, 0, n);
    tcase_add_loop_test(tc, test_concurrent, 0, n);
    tcase_add_loop_test(tc, test_batching, 0, n);
    tcase_add_loop_test(tc, test_chained, 0, n);
    tcase_add_loop_test(tc, test_merging, 0, n);
    tcase_add_loop_test(tc, test_ring_full, 0, n);
    tcase_add_loop_test(tc, test_short_write, 0, n);
    tcase_add_loop_test(tc, test_flush, 0, n);
    tcase_add_loop_test(tc, test_errors, 0, n);
    tcase_add_loop_test(tc, test_write_new, 0, n);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int e;

    for (e = 0; e < ENG__MAX; e++) {
        printf("engine %s: %s\n", engine_names[e],
               engine_available(e) ? "tested" : "not in this build");
    }
    return run_suite(engines_suite());
}
