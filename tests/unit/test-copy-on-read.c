/*
 * coblock — copy-on-read unit tests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Real qcow2 images on real files: a base image with a known pattern and
 * an overlay over it.  Reads through an overlay opened with
 * BDRV_O_COPY_ON_READ (or reads carrying BDRV_REQ_COPY_ON_READ) must copy
 * whole clusters into the overlay, with the backing file's data, and
 * nothing else; writes racing with the copy must never be overwritten;
 * a read-only open must refuse copy-on-read.  Where QEMU's qemu-img is
 * installed, it checks the images we wrote.
 */
#include "test-common.h"
#include "test-image.h"

#include <sys/stat.h>

MINICHECK_GLOBALS

#define CLUSTER 65536

static BlockBackend *open_img(const char *path, int flags)
{
    return open_opts(path, flags, NULL);
}

/* The overlay alone, its backing file left closed. */
static BlockBackend *open_alone(const char *path)
{
    return open_img(path, BDRV_O_NO_BACKING);
}

/* A base of @size whose first @data bytes hold 0x42, and an overlay of
 * @size over it. */
static void make_chain(const char *base, const char *top, const char *size,
                       int64_t data)
{
    char *opts = qemu_xasprintf("backing_file=%s,backing_fmt=qcow2", base);
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, (size_t)data);

    create(base, size, NULL);
    blk = open_img(base, BDRV_O_RDWR);
    memset(buf, 0x42, (size_t)data);
    ck_assert_int_eq(blk_pwrite(blk, 0, data, buf, 0), 0);
    blk_unref(blk);
    create(top, size, opts);
    qemu_vfree(buf);
    free(opts);
}

/* 1 if [off, off + len) is allocated in the overlay itself (all of it),
 * 0 if none of it is; fails the test for a mixed answer. */
static int allocated(BlockBackend *blk, int64_t off, int64_t len)
{
    int64_t pnum = 0;
    int ret = bdrv_is_allocated(blk_bs(blk), off, len, &pnum);

    ck_assert_int_ge(ret, 0);
    ck_assert_msg(pnum == len, "allocation at %" PRId64 " changes after %"
                  PRId64 " of %" PRId64 " bytes", off, pnum, len);
    return ret;
}

/* One assertion per buffer (Check records every assertion it passes). */
static void expect_bytes(const uint8_t *buf, size_t len, uint8_t val,
                         const char *what)
{
    size_t i = 0;

    while (i < len && buf[i] == val) {
        i++;
    }
    ck_assert_msg(i == len, "%s: byte %zu is 0x%02x, not 0x%02x",
                  what, i, i < len ? buf[i] : 0, val);
}

/* QEMU's qemu-img, where installed, finds nothing wrong with @path. */
static void qemu_check(const char *path)
{
    char *cmd;

    if (access("/usr/bin/qemu-img", X_OK) != 0) {
        return;
    }
    cmd = qemu_xasprintf("/usr/bin/qemu-img check -q -f qcow2 '%s'", path);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    free(cmd);
}

/* ---- tests ---- */

/* A partial read of a cluster copies the whole cluster; clusters not read
 * stay unallocated; the copy holds the backing file's data, so the
 * overlay reads the same without its backing file. */
START_TEST(test_whole_clusters_copied)
{
    char *base = tpath("w-base.qcow2"), *top = tpath("w-top.qcow2");
    uint8_t *buf = qemu_memalign(4096, 2 * CLUSTER);
    BlockBackend *blk;

    make_chain(base, top, "4M", 1 * MiB);
    blk = open_img(top, BDRV_O_RDWR | BDRV_O_COPY_ON_READ);
    ck_assert_int_eq(allocated(blk, 0, 4 * MiB), 0);

    /* 1 KiB inside cluster 1, misaligned on both ends. */
    ck_assert_int_eq(blk_pread(blk, CLUSTER + 1000, 1024, buf, 0), 0);
    expect_bytes(buf, 1024, 0x42, "read inside cluster 1");
    ck_assert_int_eq(allocated(blk, 0, CLUSTER), 0);
    ck_assert_int_eq(allocated(blk, CLUSTER, CLUSTER), 1);
    ck_assert_int_eq(allocated(blk, 2 * CLUSTER, 4 * MiB - 2 * CLUSTER), 0);

    /* Across the end of the backing data: clusters 15 and 16. */
    ck_assert_int_eq(blk_pread(blk, 1 * MiB - 512, 1024, buf, 0), 0);
    expect_bytes(buf, 512, 0x42, "last backing bytes");
    expect_bytes(buf + 512, 512, 0, "first bytes past the backing data");
    ck_assert_int_eq(allocated(blk, 15 * CLUSTER, 2 * CLUSTER), 1);
    ck_assert_int_eq(allocated(blk, 17 * CLUSTER, 4 * MiB - 17 * CLUSTER), 0);
    blk_unref(blk);

    /* The overlay alone holds what was copied, whole clusters of it. */
    blk = open_alone(top);
    ck_assert_int_eq(blk_pread(blk, CLUSTER, CLUSTER, buf, 0), 0);
    expect_bytes(buf, CLUSTER, 0x42, "copied cluster 1");
    ck_assert_int_eq(blk_pread(blk, 15 * CLUSTER, 2 * CLUSTER, buf, 0), 0);
    expect_bytes(buf, CLUSTER, 0x42, "copied cluster 15");
    expect_bytes(buf + CLUSTER, CLUSTER, 0, "copied cluster 16");
    ck_assert_int_eq(blk_pread(blk, 0, CLUSTER, buf, 0), 0);
    expect_bytes(buf, CLUSTER, 0, "cluster 0, never read");
    blk_unref(blk);
    qemu_check(top);
    qemu_vfree(buf);
    free(base);
    free(top);
}
END_TEST

/* Without the open flag, only reads that carry BDRV_REQ_COPY_ON_READ
 * copy; a cluster the overlay already holds is read, never rewritten. */
START_TEST(test_request_flag)
{
    char *base = tpath("f-base.qcow2"), *top = tpath("f-top.qcow2");
    uint8_t *buf = qemu_memalign(4096, CLUSTER);
    BlockBackend *blk;

    make_chain(base, top, "1M", 1 * MiB);
    blk = open_img(top, BDRV_O_RDWR);
    ck_assert_int_eq(blk_pread(blk, 0, 4096, buf, 0), 0);
    ck_assert_int_eq(allocated(blk, 0, 1 * MiB), 0);
    ck_assert_int_eq(blk_pread(blk, 3 * CLUSTER + 4096, 4096, buf,
                               BDRV_REQ_COPY_ON_READ), 0);
    expect_bytes(buf, 4096, 0x42, "flagged read");
    ck_assert_int_eq(allocated(blk, 0, 3 * CLUSTER), 0);
    ck_assert_int_eq(allocated(blk, 3 * CLUSTER, CLUSTER), 1);
    ck_assert_int_eq(allocated(blk, 4 * CLUSTER, 1 * MiB - 4 * CLUSTER), 0);

    /* Written data in the overlay survives a later copy-on-read. */
    memset(buf, 0x77, 4096);
    ck_assert_int_eq(blk_pwrite(blk, 5 * CLUSTER, 4096, buf, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 5 * CLUSTER, CLUSTER, buf,
                               BDRV_REQ_COPY_ON_READ), 0);
    expect_bytes(buf, 4096, 0x77, "written part");
    expect_bytes(buf + 4096, CLUSTER - 4096, 0x42, "copied-on-write part");
    blk_unref(blk);
    qemu_check(top);
    qemu_vfree(buf);
    free(base);
    free(top);
}
END_TEST

/* Read-only opens refuse copy-on-read, with QEMU's message; the request
 * flag on a read-only image reads without copying. */
START_TEST(test_read_only_refused)
{
    char *base = tpath("r-base.qcow2"), *top = tpath("r-top.qcow2");
    char *expect = NULL;
    uint8_t buf[512];
    Error *err = NULL;
    BlockBackend *blk;
    QDict *o;

    make_chain(base, top, "1M", 1 * MiB);
    o = qdict_new();
    qdict_put_str(o, "driver", "qcow2");
    blk = blk_new_open(top, o, BDRV_O_COPY_ON_READ, &err);
    ck_assert(blk == NULL);
    ck_assert(err != NULL);
    expect = qemu_xasprintf("Could not open '%s': Can't use copy-on-read on "
                            "read-only device", top);
    ck_assert_str_eq(error_get_pretty(err), expect);
    error_free(err);
    err = NULL;

    /* read-only=on in the options counts as read-only too. */
    o = qdict_new();
    qdict_put_str(o, "driver", "qcow2");
    qdict_put_str(o, "read-only", "on");
    blk = blk_new_open(top, o, BDRV_O_RDWR | BDRV_O_COPY_ON_READ, &err);
    ck_assert(blk == NULL);
    ck_assert_str_eq(error_get_pretty(err), expect);
    error_free(err);

    blk = open_img(top, 0);
    ck_assert_int_eq(blk_pread(blk, 0, sizeof(buf), buf, BDRV_REQ_COPY_ON_READ), 0);
    expect_bytes(buf, sizeof(buf), 0x42, "read-only flagged read");
    ck_assert_int_eq(allocated(blk, 0, 1 * MiB), 0);
    blk_unref(blk);
    free(expect);
    free(base);
    free(top);
}
END_TEST

/* The backing chain's data is copied from whichever layer holds it, and
 * only into the node opened with copy-on-read (never into its backing
 * files). */
START_TEST(test_three_layers)
{
    char *base = tpath("3-base.qcow2"), *mid = tpath("3-mid.qcow2");
    char *top = tpath("3-top.qcow2");
    char *opts = qemu_xasprintf("backing_file=%s,backing_fmt=qcow2", mid);
    uint8_t *buf = qemu_memalign(4096, 2 * CLUSTER);
    BlockBackend *blk;
    int64_t pnum = 0;

    make_chain(base, mid, "1M", 1 * MiB);
    blk = open_img(mid, BDRV_O_RDWR);
    memset(buf, 0x55, CLUSTER);
    ck_assert_int_eq(blk_pwrite(blk, 2 * CLUSTER, CLUSTER, buf, 0), 0);
    blk_unref(blk);
    create(top, "1M", opts);

    blk = open_img(top, BDRV_O_RDWR | BDRV_O_COPY_ON_READ);
    ck_assert_int_eq(blk_pread(blk, CLUSTER + 4096, CLUSTER, buf, 0), 0);
    expect_bytes(buf, CLUSTER - 4096, 0x42, "from the base");
    expect_bytes(buf + CLUSTER - 4096, 4096, 0x55, "from the middle layer");
    ck_assert_int_eq(allocated(blk, CLUSTER, 2 * CLUSTER), 1);
    /* The middle layer got nothing. */
    ck_assert_int_eq(bdrv_is_allocated(blk_bs(blk)->backing->bs, CLUSTER,
                                       CLUSTER, &pnum), 0);
    ck_assert_int_eq(pnum, CLUSTER);
    blk_unref(blk);

    blk = open_alone(top);
    ck_assert_int_eq(blk_pread(blk, CLUSTER, 2 * CLUSTER, buf, 0), 0);
    expect_bytes(buf, CLUSTER, 0x42, "copied from the base");
    expect_bytes(buf + CLUSTER, CLUSTER, 0x55, "copied from the middle");
    blk_unref(blk);
    qemu_check(top);
    qemu_check(mid);
    qemu_vfree(buf);
    free(opts);
    free(base);
    free(mid);
    free(top);
}
END_TEST

/* An image whose size is not a multiple of the cluster size: the last,
 * partial cluster is copied up to the end of the image. */
START_TEST(test_partial_last_cluster)
{
    char *base = tpath("p-base.qcow2"), *top = tpath("p-top.qcow2");
    int64_t size = 1 * MiB + 1536;
    uint8_t buf[2048];
    BlockBackend *blk;

    make_chain(base, top, "1050112", size);
    blk = open_img(top, BDRV_O_RDWR | BDRV_O_COPY_ON_READ);
    ck_assert_int_eq(blk_getlength(blk), size);
    ck_assert_int_eq(blk_pread(blk, size - 100, 100, buf, 0), 0);
    expect_bytes(buf, 100, 0x42, "end of the image");
    ck_assert_int_eq(allocated(blk, 1 * MiB, 1536), 1);
    ck_assert_int_eq(allocated(blk, 0, 1 * MiB), 0);
    blk_unref(blk);
    blk = open_alone(top);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB, 1536, buf, 0), 0);
    expect_bytes(buf, 1536, 0x42, "copied partial cluster");
    blk_unref(blk);
    qemu_check(top);
    free(base);
    free(top);
}
END_TEST

/* Writes racing with copy-on-read reads of the same clusters.  For each
 * of 32 clusters a read and a 4 KiB write are in flight together, the
 * read submitted first for half of them and the write first for the
 * other half.  The copy serialises against the write: the older request
 * finishes first, so the read sees the write exactly when the write was
 * submitted first, and the written bytes are never replaced by backing
 * data. */
typedef struct RaceReq {
    int ret;
    bool done;
} RaceReq;

static void race_cb(void *opaque, int ret)
{
    RaceReq *r = opaque;

    r->ret = ret;
    r->done = true;
}

START_TEST(test_race_with_writes)
{
    enum { N = 32, WOFF = 8192, WLEN = 4096 };
    char *base = tpath("race-base.qcow2"), *top = tpath("race-top.qcow2");
    uint8_t *rbuf = qemu_memalign(4096, (size_t)N * CLUSTER);
    uint8_t *wbuf = qemu_memalign(4096, WLEN);
    QEMUIOVector rq[N], wq[N];
    RaceReq rr[N], wr[N];
    BlockBackend *blk;
    AioContext *ctx;
    bool all;

    make_chain(base, top, "4M", 4 * MiB);
    blk = open_img(top, BDRV_O_RDWR | BDRV_O_COPY_ON_READ);
    ctx = blk_get_aio_context(blk);
    memset(wbuf, 0x77, WLEN);
    memset(rr, 0, sizeof(rr));
    memset(wr, 0, sizeof(wr));
    for (int i = 0; i < N; i++) {
        int64_t off = (int64_t)i * CLUSTER;

        qemu_iovec_init_buf(&rq[i], rbuf + (size_t)i * CLUSTER, CLUSTER);
        qemu_iovec_init_buf(&wq[i], wbuf, WLEN);
        if (i % 2 == 0) {
            blk_aio_preadv(blk, off, &rq[i], 0, race_cb, &rr[i]);
            blk_aio_pwritev(blk, off + WOFF, &wq[i], 0, race_cb, &wr[i]);
        } else {
            blk_aio_pwritev(blk, off + WOFF, &wq[i], 0, race_cb, &wr[i]);
            blk_aio_preadv(blk, off, &rq[i], 0, race_cb, &rr[i]);
        }
    }
    do {
        aio_poll(ctx, true);
        all = true;
        for (int i = 0; i < N; i++) {
            all = all && rr[i].done && wr[i].done;
        }
    } while (!all);

    for (int i = 0; i < N; i++) {
        uint8_t *c = rbuf + (size_t)i * CLUSTER;

        ck_assert_int_eq(rr[i].ret, 0);
        ck_assert_int_eq(wr[i].ret, 0);
        expect_bytes(c, WOFF, 0x42, "read before the written part");
        expect_bytes(c + WOFF, WLEN, i % 2 == 0 ? 0x42 : 0x77,
                     i % 2 == 0 ? "read older than the write"
                                : "read newer than the write");
        expect_bytes(c + WOFF + WLEN, CLUSTER - WOFF - WLEN, 0x42,
                     "read after the written part");
    }
    blk_unref(blk);

    /* What the overlay holds: every write, backing data around it. */
    blk = open_alone(top);
    ck_assert_int_eq(blk_pread(blk, 0, (int64_t)N * CLUSTER, rbuf, 0), 0);
    for (int i = 0; i < N; i++) {
        uint8_t *c = rbuf + (size_t)i * CLUSTER;

        expect_bytes(c, WOFF, 0x42, "overlay before the write");
        expect_bytes(c + WOFF, WLEN, 0x77, "overlay: the write");
        expect_bytes(c + WOFF + WLEN, CLUSTER - WOFF - WLEN, 0x42,
                     "overlay after the write");
    }
    blk_unref(blk);
    qemu_check(top);
    qemu_vfree(rbuf);
    qemu_vfree(wbuf);
    free(base);
    free(top);
}
END_TEST

/* A format without backing files (raw): copy-on-read reads, and changes
 * nothing. */
START_TEST(test_raw_unchanged)
{
    char *path = tpath("plain.raw");
    uint8_t buf[4096];
    struct stat st;
    BlockBackend *blk;
    QDict *o;
    Error *err = NULL;
    FILE *f = fopen(path, "wb");

    ck_assert(f != NULL);
    memset(buf, 0x33, sizeof(buf));
    ck_assert_int_eq(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
    fclose(f);
    o = qdict_new();
    qdict_put_str(o, "driver", "raw");
    blk = blk_new_open(path, o, BDRV_O_RDWR | BDRV_O_COPY_ON_READ, &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "?");
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(blk_pread(blk, 100, 1000, buf, 0), 0);
    expect_bytes(buf, 1000, 0x33, "raw read");
    blk_unref(blk);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 4096);
    free(path);
}
END_TEST

static Suite *cor_suite(void)
{
    Suite *s = suite_create("copy-on-read");
    TCase *tc = tcase_create("images");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_whole_clusters_copied);
    tcase_add_test(tc, test_request_flag);
    tcase_add_test(tc, test_read_only_refused);
    tcase_add_test(tc, test_three_layers);
    tcase_add_test(tc, test_partial_last_cluster);
    tcase_add_test(tc, test_race_with_writes);
    tcase_add_test(tc, test_raw_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_image_main("test-cor", cor_suite);
}
