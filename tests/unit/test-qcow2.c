/*
 * coblock — qcow2 driver unit tests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pure functions (refcount entries at every width, compressed
 * descriptors, L2 entry decoding, compression round trips) are tested
 * directly; everything else on real image files through the library,
 * looking inside the driver state (block/qcow2.h) where the behaviour is
 * not visible from outside: the cache dependency order, allocation and
 * reuse of clusters, copy-on-write, the header rewrite.
 */
#include "test-common.h"
#include "test-image.h"
#include "block/qcow2.h"

#include <fcntl.h>
#include <sys/stat.h>

MINICHECK_GLOBALS

static BDRVQcow2State *state(BlockBackend *blk)
{
    return blk_bs(blk)->opaque;
}

static void read_file(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    memset(buf, 0, len);
    ck_assert_int_ge(pread(fd, buf, len, (off_t)off), 0);
    close(fd);
}

/* Run @fn(@opaque) as a coroutine on the image's context. */
typedef struct CoCall {
    void (*fn)(void *opaque);
    void *opaque;
    bool done;
} CoCall;

static void coroutine_fn co_call_entry(void *opaque)
{
    CoCall *c = opaque;
    c->fn(c->opaque);
    c->done = true;
}

static void run_co(BlockBackend *blk, void (*fn)(void *), void *opaque)
{
    CoCall c = { fn, opaque, false };
    bdrv_run_co(blk_get_aio_context(blk), co_call_entry, &c, &c.done);
}

/* Bytes that no compressor can shrink. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        buf[i] = (uint8_t)seed;
    }
}

/* ---- refcount entries at every width ---- */

START_TEST(test_refblock_widths)
{
    uint8_t block[4096];

    for (int order = 0; order <= 6; order++) {
        int bits = 1 << order;
        uint64_t max = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
        uint64_t n = sizeof(block) * 8 / bits;
        uint64_t seed = 12345;

        memset(block, 0, sizeof(block));
        /* Every entry its own value; then read them all back. */
        for (uint64_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            qcow2_refblock_set(block, i, order, (seed >> 7) & max);
        }
        seed = 12345;
        for (uint64_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            ck_assert_msg(qcow2_refblock_get(block, i, order) ==
                          ((seed >> 7) & max), "order %d entry %" PRIu64,
                          order, i);
        }
        /* Setting one entry leaves its neighbours alone. */
        memset(block, 0, sizeof(block));
        qcow2_refblock_set(block, 5, order, max);
        ck_assert(qcow2_refblock_get(block, 5, order) == max);
        ck_assert(qcow2_refblock_get(block, 4, order) == 0);
        ck_assert(qcow2_refblock_get(block, 6, order) == 0);
        qcow2_refblock_set(block, 5, order, 0);
        for (size_t i = 0; i < sizeof(block); i++) {
            ck_assert_int_eq(block[i], 0);
        }
    }
    /* The on-disk layout: big endian, and bit 0 of a sub-byte entry is the
     * byte's least significant bit. */
    memset(block, 0, 16);
    qcow2_refblock_set(block, 1, 4, 0x1234);
    ck_assert_int_eq(block[2], 0x12);
    ck_assert_int_eq(block[3], 0x34);
    memset(block, 0, 16);
    qcow2_refblock_set(block, 0, 0, 1);
    qcow2_refblock_set(block, 9, 0, 1);
    ck_assert_int_eq(block[0], 0x01);
    ck_assert_int_eq(block[1], 0x02);
    memset(block, 0, 16);
    qcow2_refblock_set(block, 1, 2, 0xa);
    ck_assert_int_eq(block[0], 0xa0);
}
END_TEST

/* ---- descriptors ---- */

static void geometry(BDRVQcow2State *s, int cluster_bits)
{
    memset(s, 0, sizeof(*s));
    s->version = 3;
    s->cluster_bits = cluster_bits;
    s->cluster_size = 1u << cluster_bits;
    s->cluster_mask = s->cluster_size - 1;
    s->csize_shift = 62 - (cluster_bits - 8);
    s->csize_mask = (UINT64_C(1) << (cluster_bits - 8)) - 1;
    s->coffset_mask = (UINT64_C(1) << s->csize_shift) - 1;
}

START_TEST(test_compressed_descriptor)
{
    for (int cb = 9; cb <= 21; cb++) {
        BDRVQcow2State s;
        uint64_t offsets[] = { 0, 1, 511, 512, 4095, 12345 };

        geometry(&s, cb);
        for (size_t i = 0; i < ARRAY_SIZE(offsets); i++) {
            for (uint64_t clen = 1; clen < s.cluster_size; clen = clen * 3 + 7) {
                uint64_t base = (UINT64_C(7) << cb);
                uint64_t coff = base + offsets[i];
                uint64_t e = qcow2_make_compressed_entry(&s, coff, clen);
                uint64_t pc, ps;
                Qcow2ClusterType t;

                ck_assert(qcow2_classify_l2_entry(&s, e, &t));
                ck_assert_int_eq(t, QCOW2_CLUSTER_COMPRESSED);
                qcow2_parse_compressed(&s, e, &pc, &ps);
                ck_assert(pc == coff);
                /* Covers the data, ends on the sector the data ends in. */
                ck_assert(ps >= clen);
                ck_assert(((pc + ps) & 511) == 0);
                ck_assert(pc + ps - (pc + clen) < 512);
                ck_assert(ps <= 2 * (uint64_t)s.cluster_size);
            }
        }
        /* Broken descriptors. */
        {
            Qcow2ClusterType t;
            uint64_t e = qcow2_make_compressed_entry(&s, s.cluster_size, 100);
            ck_assert(!qcow2_classify_l2_entry(&s, e | QCOW2_OFLAG_COPIED, &t));
            ck_assert(!qcow2_classify_l2_entry(
                          &s, qcow2_make_compressed_entry(&s, 100, 100), &t));
            if (s.csize_shift > 56) {
                ck_assert(!qcow2_classify_l2_entry(
                              &s, QCOW2_OFLAG_COMPRESSED |
                              (UINT64_C(1) << 56), &t));
            }
        }
    }
}
END_TEST

START_TEST(test_l2_entries)
{
    BDRVQcow2State s;
    Qcow2ClusterType t;

    geometry(&s, 16);
    ck_assert(qcow2_classify_l2_entry(&s, 0, &t));
    ck_assert_int_eq(t, QCOW2_CLUSTER_UNALLOCATED);
    ck_assert(qcow2_classify_l2_entry(&s, QCOW2_OFLAG_ZERO, &t));
    ck_assert_int_eq(t, QCOW2_CLUSTER_ZERO_PLAIN);
    ck_assert(qcow2_classify_l2_entry(&s, 0x50000 | QCOW2_OFLAG_ZERO |
                                      QCOW2_OFLAG_COPIED, &t));
    ck_assert_int_eq(t, QCOW2_CLUSTER_ZERO_ALLOC);
    ck_assert(qcow2_classify_l2_entry(&s, 0x50000 | QCOW2_OFLAG_COPIED, &t));
    ck_assert_int_eq(t, QCOW2_CLUSTER_NORMAL);
    ck_assert(qcow2_classify_l2_entry(&s, UINT64_C(0x00ffffffffff0000), &t));
    /* Misaligned, reserved bits (including offsets past 2^56). */
    ck_assert(!qcow2_classify_l2_entry(&s, 0x50200, &t));
    ck_assert(!qcow2_classify_l2_entry(&s, 0x50002, &t));
    ck_assert(!qcow2_classify_l2_entry(&s, UINT64_C(0x0100000000050000), &t));
    ck_assert(!qcow2_classify_l2_entry(&s, UINT64_C(0x2000000000050000), &t));
}
END_TEST

START_TEST(test_compression_round_trip)
{
    static uint8_t in[65536], out[65536], back[65536];
    int types[] = { QCOW2_COMPRESSION_ZLIB, QCOW2_COMPRESSION_ZSTD };

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i / 100);
    }
    for (size_t k = 0; k < ARRAY_SIZE(types); k++) {
        ssize_t n;
        if (!qcow2_compression_supported(types[k])) {
            continue;
        }
        n = qcow2_compress_buf(types[k], out, sizeof(out) - 1, in, sizeof(in));
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, 4096);
        /* Trailing bytes (sector padding, the next cluster) are ignored. */
        memset(out + n, 0xab, 512);
        ck_assert_int_eq(qcow2_decompress_buf(types[k], back, sizeof(back),
                                              out, (size_t)n + 512),
                         (ssize_t)sizeof(back));
        ck_assert(!memcmp(in, back, sizeof(in)));
        /* Truncated or garbage input fails cleanly. */
        ck_assert_int_lt(qcow2_decompress_buf(types[k], back, sizeof(back),
                                              out, (size_t)n / 2), 0);
        memset(out, 0x5a, 4096);
        ck_assert_int_lt(qcow2_decompress_buf(types[k], back, sizeof(back),
                                              out, 4096), 0);
        /* Incompressible data does not fit. */
        fill_random(in, sizeof(in), 88172645463325252ULL);
        ck_assert_int_eq(qcow2_compress_buf(types[k], out, sizeof(out) - 1, in,
                                            sizeof(in)), -ENOSPC);
        for (size_t i = 0; i < sizeof(in); i++) {
            in[i] = (uint8_t)(i / 100);
        }
    }
}
END_TEST

/* ---- the cache's dependency order ---- */

typedef struct DepTest {
    BlockBackend *blk;
    uint64_t l2_off, rb_off;
    int ret;
} DepTest;

static void coroutine_fn dep_body(void *opaque)
{
    DepTest *t = opaque;
    BlockDriverState *bs = blk_bs(t->blk);
    BDRVQcow2State *s = bs->opaque;
    void *l2, *rb;

    qemu_co_mutex_lock(&s->lock);
    ck_assert_int_eq(qcow2_cache_get_empty(bs, s->l2_cache, t->l2_off, &l2), 0);
    memset(l2, 0xaa, s->l2_cache_entry_size);
    qcow2_cache_entry_mark_dirty(s->l2_cache, l2);
    qcow2_cache_put(s->l2_cache, &l2);
    ck_assert_int_eq(qcow2_cache_get_empty(bs, s->refcount_cache, t->rb_off,
                                           &rb), 0);
    memset(rb, 0xbb, s->cluster_size);
    qcow2_cache_entry_mark_dirty(s->refcount_cache, rb);
    qcow2_cache_put(s->refcount_cache, &rb);

    /* The L2 entry may only reach the disk after the refcount block. */
    ck_assert_int_eq(qcow2_cache_set_dependency(bs, s->l2_cache,
                                                s->refcount_cache), 0);
    t->ret = qcow2_cache_flush_entry(bs, s->l2_cache, t->l2_off);
    /* Leave nothing dirty that would overwrite the image's own tables. */
    qcow2_cache_discard(s->l2_cache, t->l2_off);
    qcow2_cache_discard(s->refcount_cache, t->rb_off);
    qemu_co_mutex_unlock(&s->lock);
}

START_TEST(test_cache_dependency)
{
    char *p = tpath("dep.qcow2");
    BlockBackend *blk;
    DepTest t;
    uint8_t buf[16];

    create(p, "1M", NULL);
    /* Two scratch clusters past the end of the image's metadata. */
    blk = open_opts(p, BDRV_O_RDWR, "overlap-check=none");
    t = (DepTest){ .blk = blk, .l2_off = 10 * 65536, .rb_off = 11 * 65536 };
    run_co(blk, dep_body, &t);
    ck_assert_int_eq(t.ret, 0);
    /* Both are on disk: writing the L2 entry wrote its dependency. */
    read_file(p, t.rb_off, buf, sizeof(buf));
    ck_assert_int_eq(buf[0], 0xbb);
    read_file(p, t.l2_off, buf, sizeof(buf));
    ck_assert_int_eq(buf[0], 0xaa);
    blk_unref(blk);
    free(p);
}
END_TEST

/* ---- caches smaller than the working set ---- */

START_TEST(test_cache_eviction)
{
    char *p = tpath("evict.qcow2");
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 4096);

    /* 512-byte clusters: an L2 table covers 32 KiB, a refcount block 128
     * KiB; two entries of each are far too few. */
    create(p, "8M", "cluster_size=512");
    blk = open_opts(p, BDRV_O_RDWR, "l2-cache-size=1024,refcount-cache-size=2048");
    ck_assert_int_eq(qcow2_cache_entries(state(blk)->l2_cache), 2);
    for (int i = 0; i < 256; i++) {
        memset(buf, i, 4096);
        ck_assert_int_eq(blk_pwrite(blk, (int64_t)i * 32768 + 512, 4096, buf,
                                    0), 0);
    }
    for (int i = 255; i >= 0; i--) {
        ck_assert_int_eq(blk_pread(blk, (int64_t)i * 32768 + 512, 4096, buf,
                                   0), 0);
        for (int k = 0; k < 4096; k++) {
            ck_assert_int_eq(buf[k], i);
        }
    }
    blk_unref(blk);
    blk = open_opts(p, 0, NULL);
    for (int i = 0; i < 256; i++) {
        ck_assert_int_eq(blk_pread(blk, (int64_t)i * 32768 + 512, 4096, buf,
                                   0), 0);
        ck_assert_int_eq(buf[100], i);
    }
    blk_unref(blk);
    qemu_vfree(buf);
    free(p);
}
END_TEST

/* ---- allocation ---- */

typedef struct AllocTest {
    BlockBackend *blk;
    int64_t a, b, c;
    uint64_t rc;
    int r1, r2;
} AllocTest;

static void coroutine_fn alloc_body(void *opaque)
{
    AllocTest *t = opaque;
    BlockDriverState *bs = blk_bs(t->blk);
    BDRVQcow2State *s = bs->opaque;

    qemu_co_mutex_lock(&s->lock);
    t->a = qcow2_alloc_clusters(bs, 3 * (uint64_t)s->cluster_size);
    t->b = qcow2_alloc_clusters(bs, 1);
    ck_assert_int_eq(qcow2_get_refcount(bs, (uint64_t)t->a >> s->cluster_bits,
                                        &t->rc), 0);
    /* A freed cluster is reused once the free is applied. */
    ck_assert_int_eq(qcow2_free_deferred(bs, (uint64_t)t->a, s->cluster_size,
                                         QCOW2_DISCARD_NEVER), 0);
    /* Rather than grow the file, the allocation applies the free. */
    t->c = qcow2_alloc_clusters(bs, 1);
    ck_assert_int_eq(qcow2_process_pending_frees(bs), 0);
    t->r1 = (int)qcow2_alloc_clusters(bs, 1);
    /* Past the width of a refcount. */
    if (s->refcount_bits < 64) {
        t->r2 = qcow2_update_refcount(bs, (uint64_t)t->b, 1,
                                      (int64_t)s->refcount_max);
    } else {
        /* 1 + (2^63 - 1) fits, one more does not. */
        ck_assert_int_eq(qcow2_update_refcount(bs, (uint64_t)t->b, 1,
                                               INT64_MAX), 0);
        ck_assert_int_eq(qcow2_update_refcount(bs, (uint64_t)t->b, 1,
                                               INT64_MAX), 0);
        t->r2 = qcow2_update_refcount(bs, (uint64_t)t->b, 1, 1);
        ck_assert_int_eq(qcow2_update_refcount(bs, (uint64_t)t->b, 1,
                                               INT64_MIN), 0);
        ck_assert_int_eq(qcow2_update_refcount(bs, (uint64_t)t->b, 1,
                                               -(INT64_MAX - 1)), 0);
    }
    /* Make the file cover them (check looks at what the file holds). */
    ck_assert_int_eq(qcow2_file_pwrite(bs, 9 * (uint64_t)s->cluster_size - 512,
                                       512, s->zero_cluster), 0);
    ck_assert_int_eq(qcow2_flush_metadata(bs), 0);
    qemu_co_mutex_unlock(&s->lock);
}

START_TEST(test_alloc_reuse)
{
    static const char *const widths[] = { "1", "2", "4", "8", "16", "32", "64" };

    for (size_t w = 0; w < ARRAY_SIZE(widths); w++) {
        char *p = tpath("alloc.qcow2");
        char *opts = qemu_xasprintf("refcount_bits=%s", widths[w]);
        BlockBackend *blk;
        AllocTest t = { 0 };
        BdrvCheckResult res;

        create(p, "1M", opts);
        blk = open_opts(p, BDRV_O_RDWR, NULL);
        t.blk = blk;
        run_co(blk, alloc_body, &t);
        /* Header, table, block, L1: the first free cluster is 4. */
        ck_assert_int_eq(t.a, 4 * 65536);
        ck_assert_int_eq(t.b, 7 * 65536);
        ck_assert(t.rc == 1);
        ck_assert_int_eq(t.c, 4 * 65536);    /* reused */
        ck_assert_int_eq(t.r1, 8 * 65536);
        ck_assert_int_eq(t.r2, -ERANGE);
        /* Clusters 4 to 8 are allocated and referenced by nothing:
         * exactly five leaks, no corruption. */
        ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
        ck_assert_int_eq(res.corruptions, 0);
        ck_assert_int_eq(res.leaks, 5);
        ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, BDRV_FIX_LEAKS), 0);
        ck_assert_int_eq(res.leaks_fixed, 5);
        ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
        ck_assert_int_eq(res.leaks, 0);
        blk_unref(blk);
        free(opts);
        free(p);
    }
}
END_TEST

/* The refcount table grows (512-byte clusters: one block covers 128 KiB,
 * the first table 8 MiB). */
START_TEST(test_refcount_table_growth)
{
    char *p = tpath("grow.qcow2");
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 65536);
    BdrvCheckResult res;
    uint32_t first_clusters;

    create(p, "64M", "cluster_size=512");
    blk = open_opts(p, BDRV_O_RDWR, NULL);
    first_clusters = state(blk)->refcount_table_clusters;
    for (int i = 0; i < 200; i++) {
        memset(buf, i + 1, 65536);
        ck_assert_int_eq(blk_pwrite(blk, (int64_t)i * 65536, 65536, buf, 0), 0);
    }
    ck_assert_int_gt(state(blk)->refcount_table_clusters, first_clusters);
    ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
    ck_assert_int_eq(res.corruptions + res.leaks + res.check_errors, 0);
    blk_unref(blk);
    blk = open_opts(p, 0, NULL);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(blk_pread(blk, (int64_t)i * 65536, 65536, buf, 0), 0);
        ck_assert_int_eq(buf[0], i + 1);
        ck_assert_int_eq(buf[65535], i + 1);
    }
    blk_unref(blk);
    qemu_vfree(buf);
    free(p);
}
END_TEST

/* ---- copy-on-write ---- */

START_TEST(test_cow_from_backing)
{
    char *base = tpath("cow-base.qcow2");
    char *top = tpath("cow-top.qcow2");
    char *opts = qemu_xasprintf("backing_file=%s,backing_fmt=qcow2", base);
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 65536);

    create(base, "1M", NULL);
    blk = open_opts(base, BDRV_O_RDWR, NULL);
    memset(buf, 0x42, 65536);
    ck_assert_int_eq(blk_pwrite(blk, 0, 65536, buf, 0), 0);
    blk_unref(blk);

    create(top, "1M", opts);
    blk = open_opts(top, BDRV_O_RDWR, NULL);
    memset(buf, 0x77, 4096);
    ck_assert_int_eq(blk_pwrite(blk, 8192, 4096, buf, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 0, 65536, buf, 0), 0);
    for (int i = 0; i < 65536; i++) {
        ck_assert_int_eq(buf[i], i >= 8192 && i < 12288 ? 0x77 : 0x42);
    }
    blk_unref(blk);
    /* Without its backing file the cluster still holds everything. */
    blk = open_opts(top, BDRV_O_NO_BACKING, NULL);
    ck_assert_int_eq(blk_pread(blk, 0, 65536, buf, 0), 0);
    ck_assert_int_eq(buf[0], 0x42);
    ck_assert_int_eq(buf[65535], 0x42);
    blk_unref(blk);
    qemu_vfree(buf);
    free(opts);
    free(base);
    free(top);
}
END_TEST

/* Nothing to copy: a new cluster past the end of the file is left sparse;
 * a reused one is filled with zeroes (it holds old data). */
START_TEST(test_cow_zero_fill)
{
    char *p = tpath("zero.qcow2");
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 65536);
    BDRVQcow2State *s;
    off_t hole;
    int fd;

    create(p, "4M", NULL);
    blk = open_opts(p, BDRV_O_RDWR | BDRV_O_UNMAP, "pass-discard-request=off");
    s = state(blk);
    memset(buf, 0x99, 65536);
    ck_assert_int_eq(blk_pwrite(blk, 0, 65536, buf, 0), 0);
    ck_assert_int_eq(blk_pwrite(blk, 65536, 4096, buf, 0), 0);
    /* Nothing was written past the second cluster's data: the rest of
     * the cluster is a hole. */
    fd = open(p, O_RDONLY);
    hole = lseek(fd, 6 * 65536 + 4096, SEEK_HOLE);
    close(fd);
    ck_assert_int_eq((int64_t)hole, 6 * 65536 + 4096);

    /* Free the first cluster, then make the next allocation reuse it. */
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 0, 65536, BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_int_eq(s->free_cluster_index, 5);
    memset(buf, 0x55, 4096);
    ck_assert_int_eq(blk_pwrite(blk, 3 * 65536 + 4096, 4096, buf, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 3 * 65536, 65536, buf, 0), 0);
    for (int i = 0; i < 65536; i++) {
        ck_assert_int_eq(buf[i], i >= 4096 && i < 8192 ? 0x55 : 0);
    }
    blk_unref(blk);
    qemu_vfree(buf);
    free(p);
}
END_TEST

/* ---- compressed clusters through the driver ---- */

START_TEST(test_compressed_io)
{
    static const char *const types[] = { "zlib", "zstd" };
    uint8_t *buf = qemu_memalign(4096, 3 * 65536);

    for (size_t k = 0; k < ARRAY_SIZE(types); k++) {
        char *p = tpath("comp.qcow2");
        char *opts = qemu_xasprintf("compression_type=%s", types[k]);
        BlockBackend *blk;
        BdrvCheckResult res;

        create(p, "1M", opts);
        blk = open_opts(p, BDRV_O_RDWR, NULL);
        for (int i = 0; i < 3 * 65536; i++) {
            buf[i] = (uint8_t)(i / 1000);
        }
        /* Two compressible clusters, one that is not. */
        fill_random(buf + 2 * 65536, 65536, 42);
        ck_assert_int_eq(blk_pwrite(blk, 0, 3 * 65536, buf,
                                    BDRV_REQ_WRITE_COMPRESSED), 0);
        /* Whole clusters only; never over allocated data. */
        ck_assert_int_eq(blk_pwrite(blk, 4 * 65536, 4096, buf,
                                    BDRV_REQ_WRITE_COMPRESSED), -EINVAL);
        ck_assert_int_eq(blk_pwrite(blk, 0, 65536, buf,
                                    BDRV_REQ_WRITE_COMPRESSED), -EIO);
        memset(buf, 0, 3 * 65536);
        ck_assert_int_eq(blk_pread(blk, 0, 3 * 65536, buf, 0), 0);
        for (int i = 0; i < 2 * 65536; i++) {
            ck_assert_int_eq(buf[i], (uint8_t)(i / 1000));
        }
        {
            uint8_t *want = qemu_xmalloc(65536);
            fill_random(want, 65536, 42);
            ck_assert(!memcmp(buf + 2 * 65536, want, 65536));
            free(want);
        }
        ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
        ck_assert_int_eq(res.bfi.compressed_clusters, 2);
        ck_assert_int_eq(res.corruptions + res.leaks, 0);
        /* Overwriting part of a compressed cluster copies the rest. */
        memset(buf, 0xee, 512);
        ck_assert_int_eq(blk_pwrite(blk, 1000 * 64, 512, buf, 0), 0);
        ck_assert_int_eq(blk_pread(blk, 0, 65536, buf, 0), 0);
        ck_assert_int_eq(buf[64000], 0xee);
        ck_assert_int_eq(buf[63999], 63);
        ck_assert_int_eq(buf[64512], 64);
        ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
        ck_assert_int_eq(res.bfi.compressed_clusters, 1);
        ck_assert_int_eq(res.corruptions + res.leaks, 0);
        blk_unref(blk);
        free(opts);
        free(p);
    }
    qemu_vfree(buf);
}
END_TEST

/* ---- the header ---- */

/* Unknown header fields and extensions survive a header rewrite; unknown
 * autoclear bits are cleared by a read-write open only. */
START_TEST(test_header_preserved)
{
    char *p = tpath("hdr.qcow2");
    BlockBackend *blk;
    uint8_t hdr[4096], ext[16] = { 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 5,
                                   'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
    int fd;

    create(p, "1M", NULL);
    /* header_length 120 with 8 unknown bytes; an unknown extension first
     * in the list; autoclear bit 5. */
    read_file(p, 0, hdr, sizeof(hdr));
    memmove(hdr + 120 + 16, hdr + 112, sizeof(hdr) - 136);
    q2_st32(hdr + 100, 120);
    memcpy(hdr + 112, "UNKNOWN!", 8);
    memcpy(hdr + 120, ext, 16);
    q2_st64(hdr + 88, UINT64_C(1) << 5);
    fd = open(p, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    close(fd);

    blk = open_opts(p, 0, NULL);
    blk_unref(blk);
    read_file(p, 0, hdr, sizeof(hdr));
    ck_assert(q2_ld64(hdr + 88) == (UINT64_C(1) << 5));

    blk = open_opts(p, BDRV_O_RDWR, NULL);
    ck_assert_int_eq(bdrv_change_backing_file(blk_bs(blk), "b.qcow2", "qcow2",
                                              &error_abort), 0);
    blk_unref(blk);
    read_file(p, 0, hdr, sizeof(hdr));
    ck_assert(q2_ld64(hdr + 88) == 0);
    ck_assert_int_eq(q2_ld32(hdr + 100), 120);
    ck_assert(!memcmp(hdr + 112, "UNKNOWN!", 8));
    /* Extensions: backing format, feature table, then ours again. */
    ck_assert_int_eq(q2_ld32(hdr + 120), 0xe2792aca);
    ck_assert_int_eq(q2_ld32(hdr + 136), 0x6803f857);
    {
        uint64_t pos = 136 + 8 + q2_ld32(hdr + 140);
        ck_assert(!memcmp(hdr + pos, ext, 16));
        ck_assert_int_eq(q2_ld32(hdr + pos + 16), 0);   /* end marker */
        ck_assert(!memcmp(hdr + q2_ld64(hdr + 8), "b.qcow2", 7));
    }
    blk_unref(open_opts(p, BDRV_O_NO_BACKING, NULL));
    free(p);
}
END_TEST

/* ---- corruption ---- */

START_TEST(test_corruption_marks_image)
{
    char *p = tpath("corrupt.qcow2");
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 65536);
    uint8_t hdr[8];
    uint8_t entry[8];
    QDict *o;
    Error *err = NULL;
    int fd;

    create(p, "1M", NULL);
    blk = open_opts(p, BDRV_O_RDWR, NULL);
    memset(buf, 1, 65536);
    ck_assert_int_eq(blk_pwrite(blk, 0, 65536, buf, 0), 0);
    blk_unref(blk);
    /* Point the data cluster at the refcount table. */
    q2_st64(entry, UINT64_C(0x8000000000010000));
    fd = open(p, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, entry, 8, 0x40000), 8);
    close(fd);

    blk = open_opts(p, BDRV_O_RDWR, NULL);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), -EIO);
    /* From then on the node serves nothing (as QEMU's). */
    ck_assert_int_eq(blk_pwrite(blk, 65536, 512, buf, 0), -ENOMEDIUM);
    ck_assert_int_eq(blk_pread(blk, 65536, 512, buf, 0), -ENOMEDIUM);
    blk_unref(blk);
    read_file(p, 72, hdr, 8);
    ck_assert(q2_ld64(hdr) & QCOW2_INCOMPAT_CORRUPT);
    o = qdict_new();
    qdict_put_str(o, "driver", "qcow2");
    ck_assert_ptr_null(blk_new_open(p, o, BDRV_O_RDWR, &err));
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err),
                                 "qcow2: Image is corrupt; cannot be opened "
                                 "read/write"));
    error_free(err);
    blk_unref(open_opts(p, 0, NULL));
    qemu_vfree(buf);
    free(p);
}
END_TEST

/* ---- lazy refcounts ---- */

/* The VM state area through the public API: it round-trips, stays out of
 * the guest's view, survives reopening, and is refused where it cannot be. */
START_TEST(test_vmstate)
{
    char *p = tpath("vmstate.qcow2");
    char *r = tpath("vmstate.raw");
    uint8_t *buf = qemu_xmalloc(65536), *chk = qemu_xmalloc(65536);
    BlockBackend *blk;
    BdrvCheckResult res;
    QDict *o;
    Error *err = NULL;
    int fd;

    create(p, "1M", NULL);
    blk = open_opts(p, BDRV_O_RDWR, NULL);
    memset(buf, 0xa5, 65536);
    ck_assert_int_eq(blk_save_vmstate(blk, 4096, buf, 65536), 0);
    memset(buf, 0x5a, 512);
    ck_assert_int_eq(blk_save_vmstate(blk, 1 << 20, buf, 512), 0);
    ck_assert_int_eq(blk_save_vmstate(blk, -512, buf, 512), -EIO);
    ck_assert_int_eq(blk_save_vmstate(blk, INT64_MAX - 511, buf, 512), -EIO);
    /* The guest sees zeroes everywhere. */
    ck_assert_int_eq(blk_pread(blk, 0, 65536, chk, 0), 0);
    for (int i = 0; i < 65536; i++) {
        ck_assert_int_eq(chk[i], 0);
    }
    blk_unref(blk);

    blk = open_opts(p, 0, NULL);
    ck_assert_int_eq(blk_load_vmstate(blk, 4096, chk, 65536), 0);
    for (int i = 0; i < 65536; i++) {
        ck_assert_int_eq(chk[i], 0xa5);
    }
    ck_assert_int_eq(blk_load_vmstate(blk, 1 << 20, chk, 512), 0);
    ck_assert_int_eq(chk[0], 0x5a);
    ck_assert_int_eq(chk[511], 0x5a);
    ck_assert_int_eq(blk_load_vmstate(blk, 0, chk, 4096), 0);
    ck_assert_int_eq(chk[0], 0);
    ck_assert_int_eq(blk_save_vmstate(blk, 0, buf, 512), -EACCES);
    ck_assert_int_eq(bdrv_check(blk_bs(blk), &res, 0), 0);
    ck_assert_int_eq(res.corruptions, 0);
    ck_assert_int_eq(res.leaks, 0);
    blk_unref(blk);

    fd = open(r, O_CREAT | O_TRUNC | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    o = qdict_new();
    qdict_put_str(o, "driver", "raw");
    blk = blk_new_open(r, o, BDRV_O_RDWR, &err);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(blk_save_vmstate(blk, 0, buf, 512), -ENOTSUP);
    ck_assert_int_eq(blk_load_vmstate(blk, 0, chk, 512), -ENOTSUP);
    blk_unref(blk);
    unlink(r);
    unlink(p);
    free(buf);
    free(chk);
    free(r);
    free(p);
}
END_TEST

START_TEST(test_lazy_refcounts_dirty_bit)
{
    char *p = tpath("lazy.qcow2");
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, 65536);
    uint8_t hdr[8];

    create(p, "1M", "lazy_refcounts=on");
    blk = open_opts(p, BDRV_O_RDWR, NULL);
    read_file(p, 72, hdr, 8);
    ck_assert(!(q2_ld64(hdr) & QCOW2_INCOMPAT_DIRTY));
    memset(buf, 3, 65536);
    ck_assert_int_eq(blk_pwrite(blk, 0, 65536, buf, 0), 0);
    /* Dirty on disk while refcounts may be stale ... */
    read_file(p, 72, hdr, 8);
    ck_assert(q2_ld64(hdr) & QCOW2_INCOMPAT_DIRTY);
    blk_unref(blk);
    /* ... clean after a clean close. */
    read_file(p, 72, hdr, 8);
    ck_assert(!(q2_ld64(hdr) & QCOW2_INCOMPAT_DIRTY));
    qemu_vfree(buf);
    free(p);
}
END_TEST

static Suite *qcow2_suite(void)
{
    Suite *s = suite_create("qcow2");
    TCase *tc = tcase_create("pure");

    tcase_add_test(tc, test_refblock_widths);
    tcase_add_test(tc, test_compressed_descriptor);
    tcase_add_test(tc, test_l2_entries);
    tcase_add_test(tc, test_compression_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("images");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cache_dependency);
    tcase_add_test(tc, test_cache_eviction);
    tcase_add_test(tc, test_alloc_reuse);
    tcase_add_test(tc, test_refcount_table_growth);
    tcase_add_test(tc, test_cow_from_backing);
    tcase_add_test(tc, test_cow_zero_fill);
    tcase_add_test(tc, test_compressed_io);
    tcase_add_test(tc, test_header_preserved);
    tcase_add_test(tc, test_corruption_marks_image);
    tcase_add_test(tc, test_lazy_refcounts_dirty_bit);
    tcase_add_test(tc, test_vmstate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_image_main("test-qcow2", qcow2_suite);
}
