/*
 * coblock — the generic I/O path against a scripted mock driver
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The mock protocol keeps the disk in memory, records every call that
 * reaches it, can be given any limits, and can hold requests (each held
 * request yields until the test releases it), so that the tests step the
 * loop by hand and check exactly which aligned requests a driver sees:
 * padding, read-modify-write, splitting, serialisation, zero fallback,
 * FUA emulation, flush coalescing.  The public BlockBackend API and its
 * callback rules are tested on top.
 */
#include "test-common.h"
#include "block/block_int.h"

MINICHECK_GLOBALS

/* ---- the mock driver ---- */

typedef struct MockCall {
    char verb;              /* r w z d f */
    int64_t offset, bytes;
    unsigned flags;
} MockCall;

static struct {
    uint8_t *disk;
    int64_t size;
    MockCall calls[256];
    int ncalls;
    /* limits for the next open */
    uint32_t align, zero_align, discard_align;
    int64_t max_transfer;
    bool no_zeroes, no_fua;
    bool zero_whole_only;   /* refuse zero writes not aligned to zero_align */
    /* holding */
    bool hold;
    Coroutine *held[64];
    int nheld;
    int fail_flush;         /* next N flushes fail with -EIO */
} mock;

static void mock_reset(void)
{
    free(mock.disk);
    memset(&mock, 0, sizeof(mock));
    mock.size = 1 * MiB;
    mock.disk = qemu_xmalloc0((size_t)mock.size);
    mock.align = 1;
}

static void coroutine_fn mock_record(char verb, int64_t offset, int64_t bytes,
                                     unsigned flags)
{
    if (mock.ncalls < (int)ARRAY_SIZE(mock.calls)) {
        mock.calls[mock.ncalls++] = (MockCall){ verb, offset, bytes, flags };
    }
    if (mock.hold) {
        ck_assert_int_lt(mock.nheld, 64);
        mock.held[mock.nheld++] = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
}

/* Wake every held request (they complete in the loop). */
static void mock_release(void)
{
    int i, n = mock.nheld;
    Coroutine *held[64];

    memcpy(held, mock.held, sizeof(held));
    mock.nheld = 0;
    for (i = 0; i < n; i++) {
        aio_co_wake(held[i]);
    }
}

static int mock_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    qdict_del(options, "filename");
    if (!mock.no_fua) {
        bs->supported_write_flags = BDRV_REQ_FUA;
    } else {
        bs->supported_write_flags = 0;
    }
    return 0;
}

static void mock_refresh_limits(BlockDriverState *bs, Error **errp)
{
    bs->bl.request_alignment = mock.align;
    bs->bl.max_transfer = mock.max_transfer;
    bs->bl.pwrite_zeroes_alignment = mock.zero_align;
    bs->bl.pdiscard_alignment = mock.discard_align;
}

static int64_t mock_getlength(BlockDriverState *bs)
{
    return mock.size;
}

static int coroutine_fn mock_preadv(BlockDriverState *bs, int64_t offset,
                                    int64_t bytes, QEMUIOVector *qiov,
                                    BdrvRequestFlags flags)
{
    mock_record('r', offset, bytes, flags);
    ck_assert_int_le(offset + bytes, mock.size);
    qemu_iovec_from_buf(qiov, 0, mock.disk + offset, (size_t)bytes);
    return 0;
}

static int coroutine_fn mock_pwritev(BlockDriverState *bs, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     BdrvRequestFlags flags)
{
    mock_record('w', offset, bytes, flags);
    ck_assert_int_le(offset + bytes, mock.size);
    qemu_iovec_to_buf(qiov, 0, mock.disk + offset, (size_t)bytes);
    return 0;
}

static int coroutine_fn mock_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, BdrvRequestFlags flags)
{
    if (mock.no_zeroes) {
        return -ENOTSUP;
    }
    if (mock.zero_whole_only && mock.zero_align &&
        (offset % mock.zero_align || bytes % mock.zero_align)) {
        return -ENOTSUP;
    }
    mock_record('z', offset, bytes, flags);
    memset(mock.disk + offset, 0, (size_t)bytes);
    return 0;
}

static int coroutine_fn mock_pdiscard(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes)
{
    mock_record('d', offset, bytes, 0);
    return 0;
}

static int coroutine_fn mock_flush(BlockDriverState *bs)
{
    mock_record('f', 0, 0, 0);
    if (mock.fail_flush) {
        mock.fail_flush--;
        return -EIO;
    }
    return 0;
}

static const BlockDriver bdrv_mock = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "mock",
    .open = mock_open,
    .refresh_limits = mock_refresh_limits,
    .getlength = mock_getlength,
    .preadv = mock_preadv,
    .pwritev = mock_pwritev,
    .pwrite_zeroes = mock_pwrite_zeroes,
    .pdiscard = mock_pdiscard,
    .flush = mock_flush,
    .supported_write_flags = BDRV_REQ_FUA,
    .supported_zero_flags = BDRV_REQ_MAY_UNMAP,
};

/* A format that probes on a magic, to test raw's probing guard. */
static int mockfmt_probe(const uint8_t *buf, int len, const char *filename)
{
    return len >= 8 && !memcmp(buf, "MOCKFMT!", 8) ? 100 : 0;
}

static int mockfmt_open(BlockDriverState *bs, QDict *options, int flags,
                        Error **errp)
{
    error_setg(errp, "mockfmt images cannot be opened");
    return -EINVAL;
}

static int coroutine_fn mockfmt_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    return -EIO;
}

static const BlockDriver bdrv_mockfmt = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "mockfmt",
    .is_format = true,
    .probe = mockfmt_probe,
    .open = mockfmt_open,
    .preadv = mockfmt_preadv,
};

static void register_mocks(void)
{
    static bool done;

    if (!done) {
        bdrv_init();
        ck_assert_int_eq(bdrv_register(&bdrv_mock, NULL), 0);
        ck_assert_int_eq(bdrv_register(&bdrv_mockfmt, NULL), 0);
        done = true;
    }
}

static AioContext *ctx;

static void setup(void)
{
    ctx = qemu_get_aio_context();
    register_mocks();
    mock_reset();
}

static void teardown(void)
{
    free(mock.disk);
    mock.disk = NULL;
}

static BlockBackend *open_mock(const char *extra)
{
    Error *err = NULL;
    QDict *opts = qdict_parse_keyval(extra ? extra : "", NULL, &error_abort);
    BlockBackend *blk;

    if (!qdict_haskey(opts, "driver")) {
        qdict_put_str(opts, "driver", "mock");
    }
    blk = blk_new_open("mock", opts, BDRV_O_RDWR | BDRV_O_UNMAP, &err);
    if (!blk) {
        ck_abort_msg("open failed: %s", error_get_pretty(err));
    }
    return blk;
}

static void expect_call(int i, char verb, int64_t offset, int64_t bytes)
{
    ck_assert_int_lt(i, mock.ncalls);
    ck_assert_msg(mock.calls[i].verb == verb && mock.calls[i].offset == offset &&
                  mock.calls[i].bytes == bytes,
                  "call %d: expected %c %lld+%lld, got %c %lld+%lld", i, verb,
                  (long long)offset, (long long)bytes, mock.calls[i].verb,
                  (long long)mock.calls[i].offset, (long long)mock.calls[i].bytes);
}

static void fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
    size_t i;
    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

/* ---- registration ---- */

static int coroutine_fn dummy_preadv(BlockDriverState *bs, int64_t o, int64_t b,
                                     QEMUIOVector *q, BdrvRequestFlags f)
{
    return 0;
}

static int dummy_open(BlockDriverState *bs, QDict *o, int f, Error **e)
{
    return 0;
}

START_TEST(test_register_checks)
{
    BlockDriver d = {
        .struct_size = sizeof(BlockDriver),
        .api_version = BLOCK_DRIVER_API_VERSION,
        .format_name = "broken1",
        .is_format = true,
        .open = dummy_open,
    };
    Error *err = NULL;

    /* No preadv: refused, naming the callback. */
    ck_assert_int_eq(bdrv_register(&d, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err), "'preadv'"));
    error_free_or_abort(&err);

    /* A protocol without getlength. */
    d.preadv = dummy_preadv;
    d.is_format = false;
    d.format_name = "broken2";
    ck_assert_int_eq(bdrv_register(&d, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err), "'getlength'"));
    error_free_or_abort(&err);

    /* Unknown API version. */
    d.is_format = true;
    d.api_version = BLOCK_DRIVER_API_VERSION + 1;
    ck_assert_int_eq(bdrv_register(&d, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err), "version"));
    error_free_or_abort(&err);

    /* An older, smaller struct is accepted; the missing tail reads as 0. */
    d.api_version = BLOCK_DRIVER_API_VERSION;
    d.struct_size = offsetof(BlockDriver, preadv) + sizeof(d.preadv);
    d.format_name = "small";
    d.pwritev = (void *)1;      /* beyond struct_size: must be ignored */
    ck_assert_int_eq(bdrv_register(&d, &err), 0);
    ck_assert_ptr_null(bdrv_find_format("small")->pwritev);

    /* Duplicate names. */
    ck_assert_int_eq(bdrv_register(&d, &err), -EEXIST);
    error_free_or_abort(&err);
}
END_TEST

/* ---- alignment and padding ---- */

START_TEST(test_aligned_passthrough)
{
    BlockBackend *blk;
    uint8_t buf[8192];

    mock.align = 512;
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pread(blk, 4096, 4096, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'r', 4096, 4096);
    blk_unref(blk);
}
END_TEST

START_TEST(test_misaligned_read_pads)
{
    BlockBackend *blk;
    uint8_t buf[300];

    mock.align = 4096;
    fill_pattern(mock.disk, (size_t)mock.size, 3);
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pread(blk, 10, 100, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'r', 0, 4096);
    ck_assert_mem_eq(buf, mock.disk + 10, 100);

    /* Across a block boundary: one padded read of two blocks. */
    mock.ncalls = 0;
    ck_assert_int_eq(blk_pread(blk, 4000, 300, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'r', 0, 8192);
    ck_assert_mem_eq(buf, mock.disk + 4000, 300);
    blk_unref(blk);
}
END_TEST

START_TEST(test_misaligned_write_rmw)
{
    BlockBackend *blk;
    uint8_t buf[300], expect[12288];

    mock.align = 4096;
    fill_pattern(mock.disk, (size_t)mock.size, 5);
    memcpy(expect, mock.disk, sizeof(expect));
    blk = open_mock(NULL);

    /* Inside one block: read it, write it back merged. */
    memset(buf, 0xab, sizeof(buf));
    ck_assert_int_eq(blk_pwrite(blk, 10, 100, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 2);
    expect_call(0, 'r', 0, 4096);
    expect_call(1, 'w', 0, 4096);
    memset(expect + 10, 0xab, 100);
    ck_assert_mem_eq(mock.disk, expect, sizeof(expect));

    /* Across a boundary: both partial blocks are read first. */
    mock.ncalls = 0;
    memset(buf, 0xcd, sizeof(buf));
    ck_assert_int_eq(blk_pwrite(blk, 8000, 300, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(0, 'r', 4096, 4096);
    expect_call(1, 'r', 8192, 4096);
    expect_call(2, 'w', 4096, 8192);
    memset(expect + 8000, 0xcd, 300);
    ck_assert_mem_eq(mock.disk, expect, sizeof(expect));

    /* Head aligned, tail not: only the tail block is read. */
    mock.ncalls = 0;
    ck_assert_int_eq(blk_pwrite(blk, 4096, 100, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 2);
    expect_call(0, 'r', 4096, 4096);
    expect_call(1, 'w', 4096, 4096);
    memset(expect + 4096, 0xcd, 100);
    ck_assert_mem_eq(mock.disk, expect, sizeof(expect));
    blk_unref(blk);
}
END_TEST

START_TEST(test_splitting)
{
    BlockBackend *blk;
    uint8_t *buf = qemu_xmalloc(200 * KiB);

    mock.align = 512;
    mock.max_transfer = 64 * KiB;
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pread(blk, 0, 200 * KiB, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 4);
    expect_call(0, 'r', 0, 64 * KiB);
    expect_call(1, 'r', 64 * KiB, 64 * KiB);
    expect_call(2, 'r', 128 * KiB, 64 * KiB);
    expect_call(3, 'r', 192 * KiB, 8 * KiB);
    mock.ncalls = 0;
    ck_assert_int_eq(blk_pwrite(blk, 4 * KiB, 130 * KiB, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(0, 'w', 4 * KiB, 64 * KiB);
    expect_call(2, 'w', 132 * KiB, 2 * KiB);
    blk_unref(blk);
    free(buf);
}
END_TEST

/* ---- serialisation of read-modify-write ---- */

typedef struct AioDone {
    int count;
    int ret[8];
    int order[8];
} AioDone;

typedef struct AioTag {
    AioDone *d;
    int id;
} AioTag;

static void aio_done_cb(void *opaque, int ret)
{
    AioTag *t = opaque;

    t->d->ret[t->id] = ret;
    t->d->order[t->d->count++] = t->id;
}

START_TEST(test_rmw_serialises)
{
    BlockBackend *blk;
    uint8_t small[100], big[4096];
    QEMUIOVector q1, q2;
    AioDone d = { 0 };
    AioTag t1 = { &d, 0 }, t2 = { &d, 1 };

    mock.align = 4096;
    blk = open_mock(NULL);
    memset(small, 0x11, sizeof(small));
    memset(big, 0x22, sizeof(big));
    qemu_iovec_init_buf(&q1, small, sizeof(small));
    qemu_iovec_init_buf(&q2, big, sizeof(big));

    mock.hold = true;
    /* W1: misaligned, must read-modify-write block 0. */
    blk_aio_pwritev(blk, 100, &q1, 0, aio_done_cb, &t1);
    while (aio_poll(ctx, false)) {
    }
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'r', 0, 4096);           /* W1's head read, held */

    /* W2: aligned, overlapping block 0: must wait for W1 entirely. */
    blk_aio_pwritev(blk, 0, &q2, 0, aio_done_cb, &t2);
    while (aio_poll(ctx, false)) {
    }
    ck_assert_int_eq(mock.ncalls, 1);       /* W2 did not reach the driver */

    mock_release();                         /* W1 head read completes */
    while (aio_poll(ctx, false)) {
    }
    ck_assert_int_eq(mock.ncalls, 2);
    expect_call(1, 'w', 0, 4096);           /* W1's write, held */

    mock_release();                         /* W1 done, W2 may go */
    while (aio_poll(ctx, false)) {
    }
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(2, 'w', 0, 4096);
    mock.hold = false;
    mock_release();
    while (d.count < 2) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(d.order[0], 0);
    ck_assert_int_eq(d.order[1], 1);
    ck_assert_int_eq(d.ret[0], 0);
    ck_assert_int_eq(d.ret[1], 0);
    /* W2 wrote last: block 0 is all 0x22. */
    ck_assert_int_eq(mock.disk[100], 0x22);
    ck_assert_int_eq(mock.disk[4095], 0x22);
    blk_unref(blk);
}
END_TEST

/* ---- zero writes ---- */

START_TEST(test_zero_fallback)
{
    BlockBackend *blk;
    int i;

    mock.align = 512;
    mock.no_zeroes = true;
    memset(mock.disk, 0xff, (size_t)mock.size);
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 0, 8192, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'w', 0, 8192);           /* buffers of zeroes */
    for (i = 0; i < 8192; i++) {
        ck_assert_int_eq(mock.disk[i], 0);
    }
    ck_assert_int_eq(mock.disk[8192], 0xff);

    /* NO_FALLBACK: refuse instead of writing buffers. */
    mock.ncalls = 0;
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 0, 8192, BDRV_REQ_NO_FALLBACK),
                     -ENOTSUP);
    ck_assert_int_eq(mock.ncalls, 0);
    blk_unref(blk);
}
END_TEST

START_TEST(test_zero_alignment)
{
    BlockBackend *blk;

    mock.align = 512;
    mock.zero_align = 64 * KiB;
    memset(mock.disk, 0xff, (size_t)mock.size);
    blk = open_mock(NULL);
    /* [4K, 200K): the head to 64K, 64K..192K and the tail are offered to
     * the driver one by one (never across a granule); this one takes
     * them all. */
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 4 * KiB, 196 * KiB, 0), 0);
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(0, 'z', 4 * KiB, 60 * KiB);
    expect_call(1, 'z', 64 * KiB, 128 * KiB);
    expect_call(2, 'z', 192 * KiB, 8 * KiB);

    /* A driver that zeroes whole granules only refuses the head and the
     * tail: they are written as buffers. */
    mock.zero_whole_only = true;
    mock.ncalls = 0;
    memset(mock.disk, 0xff, (size_t)mock.size);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 4 * KiB, 196 * KiB, BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(0, 'w', 4 * KiB, 60 * KiB);
    expect_call(1, 'z', 64 * KiB, 128 * KiB);
    expect_call(2, 'w', 192 * KiB, 8 * KiB);
    /* discard=unmap was given: MAY_UNMAP reaches the driver. */
    ck_assert(mock.calls[1].flags & BDRV_REQ_MAY_UNMAP);
    ck_assert_int_eq(mock.disk[4 * KiB - 1], 0xff);
    ck_assert_int_eq(mock.disk[4 * KiB], 0);
    ck_assert_int_eq(mock.disk[200 * KiB - 1], 0);
    ck_assert_int_eq(mock.disk[200 * KiB], 0xff);

    /* Sub-sector zero write: read-modify-write of a buffer. */
    mock.ncalls = 0;
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 300 * KiB + 10, 20, 0), 0);
    ck_assert_int_eq(mock.ncalls, 2);
    expect_call(0, 'r', 300 * KiB, 512);
    expect_call(1, 'w', 300 * KiB, 512);
    ck_assert_int_eq(mock.disk[300 * KiB + 9], 0xff);
    ck_assert_int_eq(mock.disk[300 * KiB + 10], 0);
    ck_assert_int_eq(mock.disk[300 * KiB + 29], 0);
    ck_assert_int_eq(mock.disk[300 * KiB + 30], 0xff);
    blk_unref(blk);
}
END_TEST

START_TEST(test_detect_zeroes)
{
    BlockBackend *blk;
    uint8_t buf[4096] = { 0 };

    blk = open_mock("detect-zeroes=unmap");
    ck_assert_int_eq(blk_pwrite(blk, 0, sizeof(buf), buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'z', 0, 4096);
    ck_assert(mock.calls[0].flags & BDRV_REQ_MAY_UNMAP);
    buf[100] = 1;
    ck_assert_int_eq(blk_pwrite(blk, 0, sizeof(buf), buf, 0), 0);
    expect_call(1, 'w', 0, 4096);
    blk_unref(blk);
}
END_TEST

/* ---- FUA and flush ---- */

START_TEST(test_fua_emulated)
{
    BlockBackend *blk;
    uint8_t buf[512] = { 1 };

    mock.no_fua = true;
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, BDRV_REQ_FUA), 0);
    ck_assert_int_eq(mock.ncalls, 2);
    expect_call(0, 'w', 0, 512);
    ck_assert_int_eq(mock.calls[0].flags & BDRV_REQ_FUA, 0);
    expect_call(1, 'f', 0, 0);

    /* A driver that honours FUA gets the flag and no flush. */
    blk_unref(blk);
    mock_reset();
    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, BDRV_REQ_FUA), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    ck_assert(mock.calls[0].flags & BDRV_REQ_FUA);

    /* Writethrough: every write is FUA. */
    mock.ncalls = 0;
    blk_set_enable_write_cache(blk, false);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    ck_assert(mock.calls[0].flags & BDRV_REQ_FUA);
    blk_unref(blk);
}
END_TEST

START_TEST(test_flush_generations)
{
    BlockBackend *blk;
    uint8_t buf[512] = { 1 };

    blk = open_mock(NULL);
    /* Nothing written: nothing to flush. */
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_int_eq(mock.ncalls, 0);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    ck_assert_int_eq(blk_pwrite(blk, 512, 512, buf, 0), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_int_eq(mock.ncalls, 3);
    expect_call(2, 'f', 0, 0);
    blk_unref(blk);
}
END_TEST

START_TEST(test_flush_coalesces)
{
    BlockBackend *blk;
    uint8_t buf[512] = { 1 };
    AioDone d = { 0 };
    AioTag t[3] = { { &d, 0 }, { &d, 1 }, { &d, 2 } };
    int i;

    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    mock.ncalls = 0;
    mock.hold = true;
    for (i = 0; i < 3; i++) {
        blk_aio_flush(blk, aio_done_cb, &t[i]);
    }
    while (aio_poll(ctx, false)) {
    }
    /* One flush reached the driver; the others wait for it. */
    ck_assert_int_eq(mock.ncalls, 1);
    mock.hold = false;
    mock_release();
    while (d.count < 3) {
        aio_poll(ctx, true);
    }
    /* Nothing was written meanwhile: the waiters had nothing to do. */
    ck_assert_int_eq(mock.ncalls, 1);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(d.ret[i], 0);
    }
    blk_unref(blk);
}
END_TEST

START_TEST(test_flush_error_sticky)
{
    BlockBackend *blk;
    uint8_t buf[512] = { 1 };

    blk = open_mock(NULL);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    mock.fail_flush = 1;
    ck_assert_int_eq(blk_flush(blk), -EIO);
    /* The driver would succeed now, but data may have been lost. */
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    ck_assert_int_eq(blk_flush(blk), -EIO);
    ck_assert_int_eq(blk_flush(blk), -EIO);
    blk_unref(blk);
}
END_TEST

START_TEST(test_no_flush_option)
{
    BlockBackend *blk;
    uint8_t buf[512] = { 1 };

    blk = open_mock("cache.no-flush=on");
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_int_eq(mock.ncalls, 1);   /* just the write */
    blk_unref(blk);
}
END_TEST

/* ---- discard ---- */

START_TEST(test_discard)
{
    BlockBackend *blk;
    Error *err = NULL;
    QDict *opts;

    mock.align = 512;
    mock.discard_align = 4096;
    blk = open_mock(NULL);
    /* Only the aligned middle is discarded. */
    ck_assert_int_eq(blk_pdiscard(blk, 1000, 10000), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    expect_call(0, 'd', 4096, 4096);
    /* Too small to cover an aligned block: nothing. */
    ck_assert_int_eq(blk_pdiscard(blk, 100, 1000), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    blk_unref(blk);

    /* Without discard=unmap discards are ignored. */
    mock.ncalls = 0;
    opts = qdict_new();
    qdict_put_str(opts, "driver", "mock");
    blk = blk_new_open("mock", opts, BDRV_O_RDWR, &err);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(blk_pdiscard(blk, 0, 65536), 0);
    ck_assert_int_eq(mock.ncalls, 0);
    blk_unref(blk);
}
END_TEST

/* ---- bounds ---- */

START_TEST(test_bounds)
{
    BlockBackend *blk;
    uint8_t buf[1024];

    blk = open_mock(NULL);
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB - 512, 1024, buf, 0), -EIO);
    ck_assert_int_eq(blk_pwrite(blk, 1 * MiB, 1, buf, 0), -EIO);
    ck_assert_int_eq(blk_pread(blk, -1, 1, buf, 0), -EIO);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, INT64_MAX - 10, 100, 0), -EIO);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB - 512, 512, buf, 0), 0);
    ck_assert_int_eq(mock.ncalls, 1);
    blk_unref(blk);
}
END_TEST

/* ---- the public API's three ways in ---- */

typedef struct CbState {
    bool returned;
    int calls;
    int ret;
    bool called_before_return;
} CbState;

static void cb_check(void *opaque, int ret)
{
    CbState *s = opaque;

    if (!s->returned) {
        s->called_before_return = true;
    }
    s->calls++;
    s->ret = ret;
}

START_TEST(test_aio_callback_rules)
{
    BlockBackend *blk;
    uint8_t buf[512];
    QEMUIOVector qiov;
    CbState ok = { 0 }, bad = { 0 }, fl = { 0 };

    blk = open_mock(NULL);
    qemu_iovec_init_buf(&qiov, buf, sizeof(buf));

    /* Completes without ever yielding, yet the callback comes later. */
    ck_assert_ptr_nonnull(blk_aio_preadv(blk, 0, &qiov, 0, cb_check, &ok));
    ok.returned = true;
    /* Fails at once (out of range): still a callback, still later. */
    ck_assert_ptr_nonnull(blk_aio_preadv(blk, 2 * MiB, &qiov, 0, cb_check, &bad));
    bad.returned = true;
    ck_assert_ptr_nonnull(blk_aio_flush(blk, cb_check, &fl));
    fl.returned = true;
    ck_assert_int_eq(ok.calls + bad.calls + fl.calls, 0);
    while (ok.calls + bad.calls + fl.calls < 3) {
        aio_poll(ctx, true);
    }
    while (aio_poll(ctx, false)) {
    }
    ck_assert_int_eq(ok.calls, 1);
    ck_assert_int_eq(bad.calls, 1);
    ck_assert_int_eq(fl.calls, 1);
    ck_assert(!ok.called_before_return && !bad.called_before_return &&
              !fl.called_before_return);
    ck_assert_int_eq(ok.ret, 0);
    ck_assert_int_eq(bad.ret, -EIO);
    blk_unref(blk);
}
END_TEST

typedef struct CoArgs {
    BlockBackend *blk;
    int ret;
    bool done;
} CoArgs;

static void coroutine_fn co_io_entry(void *opaque)
{
    CoArgs *a = opaque;
    uint8_t w[1000], r[1000];
    QEMUIOVector qiov;
    struct iovec iov[3];

    memset(w, 0x5a, sizeof(w));
    a->ret = blk_co_pwrite(a->blk, 123, sizeof(w), w, 0);
    if (a->ret == 0) {
        /* Vectored read in three uneven pieces. */
        iov[0].iov_base = r;
        iov[0].iov_len = 1;
        iov[1].iov_base = r + 1;
        iov[1].iov_len = 500;
        iov[2].iov_base = r + 501;
        iov[2].iov_len = 499;
        qemu_iovec_init_external(&qiov, iov, 3);
        a->ret = blk_co_preadv(a->blk, 123, sizeof(r), &qiov, 0);
    }
    if (a->ret == 0 && memcmp(w, r, sizeof(r))) {
        a->ret = -EILSEQ;
    }
    if (a->ret == 0) {
        a->ret = blk_co_pwrite_zeroes(a->blk, 200, 100, 0);
    }
    if (a->ret == 0) {
        a->ret = blk_co_pread(a->blk, 123, sizeof(r), r, 0);
        if (r[200 - 123] != 0 || r[299 - 123] != 0 || r[300 - 123] != 0x5a) {
            a->ret = -EILSEQ;
        }
    }
    if (a->ret == 0) {
        a->ret = blk_co_flush(a->blk);
    }
    a->done = true;
}

START_TEST(test_coroutine_api)
{
    CoArgs a = { 0 };

    mock.align = 512;
    a.blk = open_mock(NULL);
    aio_co_enter(ctx, qemu_coroutine_create(co_io_entry), &a);
    while (!a.done) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(a.ret, 0);
    blk_unref(a.blk);
}
END_TEST

/* The synchronous API also works from inside a coroutine. */
static void coroutine_fn sync_in_co_entry(void *opaque)
{
    CoArgs *a = opaque;
    uint8_t buf[512];

    a->ret = blk_pread(a->blk, 0, sizeof(buf), buf, 0);
    a->done = true;
}

START_TEST(test_sync_from_coroutine)
{
    CoArgs a = { 0 };

    a.blk = open_mock(NULL);
    aio_co_enter(ctx, qemu_coroutine_create(sync_in_co_entry), &a);
    while (!a.done) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(a.ret, 0);
    blk_unref(a.blk);
}
END_TEST

/* ---- opening: options, json:, errors ---- */

START_TEST(test_open_errors)
{
    Error *err = NULL;
    QDict *opts;

    opts = qdict_new();
    qdict_put_str(opts, "driver", "nosuchdriver");
    ck_assert_ptr_null(blk_new_open("x", opts, 0, &err));
    ck_assert_str_eq(error_get_pretty(err),
                     "Could not open 'x': Unknown driver 'nosuchdriver'");
    error_free_or_abort(&err);

    opts = qdict_parse_keyval("driver=raw,file.driver=mock,bogus=1", NULL,
                              &error_abort);
    ck_assert_ptr_null(blk_new_open("y", opts, 0, &err));
    ck_assert_str_eq(error_get_pretty(err),
                     "Could not open 'y': Block format 'raw' does not support "
                     "the option 'bogus'");
    error_free_or_abort(&err);

    opts = qdict_parse_keyval("driver=null-co,size=1M,whatever=2", NULL, &error_abort);
    ck_assert_ptr_null(blk_new_open(NULL, opts, 0, &err));
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err),
                                 "Block protocol 'null-co' doesn't support the "
                                 "option 'whatever'"));
    error_free_or_abort(&err);

    /* Bad JSON. */
    ck_assert_ptr_null(blk_new_open("json:{\"driver\": ", NULL, 0, &err));
    ck_assert_ptr_nonnull(strstr(error_get_pretty(err), "JSON"));
    error_free_or_abort(&err);
}
END_TEST

START_TEST(test_open_json_and_null)
{
    Error *err = NULL;
    BlockBackend *blk;
    uint8_t buf[4096];
    int64_t pnum, map;
    BlockDriverState *file;
    int ret;

    blk = blk_new_open("json:{\"driver\": \"raw\", \"file\": {\"driver\": "
                       "\"null-co\", \"size\": \"1M\", \"read-zeroes\": true}}",
                       NULL, BDRV_O_RDWR, &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    ck_assert_str_eq(blk_get_format_name(blk), "raw");
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);
    memset(buf, 0xee, sizeof(buf));
    ck_assert_int_eq(blk_pread(blk, 0, sizeof(buf), buf, 0), 0);
    ck_assert_int_eq(buf[0], 0);
    ck_assert_int_eq(buf[4095], 0);
    /* raw passes block status through to null-co's answer. */
    ret = bdrv_block_status(blk_bs(blk), 0, 1 * MiB, &pnum, &map, &file);
    ck_assert_int_ge(ret, 0);
    ck_assert(ret & BDRV_BLOCK_ZERO);
    ck_assert(ret & BDRV_BLOCK_OFFSET_VALID);
    ck_assert(ret & BDRV_BLOCK_EOF);
    ck_assert_int_eq(pnum, 1 * MiB);
    ck_assert_str_eq(bdrv_get_format_name(file), "null-co");
    blk_unref(blk);

    /* The protocol alone, by URI. */
    blk = blk_new_open("null-co://", NULL, BDRV_O_PROTOCOL, &err);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(blk_getlength(blk), 1 * GiB);
    blk_unref(blk);
}
END_TEST

START_TEST(test_raw_window)
{
    Error *err = NULL;
    BlockBackend *blk;
    QDict *opts;
    uint8_t buf[512];

    fill_pattern(mock.disk, (size_t)mock.size, 9);
    opts = qdict_parse_keyval("driver=raw,offset=4096,size=8192,file.driver=mock",
                              NULL, &error_abort);
    blk = blk_new_open(NULL, opts, BDRV_O_RDWR, &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    ck_assert_int_eq(blk_getlength(blk), 8192);
    ck_assert_int_eq(blk_pread(blk, 512, 512, buf, 0), 0);
    ck_assert_mem_eq(buf, mock.disk + 4096 + 512, 512);
    ck_assert_int_eq(blk_pread(blk, 8192, 1, buf, 0), -EIO);
    memset(buf, 0x77, sizeof(buf));
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    ck_assert_int_eq(mock.disk[4096], 0x77);
    ck_assert_int_eq(mock.disk[4095], (uint8_t)(9 + 4095 * 7));
    blk_unref(blk);
}
END_TEST

START_TEST(test_probed_raw_guard)
{
    Error *err = NULL;
    BlockBackend *blk;
    QDict *opts;
    uint8_t buf[512];

    /* No format given: the mock protocol's data probes as raw. */
    opts = qdict_parse_keyval("file.driver=mock", NULL, &error_abort);
    blk = blk_new_open(NULL, opts, BDRV_O_RDWR, &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    ck_assert_str_eq(blk_get_format_name(blk), "raw");
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "MOCKFMT!", 8);
    /* Turning sector 0 into another format's header is refused... */
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), -EPERM);
    /* ...also piece by piece... */
    ck_assert_int_eq(blk_pwrite(blk, 4, 4, "FMT!", 0), 0);
    ck_assert_int_eq(blk_pwrite(blk, 0, 4, "MOCK", 0), -EPERM);
    /* ...but other data, and other sectors, are fine. */
    ck_assert_int_eq(blk_pwrite(blk, 512, 512, buf, 0), 0);
    memcpy(buf, "HELLO!!!", 8);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    blk_unref(blk);

    /* With the format given explicitly, anything goes. */
    opts = qdict_parse_keyval("driver=raw,file.driver=mock", NULL, &error_abort);
    blk = blk_new_open(NULL, opts, BDRV_O_RDWR, &err);
    memcpy(buf, "MOCKFMT!", 8);
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), 0);
    blk_unref(blk);

    /* And now the data probes as mockfmt, whose open fails. */
    opts = qdict_parse_keyval("file.driver=mock", NULL, &error_abort);
    ck_assert_ptr_null(blk_new_open("m", opts, BDRV_O_RDWR, &err));
    ck_assert_str_eq(error_get_pretty(err),
                     "Could not open 'm': mockfmt images cannot be opened");
    error_free_or_abort(&err);
}
END_TEST

START_TEST(test_read_only)
{
    Error *err = NULL;
    BlockBackend *blk;
    QDict *opts;
    uint8_t buf[512] = { 0 };

    /* A writer whose options make the node read-only is refused, as in
     * QEMU. */
    opts = qdict_parse_keyval("driver=mock,read-only=on", NULL, &error_abort);
    ck_assert_ptr_null(blk_new_open("mock", opts, BDRV_O_RDWR, &err));
    ck_assert_str_eq(error_get_pretty(err),
                     "Could not open 'mock': Block node is read-only");
    error_free_or_abort(&err);

    opts = qdict_parse_keyval("driver=mock,read-only=on", NULL, &error_abort);
    blk = blk_new_open("mock", opts, 0, &err);
    ck_assert_ptr_nonnull(blk);
    ck_assert(blk_is_read_only(blk));
    ck_assert_int_eq(blk_pwrite(blk, 0, 512, buf, 0), -EACCES);
    ck_assert_int_eq(blk_pread(blk, 0, 512, buf, 0), 0);
    blk_unref(blk);
}
END_TEST

/* How a node is named in messages and qemu-img info: its plain filename
 * unless options that change the data were given; then json:{...} with
 * the members in QEMU's order. */
START_TEST(test_display_filename)
{
    static const struct {
        const char *open, *display;
    } cases[] = {
        { "null-co://", "null-co://" },
        { "json:{\"driver\":\"null-co\"}", "null-co://" },
        { "json:{\"driver\":\"null-co\",\"size\":\"4M\"}",
          "json:{\"driver\": \"null-co\", \"size\": \"4M\"}" },
        { "json:{\"driver\":\"null-co\",\"read-zeroes\":true}",
          "json:{\"read-zeroes\": true, \"driver\": \"null-co\"}" },
        { "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"null-co\"}}",
          "null-co://" },
        { "json:{\"driver\":\"raw\",\"offset\":512,\"file\":{\"driver\":\"null-co\","
          "\"latency-ns\":1}}",
          "json:{\"offset\": 512, \"driver\": \"raw\", \"file\": {\"driver\": \"null-co\"}}" },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;
        BlockBackend *blk = blk_new_open(cases[i].open, NULL, 0, &err);
        char *name;

        ck_assert_msg(blk != NULL, "%s: %s", cases[i].open,
                      err ? error_get_pretty(err) : "");
        name = bdrv_get_display_filename(blk_bs(blk));
        ck_assert_str_eq(name, cases[i].display);
        free(name);
        blk_unref(blk);
    }
}
END_TEST

static Suite *block_io_suite(void)
{
    Suite *s = suite_create("block-io");
    TCase *tc = tcase_create("io");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_register_checks);
    tcase_add_test(tc, test_aligned_passthrough);
    tcase_add_test(tc, test_misaligned_read_pads);
    tcase_add_test(tc, test_misaligned_write_rmw);
    tcase_add_test(tc, test_splitting);
    tcase_add_test(tc, test_rmw_serialises);
    tcase_add_test(tc, test_zero_fallback);
    tcase_add_test(tc, test_zero_alignment);
    tcase_add_test(tc, test_detect_zeroes);
    tcase_add_test(tc, test_fua_emulated);
    tcase_add_test(tc, test_flush_generations);
    tcase_add_test(tc, test_flush_coalesces);
    tcase_add_test(tc, test_flush_error_sticky);
    tcase_add_test(tc, test_no_flush_option);
    tcase_add_test(tc, test_discard);
    tcase_add_test(tc, test_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_aio_callback_rules);
    tcase_add_test(tc, test_coroutine_api);
    tcase_add_test(tc, test_sync_from_coroutine);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_open_json_and_null);
    tcase_add_test(tc, test_raw_window);
    tcase_add_test(tc, test_probed_raw_guard);
    tcase_add_test(tc, test_read_only);
    tcase_add_test(tc, test_display_filename);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(block_io_suite());
}
