/*
 * coblock — the file protocol driver, through the block layer
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Images are real files in $COBLOCK_TEST_DIR (default /var/tmp), opened
 * with blk_new_open as raw over file, for every engine this build has
 * and both cache modes (writeback, cache.direct=on); what the driver
 * wrote is checked against the bytes on disk and a model of the image.
 * Where QEMU's tools are installed they are the reference: for messages,
 * for the files qemu-img creates, and for image locking against a
 * running qemu-io.
 */
#include "test-common.h"
#include "util/atomic.h"
#include "block/block_int.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

MINICHECK_GLOBALS

#ifndef QEMU_IMG_REF
#define QEMU_IMG_REF "/usr/bin/qemu-img"
#endif
#ifndef QEMU_IO_REF
#define QEMU_IO_REF "/usr/bin/qemu-io"
#endif

enum { ENG_THREADS, ENG_NATIVE, ENG_IO_URING, ENG__MAX };
static const char *const engine_names[ENG__MAX] = { "threads", "native", "io_uring" };

static char tmpdir[256];
static char path[400];
static int engine;
static bool direct;

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

static bool have_tool(const char *tool)
{
    return access(tool, X_OK) == 0;
}

static void make_tmpdir(void)
{
    const char *base = getenv("COBLOCK_TEST_DIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/coblock-file-XXXXXX",
             base ? base : "/var/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/img", tmpdir);
}

static void remove_tmpdir(void)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
    bdrv_init();
    make_tmpdir();
}

static void teardown(void)
{
    remove_tmpdir();
}

static void make_file(const char *p, int64_t size)
{
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    close(fd);
}

static int64_t file_size(const char *p)
{
    struct stat st;

    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_size;
}

static int64_t file_blocks(const char *p)
{
    struct stat st;

    ck_assert_int_eq(stat(p, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

static void disk_read(int64_t offset, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    memset(buf, 0, len);
    ck_assert_int_ge(pread(fd, buf, len, offset), 0);
    close(fd);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 97 + i * 13 + (i >> 11));
    }
}

/* Open @p as raw over file with the current engine and cache mode. */
/* The format the image is opened with (the locking tests use qcow2). */
static const char *open_format = "raw";

static BlockBackend *open_img_opts(const char *p, int flags, const char *extra_key,
                                   const char *extra_val, Error **errp)
{
    QDict *opts = qdict_new();

    qdict_put_str(opts, "driver", open_format);
    qdict_put_str(opts, "file.driver", "file");
    qdict_put_str(opts, "file.filename", p);
    qdict_put_str(opts, "file.aio", engine_names[engine]);
    if (extra_key) {
        qdict_put_str(opts, extra_key, extra_val);
    }
    if (direct) {
        flags |= BDRV_O_NOCACHE;
    }
    return blk_new_open(NULL, opts, flags, errp);
}

static BlockBackend *open_img(int flags)
{
    Error *err = NULL;
    BlockBackend *blk = open_img_opts(path, flags, NULL, NULL, &err);

    ck_assert_msg(blk != NULL, "open failed: %s", err ? error_get_pretty(err) : "?");
    return blk;
}

/* The file node under the raw node. */
static BdrvChild *file_child(BlockBackend *blk)
{
    ck_assert_ptr_nonnull(blk_bs(blk)->file);
    return blk_bs(blk)->file;
}

/* The loop index encodes (engine, direct). */
static bool pick(int i)
{
    engine = i / 2;
    direct = i % 2;
    /* aio=native needs cache.direct=on (as in QEMU). */
    return engine_available(engine) && (direct || engine != ENG_NATIVE);
}

#define PICK_OR_SKIP()           \
    do {                         \
        if (!pick(_i)) {         \
            return;              \
        }                        \
    } while (0)

/* ---- data path ---- */

START_TEST(test_aligned)
{
    size_t len = 64 * KiB;
    uint8_t *w, *r, *d;
    BlockBackend *blk;

    PICK_OR_SKIP();
    w = qemu_memalign(4096, len);
    r = qemu_memalign(4096, len);
    d = qemu_xmalloc(len);
    make_file(path, 1 * MiB);
    blk = open_img(BDRV_O_RDWR);
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);
    fill(w, len, 1);
    ck_assert_int_eq(blk_pwrite(blk, 128 * KiB, len, w, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 128 * KiB, len, r, 0), 0);
    ck_assert_mem_eq(r, w, len);
    ck_assert_int_eq(blk_flush(blk), 0);
    disk_read(128 * KiB, d, len);
    ck_assert_mem_eq(d, w, len);
    blk_unref(blk);
    qemu_vfree(w);
    qemu_vfree(r);
    free(d);
}
END_TEST

/* Misaligned offsets and lengths (padded by the generic layer under
 * O_DIRECT) and misaligned buffers (bounced by the driver), against a
 * model of the image. */
START_TEST(test_misaligned)
{
    static const struct { int64_t off; size_t len; size_t buf_off; } cases[] = {
        { 4097, 1000, 0 }, { 1, 1, 3 }, { 511, 2, 1 }, { 8192, 8192, 1 },
        { 12345, 65537, 7 }, { 0, 4096, 512 }, { 1048576 - 100, 100, 5 },
    };
    size_t size = 1 * MiB;
    uint8_t *model, *disk, *raw, *back;
    BlockBackend *blk;
    size_t i;

    PICK_OR_SKIP();
    model = qemu_xmalloc0(size);
    disk = qemu_xmalloc(size);
    raw = qemu_xmalloc(70 * KiB + 16);
    back = qemu_xmalloc(70 * KiB + 16);
    make_file(path, (int64_t)size);
    blk = open_img(BDRV_O_RDWR);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        uint8_t *buf = raw + cases[i].buf_off;

        fill(buf, cases[i].len, (unsigned)i + 20);
        memcpy(model + cases[i].off, buf, cases[i].len);
        ck_assert_int_eq(blk_pwrite(blk, cases[i].off, (int64_t)cases[i].len, buf, 0), 0);
        memset(back, 0xee, cases[i].len + 16);
        ck_assert_int_eq(blk_pread(blk, cases[i].off, (int64_t)cases[i].len,
                                   back + cases[i].buf_off + 1, 0), 0);
        ck_assert_mem_eq(back + cases[i].buf_off + 1, model + cases[i].off,
                         cases[i].len);
    }
    blk_unref(blk);
    disk_read(0, disk, size);
    ck_assert(memcmp(disk, model, size) == 0);
    free(model);
    free(disk);
    free(raw);
    free(back);
}
END_TEST

START_TEST(test_vectored)
{
    static const size_t sizes[] = { 1, 511, 4096, 3000, 7, 65536, 513, 4095 };
    uint8_t *pieces[ARRAY_SIZE(sizes)], *flat, *disk;
    QEMUIOVector qiov;
    size_t i, total = 0, off = 0;
    BlockBackend *blk;

    PICK_OR_SKIP();
    make_file(path, 1 * MiB);
    blk = open_img(BDRV_O_RDWR);
    qemu_iovec_init(&qiov, ARRAY_SIZE(sizes));
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        pieces[i] = qemu_xmalloc(sizes[i] + 1);
        fill(pieces[i] + 1, sizes[i], (unsigned)i + 30);
        qemu_iovec_add(&qiov, pieces[i] + 1, sizes[i]);
        total += sizes[i];
    }
    ck_assert_int_eq(blk_pwritev(blk, 3333, (int64_t)total, &qiov, 0), 0);
    flat = qemu_xmalloc(total);
    disk = qemu_xmalloc(total);
    ck_assert_int_eq(blk_pread(blk, 3333, (int64_t)total, flat, 0), 0);
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        ck_assert_mem_eq(flat + off, pieces[i] + 1, sizes[i]);
        off += sizes[i];
    }
    /* Read back into the pieces, scrambled first. */
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        memset(pieces[i] + 1, 0x11, sizes[i]);
    }
    ck_assert_int_eq(blk_preadv(blk, 3333, (int64_t)total, &qiov, 0), 0);
    qemu_iovec_to_buf(&qiov, 0, disk, total);
    ck_assert_mem_eq(disk, flat, total);
    blk_unref(blk);
    disk_read(3333, disk, total);
    ck_assert_mem_eq(disk, flat, total);
    qemu_iovec_destroy(&qiov);
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        free(pieces[i]);
    }
    free(flat);
    free(disk);
}
END_TEST

START_TEST(test_large)
{
    size_t len = 40 * MiB;
    uint8_t *w, *r;
    BlockBackend *blk;

    PICK_OR_SKIP();
    w = qemu_xmalloc(len + 1);
    r = qemu_xmalloc(len);
    make_file(path, 64 * MiB);
    blk = open_img(BDRV_O_RDWR);
    fill(w + 1, len, 2);
    /* Misaligned buffer too: under O_DIRECT the whole request bounces. */
    ck_assert_int_eq(blk_pwrite(blk, 4 * MiB, (int64_t)len, w + 1, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 4 * MiB, (int64_t)len, r, 0), 0);
    ck_assert(memcmp(r, w + 1, len) == 0);
    blk_unref(blk);
    free(w);
    free(r);
}
END_TEST

/* Past the end: the file node grows on writes and reads zeroes past its
 * end; the raw node above it has a fixed size. */
START_TEST(test_past_eof)
{
    uint8_t *buf, *zero, *data;
    BlockBackend *blk;
    BdrvChild *file;

    PICK_OR_SKIP();
    buf = qemu_memalign(4096, 64 * KiB);
    zero = qemu_xmalloc0(64 * KiB);
    data = qemu_xmalloc(64 * KiB);
    make_file(path, 0);
    {
        int fd = open(path, O_WRONLY);

        fill(data, 64 * KiB, 3);
        ck_assert_int_eq(pwrite(fd, data, 10000, 0), 10000);  /* unaligned end */
        close(fd);
    }
    blk = open_img(BDRV_O_RDWR);
    file = file_child(blk);
    /* Whole sectors, as QEMU counts: the tail of the last reads zeroes. */
    ck_assert_int_eq(blk_getlength(blk), 10240);

    /* Through the BlockBackend: fixed size. */
    ck_assert_int_eq(blk_pread(blk, 8192, 4096, buf, 0), -EIO);
    ck_assert_int_eq(blk_pwrite(blk, 10239, 2, buf, 0), -EIO);
    ck_assert_int_eq(blk_pread(blk, 9000, 1240, buf, 0), 0);
    ck_assert_mem_eq(buf, data + 9000, 1000);
    ck_assert_mem_eq(buf + 1000, zero, 240);

    /* The file node itself: reads past EOF are zeroes. */
    memset(buf, 0xaa, 64 * KiB);
    ck_assert_int_eq(bdrv_pread(file, 8192, 16384, buf, 0), 0);
    ck_assert_mem_eq(buf, data + 8192, 10000 - 8192);
    ck_assert_mem_eq(buf + 10000 - 8192, zero, 16384 - (10000 - 8192));
    memset(buf, 0xaa, 64 * KiB);
    ck_assert_int_eq(bdrv_pread(file, 1 * MiB, 64 * KiB, buf, 0), 0);
    ck_assert_mem_eq(buf, zero, 64 * KiB);

    /* ... and writes past EOF grow it, with a hole that reads zeroes. */
    fill(buf, 4096, 4);
    ck_assert_int_eq(bdrv_pwrite(file, 2 * MiB, 4096, buf, 0), 0);
    ck_assert_int_eq(file_size(path), 2 * MiB + 4096);
    ck_assert_int_eq(bdrv_getlength(file->bs), 2 * MiB + 4096);
    memset(data, 0xaa, 64 * KiB);
    ck_assert_int_eq(bdrv_pread(file, 1 * MiB, 64 * KiB, data, 0), 0);
    ck_assert_mem_eq(data, zero, 64 * KiB);
    blk_unref(blk);
    qemu_vfree(buf);
    free(zero);
    free(data);
}
END_TEST

/* QD 64 from as many callbacks at once, then read back and check. */
typedef struct AioJob {
    QEMUIOVector qiov;
    uint8_t *buf;
    int ret;
    bool done;
} AioJob;

static void aio_job_cb(void *opaque, int ret)
{
    AioJob *j = opaque;

    j->ret = ret;
    j->done = true;
}

static void wait_jobs(BlockBackend *blk, AioJob *jobs, int n)
{
    int i, left;

    do {
        for (left = 0, i = 0; i < n; i++) {
            left += !jobs[i].done;
        }
        if (left) {
            aio_poll(blk_get_aio_context(blk), true);
        }
    } while (left);
}

START_TEST(test_concurrent)
{
    enum { N = 64, BLK = 12288 };
    static AioJob jobs[N];
    uint8_t *expect, *disk;
    BlockBackend *blk;
    int i;

    PICK_OR_SKIP();
    expect = qemu_xmalloc(BLK);
    disk = qemu_xmalloc(BLK);
    make_file(path, 4 * MiB);
    blk = open_img(BDRV_O_RDWR);
    for (i = 0; i < N; i++) {
        jobs[i].buf = qemu_xmalloc(BLK);
        fill(jobs[i].buf, BLK, (unsigned)i + 40);
        qemu_iovec_init_buf(&jobs[i].qiov, jobs[i].buf, BLK);
        jobs[i].done = false;
        /* Offsets deliberately misaligned, neighbours sharing blocks. */
        blk_aio_pwritev(blk, (int64_t)((i * 29) % N) * (BLK + 100) + 7,
                        &jobs[i].qiov, 0, aio_job_cb, &jobs[i]);
    }
    wait_jobs(blk, jobs, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        memset(jobs[i].buf, 0, BLK);
        jobs[i].done = false;
        blk_aio_preadv(blk, (int64_t)((i * 29) % N) * (BLK + 100) + 7,
                       &jobs[i].qiov, 0, aio_job_cb, &jobs[i]);
    }
    wait_jobs(blk, jobs, N);
    ck_assert_int_eq(blk_flush(blk), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].ret, 0);
        fill(expect, BLK, (unsigned)i + 40);
        ck_assert_mem_eq(jobs[i].buf, expect, BLK);
        disk_read((int64_t)((i * 29) % N) * (BLK + 100) + 7, disk, BLK);
        ck_assert_mem_eq(disk, expect, BLK);
        free(jobs[i].buf);
    }
    blk_unref(blk);
    free(expect);
    free(disk);
}
END_TEST

/* ---- zeroes, discard, status ---- */

static int status_at(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     int64_t *pnum)
{
    int64_t map;
    BlockDriverState *file;
    int ret = bdrv_block_status(bs, offset, bytes, pnum, &map, &file);

    ck_assert_int_ge(ret, 0);
    if (ret & BDRV_BLOCK_OFFSET_VALID) {
        ck_assert_int_eq(map, offset);
        ck_assert_ptr_eq(file, bs);
    }
    return ret;
}

START_TEST(test_zero_discard_status)
{
    size_t len = 1 * MiB;
    uint8_t *buf, *zero;
    BlockBackend *blk;
    BlockDriverState *fbs;
    int64_t pnum, blocks;
    int ret;

    PICK_OR_SKIP();
    buf = qemu_xmalloc(len);
    zero = qemu_xmalloc0(len);
    make_file(path, 4 * MiB);
    blk = open_img(BDRV_O_RDWR | BDRV_O_UNMAP);
    fbs = file_child(blk)->bs;

    /* Status of a sparse file: data at 1 MiB only. */
    fill(buf, len, 5);
    ck_assert_int_eq(blk_pwrite(blk, 1 * MiB, (int64_t)len, buf, 0), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ret = status_at(fbs, 0, 4 * MiB, &pnum);
    ck_assert_int_eq(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), BDRV_BLOCK_ZERO);
    ck_assert_int_eq(pnum, 1 * MiB);
    ret = status_at(fbs, 1 * MiB, 3 * MiB, &pnum);
    ck_assert_int_eq(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), BDRV_BLOCK_DATA);
    ck_assert_int_eq(pnum, 1 * MiB);
    ret = status_at(fbs, 2 * MiB, 2 * MiB, &pnum);
    ck_assert_int_eq(ret & BDRV_BLOCK_ZERO, BDRV_BLOCK_ZERO);
    ck_assert_int_eq(pnum, 2 * MiB);

    /* Discard punches a hole: zeroes, a hole, fewer blocks. */
    blocks = file_blocks(path);
    ck_assert_int_eq(blk_pdiscard(blk, 1 * MiB, 256 * KiB), 0);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB, 256 * KiB, buf, 0), 0);
    ck_assert_mem_eq(buf, zero, 256 * KiB);
    ret = status_at(fbs, 1 * MiB, 256 * KiB, &pnum);
    ck_assert_int_eq(ret & BDRV_BLOCK_ZERO, BDRV_BLOCK_ZERO);
    ck_assert_int_eq(pnum, 256 * KiB);
    ck_assert_int_lt(file_blocks(path), blocks);

    /* Zero writes, unmapping or not, read back as zeroes; the rest of the
     * data is untouched. */
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 1 * MiB + 256 * KiB, 256 * KiB,
                                       BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 1 * MiB + 512 * KiB + 512, 100 * KiB, 0),
                     0);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB, (int64_t)len, buf, 0), 0);
    ck_assert_mem_eq(buf, zero, 512 * KiB);
    ck_assert_mem_eq(buf + 512 * KiB + 512, zero, 100 * KiB);
    fill(zero, len, 5);     /* now: the original pattern */
    ck_assert_mem_eq(buf + 512 * KiB, zero + 512 * KiB, 512);
    ck_assert_mem_eq(buf + 612 * KiB + 512, zero + 612 * KiB + 512,
                     len - 612 * KiB - 512);
    memset(zero, 0, len);
    ret = status_at(fbs, 1 * MiB + 256 * KiB, 256 * KiB, &pnum);
    ck_assert_int_eq(ret & BDRV_BLOCK_ZERO, BDRV_BLOCK_ZERO);

    /* Zeroes past the end of the file node grow it. */
    ck_assert_int_eq(bdrv_pwrite_zeroes(file_child(blk), 8 * MiB, 64 * KiB,
                                        BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(file_size(path), 8 * MiB + 64 * KiB);
    ck_assert_int_eq(bdrv_pwrite_zeroes(file_child(blk), 9 * MiB, 64 * KiB, 0), 0);
    ck_assert_int_eq(file_size(path), 9 * MiB + 64 * KiB);
    blk_unref(blk);
    free(buf);
    free(zero);
}
END_TEST

/* ---- truncate and create ---- */

static int file_truncate(BlockBackend *blk, int64_t size, bool exact,
                         PreallocMode mode, char *msg, size_t msglen)
{
    Error *err = NULL;
    int ret = bdrv_truncate(file_child(blk), size, exact, mode, 0, &err);

    if (msg) {
        snprintf(msg, msglen, "%s", err ? error_get_pretty(err) : "");
    }
    if (err) {
        error_free(err);
    }
    return ret;
}

START_TEST(test_truncate)
{
    uint8_t *buf, *zero;
    BlockBackend *blk;
    char msg[256];

    PICK_OR_SKIP();
    buf = qemu_xmalloc(64 * KiB);
    zero = qemu_xmalloc0(64 * KiB);
    make_file(path, 0);
    blk = open_img(BDRV_O_RDWR | BDRV_O_RESIZE);

    /* Growing an empty file allocates its first block, like QEMU. */
    ck_assert_int_eq(file_truncate(blk, 1 * MiB, false, PREALLOC_MODE_OFF, NULL, 0), 0);
    ck_assert_int_eq(file_size(path), 1 * MiB);
    ck_assert_int_le(file_blocks(path), 64 * KiB);

    ck_assert_int_eq(file_truncate(blk, 5 * MiB, false, PREALLOC_MODE_FALLOC, NULL, 0), 0);
    ck_assert_int_eq(file_size(path), 5 * MiB);
    ck_assert_int_ge(file_blocks(path), 4 * MiB);

    ck_assert_int_eq(file_truncate(blk, 8 * MiB, true, PREALLOC_MODE_FULL, NULL, 0), 0);
    ck_assert_int_eq(file_size(path), 8 * MiB);
    ck_assert_int_ge(file_blocks(path), 7 * MiB);
    ck_assert_int_eq(bdrv_pread(file_child(blk), 7 * MiB, 64 * KiB, buf, 0), 0);
    ck_assert_mem_eq(buf, zero, 64 * KiB);

    /* A regular file shrinks, exact or not (as with QEMU's file driver),
     * but never with preallocation. */
    ck_assert_int_eq(file_truncate(blk, 4 * MiB, false, PREALLOC_MODE_OFF, NULL, 0), 0);
    ck_assert_int_eq(file_size(path), 4 * MiB);
    ck_assert_int_eq(file_truncate(blk, 2 * MiB, true, PREALLOC_MODE_OFF, NULL, 0), 0);
    ck_assert_int_eq(file_size(path), 2 * MiB);
    ck_assert_int_eq(bdrv_getlength(file_child(blk)->bs), 2 * MiB);
    ck_assert_int_eq(file_truncate(blk, 1 * MiB, true, PREALLOC_MODE_FALLOC,
                                   msg, sizeof(msg)), -ENOTSUP);
    ck_assert_str_eq(msg, "Cannot use preallocation for shrinking files");
    ck_assert_int_eq(file_truncate(blk, 3 * MiB, true, PREALLOC_MODE_METADATA,
                                   msg, sizeof(msg)), -ENOTSUP);
    ck_assert_str_eq(msg, "Unsupported preallocation mode: metadata");
    ck_assert_int_eq(file_size(path), 2 * MiB);
    blk_unref(blk);
    free(buf);
    free(zero);
}
END_TEST

/* The data runs of @p from SEEK_DATA/SEEK_HOLE, as "start-end " pairs in
 * KiB; false if the file system does not tell holes apart. */
static bool data_map(const char *p, char *out, size_t outlen)
{
    int fd = open(p, O_RDONLY);
    off_t size, pos = 0;
    size_t used = 0;

    ck_assert_int_ge(fd, 0);
    size = lseek(fd, 0, SEEK_END);
    out[0] = '\0';
    while (pos < size) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        off_t hole;

        if (data < 0) {
            break;
        }
        hole = lseek(fd, data, SEEK_HOLE);
        ck_assert_int_gt(hole, data);
        if (data == 0 && hole == size) {
            close(fd);
            return false;       /* no holes reported at all */
        }
        used += (size_t)snprintf(out + used, outlen - used, "%lld-%lld ",
                                 (long long)(data / KiB), (long long)(hole / KiB));
        ck_assert_uint_lt(used, outlen);
        pos = hole;
    }
    close(fd);
    return true;
}

/*
 * Writes into the holes of a sparse file (which the buffered thread-pool
 * engine has the file system allocate first): the data, the file size
 * and what is allocated are exactly those of plain writes, also past the
 * end and after the file shrank.
 */
START_TEST(test_write_into_hole)
{
    size_t len = 1 * MiB;
    uint8_t *a, *b, *d, *r, *zero;
    BlockBackend *blk;
    BdrvChild *file;
    char map[256];

    PICK_OR_SKIP();
    a = qemu_memalign(4096, len);
    b = qemu_memalign(4096, len);
    d = qemu_memalign(4096, len);
    r = qemu_memalign(4096, len);
    zero = qemu_xmalloc0(len);
    fill(a, len, 11);
    fill(b, len, 12);
    fill(d, len, 13);
    make_file(path, 8 * MiB);
    blk = open_img(BDRV_O_RDWR | BDRV_O_RESIZE);
    file = file_child(blk);

    ck_assert_int_eq(blk_pwrite(blk, 2 * MiB, (int64_t)len, a, 0), 0);
    /* Half inside, half past the end: the file grows to the write's end. */
    ck_assert_int_eq(bdrv_pwrite(file, 8 * MiB - 256 * KiB, 512 * KiB, b, 0), 0);
    ck_assert_int_eq(file_size(path), 8 * MiB + 256 * KiB);
    /* Shrinking drops that; writing past the new end again. */
    ck_assert_int_eq(file_truncate(blk, 5 * MiB, true, PREALLOC_MODE_OFF, NULL, 0), 0);
    ck_assert_int_eq(bdrv_pwrite(file, 6 * MiB, (int64_t)len, d, 0), 0);
    ck_assert_int_eq(file_size(path), 7 * MiB);
    ck_assert_int_eq(blk_flush(blk), 0);

    ck_assert_int_eq(bdrv_pread(file, 2 * MiB, (int64_t)len, r, 0), 0);
    ck_assert_mem_eq(r, a, len);
    ck_assert_int_eq(bdrv_pread(file, 6 * MiB, (int64_t)len, r, 0), 0);
    ck_assert_mem_eq(r, d, len);
    ck_assert_int_eq(bdrv_pread(file, 5 * MiB, (int64_t)len, r, 0), 0);
    ck_assert_mem_eq(r, zero, len);
    ck_assert_int_eq(bdrv_pread(file, 0, (int64_t)len, r, 0), 0);
    ck_assert_mem_eq(r, zero, len);
    blk_unref(blk);

    disk_read(6 * MiB, r, len);
    ck_assert_mem_eq(r, d, len);
    /* Allocated: the two megabytes written (nothing reserved around them,
     * nothing left past the end). */
    ck_assert_int_ge(file_blocks(path), 2 * MiB);
    ck_assert_int_le(file_blocks(path), 2 * MiB + 64 * KiB);
    if (data_map(path, map, sizeof(map))) {
        ck_assert_str_eq(map, "2048-3072 6144-7168 ");
    }
    qemu_vfree(a);
    qemu_vfree(b);
    qemu_vfree(d);
    qemu_vfree(r);
    free(zero);
}
END_TEST

/* Run a program; its stdout and stderr go to @out.  Returns the exit
 * status, or -1 if it did not exit normally. */
static int run_prog(char *const argv[], char *out, size_t outlen)
{
    int pipefd[2], status;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    ck_assert_int_eq(pipe(pipefd), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    while (len + 1 < outlen &&
           (n = read(pipefd[0], out + len, outlen - 1 - len)) > 0) {
        len += (size_t)n;
    }
    out[len] = '\0';
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Create with our driver; returns 0 or the error message in @msg. */
static int our_create(const char *p, const char *opts_str, char *msg, size_t msglen)
{
    const BlockDriver *drv = bdrv_find_format("file");
    QemuOpts *opts;
    Error *err = NULL;
    int ret;

    ck_assert_ptr_nonnull(drv);
    opts = qemu_opts_create(drv->create_opts);
    ck_assert(qemu_opts_do_parse(opts, opts_str, &error_abort));
    ret = bdrv_create(drv, p, opts, &err);
    snprintf(msg, msglen, "%s", err ? error_get_pretty(err) : "");
    if (err) {
        error_free(err);
    }
    qemu_opts_del(opts);
    return ret;
}

/* Files made by our create look like the ones qemu-img makes: same size,
 * same allocation, same contents. */
START_TEST(test_create_like_qemu)
{
    static const char *const cases[] = {
        "size=0", "size=1048576", "size=1024", "size=3146240",
        "size=1048576,preallocation=off", "size=2097152,preallocation=falloc",
        "size=1536000,preallocation=full", "size=1048576,nocow=on",
        "size=1048576,extent_size_hint=0",
    };
    char ours[320], theirs[320], msg[512], out[4096];
    size_t i;

    if (!have_tool(QEMU_IMG_REF)) {
        return;
    }
    snprintf(ours, sizeof(ours), "%s/ours", tmpdir);
    snprintf(theirs, sizeof(theirs), "%s/theirs", tmpdir);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        char *argv[] = { (char *)QEMU_IMG_REF, (char *)"create", (char *)"-q",
                         (char *)"-f", (char *)"file", theirs, (char *)"-o",
                         (char *)cases[i], NULL };
        uint8_t *a, *b;
        int64_t size;

        ck_assert_int_eq(our_create(ours, cases[i], msg, sizeof(msg)), 0);
        ck_assert_msg(run_prog(argv, out, sizeof(out)) == 0, "qemu-img: %s", out);
        size = file_size(theirs);
        ck_assert_int_eq(file_size(ours), size);
        ck_assert_msg(file_blocks(ours) == file_blocks(theirs),
                      "%s: %" PRId64 " vs %" PRId64 " bytes allocated", cases[i],
                      file_blocks(ours), file_blocks(theirs));
        a = qemu_xmalloc0((size_t)size + 1);
        b = qemu_xmalloc0((size_t)size + 1);
        snprintf(path, sizeof(path), "%s", ours);
        disk_read(0, a, (size_t)size);
        snprintf(path, sizeof(path), "%s", theirs);
        disk_read(0, b, (size_t)size);
        ck_assert(memcmp(a, b, (size_t)size) == 0);
        free(a);
        free(b);
        /* Creating over an existing file truncates it first. */
    }
}
END_TEST

/* @path holds @len bytes of @val (created or overwritten). */
static void write_file_bytes(const char *path, int val, size_t len)
{
    uint8_t *buf = qemu_xmalloc(len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    memset(buf, val, len);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
    free(buf);
}

/* Our create errors read like qemu-img's ("qemu-img: FILE: MESSAGE"),
 * and leave the same file behind. */
START_TEST(test_create_errors_like_qemu)
{
    static const char *const cases[] = {
        "size=1048576,preallocation=metadata",
        "size=1048576,preallocation=foo",
        "size=1048576,extent_size_hint=5G",
    };
    char p[320], msg[512], out[4096], expect[1024];
    size_t i;

    if (!have_tool(QEMU_IMG_REF)) {
        return;
    }
    snprintf(p, sizeof(p), "%s/new.img", tmpdir);
    for (i = 0; i < ARRAY_SIZE(cases) + 1; i++) {
        const char *o = i < ARRAY_SIZE(cases) ? cases[i] : "size=1048576";
        const char *target = p;
        char nodir[340];

        if (i == ARRAY_SIZE(cases)) {
            snprintf(nodir, sizeof(nodir), "%s/nodir/x.img", tmpdir);
            target = nodir;
        }
        struct stat qst, ost;
        int qexists, oexists;

        /* Over an existing file with data: what is left of it afterwards
         * (QEMU truncates it before refusing preallocation=metadata). */
        if (i < ARRAY_SIZE(cases)) {
            write_file_bytes(target, 0x5a, 8192);
        }
        {
            char *argv[] = { (char *)QEMU_IMG_REF, (char *)"create", (char *)"-q",
                             (char *)"-f", (char *)"file", (char *)target,
                             (char *)"-o", (char *)o, NULL };

            ck_assert_int_eq(run_prog(argv, out, sizeof(out)), 1);
        }
        qexists = stat(target, &qst) == 0;
        if (i < ARRAY_SIZE(cases)) {
            write_file_bytes(target, 0x5a, 8192);
        }
        ck_assert_int_lt(our_create(target, o, msg, sizeof(msg)), 0);
        snprintf(expect, sizeof(expect), "qemu-img: %s: %s\n", target, msg);
        ck_assert_str_eq(out, expect);
        oexists = stat(target, &ost) == 0;
        ck_assert_int_eq(oexists, qexists);
        if (oexists) {
            ck_assert_msg(ost.st_size == qst.st_size,
                          "%s: %lld bytes left, QEMU leaves %lld", o,
                          (long long)ost.st_size, (long long)qst.st_size);
        }
    }
}
END_TEST

/* ---- errors at open, compared with QEMU's ---- */

/* Our open error for @opts (file driver, key=value), without the
 * BlockBackend's "Could not open" prefix. */
static void our_open_error(const char *kv, int flags, char *msg, size_t msglen)
{
    Error *err = NULL;
    QDict *opts = qdict_parse_keyval(kv, NULL, &error_abort);
    BlockBackend *blk = blk_new_open_noprefix(NULL, opts, flags, &err);

    ck_assert_msg(blk == NULL, "opening '%s' succeeded", kv);
    snprintf(msg, msglen, "%s", error_get_pretty(err));
    error_free(err);
}

START_TEST(test_open_errors_like_qemu)
{
    char dir_kv[600], missing_kv[600], file_kv[600];
    static const char *const suffixes[] = {
        ",aio=foo", ",locking=maybe", ",aio=native", ",aio-max-batch=abc",
    };
    char kv[700], msg[512], out[4096], expect[1024];
    size_t i;

    if (!have_tool(QEMU_IO_REF)) {
        return;
    }
    make_file(path, 1 * MiB);
    snprintf(missing_kv, sizeof(missing_kv), "driver=file,filename=%s/missing", tmpdir);
    snprintf(dir_kv, sizeof(dir_kv), "driver=file,filename=%s", tmpdir);
    snprintf(file_kv, sizeof(file_kv), "driver=file,filename=%s", path);
    {
        /* Each case: options, read-only? */
        struct { const char *kv; bool ro; } c[8];
        int n = 0;

        c[n].kv = missing_kv; c[n++].ro = false;
        c[n].kv = dir_kv; c[n++].ro = false;
        c[n].kv = dir_kv; c[n++].ro = true;
        c[n].kv = "driver=file"; c[n++].ro = false;
        for (i = 0; i < ARRAY_SIZE(suffixes); i++) {
            static char bufs[4][700];

            snprintf(bufs[i], sizeof(bufs[i]), "%s%s", file_kv, suffixes[i]);
            c[n].kv = bufs[i];
            c[n++].ro = false;
        }
        for (i = 0; i < (size_t)n; i++) {
            char *argv[8];
            int k = 0;

            snprintf(kv, sizeof(kv), "%s", c[i].kv);
            argv[k++] = (char *)QEMU_IO_REF;
            argv[k++] = (char *)"--image-opts";
            if (c[i].ro) {
                argv[k++] = (char *)"-r";
            }
            argv[k++] = (char *)"-c";
            argv[k++] = (char *)"read 0 1";
            argv[k++] = kv;
            argv[k] = NULL;
            ck_assert_int_eq(run_prog(argv, out, sizeof(out)), 1);
            our_open_error(kv, c[i].ro ? 0 : BDRV_O_RDWR, msg, sizeof(msg));
            snprintf(expect, sizeof(expect), "qemu-io: can't open: %s\n", msg);
            ck_assert_str_eq(out, expect);
        }
    }
}
END_TEST

/*
 * A file system without O_DIRECT: ramfs, mounted in a private mount
 * namespace of a child process (skipped where that is not allowed).  We
 * and qemu-io must refuse cache=none with the same message.  tmpfs
 * (/dev/shm) has O_DIRECT since Linux 6.6; there both must agree too.
 */
static int odirect_child(const char *dir)
{
    char p[400], msg[512], out[4096], expect[1024];
    char *argv[] = { (char *)QEMU_IO_REF, (char *)"-f", (char *)"raw",
                     (char *)"-t", (char *)"none", (char *)"-c", (char *)"read 0 512",
                     p, NULL };
    Error *err = NULL;
    QDict *opts;
    BlockBackend *blk;
    int rc;

    if (unshare(CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("none", dir, "ramfs", 0, NULL) < 0) {
        return 77;
    }
    snprintf(p, sizeof(p), "%s/img", dir);
    make_file(p, 1 * MiB);
    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.filename", p);
    blk = blk_new_open_noprefix(NULL, opts, BDRV_O_RDWR | BDRV_O_NOCACHE, &err);
    if (blk) {
        fprintf(stderr, "O_DIRECT open on ramfs succeeded\n");
        return 1;
    }
    snprintf(msg, sizeof(msg), "%s", error_get_pretty(err));
    error_free(err);
    snprintf(expect, sizeof(expect),
             "Could not open '%s': filesystem does not support O_DIRECT", p);
    if (strcmp(msg, expect)) {
        fprintf(stderr, "got '%s'\n", msg);
        return 1;
    }
    if (have_tool(QEMU_IO_REF)) {
        rc = run_prog(argv, out, sizeof(out));
        snprintf(expect, sizeof(expect), "qemu-io: can't open device %s: %s\n", p, msg);
        if (rc != 1 || strcmp(out, expect)) {
            fprintf(stderr, "qemu-io said (%d): %s", rc, out);
            return 1;
        }
    }
    umount(dir);
    return 0;
}

START_TEST(test_odirect_refused)
{
    char dir[320];
    pid_t pid;
    int status;

    snprintf(dir, sizeof(dir), "%s/ramfs", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(odirect_child(dir));
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        printf("test_odirect_refused: no private mount namespace, skipped\n");
    } else {
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
}
END_TEST

START_TEST(test_odirect_tmpfs)
{
    char p[300], out[4096];
    char *argv[] = { (char *)QEMU_IO_REF, (char *)"-f", (char *)"raw",
                     (char *)"-t", (char *)"none", (char *)"-c", (char *)"read 0 512",
                     p, NULL };
    Error *err = NULL;
    QDict *opts;
    BlockBackend *blk;
    int rc = 0;

    if (access("/dev/shm", W_OK) < 0) {
        return;
    }
    snprintf(p, sizeof(p), "/dev/shm/coblock-test-%d", (int)getpid());
    make_file(p, 1 * MiB);
    if (have_tool(QEMU_IO_REF)) {
        rc = run_prog(argv, out, sizeof(out));
    }
    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.filename", p);
    blk = blk_new_open_noprefix(NULL, opts, BDRV_O_RDWR | BDRV_O_NOCACHE, &err);
    if (have_tool(QEMU_IO_REF)) {
        if (blk) {
            ck_assert_msg(rc == 0, "we opened, qemu-io did not: %s", out);
        } else {
            char expect[1024];

            snprintf(expect, sizeof(expect), "qemu-io: can't open device %s: %s\n",
                     p, error_get_pretty(err));
            ck_assert_str_eq(out, expect);
        }
    }
    if (blk) {
        uint8_t buf[4096] = { 0 };

        /* Whatever the kernel allows, I/O must work. */
        ck_assert_int_eq(blk_pwrite(blk, 1, 4000, buf, 0), 0);
        ck_assert_int_eq(blk_pread(blk, 3, 4000, buf, 0), 0);
        blk_unref(blk);
    } else {
        ck_assert_ptr_nonnull(strstr(error_get_pretty(err),
                                     "filesystem does not support O_DIRECT"));
        error_free(err);
    }
    unlink(p);
}
END_TEST

/* ---- flush ---- */

/* fdatasync on a character device fails; after that every flush fails,
 * even once the device would accept it again. */
START_TEST(test_flush_sticky)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;
    uint8_t buf[512] = { 0 };

    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.driver", "file");
    qdict_put_str(opts, "file.filename", "/dev/null");
    blk = blk_new_open(NULL, opts, BDRV_O_RDWR, &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    ck_assert_int_eq(bdrv_pwrite(file_child(blk), 0, 512, buf, 0), 0);
    ck_assert_int_lt(bdrv_flush(file_child(blk)->bs), 0);
    ck_assert_int_eq(bdrv_pwrite(file_child(blk), 0, 512, buf, 0), 0);
    ck_assert_int_lt(bdrv_flush(file_child(blk)->bs), 0);
    blk_unref(blk);
}
END_TEST

/* ---- locking ---- */

static BlockBackend *try_open(const char *p, int flags, const char *locking,
                              char *msg, size_t msglen)
{
    Error *err = NULL;
    BlockBackend *blk = open_img_opts(p, flags, locking ? "file.locking" : NULL,
                                      locking, &err);

    if (msg) {
        msg[0] = '\0';
        if (err) {
            snprintf(msg, msglen, "%s\n%s", error_get_pretty(err),
                     error_get_hint(err) ? error_get_hint(err) : "");
        }
    }
    if (err) {
        error_free(err);
    }
    return blk;
}

/* Two opens in one process have two open file descriptions: their OFD
 * locks exclude each other as two processes' would. */
/* A raw image keeps no metadata of its own: as with QEMU, writers and
 * readers may share it. */
START_TEST(test_locking_raw_shares)
{
    BlockBackend *a, *b, *c;
    char msg[1024];

    engine = ENG_THREADS;
    direct = false;
    make_file(path, 1 * MiB);
    a = try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg));
    ck_assert_msg(a != NULL, "%s", msg);
    b = try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg));
    ck_assert_msg(b != NULL, "%s", msg);
    c = try_open(path, 0, NULL, msg, sizeof(msg));
    ck_assert_msg(c != NULL, "%s", msg);
    blk_unref(c);
    blk_unref(b);
    blk_unref(a);
}
END_TEST

/* Exclusion needs a format with metadata (qcow2): its users refuse to
 * share writes and resizes. */
static bool have_qcow2_image(void)
{
    char *argv[] = { (char *)QEMU_IMG_REF, (char *)"create", (char *)"-q",
                     (char *)"-f", (char *)"qcow2", (char *)path,
                     (char *)"1M", NULL };
    char out[1024];

    if (!bdrv_find_format("qcow2")) {
        fprintf(stderr, "qcow2 not built in: exclusion between writers "
                "not tested\n");
        return false;
    }
    unlink(path);
    return run_prog(argv, out, sizeof(out)) == 0;
}

START_TEST(test_locking_in_process)
{
    BlockBackend *a, *b;
    char msg[1024], expect[1024];

    engine = ENG_THREADS;
    direct = false;
    if (!have_qcow2_image()) {
        return;
    }
    open_format = "qcow2";
    a = try_open(path, BDRV_O_RDWR, NULL, NULL, 0);
    ck_assert_ptr_nonnull(a);

    ck_assert_ptr_null(try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg)));
    snprintf(expect, sizeof(expect), "Could not open '%s': Failed to get \"write\" "
             "lock\nIs another process using the image [%s]?\n", path, path);
    ck_assert_str_eq(msg, expect);

    ck_assert_ptr_null(try_open(path, 0, NULL, msg, sizeof(msg)));
    snprintf(expect, sizeof(expect), "Could not open '%s': Failed to get shared "
             "\"write\" lock\nIs another process using the image [%s]?\n", path, path);
    ck_assert_str_eq(msg, expect);

    /* Force-share and locking=off take no locks. */
    b = try_open(path, BDRV_O_FORCE_SHARE, NULL, msg, sizeof(msg));
    ck_assert_msg(b != NULL, "%s", msg);
    blk_unref(b);
    b = try_open(path, BDRV_O_RDWR, "off", msg, sizeof(msg));
    ck_assert_msg(b != NULL, "%s", msg);
    blk_unref(b);
    blk_unref(a);

    /* Readers share; a writer then waits for them to go. */
    a = try_open(path, 0, NULL, NULL, 0);
    b = try_open(path, 0, "on", msg, sizeof(msg));
    ck_assert_msg(a && b, "%s", msg);
    ck_assert_ptr_null(try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg)));
    ck_assert_ptr_nonnull(strstr(msg, "Failed to get \"write\" lock"));
    blk_unref(a);
    blk_unref(b);
    a = try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg));
    ck_assert_msg(a != NULL, "%s", msg);
    blk_unref(a);
    open_format = "raw";
}
END_TEST

/* Wait until some process holds a lock on byte @byte of @p. */
static bool wait_for_lock(const char *p, int byte)
{
    int i;

    for (i = 0; i < 1000; i++) {
        int fd = open(p, O_RDONLY);
        struct flock fl = { .l_whence = SEEK_SET, .l_start = byte, .l_len = 1,
                            .l_type = F_WRLCK };
        bool held;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
        held = fl.l_type != F_UNLCK;
        close(fd);
        if (held) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

/* Against a real qemu-io, both ways. */
START_TEST(test_locking_against_qemu)
{
    char msg[1024], expect[1024], out[4096], ms[] = "sleep 20000";
    char *holder_argv[] = { (char *)QEMU_IO_REF, (char *)"-f", (char *)"qcow2",
                            (char *)"-c", ms, path, NULL };
    char *qemu_reader[] = { (char *)QEMU_IO_REF, (char *)"-r", (char *)"-f",
                            (char *)"qcow2", (char *)"-c", (char *)"read 0 512",
                            path, NULL };
    char *qemu_writer[] = { (char *)QEMU_IO_REF, (char *)"-f", (char *)"qcow2",
                            (char *)"-c", (char *)"read 0 512", path, NULL };
    char *create_argv[] = { (char *)QEMU_IMG_REF, (char *)"create", (char *)"-q",
                            (char *)"-f", (char *)"qcow2", path, (char *)"1M", NULL };
    BlockBackend *blk;
    pid_t holder;
    int status;

    if (!have_tool(QEMU_IO_REF) || !have_tool(QEMU_IMG_REF)) {
        return;
    }
    engine = ENG_THREADS;
    direct = false;
    if (!bdrv_find_format("qcow2")) {
        fprintf(stderr, "qcow2 not built in: locking against QEMU not tested\n");
        return;
    }
    ck_assert_int_eq(run_prog(create_argv, out, sizeof(out)), 0);
    open_format = "qcow2";

    /* QEMU holds the image as a qcow2 writer. */
    holder = fork();
    ck_assert_int_ge(holder, 0);
    if (holder == 0) {
        int devnull = open("/dev/null", O_RDWR);

        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(holder_argv[0], holder_argv);
        _exit(127);
    }
    ck_assert(wait_for_lock(path, 201));
    ck_assert_ptr_null(try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg)));
    snprintf(expect, sizeof(expect), "Could not open '%s': Failed to get \"write\" "
             "lock\nIs another process using the image [%s]?\n", path, path);
    ck_assert_str_eq(msg, expect);
    ck_assert_ptr_null(try_open(path, 0, NULL, msg, sizeof(msg)));
    snprintf(expect, sizeof(expect), "Could not open '%s': Failed to get shared "
             "\"write\" lock\nIs another process using the image [%s]?\n", path, path);
    ck_assert_str_eq(msg, expect);
    blk = try_open(path, BDRV_O_FORCE_SHARE, NULL, msg, sizeof(msg));
    ck_assert_msg(blk != NULL, "%s", msg);
    blk_unref(blk);
    /* Creating over it would destroy it: refused like qemu-img create. */
    ck_assert_int_eq(our_create(path, "size=1048576", msg, sizeof(msg)), -EAGAIN);
    ck_assert_str_eq(msg, "Failed to get \"write\" lock");
    kill(holder, SIGTERM);
    ck_assert_int_eq(waitpid(holder, &status, 0), holder);

    /* We hold it as a writer: QEMU's reader and writer are refused with
     * the messages QEMU gives against itself. */
    blk = try_open(path, BDRV_O_RDWR, NULL, msg, sizeof(msg));
    ck_assert_msg(blk != NULL, "%s", msg);
    ck_assert_int_eq(run_prog(qemu_reader, out, sizeof(out)), 1);
    snprintf(expect, sizeof(expect), "qemu-io: can't open device %s: Failed to get "
             "shared \"write\" lock\nIs another process using the image [%s]?\n",
             path, path);
    ck_assert_str_eq(out, expect);
    ck_assert_int_eq(run_prog(qemu_writer, out, sizeof(out)), 1);
    snprintf(expect, sizeof(expect), "qemu-io: can't open device %s: Failed to get "
             "\"write\" lock\nIs another process using the image [%s]?\n",
             path, path);
    ck_assert_str_eq(out, expect);
    blk_unref(blk);

    /* Gone: QEMU gets in. */
    ck_assert_int_eq(run_prog(qemu_writer, out, sizeof(out)), 0);
    open_format = "raw";
}
END_TEST

/* ---- block devices ---- */

static const char *find_losetup(void)
{
    static const char *const paths[] = { "/usr/sbin/losetup", "/sbin/losetup" };
    size_t i;

    if (geteuid() != 0) {
        return NULL;
    }
    for (i = 0; i < ARRAY_SIZE(paths); i++) {
        if (have_tool(paths[i])) {
            return paths[i];
        }
    }
    return NULL;
}

/*
 * A loop device with 4 KiB logical sectors over a file: the driver learns
 * the alignment from the device, its length from BLKGETSIZE64, zeroes and
 * discards go to the device, and it cannot be resized.  Skipped unless
 * root can attach a loop device.
 */
/*
 * A loop device with 4 KiB logical sectors over a file: the driver learns
 * the alignment from the device, its length from BLKGETSIZE64, zeroes and
 * discards go to the device, and it cannot be resized.  Skipped unless
 * root can attach a loop device.  The device is detached as soon as we
 * hold it open, which the kernel turns into "detach on last close", so
 * that it goes away whatever becomes of the test.
 */
START_TEST(test_block_device)
{
    const char *losetup = find_losetup();
    char backing[320], dev[64] = "", out[4096], msg[256];
    uint8_t *buf, *back, *zero;
    BlockBackend *blk;
    BlockDriverState *fbs;
    Error *err = NULL;
    int rc;

    PICK_OR_SKIP();
    if (!losetup) {
        return;
    }
    snprintf(backing, sizeof(backing), "%s/backing", tmpdir);
    make_file(backing, 8 * MiB);
    {
        char *argv[] = { (char *)losetup, (char *)"-f", (char *)"--show",
                         (char *)"-b", (char *)"4096", backing, NULL };

        rc = run_prog(argv, out, sizeof(out));
        if (rc != 0 || strncmp(out, "/dev/", 5)) {
            printf("test_block_device: no loop device (%s), skipped\n", out);
            return;
        }
        snprintf(dev, sizeof(dev), "%.*s", (int)strcspn(out, "\n"), out);
    }
    blk = open_img_opts(dev, BDRV_O_RDWR | BDRV_O_UNMAP, NULL, NULL, &err);
    {
        char *argv[] = { (char *)losetup, (char *)"-d", dev, NULL };

        ck_assert_int_eq(run_prog(argv, out, sizeof(out)), 0);
    }
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    buf = qemu_xmalloc(64 * KiB);
    back = qemu_xmalloc(64 * KiB);
    zero = qemu_xmalloc0(64 * KiB);
    fbs = file_child(blk)->bs;
    ck_assert_int_eq(blk_getlength(blk), 8 * MiB);
    if (direct) {
        ck_assert_int_eq(fbs->bl.request_alignment, 4096);
    }

    /* A misaligned write: read-modify-write of whole device sectors. */
    fill(buf, 64 * KiB, 50);
    ck_assert_int_eq(blk_pwrite(blk, 1000, 10000, buf, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 1000, 10000, back, 0), 0);
    ck_assert_mem_eq(back, buf, 10000);
    ck_assert_int_eq(blk_flush(blk), 0);
    snprintf(path, sizeof(path), "%s", backing);
    disk_read(1000, back, 10000);
    ck_assert_mem_eq(back, buf, 10000);
    ck_assert_int_eq(blk_pread(blk, 0, 1000, back, 0), 0);
    ck_assert_mem_eq(back, zero, 1000);

    /* Zeroes and discard on the device. */
    ck_assert_int_eq(blk_pwrite(blk, 64 * KiB, 64 * KiB, buf, 0), 0);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 64 * KiB, 32 * KiB, 0), 0);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 96 * KiB, 16 * KiB, BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(blk_pread(blk, 64 * KiB, 64 * KiB, back, 0), 0);
    ck_assert_mem_eq(back, zero, 48 * KiB);
    ck_assert_mem_eq(back + 48 * KiB, buf + 48 * KiB, 16 * KiB);
    ck_assert_int_eq(blk_pdiscard(blk, 112 * KiB, 16 * KiB), 0);

    /* Devices keep their size. */
    ck_assert_int_eq(file_truncate(blk, 16 * MiB, true, PREALLOC_MODE_OFF,
                                   msg, sizeof(msg)), -ENOTSUP);
    ck_assert_str_eq(msg, "Cannot resize device files");
    ck_assert_int_eq(file_truncate(blk, 16 * MiB, false, PREALLOC_MODE_OFF,
                                   msg, sizeof(msg)), -EINVAL);
    ck_assert_str_eq(msg, "Cannot grow device files");
    ck_assert_int_eq(file_truncate(blk, 8 * MiB, true, PREALLOC_MODE_OFF,
                                   msg, sizeof(msg)), 0);
    blk_unref(blk);
    free(buf);
    free(back);
    free(zero);
}
END_TEST

/* ---- copy offload ---- */

typedef struct CopyCo {
    BlockBackend *src, *dst;
    int64_t src_off, dst_off, bytes;
    int ret;
    bool done;
} CopyCo;

static void coroutine_fn copy_co_entry(void *opaque)
{
    CopyCo *c = opaque;

    c->ret = blk_co_copy_range(c->src, c->src_off, c->dst, c->dst_off,
                               c->bytes, 0);
    c->done = true;
}

static int copy_range(BlockBackend *src, int64_t src_off, BlockBackend *dst,
                      int64_t dst_off, int64_t bytes)
{
    CopyCo c = { src, dst, src_off, dst_off, bytes, -EINPROGRESS, false };

    bdrv_run_co(blk_get_aio_context(dst), copy_co_entry, &c, &c.done);
    return c.ret;
}

static BlockBackend *open_fmt(const char *p, const char *fmt, int flags)
{
    const char *saved = open_format;
    Error *err = NULL;
    BlockBackend *blk;

    open_format = fmt;
    blk = open_img_opts(p, flags, NULL, NULL, &err);
    open_format = saved;
    ck_assert_msg(blk != NULL, "open %s failed: %s", p,
                  err ? error_get_pretty(err) : "?");
    return blk;
}

static void write_file(const char *p, int64_t off, const void *buf, size_t len)
{
    int fd = open(p, O_WRONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
    close(fd);
}

/* The file systems whose copy_file_range is a page-cache copy. */
static bool fs_copies_pages(const char *p)
{
    struct statfs st;

    ck_assert_int_eq(statfs(p, &st), 0);
    return st.f_type == 0xef53 || st.f_type == 0x01021994 ||
           st.f_type == 0x858458f6;
}

/* raw over file to raw over file: copied by the kernel through the page
 * cache; refused (and nothing written) with O_DIRECT on either side.
 * bdrv_copy_range_offloads() says whether the storage would copy by
 * itself: not with O_DIRECT, not on ext2/3/4, tmpfs or ramfs. */
START_TEST(test_copy_range_raw)
{
    size_t len = 4 * MiB;
    char dpath[420];
    uint8_t *w, *r, *zero;
    BlockBackend *src, *dst;
    char map[256];
    int ret;

    PICK_OR_SKIP();
    w = qemu_xmalloc(len);
    r = qemu_memalign(4096, len);
    zero = qemu_xmalloc0(len);
    snprintf(dpath, sizeof(dpath), "%s/dst", tmpdir);
    make_file(path, (int64_t)len);
    make_file(dpath, (int64_t)len);
    fill(w, len, 7);
    write_file(path, 0, w, len);
    src = open_img(0);
    dst = open_fmt(dpath, "raw", BDRV_O_RDWR);
    ck_assert_int_eq(bdrv_copy_range_offloads(blk_bs(dst)),
                     !direct && !fs_copies_pages(dpath));

    ret = copy_range(src, 1 * MiB, dst, 512 * KiB, 2 * MiB);
    if (direct) {
        ck_assert_int_eq(ret, -ENOTSUP);
        ck_assert_int_eq(blk_pread(dst, 0, (int64_t)len, r, 0), 0);
        ck_assert_mem_eq(r, zero, len);
    } else {
        ck_assert_int_eq(ret, 0);
        ck_assert_int_eq(blk_pread(dst, 512 * KiB, 2 * MiB, r, 0), 0);
        ck_assert_mem_eq(r, w + 1 * MiB, 2 * MiB);
        /* around it: untouched */
        ck_assert_int_eq(blk_pread(dst, 0, 512 * KiB, r, 0), 0);
        ck_assert_mem_eq(r, zero, 512 * KiB);
        ck_assert_int_eq(blk_pread(dst, 2560 * KiB, 1536 * KiB, r, 0), 0);
        ck_assert_mem_eq(r, zero, 1536 * KiB);
        /* allocated: what was copied, nothing around it (the target's
         * range was a hole, which may be allocated before the copy) */
        ck_assert_int_ge(file_blocks(dpath), 2 * MiB);
        ck_assert_int_le(file_blocks(dpath), 2 * MiB + 64 * KiB);
        if (data_map(dpath, map, sizeof(map))) {
            ck_assert_str_eq(map, "512-2560 ");
        }
        /* unaligned, up to the end of the target */
        ck_assert_int_eq(copy_range(src, 3, dst, (int64_t)len - 5000, 5000), 0);
        ck_assert_int_eq(file_size(dpath), (int64_t)len);
        ck_assert_int_eq(blk_pread(dst, (int64_t)len - 5000, 5000, r, 0), 0);
        ck_assert_mem_eq(r, w + 3, 5000);
    }
    /* bounds, on either side */
    ck_assert_int_eq(copy_range(src, (int64_t)len - 4096, dst, 0, 8192), -EIO);
    ck_assert_int_eq(copy_range(src, 0, dst, (int64_t)len - 4096, 8192), -EIO);
    ck_assert_int_eq(copy_range(src, -4096, dst, 0, 4096), -EIO);
    blk_unref(dst);

    /* a read-only target refuses */
    dst = open_fmt(dpath, "raw", 0);
    ck_assert_int_eq(copy_range(src, 0, dst, 0, 4096), -EACCES);
    blk_unref(dst);
    blk_unref(src);
    free(w);
    qemu_vfree(r);
    free(zero);
}
END_TEST

/* qcow2 on both sides (images made by QEMU's qemu-img): data clusters
 * are copied file to file, the target allocating as a write would; a
 * range with a cluster that is not data is refused; QEMU's check and
 * compare agree with the result. */
START_TEST(test_copy_range_qcow2)
{
    char spath[420], dpath[420], cmd[2048];
    size_t len = 1 * MiB;
    uint8_t *w, *r;
    BlockBackend *src, *dst;

    if (!have_tool(QEMU_IMG_REF) || !bdrv_find_format("qcow2")) {
        return;
    }
    w = qemu_xmalloc(len);
    r = qemu_memalign(4096, len);
    engine = ENG_THREADS;
    direct = false;
    snprintf(spath, sizeof(spath), "%s/src.qcow2", tmpdir);
    snprintf(dpath, sizeof(dpath), "%s/dst.qcow2", tmpdir);
    snprintf(cmd, sizeof(cmd), QEMU_IMG_REF " create -q -f qcow2 '%s' 8M && "
             QEMU_IMG_REF " create -q -f qcow2 '%s' 8M", spath, dpath);
    ck_assert_int_eq(system(cmd), 0);
    src = open_fmt(spath, "qcow2", BDRV_O_RDWR);
    fill(w, len, 3);
    ck_assert_int_eq(blk_pwrite(src, 0, (int64_t)len, w, 0), 0);
    ck_assert_int_eq(blk_pwrite(src, 4 * MiB, (int64_t)len, w, 0), 0);
    ck_assert_int_eq(blk_flush(src), 0);
    dst = open_fmt(dpath, "qcow2", BDRV_O_RDWR);
    /* qcow2 answers with its file's answer */
    ck_assert_int_eq(bdrv_copy_range_offloads(blk_bs(dst)),
                     !fs_copies_pages(dpath));

    /* data to unallocated clusters of the target, then over them */
    ck_assert_int_eq(copy_range(src, 0, dst, 2 * MiB, (int64_t)len), 0);
    ck_assert_int_eq(copy_range(src, 4 * MiB + 64 * KiB, dst, 2 * MiB,
                                256 * KiB), 0);
    ck_assert_int_eq(blk_pread(dst, 2 * MiB, (int64_t)len, r, 0), 0);
    ck_assert_mem_eq(r, w + 64 * KiB, 256 * KiB);
    ck_assert_mem_eq(r + 256 * KiB, w + 256 * KiB, len - 256 * KiB);
    /* not cluster-aligned on the target; unallocated in the source */
    ck_assert_int_eq(copy_range(src, 0, dst, 6 * MiB + 4096, 64 * KiB),
                     -ENOTSUP);
    ck_assert_int_eq(copy_range(src, 1 * MiB, dst, 6 * MiB, 64 * KiB),
                     -ENOTSUP);
    blk_unref(dst);
    blk_unref(src);

    /* QEMU's view: a clean image holding the data */
    snprintf(cmd, sizeof(cmd), QEMU_IMG_REF " check -q '%s' && "
             QEMU_IMG_REF " convert -O raw '%s' '%s.raw'", dpath, dpath, dpath);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s.raw", dpath);
    {
        int fd = open(cmd, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, r, len, 2 * MiB), (ssize_t)len);
        close(fd);
    }
    ck_assert_mem_eq(r, w + 64 * KiB, 256 * KiB);
    ck_assert_mem_eq(r + 256 * KiB, w + 256 * KiB, len - 256 * KiB);
    free(w);
    qemu_vfree(r);
}
END_TEST

/* Reads through the page cache take the inline path when the data is
 * cached and go to the engine when it is not. */
START_TEST(test_cached_and_uncached_reads)
{
    size_t len = 1 * MiB;
    uint8_t *w, *r;
    BlockBackend *blk;
    int fd;

    PICK_OR_SKIP();
    w = qemu_xmalloc(len);
    r = qemu_memalign(4096, len);
    make_file(path, (int64_t)len);
    fill(w, len, 11);
    write_file(path, 0, w, len);
    blk = open_img(0);
    for (int round = 0; round < 2; round++) {
        /* round 0: evicted; round 1: cached by round 0 */
        if (round == 0) {
            fd = open(path, O_RDONLY);
            ck_assert_int_ge(fd, 0);
            ck_assert_int_eq(fdatasync(fd), 0);
            ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
            close(fd);
        }
        memset(r, 0xaa, len);
        ck_assert_int_eq(blk_pread(blk, 0, (int64_t)len, r, 0), 0);
        ck_assert_mem_eq(r, w, len);
        ck_assert_int_eq(blk_pread(blk, 4096, 8192, r, 0), 0);
        ck_assert_mem_eq(r, w + 4096, 8192);
    }
    blk_unref(blk);
    free(w);
    qemu_vfree(r);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("file-posix");
    TCase *tc;
    int n = ENG__MAX * 2;

    tc = tcase_create("io");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_aligned, 0, n);
    tcase_add_loop_test(tc, test_misaligned, 0, n);
    tcase_add_loop_test(tc, test_vectored, 0, n);
    tcase_add_loop_test(tc, test_large, 0, n);
    tcase_add_loop_test(tc, test_past_eof, 0, n);
    tcase_add_loop_test(tc, test_concurrent, 0, n);
    tcase_add_loop_test(tc, test_zero_discard_status, 0, n);
    tcase_add_loop_test(tc, test_truncate, 0, n);
    tcase_add_loop_test(tc, test_write_into_hole, 0, n);
    tcase_add_test(tc, test_flush_sticky);
    tcase_add_loop_test(tc, test_block_device, 0, n);
    suite_add_tcase(s, tc);

    tc = tcase_create("copy-range");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_copy_range_raw, 0, n);
    tcase_add_test(tc, test_copy_range_qcow2);
    tcase_add_loop_test(tc, test_cached_and_uncached_reads, 0, n);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_create_like_qemu);
    tcase_add_test(tc, test_create_errors_like_qemu);
    suite_add_tcase(s, tc);

    tc = tcase_create("open");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_errors_like_qemu);
    tcase_add_test(tc, test_odirect_refused);
    tcase_add_test(tc, test_odirect_tmpfs);
    suite_add_tcase(s, tc);

    tc = tcase_create("locking");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_locking_raw_shares);
    tcase_add_test(tc, test_locking_in_process);
    tcase_add_test(tc, test_locking_against_qemu);
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
    printf("reference tools: %s, %s\n",
           have_tool(QEMU_IMG_REF) ? QEMU_IMG_REF : "(no qemu-img)",
           have_tool(QEMU_IO_REF) ? QEMU_IO_REF : "(no qemu-io)");
    return run_suite(file_suite());
}
