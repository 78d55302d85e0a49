/*
 * coblock — the Windows file driver on real files
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every test runs against a real file in the temporary directory, under
 * each engine (threads, native) and cache mode (buffered, cache.direct=on):
 * what the driver writes is read back with plain Win32 calls and what
 * Win32 wrote is read through the driver, so the driver cannot agree with
 * itself by mistake.  Features the file system may lack (sparse files,
 * FSCTL zeroing and allocation queries: Wine has none of them) are
 * checked against what the driver says it found, and the fallbacks are
 * exercised instead.
 */
#include "test-common.h"
#include "util/aio-win32.h"
#include "util/win32-error.h"
#include "block/block_int.h"
#include "block/file-win32.h"
#include <coblock/block.h>

MINICHECK_GLOBALS

static AioContext *ctx;
static char dir[MAX_PATH * 4];
static char path[MAX_PATH * 4];
static int path_seq;

/* The configuration of the running suite. */
static const char *cfg_aio;
static bool cfg_direct;

static const QemuOptsList *file_create_opts(void)
{
    bdrv_init();
    return bdrv_find_format("file")->create_opts;
}

static void setup(void)
{
    wchar_t wtmp[MAX_PATH + 1];
    char *tmp;

    ctx = aio_context_new();
    ck_assert_ptr_nonnull(ctx);
    aio_context_set_home_thread(ctx);
    ck_assert(GetTempPathW(ARRAY_SIZE(wtmp), wtmp) > 0);
    tmp = win32_wide_to_utf8(wtmp);
    ck_assert_ptr_nonnull(tmp);
    snprintf(dir, sizeof(dir), "%s", tmp);
    free(tmp);
    snprintf(path, sizeof(path), "%scoblock-test-%lu-%d.img", dir,
             (unsigned long)GetCurrentProcessId(), path_seq++);
}

static void teardown(void)
{
    wchar_t *w = win32_utf8_to_wide(path);

    DeleteFileW(w);
    free(w);
    aio_context_unref(ctx);
    ctx = NULL;
}

/* ---- plain Win32 access to the file, as the reference ---- */

static HANDLE raw_open(const char *p, DWORD disposition)
{
    wchar_t *w = win32_utf8_to_wide(p);
    HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, disposition, FILE_ATTRIBUTE_NORMAL, NULL);

    free(w);
    ck_assert_msg(h != INVALID_HANDLE_VALUE, "CreateFileW %s: %lu", p,
                  (unsigned long)GetLastError());
    return h;
}

static void raw_pwrite(const char *p, int64_t off, const void *buf, size_t len)
{
    HANDLE h = raw_open(p, OPEN_ALWAYS);
    OVERLAPPED ov = { 0 };
    DWORD n = 0;

    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    ck_assert(WriteFile(h, buf, (DWORD)len, &n, &ov));
    ck_assert_uint_eq(n, len);
    CloseHandle(h);
}

/* Returns the bytes read (short at the end of the file). */
static size_t raw_pread(const char *p, int64_t off, void *buf, size_t len)
{
    HANDLE h = raw_open(p, OPEN_EXISTING);
    OVERLAPPED ov = { 0 };
    DWORD n = 0;

    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    if (!ReadFile(h, buf, (DWORD)len, &n, &ov)) {
        ck_assert_uint_eq(GetLastError(), ERROR_HANDLE_EOF);
        n = 0;
    }
    CloseHandle(h);
    return n;
}

static int64_t raw_size(const char *p)
{
    HANDLE h = raw_open(p, OPEN_EXISTING);
    LARGE_INTEGER li;

    ck_assert(GetFileSizeEx(h, &li));
    CloseHandle(h);
    return li.QuadPart;
}

static void raw_create(const char *p, int64_t size, uint8_t fill)
{
    uint8_t *buf = qemu_xmalloc((size_t)size);

    memset(buf, fill, (size_t)size);
    raw_pwrite(p, 0, buf, (size_t)size);
    free(buf);
}

static void fill_pattern(uint8_t *buf, size_t len, int64_t off, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(((uint64_t)off + i) * 31 + seed * 7 + ((off + i) >> 9));
    }
}

/* ---- opening through the block layer ---- */

static BlockBackend *open_file_opts(const char *p, int flags, QDict *extra,
                                    Error **errp)
{
    QDict *opts = extra ? extra : qdict_new();

    qdict_put_str(opts, "driver", "file");
    if (!qdict_haskey(opts, "aio")) {
        qdict_put_str(opts, "aio", cfg_aio);
    }
    if (cfg_direct) {
        flags |= BDRV_O_NOCACHE;
    }
    return blk_new_open_noprefix(p, opts, flags, errp);
}

static BlockBackend *open_file(const char *p, int flags)
{
    Error *err = NULL;
    BlockBackend *blk = open_file_opts(p, flags, NULL, &err);

    ck_assert_msg(blk != NULL, "open %s: %s", p,
                  err ? error_get_pretty(err) : "?");
    return blk;
}

static FileWin32Stats stats_of(BlockBackend *blk)
{
    FileWin32Stats st;

    ck_assert(file_win32_get_stats(blk_bs(blk), &st));
    return st;
}

static void check_config(BlockBackend *blk)
{
    FileWin32Stats st = stats_of(blk);

    ck_assert_int_eq(st.native, !strcmp(cfg_aio, "native"));
    ck_assert_int_eq(st.nocache, cfg_direct);
    if (cfg_direct) {
        BlockDriverState *bs = blk_bs(blk);

        ck_assert(is_power_of_2(st.sector_size));
        ck_assert_uint_ge(st.sector_size, 512);
        ck_assert_uint_eq(bs->bl.request_alignment, st.sector_size);
        ck_assert_uint_eq(bs->bl.min_mem_alignment, st.sector_size);
    } else {
        ck_assert_uint_eq(blk_bs(blk)->bl.request_alignment, 1);
    }
}

/* ---- reads and writes ---- */

START_TEST(test_rw_aligned)
{
    const size_t len = 256 * KiB;
    uint8_t *wbuf = qemu_memalign(4096, len), *rbuf = qemu_memalign(4096, len);
    BlockBackend *blk;

    raw_create(path, 1 * MiB, 0xee);
    blk = open_file(path, BDRV_O_RDWR);
    check_config(blk);
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);

    /* driver writes, Win32 reads */
    fill_pattern(wbuf, len, 64 * KiB, 1);
    ck_assert_int_eq(blk_pwrite(blk, 64 * KiB, len, wbuf, 0), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    ck_assert_uint_eq(raw_pread(path, 64 * KiB, rbuf, len), len);
    ck_assert_mem_eq(rbuf, wbuf, len);

    /* Win32 writes, driver reads */
    fill_pattern(wbuf, len, 512 * KiB, 2);
    raw_pwrite(path, 512 * KiB, wbuf, len);
    memset(rbuf, 0, len);
    ck_assert_int_eq(blk_pread(blk, 512 * KiB, len, rbuf, 0), 0);
    ck_assert_mem_eq(rbuf, wbuf, len);
    ck_assert_uint_eq(stats_of(blk).bounced, 0);
    blk_unref(blk);
    qemu_vfree(wbuf);
    qemu_vfree(rbuf);
}
END_TEST

START_TEST(test_rw_misaligned)
{
    uint8_t *mem = qemu_xmalloc(70000), *ref = qemu_xmalloc(80000);
    uint8_t *wbuf = mem + 3;        /* misaligned buffer */
    const int64_t off = 4097 + 13;
    const size_t len = 33333;
    BlockBackend *blk;

    raw_create(path, 80000, 0x5a);
    blk = open_file(path, BDRV_O_RDWR);
    fill_pattern(wbuf, len, off, 3);
    ck_assert_int_eq(blk_pwrite(blk, off, len, wbuf, 0), 0);

    /* What surrounds the write is untouched. */
    ck_assert_uint_eq(raw_pread(path, 0, ref, 80000), 80000);
    ck_assert_mem_eq(ref + off, wbuf, len);
    ck_assert_int_eq(ref[off - 1], 0x5a);
    ck_assert_int_eq(ref[off + len], 0x5a);

    memset(mem, 0, 70000);
    ck_assert_int_eq(blk_pread(blk, off - 7, len + 9, mem + 1, 0), 0);
    ck_assert_mem_eq(mem + 1, ref + off - 7, len + 9);
    if (cfg_direct) {
        /* The buffers were misaligned: bounced, never handed over. */
        ck_assert_uint_gt(stats_of(blk).bounced, 0);
    }
    blk_unref(blk);
    free(mem);
    free(ref);
}
END_TEST

/* A file whose length is not a multiple of the sector: the last sector
 * reads short, the rest of the request must come back as zeroes. */
START_TEST(test_read_at_eof)
{
    uint8_t ref[1000], *buf = qemu_memalign(4096, 8192);
    BlockBackend *blk;
    BdrvChild *file;
    QDict *opts;
    Error *err = NULL;

    fill_pattern(ref, sizeof(ref), 0, 4);
    raw_pwrite(path, 0, ref, sizeof(ref));
    blk = open_file(path, BDRV_O_RDWR);
    /* Whole sectors: the tail of the last one reads as zeroes. */
    ck_assert_int_eq(blk_getlength(blk), 1024);
    memset(buf, 0xff, 8192);
    ck_assert_int_eq(blk_pread(blk, 0, 1024, buf, 0), 0);
    ck_assert_mem_eq(buf, ref, 1000);
    ck_assert(buffer_is_zero(buf + 1000, 24));
    blk_unref(blk);

    /* Past the end of the file, through a format node's protocol child
     * (the BlockBackend itself refuses reads past the disk's end). */
    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.aio", cfg_aio);
    blk = blk_new_open(path, opts, BDRV_O_RDWR | (cfg_direct ? BDRV_O_NOCACHE : 0),
                       &err);
    ck_assert_ptr_nonnull(blk);
    file = blk_bs(blk)->file;
    memset(buf, 0xff, 8192);
    ck_assert_int_eq(bdrv_pread(file, 0, 8192, buf, 0), 0);
    ck_assert_mem_eq(buf, ref, 1000);
    ck_assert(buffer_is_zero(buf + 1000, 8192 - 1000));
    memset(buf, 0xff, 8192);
    ck_assert_int_eq(bdrv_pread(file, 4096, 4096, buf, 0), 0);
    ck_assert(buffer_is_zero(buf, 4096));
    blk_unref(blk);
    qemu_vfree(buf);
}
END_TEST

START_TEST(test_vectored)
{
    size_t page = qemu_real_host_page_size();
    uint8_t *mem = qemu_memalign(page, 16 * page);
    uint8_t *ref = qemu_xmalloc(16 * page), *back = qemu_xmalloc(16 * page);
    struct iovec iov[5];
    QEMUIOVector qiov;
    FileWin32Stats st;
    BlockBackend *blk;
    size_t total, i;

    raw_create(path, 64 * page, 0);
    blk = open_file(path, BDRV_O_RDWR);

    /* Page-aligned whole pages: scatter/gather where unbuffered. */
    iov[0] = (struct iovec){ mem + 3 * page, 2 * page };
    iov[1] = (struct iovec){ mem, page };
    iov[2] = (struct iovec){ mem + 8 * page, 4 * page };
    qemu_iovec_init_external(&qiov, iov, 3);
    total = qiov.size;
    fill_pattern(ref, total, 4 * page, 5);
    qemu_iovec_from_buf(&qiov, 0, ref, total);
    ck_assert_int_eq(blk_pwritev(blk, 4 * page, total, &qiov, 0), 0);
    ck_assert_uint_eq(raw_pread(path, 4 * page, back, total), total);
    ck_assert_mem_eq(back, ref, total);
    memset(mem, 0, 16 * page);
    ck_assert_int_eq(blk_preadv(blk, 4 * page, total, &qiov, 0), 0);
    qemu_iovec_to_buf(&qiov, 0, back, total);
    ck_assert_mem_eq(back, ref, total);
    st = stats_of(blk);
    if (cfg_direct) {
        ck_assert_uint_eq(st.scatter_gather, 2);
    } else {
        ck_assert_uint_eq(st.vectored, 2);
    }
    ck_assert_uint_eq(st.bounced, 0);

    /* Sector-aligned pieces that are not whole pages: one operation per
     * piece, still no copy. */
    iov[0] = (struct iovec){ mem + 512, 1024 };
    iov[1] = (struct iovec){ mem + 4 * page + 1024, 2048 };
    iov[2] = (struct iovec){ mem + 8 * page, 512 };
    iov[3] = (struct iovec){ mem + 10 * page + 512, 3072 };
    qemu_iovec_init_external(&qiov, iov, 4);
    total = qiov.size;
    fill_pattern(ref, total, 8192, 6);
    qemu_iovec_from_buf(&qiov, 0, ref, total);
    ck_assert_int_eq(blk_pwritev(blk, 8192, total, &qiov, 0), 0);
    ck_assert_uint_eq(raw_pread(path, 8192, back, total), total);
    ck_assert_mem_eq(back, ref, total);
    st = stats_of(blk);
    ck_assert_uint_eq(st.bounced, 0);
    ck_assert_uint_ge(st.vectored, 1);

    /* Odd pieces: fine buffered, bounced unbuffered. */
    iov[0] = (struct iovec){ mem + 1, 100 };
    iov[1] = (struct iovec){ mem + 2 * page + 7, 1000 };
    iov[2] = (struct iovec){ mem + 5 * page + 3, 3 };
    iov[3] = (struct iovec){ mem + 6 * page + 9, 4096 - 1103 };
    iov[4] = (struct iovec){ mem + 9 * page, 1 };
    qemu_iovec_init_external(&qiov, iov, 5);
    total = qiov.size;
    ck_assert_uint_eq(total, 4097);
    fill_pattern(ref, total, 20000, 7);
    qemu_iovec_from_buf(&qiov, 0, ref, total);
    ck_assert_int_eq(blk_pwritev(blk, 20000, total, &qiov, 0), 0);
    ck_assert_uint_eq(raw_pread(path, 20000, back, total), total);
    ck_assert_mem_eq(back, ref, total);
    for (i = 0; i < 5; i++) {
        memset(iov[i].iov_base, 0, iov[i].iov_len);
    }
    ck_assert_int_eq(blk_preadv(blk, 20000, total, &qiov, 0), 0);
    qemu_iovec_to_buf(&qiov, 0, back, total);
    ck_assert_mem_eq(back, ref, total);
    st = stats_of(blk);
    if (cfg_direct) {
        ck_assert_uint_gt(st.bounced, 0);
    } else {
        ck_assert_uint_eq(st.bounced, 0);
    }
    blk_unref(blk);
    qemu_vfree(mem);
    free(ref);
    free(back);
}
END_TEST

/* ---- many requests in flight ---- */

#define NREQ 160
#define REQ_LEN (16 * KiB)

typedef struct AioReq {
    QEMUIOVector qiov;
    uint8_t *buf;
    int ret;
    bool done;
} AioReq;

static int aio_done_count, aio_in_flight, aio_max_in_flight;

static void aio_req_cb(void *opaque, int ret)
{
    AioReq *r = opaque;

    r->ret = ret;
    r->done = true;
    aio_done_count++;
    aio_in_flight--;
}

static void run_batch(BlockBackend *blk, AioReq *reqs, bool write)
{
    int i;

    aio_done_count = 0;
    aio_in_flight = 0;
    aio_max_in_flight = 0;
    for (i = 0; i < NREQ; i++) {
        /* Interleaved offsets, so neighbours are in flight together. */
        int64_t off = (int64_t)((i * 37) % NREQ) * REQ_LEN;

        reqs[i].done = false;
        qemu_iovec_init_buf(&reqs[i].qiov, reqs[i].buf, REQ_LEN);
        if (write) {
            blk_aio_pwritev(blk, off, &reqs[i].qiov, 0, aio_req_cb, &reqs[i]);
        } else {
            blk_aio_preadv(blk, off, &reqs[i].qiov, 0, aio_req_cb, &reqs[i]);
        }
        aio_in_flight++;
        aio_max_in_flight = MAX(aio_max_in_flight, aio_in_flight);
    }
    while (aio_done_count < NREQ) {
        aio_poll(ctx, true);
    }
    for (i = 0; i < NREQ; i++) {
        ck_assert(reqs[i].done);
        ck_assert_int_eq(reqs[i].ret, 0);
    }
}

START_TEST(test_concurrent)
{
    AioReq *reqs = qemu_xmalloc0(sizeof(AioReq) * NREQ);
    uint8_t *ref = qemu_xmalloc(REQ_LEN);
    AioWin32PortStats ps;
    BlockBackend *blk;
    int i;

    raw_create(path, NREQ * REQ_LEN, 0);
    blk = open_file(path, BDRV_O_RDWR);
    for (i = 0; i < NREQ; i++) {
        int64_t off = (int64_t)((i * 37) % NREQ) * REQ_LEN;

        reqs[i].buf = qemu_memalign(4096, REQ_LEN);
        fill_pattern(reqs[i].buf, REQ_LEN, off, 8);
    }
    run_batch(blk, reqs, true);
    /* All requests were in flight at once (no callback runs before the
     * loop does), more than one wait could cover with a handle each. */
    ck_assert_int_eq(aio_max_in_flight, NREQ);
    ck_assert_int_gt(aio_max_in_flight, MAXIMUM_WAIT_OBJECTS);
    if (!strcmp(cfg_aio, "native")) {
        ck_assert(aio_win32_port_stats(ctx, &ps));
        ck_assert_uint_eq(ps.in_flight, 0);
        ck_assert_uint_ge(stats_of(blk).native_ops, NREQ);
    } else {
        ck_assert_uint_ge(stats_of(blk).thread_jobs, NREQ);
    }
    for (i = 0; i < NREQ; i++) {
        int64_t off = (int64_t)((i * 37) % NREQ) * REQ_LEN;

        ck_assert_uint_eq(raw_pread(path, off, ref, REQ_LEN), REQ_LEN);
        ck_assert_mem_eq(ref, reqs[i].buf, REQ_LEN);
        memset(reqs[i].buf, 0, REQ_LEN);
    }
    run_batch(blk, reqs, false);
    for (i = 0; i < NREQ; i++) {
        int64_t off = (int64_t)((i * 37) % NREQ) * REQ_LEN;

        fill_pattern(ref, REQ_LEN, off, 8);
        ck_assert_mem_eq(reqs[i].buf, ref, REQ_LEN);
        qemu_vfree(reqs[i].buf);
    }
    blk_unref(blk);
    free(reqs);
    free(ref);
}
END_TEST

/* ---- flush, FUA, truncate ---- */

START_TEST(test_flush_fua)
{
    uint8_t buf[4096], back[4096];
    BlockBackend *blk;
    FileWin32Stats st;

    raw_create(path, 64 * KiB, 0);
    blk = open_file(path, BDRV_O_RDWR);
    st = stats_of(blk);
    ck_assert(st.write_through_handle);
    ck_assert_uint_eq(blk_bs(blk)->supported_write_flags & BDRV_REQ_FUA,
                      BDRV_REQ_FUA);
    fill_pattern(buf, sizeof(buf), 8192, 9);
    ck_assert_int_eq(blk_pwrite(blk, 8192, sizeof(buf), buf, BDRV_REQ_FUA), 0);
    ck_assert_uint_eq(stats_of(blk).fua_writes, 1);
    ck_assert_uint_eq(raw_pread(path, 8192, back, sizeof(back)), sizeof(back));
    ck_assert_mem_eq(back, buf, sizeof(buf));
    ck_assert_int_eq(blk_flush(blk), 0);
    blk_unref(blk);

    /* Read-only: no write-through handle, no FUA. */
    blk = open_file(path, 0);
    ck_assert(!stats_of(blk).write_through_handle);
    blk_unref(blk);
}
END_TEST

START_TEST(test_truncate)
{
    uint8_t *buf = qemu_memalign(4096, 64 * KiB);
    Error *err = NULL;
    BlockBackend *blk;

    raw_create(path, 64 * KiB, 0x77);
    blk = open_file(path, BDRV_O_RDWR | BDRV_O_RESIZE);

    ck_assert_int_eq(blk_truncate(blk, 1 * MiB, true, PREALLOC_MODE_OFF, 0,
                                  &err), 0);
    ck_assert_int_eq(raw_size(path), 1 * MiB);
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);
    ck_assert_int_eq(blk_pread(blk, 64 * KiB, 64 * KiB, buf, 0), 0);
    ck_assert(buffer_is_zero(buf, 64 * KiB));

    ck_assert_int_eq(blk_truncate(blk, 1 * MiB + 64 * KiB, true,
                                  PREALLOC_MODE_FULL, 0, &err), 0);
    ck_assert_int_eq(raw_size(path), 1 * MiB + 64 * KiB);
    ck_assert_int_eq(blk_truncate(blk, 2 * MiB, true, PREALLOC_MODE_FALLOC, 0,
                                  &err), 0);
    ck_assert_int_eq(raw_size(path), 2 * MiB);
    ck_assert_int_eq(blk_pread(blk, 1 * MiB, 64 * KiB, buf, 0), 0);
    ck_assert(buffer_is_zero(buf, 64 * KiB));

    /* Shrinking needs exact and no preallocation. */
    ck_assert_int_lt(blk_truncate(blk, 32 * KiB, true, PREALLOC_MODE_FULL, 0,
                                  &err), 0);
    ck_assert_str_eq(error_get_pretty(err),
                     "Cannot use preallocation for shrinking files");
    error_free_or_abort(&err);
    ck_assert_int_eq(blk_truncate(blk, 32 * KiB, true, PREALLOC_MODE_OFF, 0,
                                  &err), 0);
    ck_assert_int_eq(raw_size(path), 32 * KiB);
    ck_assert_int_eq(blk_pread(blk, 0, 32 * KiB, buf, 0), 0);
    ck_assert_int_eq(buf[0], 0x77);
    ck_assert_int_eq(buf[32 * KiB - 1], 0x77);
    blk_unref(blk);
    qemu_vfree(buf);
}
END_TEST

/* ---- zeroes, discard, block status ---- */

START_TEST(test_zero_discard)
{
    uint8_t *buf = qemu_memalign(4096, 256 * KiB);
    BlockBackend *blk;
    FileWin32Stats st;
    int ret;

    raw_create(path, 1 * MiB, 0xab);
    blk = open_file(path, BDRV_O_RDWR | BDRV_O_UNMAP);
    st = stats_of(blk);

    /* Zero writes read back as zeroes, whichever way they were done. */
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 64 * KiB, 64 * KiB, 0), 0);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 256 * KiB, 128 * KiB,
                                       BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_uint_eq(raw_pread(path, 0, buf, 256 * KiB), 256 * KiB);
    ck_assert_int_eq(buf[64 * KiB - 1], 0xab);
    ck_assert(buffer_is_zero(buf + 64 * KiB, 64 * KiB));
    ck_assert_int_eq(buf[128 * KiB], 0xab);
    ck_assert_uint_eq(raw_pread(path, 256 * KiB, buf, 128 * KiB), 128 * KiB);
    ck_assert(buffer_is_zero(buf, 128 * KiB));
    ck_assert_uint_eq(raw_pread(path, 384 * KiB, buf, 4096), 4096);
    ck_assert_int_eq(buf[0], 0xab);

    /* Without a fallback, the answer depends on the file system. */
    ret = blk_pwrite_zeroes(blk, 512 * KiB, 64 * KiB,
                            BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK);
    st = stats_of(blk);
    if (st.zero_data) {
        ck_assert_int_eq(ret, 0);
        ck_assert_uint_eq(raw_pread(path, 512 * KiB, buf, 64 * KiB), 64 * KiB);
        ck_assert(buffer_is_zero(buf, 64 * KiB));
    } else {
        ck_assert_int_eq(ret, -ENOTSUP);
        ck_assert_uint_eq(raw_pread(path, 512 * KiB, buf, 4096), 4096);
        ck_assert_int_eq(buf[0], 0xab);
    }

    /* Discard always succeeds (it is advisory); where the volume has
     * sparse files the range is given back and reads as zeroes. */
    ck_assert_int_eq(blk_pdiscard(blk, 768 * KiB, 128 * KiB), 0);
    ck_assert_uint_eq(raw_pread(path, 768 * KiB, buf, 128 * KiB), 128 * KiB);
    if (st.sparse_volume && st.zero_data) {
        ck_assert(stats_of(blk).sparse_file);
        ck_assert(buffer_is_zero(buf, 128 * KiB));
    } else {
        ck_assert_int_eq(buf[0], 0xab);
        ck_assert(!stats_of(blk).sparse_file);
    }
    blk_unref(blk);
    qemu_vfree(buf);
}
END_TEST

START_TEST(test_block_status)
{
    uint8_t buf[4096];
    BlockDriverState *bs, *file;
    BlockBackend *blk;
    FileWin32Stats st;
    int64_t pnum, map;
    int ret;

    raw_create(path, 1 * MiB, 0);
    blk = open_file(path, BDRV_O_RDWR | BDRV_O_UNMAP);
    bs = blk_bs(blk);
    fill_pattern(buf, sizeof(buf), 0, 10);
    ck_assert_int_eq(blk_pwrite(blk, 0, sizeof(buf), buf, 0), 0);
    ck_assert_int_eq(blk_pdiscard(blk, 512 * KiB, 256 * KiB), 0);
    st = stats_of(blk);

    ret = bdrv_block_status(bs, 0, 1 * MiB, &pnum, &map, &file);
    ck_assert_int_ge(ret, 0);
    ck_assert(ret & BDRV_BLOCK_DATA);
    ck_assert(ret & BDRV_BLOCK_OFFSET_VALID);
    ck_assert_int_eq(map, 0);
    ck_assert_ptr_eq(file, bs);
    ck_assert_int_gt(pnum, 0);

    ret = bdrv_block_status(bs, 512 * KiB, 256 * KiB, &pnum, &map, &file);
    ck_assert_int_ge(ret, 0);
    ck_assert_int_eq(map, 512 * KiB);
    st = stats_of(blk);
    if (st.sparse_file && st.allocated_ranges) {
        /* The discarded range is a hole now. */
        ck_assert(ret & BDRV_BLOCK_ZERO);
        ck_assert(!(ret & BDRV_BLOCK_DATA));
        ck_assert_int_eq(pnum, 256 * KiB);
    } else {
        /* No allocation information: everything is data. */
        ck_assert(ret & BDRV_BLOCK_DATA);
        ck_assert_int_eq(pnum, 256 * KiB);
    }
    blk_unref(blk);
}
END_TEST

/* ---- locking ---- */

/* What a qcow2 writer / reader holds: a protocol node opened on its own
 * shares everything, as QEMU's raw users do, so these tests take the
 * permissions of a format with metadata explicitly. */
#define EXCL_WRITER_PERM  (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE)
#define EXCL_READER_PERM  BLK_PERM_CONSISTENT_READ
#define EXCL_SHARED       (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED)

START_TEST(test_locking)
{
    BlockBackend *a, *b;
    Error *err = NULL;
    QDict *opts;
    char *hint;

    raw_create(path, 64 * KiB, 0);
    a = open_file(path, BDRV_O_RDWR);
    ck_assert(stats_of(a).locking);

    /* Raw users share: a second writer gets in. */
    b = open_file(path, BDRV_O_RDWR);
    blk_unref(b);

    /* An exclusive writer... */
    ck_assert_int_eq(bdrv_set_perm(blk_bs(a), EXCL_WRITER_PERM, EXCL_SHARED,
                                   &error_abort), 0);
    /* ...refuses a second writer, with QEMU's words. */
    ck_assert_ptr_null(open_file_opts(path, BDRV_O_RDWR, NULL, &err));
    ck_assert_str_eq(error_get_pretty(err), "Failed to get \"write\" lock");
    hint = qemu_xasprintf("Is another process using the image [%s]?\n", path);
    ck_assert_str_eq(error_get_hint(err), hint);
    free(hint);
    error_free_or_abort(&err);

    /* So is a reader that would not share writing. */
    b = open_file(path, 0);
    ck_assert_int_lt(bdrv_set_perm(blk_bs(b), EXCL_READER_PERM, EXCL_SHARED, &err), 0);
    ck_assert_str_eq(error_get_pretty(err), "Failed to get shared \"write\" lock");
    error_free_or_abort(&err);
    blk_unref(b);

    /* force-share and locking=off take no locks. */
    opts = qdict_new();
    qdict_put_str(opts, "force-share", "on");
    b = open_file_opts(path, 0, opts, &err);
    ck_assert_ptr_nonnull(b);
    ck_assert(!stats_of(b).locking);
    blk_unref(b);
    opts = qdict_new();
    qdict_put_str(opts, "locking", "off");
    b = open_file_opts(path, BDRV_O_RDWR, opts, &err);
    ck_assert_ptr_nonnull(b);
    blk_unref(b);

    /* Once the writer is gone, the next one gets in; two exclusive readers
     * share with each other but keep a writer out. */
    blk_unref(a);
    a = open_file(path, BDRV_O_RDWR);
    blk_unref(a);
    a = open_file(path, 0);
    b = open_file(path, 0);
    ck_assert_int_eq(bdrv_set_perm(blk_bs(a), EXCL_READER_PERM, EXCL_SHARED,
                                   &error_abort), 0);
    ck_assert_int_eq(bdrv_set_perm(blk_bs(b), EXCL_READER_PERM, EXCL_SHARED,
                                   &error_abort), 0);
    ck_assert_ptr_null(open_file_opts(path, BDRV_O_RDWR, NULL, &err));
    ck_assert_str_eq(error_get_pretty(err), "Failed to get \"write\" lock");
    error_free_or_abort(&err);
    blk_unref(a);
    blk_unref(b);

    opts = qdict_new();
    qdict_put_str(opts, "locking", "sometimes");
    ck_assert_ptr_null(open_file_opts(path, 0, opts, &err));
    ck_assert_str_eq(error_get_pretty(err), "invalid parameter value: sometimes");
    error_free_or_abort(&err);
}
END_TEST

/* ---- create, open errors, file names ---- */

START_TEST(test_create)
{
    QemuOpts *opts = qemu_opts_create(file_create_opts());
    char *bad;
    Error *err = NULL;

    qemu_opt_set_number(opts, "size", 3 * MiB + 512);
    ck_assert_int_eq(bdrv_create_file(path, opts, &err), 0);
    ck_assert_int_eq(raw_size(path), 3 * MiB + 512);
    qemu_opts_del(opts);

    /* preallocation=full writes zeroes; create truncates what was there */
    raw_create(path, 8192, 0xcd);
    opts = qemu_opts_create(file_create_opts());
    qemu_opt_set_number(opts, "size", 4096);
    ck_assert(qemu_opt_set(opts, "preallocation", "full", &err));
    ck_assert_int_eq(bdrv_create_file(path, opts, &err), 0);
    ck_assert_int_eq(raw_size(path), 4096);
    {
        uint8_t buf[4096];

        ck_assert_uint_eq(raw_pread(path, 0, buf, 4096), 4096);
        ck_assert(buffer_is_zero(buf, 4096));
    }
    qemu_opts_del(opts);

    opts = qemu_opts_create(file_create_opts());
    ck_assert(qemu_opt_set(opts, "preallocation", "metadata", &err));
    ck_assert_int_lt(bdrv_create_file(path, opts, &err), 0);
    ck_assert_str_eq(error_get_pretty(err), "Unsupported preallocation mode: metadata");
    error_free_or_abort(&err);
    qemu_opts_del(opts);
    /* Refused after the file was truncated, as QEMU does: it is left,
     * empty. */
    {
        WIN32_FILE_ATTRIBUTE_DATA fa;

        ck_assert(GetFileAttributesExA(path, GetFileExInfoStandard, &fa));
        ck_assert_uint_eq(fa.nFileSizeLow, 0);
        ck_assert_uint_eq(fa.nFileSizeHigh, 0);
    }

    bad = qemu_xasprintf("%sno-such-dir-%lu\\x.img", dir,
                         (unsigned long)GetCurrentProcessId());
    opts = qemu_opts_create(file_create_opts());
    ck_assert_int_lt(bdrv_create_file(bad, opts, &err), 0);
    {
        char *want = qemu_xasprintf("Could not create '%s': No such file or "
                                    "directory", bad);

        ck_assert_str_eq(error_get_pretty(err), want);
        free(want);
    }
    error_free_or_abort(&err);
    qemu_opts_del(opts);
    free(bad);
}
END_TEST

START_TEST(test_open_errors)
{
    char *missing = qemu_xasprintf("%s.missing", path);
    char *want;
    Error *err = NULL;
    QDict *opts;

    ck_assert_ptr_null(open_file_opts(missing, 0, NULL, &err));
    want = qemu_xasprintf("Could not open '%s': No such file or directory",
                          missing);
    ck_assert_str_eq(error_get_pretty(err), want);
    ck_assert_int_eq(error_get_errno(err), ENOENT);
    free(want);
    error_free_or_abort(&err);

    /* A directory, as the POSIX build words it. */
    ck_assert_ptr_null(open_file_opts(dir, 0, NULL, &err));
    want = qemu_xasprintf("'file' driver requires '%s' to be a regular file",
                          dir);
    ck_assert_str_eq(error_get_pretty(err), want);
    free(want);
    error_free_or_abort(&err);

    raw_create(path, 4096, 0);
    opts = qdict_new();
    qdict_put_str(opts, "aio", "io_uring");
    ck_assert_ptr_null(open_file_opts(path, 0, opts, &err));
    ck_assert_str_eq(error_get_pretty(err),
                     "aio=io_uring was specified, but is not supported in "
                     "this build.");
    error_free_or_abort(&err);
    opts = qdict_new();
    qdict_put_str(opts, "aio", "fast");
    ck_assert_ptr_null(open_file_opts(path, 0, opts, &err));
    ck_assert_str_eq(error_get_pretty(err), "invalid parameter value: fast");
    error_free_or_abort(&err);
    free(missing);
}
END_TEST

/* C:\dir\img and C:/dir/img are the same file. */
START_TEST(test_paths)
{
    char *fwd = qemu_xstrdup(path), *p;
    uint8_t buf[512], back[512];
    BlockBackend *blk;

    for (p = fwd; *p; p++) {
        if (*p == '\\') {
            *p = '/';
        }
    }
    ck_assert(strchr(path, '\\') != NULL);
    ck_assert(path[1] == ':');
    raw_create(path, 4096, 0);
    blk = open_file(fwd, BDRV_O_RDWR);
    fill_pattern(buf, sizeof(buf), 512, 11);
    ck_assert_int_eq(blk_pwrite(blk, 512, sizeof(buf), buf, 0), 0);
    blk_unref(blk);
    blk = open_file(path, 0);
    ck_assert_int_eq(blk_pread(blk, 512, sizeof(back), back, 0), 0);
    ck_assert_mem_eq(back, buf, sizeof(buf));
    blk_unref(blk);
    free(fwd);
}
END_TEST

/* Through a format node on top, as the tools open images. */
START_TEST(test_raw_format)
{
    uint8_t buf[8192], back[8192];
    Error *err = NULL;
    QDict *opts = qdict_new();
    BlockBackend *blk;

    raw_create(path, 1 * MiB, 0);
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.aio", cfg_aio);
    blk = blk_new_open(path, opts, BDRV_O_RDWR | (cfg_direct ? BDRV_O_NOCACHE : 0),
                       &err);
    ck_assert_msg(blk != NULL, "%s", err ? error_get_pretty(err) : "");
    ck_assert_str_eq(blk_get_format_name(blk), "raw");
    fill_pattern(buf, sizeof(buf), 1000, 12);
    ck_assert_int_eq(blk_pwrite(blk, 1000, sizeof(buf), buf, 0), 0);
    ck_assert_int_eq(blk_pread(blk, 1000, sizeof(back), back, 0), 0);
    ck_assert_mem_eq(back, buf, sizeof(buf));
    ck_assert_uint_eq(raw_pread(path, 1000, back, sizeof(back)), sizeof(back));
    ck_assert_mem_eq(back, buf, sizeof(buf));
    blk_unref(blk);
}
END_TEST

static Suite *file_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rw_aligned);
    tcase_add_test(tc, test_rw_misaligned);
    tcase_add_test(tc, test_read_at_eof);
    tcase_add_test(tc, test_vectored);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_flush_fua);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_zero_discard);
    tcase_add_test(tc, test_block_status);
    tcase_add_test(tc, test_locking);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_raw_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    static const struct {
        const char *name, *aio;
        bool direct;
    } configs[] = {
        { "threads", "threads", false },
        { "threads-direct", "threads", true },
        { "native", "native", false },
        { "native-direct", "native", true },
    };
    size_t i;
    int ret = 0;

    for (i = 0; i < ARRAY_SIZE(configs); i++) {
        cfg_aio = configs[i].aio;
        cfg_direct = configs[i].direct;
        printf("file-win32: aio=%s cache.direct=%s\n", cfg_aio,
               cfg_direct ? "on" : "off");
        ret |= run_suite(file_suite(configs[i].name));
    }
    return ret;
}
