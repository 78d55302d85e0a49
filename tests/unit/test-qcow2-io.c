/*
 * coblock — a small driver for qcow2 tests: create, write, read, check
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Drives images through the library API (bdrv_create, blk_new_open,
 * blk_pwrite/blk_pread, ...) so that the qcow2 tests can be written as
 * shell scripts that compare our results with QEMU's own qemu-img and
 * qemu-io.  Patterns are filled the way `qemu-io -c 'write -P N'` does
 * (every byte is N), so the two sides can verify each other's data.
 *
 * Usage: test-qcow2-io [OPTIONS] FILE COMMAND [ARGS] [-- COMMAND ...]
 *   -r            open read-only
 *   -n            do not open the backing file
 *   -o OPTS       open options, "key=value,..." (e.g. l2-cache-size=1M)
 *   -N            cache=none, aio=native (O_DIRECT, Linux AIO)
 * Commands (sizes take K/M/G suffixes):
 *   create SIZE [OPTS]          create FILE as qcow2 with -o style OPTS
 *   write OFF LEN PAT           write pattern byte PAT
 *   writec OFF LEN PAT          the same, compressed
 *   zero OFF LEN [unmap]        write zeroes (optionally may unmap)
 *   discard OFF LEN
 *   read OFF LEN PAT            verify; exit status 1 on mismatch
 *   readraw OFF LEN RAWFILE     compare with RAWFILE at the same offset
 *   flush
 *   truncate SIZE [PREALLOC] [shrink]
 *   check [leaks|all]           print the result counters
 *   amend OPTS                  qemu-img amend -o OPTS
 *   measure OPTS [SIZE]         qemu-img measure -O qcow2 -o OPTS: of FILE
 *                               (opened), or of SIZE when FILE is "-"
 *   map                         print block status runs
 *   info                        print size, cluster size, dirty flag
 *   stress SEED NREQ QD SPAN MAXLEN RAWFILE
 *                               QD random writes/zeroes/reads in flight at
 *                               once (never overlapping each other),
 *                               mirrored; reads are checked against the
 *                               mirror, then the whole disk, then RAWFILE
 *                               gets the mirror
 *   crashwriter SEED SPAN       write and flush forever, 16 requests in
 *                               flight (killed by the test)
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/block_int.h"

#include <fcntl.h>
#include <sys/stat.h>

static int open_flags = BDRV_O_RDWR | BDRV_O_UNMAP;  /* as qemu-io */
static QDict *open_opts_template;

static uint64_t parse_size(const char *s)
{
    uint64_t v;

    if (qemu_strtosz(s, NULL, &v) < 0) {
        fprintf(stderr, "bad size '%s'\n", s);
        exit(2);
    }
    return v;
}

static int cmd_create(const char *file, const char *size, const char *opts)
{
    const BlockDriver *drv = bdrv_find_format("qcow2");
    const BlockDriver *proto = bdrv_find_protocol(file, &error_abort);
    QemuOptsList *list = qemu_opts_append(drv->create_opts, proto->create_opts);
    QemuOpts *o = qemu_opts_create(list);
    Error *err = NULL;
    int ret;

    qemu_opt_set(o, "size", size, &error_abort);
    if (opts && *opts && !qemu_opts_do_parse(o, opts, &err)) {
        error_report_err(err);
        return 1;
    }
    ret = bdrv_create(drv, file, o, &err);
    qemu_opts_del(o);
    free(list);
    if (ret < 0) {
        error_report_err(err);
        return 1;
    }
    return 0;
}

static BlockBackend *open_image(const char *file)
{
    QDict *o = open_opts_template ? qdict_clone(open_opts_template) : qdict_new();
    Error *err = NULL;
    BlockBackend *blk;

    if (!qdict_haskey(o, "driver")) {
        qdict_put_str(o, "driver", "qcow2");
    }
    blk = blk_new_open(file, o, open_flags, &err);
    if (!blk) {
        error_report_err(err);
        exit(1);
    }
    return blk;
}

static uint8_t *pattern_buf(uint64_t len, int pat)
{
    uint8_t *b = qemu_memalign(4096, len ? len : 1);
    memset(b, pat, len);
    return b;
}

/* ---- random I/O with a mirror ---- */

typedef struct StressReq {
    QEMUIOVector qiov;
    uint8_t *buf;
    uint8_t *expect;        /* reads: what the mirror held at submission */
    int64_t off, len;
    int kind;
    bool busy;
} StressReq;

static int stress_inflight;
static int stress_errors;

static void stress_cb(void *opaque, int ret)
{
    StressReq *r = opaque;

    if (ret < 0) {
        fprintf(stderr, "request at %" PRId64 "+%" PRId64 " failed: %s\n",
                r->off, r->len, strerror(-ret));
        stress_errors++;
    } else if (r->expect && memcmp(r->buf, r->expect, (size_t)r->len)) {
        fprintf(stderr, "read at %" PRId64 "+%" PRId64 " returned other "
                "data than was written\n", r->off, r->len);
        stress_errors++;
    }
    free(r->expect);
    r->expect = NULL;
    r->busy = false;
    stress_inflight--;
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/*
 * Random requests, QD at a time, over [0, span).  Requests in flight at
 * the same time never overlap (their outcome would be undefined), but
 * they do share clusters, which is what exercises the allocation paths.
 */
static int cmd_stress(BlockBackend *blk, uint64_t seed, int nreq, int qd,
                      uint64_t span, uint64_t maxlen, const char *rawfile)
{
    AioContext *ctx = blk_get_aio_context(blk);
    StressReq *reqs = qemu_new0(StressReq, qd);
    uint8_t *mirror = qemu_xmalloc0(span);
    uint8_t *check = qemu_memalign(4096, span);
    int issued = 0;
    FILE *f;

    rnd_state = seed * 2654435761u + 1;
    /* Start from what the image holds. */
    if (blk_pread(blk, 0, (int64_t)span, check, 0) < 0) {
        fprintf(stderr, "initial read failed\n");
        return 1;
    }
    memcpy(mirror, check, span);

    while (issued < nreq || stress_inflight) {
        for (int i = 0; i < qd && issued < nreq; i++) {
            StressReq *r = &reqs[i];
            int64_t off, len;
            bool overlap = false;
            if (r->busy) {
                continue;
            }
            len = (int64_t)(1 + rnd() % (maxlen / 512)) * 512;
            off = (int64_t)(rnd() % ((span - (uint64_t)len) / 512 + 1)) * 512;
            for (int j = 0; j < qd; j++) {
                if (reqs[j].busy && off < reqs[j].off + reqs[j].len &&
                    reqs[j].off < off + len) {
                    overlap = true;
                }
            }
            if (overlap) {
                continue;
            }
            r->off = off;
            r->len = len;
            r->kind = (int)(rnd() % 12);
            r->busy = true;
            stress_inflight++;
            issued++;
            if (r->kind >= 10) {
                /* A read of a range nothing in flight writes: it must see
                 * exactly what the mirror holds, whatever the allocations,
                 * frees and reuses going on around it. */
                qemu_vfree(r->buf);
                r->buf = qemu_memalign(4096, (size_t)len);
                r->expect = qemu_xmalloc((size_t)len);
                memcpy(r->expect, mirror + off, (size_t)len);
                qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)len);
                blk_aio_preadv(blk, off, &r->qiov, 0, stress_cb, r);
            } else if (r->kind < 8) {
                int pat = (int)(rnd() % 255) + 1;
                qemu_vfree(r->buf);
                r->buf = pattern_buf((uint64_t)len, pat);
                /* Vary within the request so that misplaced pieces show. */
                for (int64_t k = 0; k < len; k += 512) {
                    r->buf[k] = (uint8_t)((off + k) >> 9);
                }
                memcpy(mirror + off, r->buf, (size_t)len);
                qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)len);
                blk_aio_pwritev(blk, off, &r->qiov, 0, stress_cb, r);
            } else if (r->kind == 8) {
                memset(mirror + off, 0, (size_t)len);
                blk_aio_pwrite_zeroes(blk, off, len,
                                      (rnd() & 1) ? BDRV_REQ_MAY_UNMAP : 0,
                                      stress_cb, r);
            } else {
                /* Discard leaves the contents undefined: zero it first so
                 * that the mirror stays exact either way. */
                r->kind = 8;
                memset(mirror + off, 0, (size_t)len);
                blk_aio_pwrite_zeroes(blk, off, len, BDRV_REQ_MAY_UNMAP,
                                      stress_cb, r);
            }
        }
        aio_poll(ctx, true);
    }
    if (stress_errors) {
        return 1;
    }
    if (blk_flush(blk) < 0 || blk_pread(blk, 0, (int64_t)span, check, 0) < 0) {
        fprintf(stderr, "final read failed\n");
        return 1;
    }
    for (uint64_t i = 0; i < span; i++) {
        if (check[i] != mirror[i]) {
            fprintf(stderr, "mismatch at %" PRIu64 ": %02x != %02x\n", i,
                    check[i], mirror[i]);
            return 1;
        }
    }
    if (rawfile) {
        f = fopen(rawfile, "wb");
        if (!f || fwrite(mirror, 1, span, f) != span || fclose(f) != 0) {
            fprintf(stderr, "could not write %s\n", rawfile);
            return 1;
        }
    }
    for (int i = 0; i < qd; i++) {
        qemu_vfree(reqs[i].buf);
    }
    free(reqs);
    free(mirror);
    qemu_vfree(check);
    return 0;
}

/* Allocating writes, zero writes, discards and flushes, 16 in flight at
 * a time (so that allocations of the same clusters overlap), until
 * killed.  The data means nothing: the test only checks the metadata
 * after the kill. */
typedef struct CrashReq {
    QEMUIOVector qiov;
    bool busy;
} CrashReq;

static void crash_cb(void *opaque, int ret)
{
    CrashReq *r = opaque;

    if (ret < 0) {
        fprintf(stderr, "crashwriter: %s\n", strerror(-ret));
        exit(1);
    }
    r->busy = false;
}

static int cmd_crashwriter(BlockBackend *blk, uint64_t seed, uint64_t span)
{
    uint8_t *buf = pattern_buf(256 * KiB, 0x5a);
    CrashReq reqs[16];
    AioContext *ctx = blk_get_aio_context(blk);

    memset(reqs, 0, sizeof(reqs));
    rnd_state = seed * 2654435761u + 7;
    for (;;) {
        for (int i = 0; i < 16; i++) {
            CrashReq *r = &reqs[i];
            int64_t len, off;
            int kind;
            if (r->busy) {
                continue;
            }
            len = (int64_t)(1 + rnd() % 128) * 2048;
            off = (int64_t)(rnd() % ((span - (uint64_t)len) / 512)) * 512;
            kind = (int)(rnd() % 32);
            r->busy = true;
            if (kind < 24) {
                qemu_iovec_init_buf(&r->qiov, buf, (size_t)len);
                blk_aio_pwritev(blk, off, &r->qiov, 0, crash_cb, r);
            } else if (kind < 27) {
                blk_aio_pwrite_zeroes(blk, off, len, BDRV_REQ_MAY_UNMAP,
                                      crash_cb, r);
            } else if (kind < 30) {
                blk_aio_pdiscard(blk, off, len, crash_cb, r);
            } else {
                blk_aio_flush(blk, crash_cb, r);
            }
        }
        aio_poll(ctx, true);
    }
    return 0;   /* not reached */
}

static int cmd_check(BlockBackend *blk, const char *mode)
{
    BdrvCheckResult res;
    int fix = 0;
    int ret;

    if (mode && !strcmp(mode, "leaks")) {
        fix = BDRV_FIX_LEAKS;
    } else if (mode && !strcmp(mode, "all")) {
        fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
    }
    ret = bdrv_check(blk_bs(blk), &res, fix);
    printf("check: ret=%d corruptions=%d leaks=%d check_errors=%d "
           "corruptions_fixed=%d leaks_fixed=%d image_end_offset=%" PRId64
           " allocated=%" PRIu64 " total=%" PRIu64 " fragmented=%" PRIu64
           " compressed=%" PRIu64 "\n", ret, res.corruptions, res.leaks,
           res.check_errors, res.corruptions_fixed, res.leaks_fixed,
           res.image_end_offset, res.bfi.allocated_clusters,
           res.bfi.total_clusters, res.bfi.fragmented_clusters,
           res.bfi.compressed_clusters);
    if (ret < 0 || res.check_errors) {
        return 1;
    }
    return (res.corruptions - res.corruptions_fixed) ||
           (res.leaks - res.leaks_fixed) ? 2 : 0;
}

static int cmd_map(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t len = blk_getlength(blk);
    int64_t off = 0;

    while (off < len) {
        int64_t pnum = 0, map = 0;
        BlockDriverState *file = NULL;
        int ret = bdrv_block_status(bs, off, len - off, &pnum, &map, &file);
        if (ret < 0) {
            fprintf(stderr, "block status: %s\n", strerror(-ret));
            return 1;
        }
        printf("%" PRId64 " %" PRId64 " %s%s%s%s", off, pnum,
               ret & BDRV_BLOCK_DATA ? "data " : "",
               ret & BDRV_BLOCK_ZERO ? "zero " : "",
               ret & BDRV_BLOCK_ALLOCATED ? "allocated " : "",
               ret & BDRV_BLOCK_OFFSET_VALID ? "offset" : "");
        if (ret & BDRV_BLOCK_OFFSET_VALID) {
            printf(" %" PRId64, map);
        }
        printf("\n");
        off += pnum;
    }
    return 0;
}

static int run(BlockBackend **blkp, const char *file, int argc, char **argv)
{
    const char *cmd = argv[0];
    BlockBackend *blk;
    Error *err = NULL;
    int ret = 0;

#define NEED(n) do { if (argc < (n) + 1) { \
        fprintf(stderr, "%s: missing arguments\n", cmd); return 2; } } while (0)

    if (!strcmp(cmd, "create")) {
        NEED(1);
        return cmd_create(file, argv[1], argc > 2 ? argv[2] : NULL);
    }
    if (!strcmp(cmd, "measure")) {
        const BlockDriver *drv = bdrv_find_format("qcow2");
        QemuOpts *o = qemu_opts_create(drv->create_opts);
        BlockMeasureInfo *mi;
        NEED(1);
        if (*argv[1] && !qemu_opts_do_parse(o, argv[1], &err)) {
            error_report_err(err);
            return 1;
        }
        if (argc > 2) {
            qemu_opt_set(o, "size", argv[2], &error_abort);
        }
        if (strcmp(file, "-") && !*blkp) {
            *blkp = open_image(file);
        }
        mi = bdrv_measure(drv, o, *blkp ? blk_bs(*blkp) : NULL, &err);
        qemu_opts_del(o);
        if (!mi) {
            error_report_err(err);
            return 1;
        }
        printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64
               "\n", mi->required, mi->fully_allocated);
        free(mi);
        return 0;
    }
    if (!*blkp) {
        *blkp = open_image(file);
    }
    blk = *blkp;

    if (!strcmp(cmd, "write") || !strcmp(cmd, "writec")) {
        uint64_t off, len;
        uint8_t *b;
        NEED(3);
        off = parse_size(argv[1]);
        len = parse_size(argv[2]);
        b = pattern_buf(len, atoi(argv[3]));
        ret = blk_pwrite(blk, (int64_t)off, (int64_t)len, b,
                         cmd[5] == 'c' ? BDRV_REQ_WRITE_COMPRESSED : 0);
        qemu_vfree(b);
    } else if (!strcmp(cmd, "zero")) {
        NEED(2);
        ret = blk_pwrite_zeroes(blk, (int64_t)parse_size(argv[1]),
                                (int64_t)parse_size(argv[2]),
                                argc > 3 ? BDRV_REQ_MAY_UNMAP : 0);
    } else if (!strcmp(cmd, "discard")) {
        NEED(2);
        ret = blk_pdiscard(blk, (int64_t)parse_size(argv[1]),
                           (int64_t)parse_size(argv[2]));
    } else if (!strcmp(cmd, "read")) {
        uint64_t off, len;
        uint8_t *b, *want;
        NEED(3);
        off = parse_size(argv[1]);
        len = parse_size(argv[2]);
        b = qemu_memalign(4096, len ? len : 1);
        want = pattern_buf(len, atoi(argv[3]));
        ret = blk_pread(blk, (int64_t)off, (int64_t)len, b, 0);
        if (ret == 0 && memcmp(b, want, len)) {
            for (uint64_t i = 0; i < len; i++) {
                if (b[i] != want[i]) {
                    fprintf(stderr, "pattern mismatch at %" PRIu64
                            ": %02x != %02x\n", off + i, b[i], want[i]);
                    break;
                }
            }
            ret = 1;
        }
        qemu_vfree(b);
        qemu_vfree(want);
        if (ret == 1) {
            return 1;
        }
    } else if (!strcmp(cmd, "readraw")) {
        uint64_t off, len;
        uint8_t *b, *want;
        FILE *f;
        NEED(3);
        off = parse_size(argv[1]);
        len = parse_size(argv[2]);
        b = qemu_memalign(4096, len ? len : 1);
        want = qemu_xmalloc0(len ? len : 1);
        f = fopen(argv[3], "rb");
        if (!f || fseeko(f, (off_t)off, SEEK_SET) != 0) {
            fprintf(stderr, "cannot read %s\n", argv[3]);
            return 1;
        }
        if (fread(want, 1, len, f) == 0 && len) {
            /* past its end: zeroes */
        }
        fclose(f);
        ret = blk_pread(blk, (int64_t)off, (int64_t)len, b, 0);
        if (ret == 0 && memcmp(b, want, len)) {
            for (uint64_t i = 0; i < len; i++) {
                if (b[i] != want[i]) {
                    fprintf(stderr, "mismatch with %s at %" PRIu64
                            ": %02x != %02x\n", argv[3], off + i, b[i],
                            want[i]);
                    break;
                }
            }
            ret = 1;
        }
        qemu_vfree(b);
        free(want);
        if (ret == 1) {
            return 1;
        }
    } else if (!strcmp(cmd, "flush")) {
        ret = blk_flush(blk);
    } else if (!strcmp(cmd, "truncate")) {
        PreallocMode pm = PREALLOC_MODE_OFF;
        NEED(1);
        if (argc > 2) {
            static const char *const names[] = { "off", "metadata", "falloc",
                                                 "full" };
            for (int i = 0; i < 4; i++) {
                if (!strcmp(argv[2], names[i])) {
                    pm = (PreallocMode)i;
                }
            }
        }
        ret = blk_truncate(blk, (int64_t)parse_size(argv[1]), false, pm, 0,
                           &err);
        if (ret < 0) {
            error_report_err(err);
            return 1;
        }
    } else if (!strcmp(cmd, "amend")) {
        const BlockDriver *drv = bdrv_find_format("qcow2");
        QemuOpts *o = qemu_opts_create(drv->amend_opts);
        NEED(1);
        if (!qemu_opts_do_parse(o, argv[1], &err) ||
            bdrv_amend_options(blk_bs(blk), o, false, &err) < 0) {
            qemu_opts_del(o);
            error_report_err(err);
            return 1;
        }
        qemu_opts_del(o);
    } else if (!strcmp(cmd, "check")) {
        return cmd_check(blk, argc > 1 ? argv[1] : NULL);
    } else if (!strcmp(cmd, "map")) {
        return cmd_map(blk);
    } else if (!strcmp(cmd, "info")) {
        BlockDriverInfo bdi;
        bdrv_get_info(blk_bs(blk), &bdi);
        printf("size=%" PRId64 " cluster_size=%d dirty=%d\n",
               blk_getlength(blk), bdi.cluster_size, bdi.is_dirty);
    } else if (!strcmp(cmd, "stress")) {
        NEED(6);
        return cmd_stress(blk, parse_size(argv[1]), atoi(argv[2]),
                          atoi(argv[3]), parse_size(argv[4]),
                          parse_size(argv[5]), argv[6]);
    } else if (!strcmp(cmd, "crashwriter")) {
        NEED(2);
        return cmd_crashwriter(blk, parse_size(argv[1]), parse_size(argv[2]));
    } else {
        fprintf(stderr, "unknown command '%s'\n", cmd);
        return 2;
    }
    if (ret < 0) {
        fprintf(stderr, "%s failed: %s\n", cmd, strerror(-ret));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    BlockBackend *blk = NULL;
    const char *file;
    int opt, ret = 0;

    error_set_progname(argv[0]);
    bdrv_init();
    while ((opt = getopt(argc, argv, "+rno:N")) != -1) {
        switch (opt) {
        case 'r':
            open_flags &= ~BDRV_O_RDWR;
            break;
        case 'n':
            open_flags |= BDRV_O_NO_BACKING;
            break;
        case 'N':
            open_flags |= BDRV_O_NOCACHE | BDRV_O_NATIVE_AIO;
            break;
        case 'o': {
            Error *err = NULL;
            open_opts_template = qdict_parse_keyval(optarg, NULL, &err);
            if (!open_opts_template) {
                error_report_err(err);
                return 2;
            }
            break;
        }
        default:
            return 2;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "usage: %s [-r] [-n] [-N] [-o OPTS] FILE COMMAND "
                "[ARGS] [-- COMMAND ...]\n", argv[0]);
        return 2;
    }
    file = argv[optind++];
    while (optind < argc && ret == 0) {
        int end = optind;
        while (end < argc && strcmp(argv[end], "--")) {
            end++;
        }
        ret = run(&blk, file, end - optind, argv + optind);
        optind = end + 1;
    }
    if (blk) {
        blk_unref(blk);
    }
    qdict_unref(open_opts_template);
    return ret;
}
