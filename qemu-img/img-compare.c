/*
 * coblock — qemu-img compare
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Compares what a guest would read from two images.  Runs that read as
 * zeroes in both are not read at all; a run that is zero in one image is
 * compared with zeroes; the rest is read from both.  A difference is
 * reported at the start of the first 512-byte sector that differs.  If
 * the sizes differ, the part beyond the smaller image must read as zeroes
 * (-s: sizes and allocation must be the same as well).
 *
 * Exit status: 0 identical, 1 different, 2 an image could not be opened
 * (or bad usage), 3 block status failed, 4 a read failed.
 */
#include "qemu-img/img.h"
#include "block/block_int.h"

#define COMPARE_BUF_SIZE (2 * MiB)

typedef struct CompareImage {
    const char *filename;
    BlockBackend *blk;
    int64_t len;
} CompareImage;

/* Offset of the first sector of @buf (@len bytes at @offset) that is not
 * all zero, or -1. */
static int64_t first_nonzero_sector(const uint8_t *buf, int64_t len,
                                    int64_t offset)
{
    int64_t i = 0;

    while (i < len) {
        /* sectors are counted from the image's start */
        int64_t n = MIN(len - i, (int64_t)BDRV_SECTOR_SIZE -
                        (offset + i) % (int64_t)BDRV_SECTOR_SIZE);
        if (!buffer_is_zero(buf + i, (size_t)n)) {
            return QEMU_ALIGN_DOWN(offset + i, (int64_t)BDRV_SECTOR_SIZE);
        }
        i += n;
    }
    return -1;
}

static int64_t first_diff_sector(const uint8_t *a, const uint8_t *b,
                                 int64_t len, int64_t offset)
{
    int64_t i = 0;

    if (!memcmp(a, b, (size_t)len)) {
        return -1;
    }
    while (i < len) {
        int64_t n = MIN(len - i, (int64_t)BDRV_SECTOR_SIZE -
                        (offset + i) % (int64_t)BDRV_SECTOR_SIZE);
        if (memcmp(a + i, b + i, (size_t)n)) {
            return QEMU_ALIGN_DOWN(offset + i, (int64_t)BDRV_SECTOR_SIZE);
        }
        i += n;
    }
    return -1;
}

static int read_chunk(CompareImage *img, int64_t offset, int64_t bytes,
                      uint8_t *buf)
{
    int ret = blk_pread(img->blk, offset, bytes, buf, 0);

    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, img->filename, strerror(-ret));
        return 4;
    }
    return 0;
}

/* The part of @img beyond @from must read as zeroes. */
static int check_tail_zero(CompareImage *img, int64_t from, uint8_t *buf,
                           bool quiet, int64_t total)
{
    BlockDriverState *bs = blk_bs(img->blk);
    int64_t offset = from;

    while (offset < img->len) {
        int64_t pnum = 0, n = img->len - offset;
        int st = bdrv_block_status_above(bs, NULL, offset, n, &pnum, NULL,
                                         NULL, NULL);
        int64_t bad;

        if (st < 0) {
            error_report("Sector allocation test failed for %s", img->filename);
            return 3;
        }
        if (pnum <= 0 || pnum > n) {
            /* No usable answer: read and look. */
            pnum = n;
            st = 0;
        }
        if (!(st & BDRV_BLOCK_ZERO)) {
            int ret;

            pnum = MIN(pnum, COMPARE_BUF_SIZE);
            ret = read_chunk(img, offset, pnum, buf);
            if (ret) {
                return ret;
            }
            bad = first_nonzero_sector(buf, pnum, offset);
            if (bad >= 0) {
                qprintf(quiet, "Content mismatch at offset %" PRId64 "!\n", bad);
                return 1;
            }
        }
        offset += pnum;
        img_progress_set_done((uint64_t)offset);
    }
    (void)total;
    return 0;
}

int img_compare(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { "progress-json", IMG_OPT_ARG, OPT_PROGRESS_JSON },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt1 = NULL, *fmt2 = NULL, *cache = "writeback";
    bool progress = false, quiet = false, strict = false, image_opts = false;
    bool force_share = false, writethrough = false;
    int json_fd = -1, flags = 0, c, ret = 0;
    CompareImage img[2];
    uint8_t *buf1 = NULL, *buf2 = NULL;
    int64_t common, total, offset;
    int i;

    memset(img, 0, sizeof(img));
    img_getopt_init(&g, "compare");
    while ((c = img_getopt(&g, argc, argv, ":hf:F:T:pqsU", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt1 = g.optarg;
            break;
        case 'F':
            fmt2 = g.optarg;
            break;
        case 'T':
            cache = g.optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_PROGRESS_JSON:
            json_fd = img_parse_progress_fd(g.optarg);
            if (json_fd < 0) {
                return 2;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 2;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (g.optind != argc - 2) {
        img_error_exit("Expecting two image file names");
    }
    img[0].filename = argv[g.optind];
    img[1].filename = argv[g.optind + 1];
    if (!img_parse_cache(cache, &flags, &writethrough, true)) {
        return 2;
    }

    for (i = 0; i < 2; i++) {
        img[i].blk = img_open(image_opts, img[i].filename, i ? fmt2 : fmt1,
                              flags, writethrough, quiet, force_share);
        if (!img[i].blk) {
            ret = 2;
            goto out;
        }
        img[i].len = blk_getlength(img[i].blk);
        if (img[i].len < 0) {
            error_report("Can't get size of %s: %s", img[i].filename,
                         strerror((int)-img[i].len));
            ret = 4;
            goto out;
        }
    }
    buf1 = qemu_memalign(4096, COMPARE_BUF_SIZE);
    buf2 = qemu_memalign(4096, COMPARE_BUF_SIZE);

    img_progress_init(progress, json_fd, "compare", 2.0);
    common = MIN(img[0].len, img[1].len);
    total = MAX(img[0].len, img[1].len);
    img_progress_set_total((uint64_t)total);

    if (strict && img[0].len != img[1].len) {
        qprintf(quiet, "Strict mode: Image size mismatch!\n");
        ret = 1;
        goto out_progress;
    }

    for (offset = 0; offset < common; ) {
        int64_t pnum1 = 0, pnum2 = 0, n, bad;
        int st1, st2;

        n = common - offset;
        st1 = bdrv_block_status_above(blk_bs(img[0].blk), NULL, offset, n,
                                      &pnum1, NULL, NULL, NULL);
        if (st1 < 0) {
            error_report("Sector allocation test failed for %s", img[0].filename);
            ret = 3;
            goto out_progress;
        }
        st2 = bdrv_block_status_above(blk_bs(img[1].blk), NULL, offset, n,
                                      &pnum2, NULL, NULL, NULL);
        if (st2 < 0) {
            error_report("Sector allocation test failed for %s", img[1].filename);
            ret = 3;
            goto out_progress;
        }
        /* An unusable answer means: read and compare. */
        if (pnum1 <= 0 || pnum1 > n) {
            pnum1 = n;
            st1 = BDRV_BLOCK_DATA;
        }
        if (pnum2 <= 0 || pnum2 > n) {
            pnum2 = n;
            st2 = BDRV_BLOCK_DATA;
        }
        n = MIN(pnum1, pnum2);
        if (strict && st1 != st2) {
            qprintf(quiet, "Strict mode: Offset %" PRId64
                    " block status mismatch!\n", offset);
            ret = 1;
            goto out_progress;
        }
        if (!((st1 & BDRV_BLOCK_ZERO) && (st2 & BDRV_BLOCK_ZERO))) {
            n = MIN(n, COMPARE_BUF_SIZE);
        }
        if ((st1 & BDRV_BLOCK_ZERO) && (st2 & BDRV_BLOCK_ZERO)) {
            /* both read as zeroes */
        } else if (st1 & BDRV_BLOCK_ZERO || st2 & BDRV_BLOCK_ZERO) {
            int which = (st1 & BDRV_BLOCK_ZERO) ? 1 : 0;
            ret = read_chunk(&img[which], offset, n, buf1);
            if (ret) {
                goto out_progress;
            }
            bad = first_nonzero_sector(buf1, n, offset);
            if (bad >= 0) {
                qprintf(quiet, "Content mismatch at offset %" PRId64 "!\n", bad);
                ret = 1;
                goto out_progress;
            }
        } else {
            ret = read_chunk(&img[0], offset, n, buf1);
            if (!ret) {
                ret = read_chunk(&img[1], offset, n, buf2);
            }
            if (ret) {
                goto out_progress;
            }
            bad = first_diff_sector(buf1, buf2, n, offset);
            if (bad >= 0) {
                qprintf(quiet, "Content mismatch at offset %" PRId64 "!\n", bad);
                ret = 1;
                goto out_progress;
            }
        }
        offset += n;
        img_progress_set_done((uint64_t)offset);
    }

    if (img[0].len != img[1].len) {
        CompareImage *big = img[0].len > img[1].len ? &img[0] : &img[1];

        qprintf(quiet, "Warning: Image size mismatch!\n");
        ret = check_tail_zero(big, common, buf1, quiet, total);
        if (ret) {
            goto out_progress;
        }
    }
    qprintf(quiet, "Images are identical.\n");
    ret = 0;

out_progress:
    img_progress_end(ret == 0 || ret == 1);
out:
    qemu_vfree(buf1);
    qemu_vfree(buf2);
    for (i = 0; i < 2; i++) {
        blk_unref(img[i].blk);
    }
    return ret;
}
