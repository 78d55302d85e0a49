/*
 * coblock — libFuzzer targets for the qcow2 driver and the option
 * parsers; FUZZ_TARGET (set at build time) picks one:
 *   1 open      the input is an image file: open it, then info, block
 *               status over the image, format-specific information
 *   2 read      open, then reads spread across the whole guest disk
 *   3 write     open read-write, writes, zero writes and discards, a
 *               check, a repair and a second check
 *   4 header    the input is the header-extension area behind a valid
 *               version 3 header (the fuzzer spends its time there)
 *   5 options   the input is an option string: keyval, JSON, and a
 *               json: filename opened with the null-co driver only
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Images are real files (in /dev/shm when it is there, else $TMPDIR):
 * the driver runs its real I/O path.  Backing files are not opened, so
 * an input cannot make the target read other files.
 */
#include "util/osdep.h"
#include "block/block_int.h"

#include <fcntl.h>
#include <unistd.h>

#ifndef FUZZ_TARGET
#define FUZZ_TARGET 1
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Largest image the targets accept (libFuzzer's -max_len is smaller). */
#define FUZZ_MAX_IMAGE (4 * 1024 * 1024)
/* Guest bytes a target reads or writes per input, at most. */
#define FUZZ_IO_BUDGET (2 * 1024 * 1024)

static char image_path[256];

static void fuzz_init(void)
{
    static bool done;
    const char *dir = getenv("TMPDIR");

    if (done) {
        return;
    }
    done = true;
    if (access("/dev/shm", W_OK) == 0) {
        dir = "/dev/shm";
    } else if (!dir) {
        dir = "/tmp";
    }
    snprintf(image_path, sizeof(image_path), "%s/coblock-fuzz-%d.img", dir,
             (int)getpid());
    bdrv_init();
}

static QEMU_UNUSED bool write_image(const uint8_t *data, size_t size)
{
    int fd = open(image_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = write(fd, data, size) == (ssize_t)size;
    close(fd);
    return ok;
}

static QEMU_UNUSED BlockBackend *open_image(int flags)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockBackend *blk QEMU_UNUSED;

    qdict_put_str(opts, "driver", "qcow2");
    blk = blk_new_open(image_path, opts, flags | BDRV_O_NO_BACKING, &err);
    if (!blk) {
        error_free(err);
    }
    return blk;
}

/* A small deterministic generator seeded from the input. */
static uint64_t mix(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static QEMU_UNUSED uint64_t seed_of(const uint8_t *data, size_t size)
{
    uint64_t s = 0x9e3779b97f4a7c15ull ^ size;

    for (size_t i = 0; i < size && i < 64; i++) {
        s = (s ^ data[i]) * 0x100000001b3ull;
    }
    return s ? s : 1;
}

static QEMU_UNUSED void info_and_status(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverInfo bdi;
    ImageInfoSpecific *spec;
    Error *err = NULL;
    int64_t len = blk_getlength(blk), off = 0;
    int steps = 0;

    bdrv_get_info(bs, &bdi);
    spec = bdrv_get_specific_info(bs, &err);
    error_free(err);
    image_info_specific_free(spec);
    bdrv_get_allocated_file_size(bs);
    while (len > 0 && off < len && steps++ < 4096) {
        int64_t pnum = 0, map;
        BlockDriverState *file;
        int ret = bdrv_block_status(bs, off, len - off, &pnum, &map, &file);
        if (ret < 0 || pnum <= 0) {
            break;
        }
        off += pnum;
    }
}

static QEMU_UNUSED void reads(BlockBackend *blk, uint64_t seed)
{
    int64_t len = blk_getlength(blk);
    uint8_t *buf = qemu_xmalloc(65536);
    uint64_t budget = FUZZ_IO_BUDGET;

    if (len <= 0) {
        free(buf);
        return;
    }
    /* The start, the end, and spots in between. */
    for (int i = 0; i < 64 && budget; i++) {
        uint64_t n = 1 + mix(&seed) % 65536;
        int64_t off;

        if (i == 0) {
            off = 0;
        } else if (i == 1) {
            off = len > (int64_t)n ? len - (int64_t)n : 0;
        } else {
            off = (int64_t)(mix(&seed) % (uint64_t)len);
        }
        n = MIN(n, (uint64_t)(len - off));
        n = MIN(n, budget);
        blk_pread(blk, off, (int64_t)n, buf, 0);
        budget -= n;
    }
    free(buf);
}

static QEMU_UNUSED void writes(BlockBackend *blk, uint64_t seed)
{
    int64_t len = blk_getlength(blk);
    uint8_t *buf = qemu_xmalloc(65536);
    uint64_t budget = FUZZ_IO_BUDGET;

    if (len <= 0) {
        free(buf);
        return;
    }
    memset(buf, 0xa5, 65536);
    for (int i = 0; i < 24 && budget; i++) {
        uint64_t n = 1 + mix(&seed) % 65536;
        int64_t off = (int64_t)(mix(&seed) % (uint64_t)len);

        n = MIN(n, (uint64_t)(len - off));
        n = MIN(n, budget);
        budget -= n;
        switch (mix(&seed) % 5) {
        case 0:
            blk_pwrite_zeroes(blk, off, (int64_t)n, BDRV_REQ_MAY_UNMAP);
            break;
        case 1:
            blk_pdiscard(blk, off, (int64_t)n);
            break;
        case 2:
            blk_flush(blk);
            break;
        default:
            blk_pwrite(blk, off, (int64_t)n, buf, 0);
            break;
        }
    }
    blk_flush(blk);
    free(buf);
}

static QEMU_UNUSED void check_image(int fix)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockDriverState *bs;
    BdrvCheckResult res;

    qdict_put_str(opts, "driver", "qcow2");
    bs = bdrv_open(image_path, opts,
                   BDRV_O_CHECK | BDRV_O_NO_BACKING | (fix ? BDRV_O_RDWR : 0),
                   &err);
    if (!bs) {
        error_free(err);
        return;
    }
    memset(&res, 0, sizeof(res));
    bdrv_check(bs, &res, fix);
    bdrv_unref(bs);
}

/* A valid version 3 header (64 KiB clusters, 64 MiB, an L1 table and a
 * refcount table in place) for the header-extension target. */
static QEMU_UNUSED size_t build_v3_header(uint8_t *img, size_t cap)
{
    static const struct { size_t off; int len; uint64_t v; } f[] = {
        { 0, 4, 0x514649fb },       /* magic */
        { 4, 4, 3 },                /* version */
        { 20, 4, 16 },              /* cluster bits */
        { 24, 8, 64 * 1024 * 1024 },
        { 36, 4, 1 },               /* L1 size */
        { 40, 8, 0x30000 },         /* L1 offset */
        { 48, 8, 0x10000 },         /* refcount table offset */
        { 56, 4, 1 },               /* refcount table clusters */
        { 96, 4, 4 },               /* refcount order */
        { 100, 4, 104 },            /* header length */
    };
    const size_t size = 4 * 65536;

    if (cap < size) {
        return 0;
    }
    memset(img, 0, size);
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        for (int b = 0; b < f[i].len; b++) {
            img[f[i].off + b] = (uint8_t)(f[i].v >> (8 * (f[i].len - 1 - b)));
        }
    }
    /* refcount table -> block at 0x20000, which counts clusters 0-3 */
    img[0x10000 + 5] = 0x02;
    for (int c = 0; c < 4; c++) {
        img[0x20000 + 2 * c + 1] = 1;
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    BlockBackend *blk QEMU_UNUSED;

    fuzz_init();
#if FUZZ_TARGET == 5
    {
        char *s = qemu_xmalloc(size + 1);
        Error *err = NULL;
        QDict *d;

        memcpy(s, data, size);
        s[size] = '\0';
        d = qdict_parse_keyval(s, "filename", &err);
        error_free(err);
        err = NULL;
        if (d) {
            char *json = qdict_to_json(d);
            free(json);
            qdict_unref(d);
        }
        d = qdict_parse_json(s, &err);
        error_free(err);
        err = NULL;
        if (d) {
            char *json = qdict_to_json(d);
            const char *drv = qdict_get_try_str(d, "driver");
            /* Open only what touches no file and no network. */
            if (drv && !strcmp(drv, "null-co") && !qdict_haskey(d, "file.driver")) {
                BlockDriverState *bs;
                char *fname = qemu_xasprintf("json:%s", s);
                bs = bdrv_open(fname, NULL, 0, &err);
                error_free(err);
                if (bs) {
                    char *disp = bdrv_get_display_filename(bs);
                    free(disp);
                    bdrv_unref(bs);
                }
                free(fname);
            }
            free(json);
            qdict_unref(d);
        }
        free(s);
        return 0;
    }
#else
    if (size > FUZZ_MAX_IMAGE) {
        return 0;
    }
#if FUZZ_TARGET == 4
    {
        static uint8_t img[4 * 65536];
        size_t n = build_v3_header(img, sizeof(img));
        size_t ext = MIN(size, 65536 - 104);

        memcpy(img + 104, data, ext);
        if (!write_image(img, n)) {
            return 0;
        }
    }
#else
    if (!write_image(data, size)) {
        return 0;
    }
#endif
#if FUZZ_TARGET == 3
    blk = open_image(BDRV_O_RDWR | BDRV_O_UNMAP);
    if (blk) {
        writes(blk, seed_of(data, size));
        blk_unref(blk);
    }
    check_image(0);
    check_image(BDRV_FIX_LEAKS | BDRV_FIX_ERRORS);
    check_image(0);
#else
    blk = open_image(0);
    if (blk) {
        info_and_status(blk);
#if FUZZ_TARGET == 2
        reads(blk, seed_of(data, size));
#endif
        blk_unref(blk);
    }
#endif
    unlink(image_path);
    return 0;
#endif
}
