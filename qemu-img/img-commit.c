/*
 * coblock — qemu-img commit and rebase
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * commit copies what the layers above a base image hold into the base.
 * Backing files are opened read-only by the block layer, so the base is
 * opened a second time, read-write, as an image of its own, and the top
 * image is opened with its chain cut just above the base: nothing holds
 * the base read-only while it is written (which the image locks would
 * refuse anyway).
 *
 * rebase changes the backing file of an image.  In safe mode, wherever
 * the image itself holds nothing, the old backing chain's contents (what
 * the image reads there now) are compared with the new backing file's,
 * and whatever differs is copied into the image first, so that its
 * contents stay the same; -u only rewrites the header.
 */
#include "qemu-img/img.h"
#include "util/cutils.h"
#include "block/block_int.h"

#define COPY_BUF_SIZE (2 * MiB)

/* ---- commit ---- */

typedef struct CommitChain {
    int depth;              /* of the base below the top (1 = its backing) */
    char *base_filename;    /* as the chain opened it */
    char *base_format;
} CommitChain;

/* Does @name designate @bs?  Compared as given, then as files. */
static bool names_node(BlockDriverState *bs, const char *name,
                       const char *top_filename)
{
    char *full;
    bool same;

    if (!strcmp(bs->filename, name)) {
        return true;
    }
    if (!path_is_absolute(name) && !strchr(name, ':')) {
        full = path_combine(top_filename, name);
        same = !strcmp(bs->filename, full);
        free(full);
        if (same) {
            return true;
        }
    }
    return false;
}

/* Find the base in the chain of @filename: @base_name, or the top's
 * backing file. */
static int commit_find_base(bool image_opts, const char *filename,
                            const char *fmt, const char *base_name,
                            CommitChain *cc)
{
    BlockBackend *blk;
    BlockDriverState *bs, *p;
    int depth = 0;

    /* Read-write, as the commit itself will need it: an image that cannot
     * be written (marked corrupt, say) is refused before its chain is
     * looked at, as QEMU does. */
    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR, false, false,
                   false);
    if (!blk) {
        return -1;
    }
    bs = blk_bs(blk);
    if (!bdrv_backing_bs(bs)) {
        error_report("Image does not have a backing file");
        blk_unref(blk);
        return -1;
    }
    for (p = bdrv_backing_bs(bs), depth = 1; p;
         p = bdrv_backing_bs(p), depth++) {
        if (!base_name || names_node(p, base_name, bs->filename)) {
            break;
        }
    }
    if (!p) {
        error_report("Did not find '%s' in the backing chain of '%s'",
                     base_name, filename);
        blk_unref(blk);
        return -1;
    }
    cc->depth = depth;
    cc->base_filename = qemu_xstrdup(p->filename);
    cc->base_format = qemu_xstrdup(bdrv_get_format_name(p));
    blk_unref(blk);
    return 0;
}

typedef struct CommitCo {
    BlockBackend *top, *base;
    int64_t len;
    int ret;
    char *errmsg;
    bool done;
} CommitCo;

static void coroutine_fn commit_co(void *opaque)
{
    CommitCo *c = opaque;
    BlockDriverState *top = blk_bs(c->top);
    uint8_t *buf = qemu_try_memalign(4096, COPY_BUF_SIZE);
    int64_t offset = 0, pnum;
    int ret;

    if (!buf) {
        c->ret = -ENOMEM;
        c->errmsg = qemu_xstrdup("Out of memory");
        goto out;
    }
    while (offset < c->len) {
        int64_t n = MIN(c->len - offset, 1 * GiB);

        /* The top's chain ends above the base: anything allocated in it
         * belongs into the base. */
        ret = bdrv_co_is_allocated_above(top, NULL, true, offset, n, &pnum);
        if (ret < 0) {
            c->errmsg = qemu_xasprintf("Could not read allocation status at "
                                       "byte %" PRId64 ": %s", offset,
                                       strerror(-ret));
            c->ret = ret;
            goto out;
        }
        if (pnum <= 0 || pnum > n) {
            /* No usable answer: copy the range, which is always right. */
            pnum = n;
            ret = 1;
        }
        if (ret) {
            int64_t done = 0;
            while (done < pnum) {
                int64_t m = MIN(pnum - done, COPY_BUF_SIZE);
                int64_t st_n = 0;
                int st = bdrv_co_block_status_above(top, NULL, true,
                                                    offset + done, m, &st_n,
                                                    NULL, NULL, NULL);
                if (st >= 0 && st_n > 0 && (st & BDRV_BLOCK_ZERO)) {
                    m = st_n;
                    ret = blk_co_pwrite_zeroes(c->base, offset + done, m,
                                               BDRV_REQ_MAY_UNMAP);
                } else {
                    if (st >= 0 && st_n > 0) {
                        m = MIN(m, st_n);
                    }
                    ret = blk_co_pread(c->top, offset + done, m, buf, 0);
                    if (ret < 0) {
                        c->errmsg = qemu_xasprintf("error while reading at "
                                                   "byte %" PRId64 ": %s",
                                                   offset + done,
                                                   strerror(-ret));
                        c->ret = ret;
                        goto out;
                    }
                    ret = blk_co_pwrite(c->base, offset + done, m, buf, 0);
                }
                if (ret < 0) {
                    c->errmsg = qemu_xasprintf("error while writing at byte %"
                                               PRId64 ": %s", offset + done,
                                               strerror(-ret));
                    c->ret = ret;
                    goto out;
                }
                done += m;
                img_progress_set_done((uint64_t)(offset + done));
            }
        }
        offset += pnum;
        img_progress_set_done((uint64_t)offset);
    }
    ret = blk_co_flush(c->base);
    if (ret < 0) {
        c->errmsg = qemu_xasprintf("Could not flush the base image: %s",
                                   strerror(-ret));
        c->ret = ret;
    }
out:
    qemu_vfree(buf);
    c->done = true;
}

int img_commit(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "progress-json", IMG_OPT_ARG, OPT_PROGRESS_JSON },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *cache = "writeback", *base = NULL, *filename;
    bool quiet = false, progress = false, drop = false, image_opts = false;
    bool writethrough = false;
    int json_fd = -1, flags = BDRV_O_RDWR | BDRV_O_UNMAP, c, ret = 1;
    CommitChain cc = { 0 };
    BlockBackend *top = NULL, *base_blk = NULL;
    QDict *opts;
    CommitCo co = { 0 };
    Error *err = NULL;
    char *key = NULL;
    int i;

    img_getopt_init(&g, "commit");
    while ((c = img_getopt(&g, argc, argv, ":f:ht:b:dpqr:", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 't':
            cache = g.optarg;
            break;
        case 'b':
            base = g.optarg;
            /* a base other than the backing file keeps the top's data */
            drop = true;
            break;
        case 'd':
            drop = true;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            if (img_cvtnum_full("rate limit", g.optarg, 0, INT64_MAX) < 0) {
                return 1;
            }
            /* accepted; the copy is not throttled */
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_PROGRESS_JSON:
            json_fd = img_parse_progress_fd(g.optarg);
            if (json_fd < 0) {
                return 1;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (g.optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[g.optind];
    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        return 1;
    }

    if (commit_find_base(image_opts, filename, fmt, base, &cc) < 0) {
        goto out;
    }
    /* The base, read-write, with its own backing chain below it. */
    base_blk = img_open(false, cc.base_filename, cc.base_format, flags,
                        writethrough, quiet, false);
    if (!base_blk) {
        goto out;
    }
    /* The top, with its chain cut above the base. */
    opts = qdict_new();
    key = qemu_xstrdup("backing");
    for (i = 1; i < cc.depth; i++) {
        char *k = qemu_xasprintf("backing.%s", key);
        free(key);
        key = k;
    }
    qdict_put_null(opts, key);
    top = img_open_opts(image_opts, filename, fmt, opts,
                        drop ? (flags & ~BDRV_O_RDWR) : flags,
                        writethrough, quiet, false);
    if (!top) {
        goto out;
    }

    co.top = top;
    co.base = base_blk;
    co.len = blk_getlength(top);
    if (co.len < 0) {
        error_report("Could not get the size of '%s': %s", filename,
                     strerror((int)-co.len));
        goto out;
    }
    {
        int64_t blen = blk_getlength(base_blk);
        if (blen >= 0 && blen < co.len &&
            blk_truncate(base_blk, co.len, false, PREALLOC_MODE_OFF, 0,
                         &err) < 0) {
            error_report_err(err);
            goto out;
        }
    }

    img_progress_init(progress, json_fd, "commit", 1.0);
    img_progress_set_total((uint64_t)co.len);
    bdrv_run_co(blk_get_aio_context(top), commit_co, &co, &co.done);
    if (co.ret < 0) {
        img_progress_end(false);
        error_report("%s", co.errmsg);
        free(co.errmsg);
        goto out;
    }
    img_progress_finish();
    img_progress_end(true);

    if (!drop) {
        if (bdrv_make_empty(blk_bs(top), &err) < 0) {
            error_report_err(err);
            goto out;
        }
    }
    qprintf(quiet, "Image committed.\n");
    ret = 0;
out:
    blk_unref(top);
    blk_unref(base_blk);
    free(cc.base_filename);
    free(cc.base_format);
    free(key);
    return ret;
}

/* ---- rebase ---- */

typedef struct RebaseCo {
    BlockBackend *blk;          /* the image, reading through the old chain */
    bool has_old_backing;       /* without one, the old contents are zeroes */
    BlockBackend *new_backing;  /* NULL: none (reads as zeroes) */
    int64_t len, new_len;
    int ret;
    char *errmsg;
    bool done;
} RebaseCo;

/* Write the sectors of [offset, offset + n) where @old and @new differ. */
static int coroutine_fn rebase_write_diff(RebaseCo *r, int64_t offset,
                                          int64_t n, uint8_t *old,
                                          const uint8_t *new)
{
    int64_t pos = 0;

    while (pos < n) {
        int64_t start, len;

        while (pos < n && !memcmp(old + pos, new + pos,
                                  (size_t)MIN((int64_t)BDRV_SECTOR_SIZE,
                                              n - pos))) {
            pos += MIN((int64_t)BDRV_SECTOR_SIZE, n - pos);
        }
        start = pos;
        while (pos < n && memcmp(old + pos, new + pos,
                                 (size_t)MIN((int64_t)BDRV_SECTOR_SIZE,
                                             n - pos))) {
            pos += MIN((int64_t)BDRV_SECTOR_SIZE, n - pos);
        }
        len = pos - start;
        if (len) {
            /* With no old backing file the old contents are known zeroes:
             * zero clusters (as QEMU does); otherwise the data as read. */
            int ret = !r->has_old_backing
                ? blk_co_pwrite_zeroes(r->blk, offset + start, len, 0)
                : blk_co_pwrite(r->blk, offset + start, len, old + start, 0);
            if (ret < 0) {
                r->errmsg = qemu_xasprintf("error while writing at byte %"
                                           PRId64 ": %s", offset + start,
                                           strerror(-ret));
                return ret;
            }
        }
    }
    return 0;
}

static void coroutine_fn rebase_co(void *opaque)
{
    RebaseCo *r = opaque;
    BlockDriverState *bs = blk_bs(r->blk);
    uint8_t *old = qemu_try_memalign(4096, COPY_BUF_SIZE);
    uint8_t *new = qemu_try_memalign(4096, COPY_BUF_SIZE);
    int64_t offset;
    int ret = 0;

    if (!old || !new) {
        ret = -ENOMEM;
        r->errmsg = qemu_xstrdup("Out of memory");
        goto out;
    }
    for (offset = 0; offset < r->len; ) {
        int64_t n = MIN(r->len - offset, COPY_BUF_SIZE), chunk_end;

        chunk_end = offset + n;
        while (offset < chunk_end) {
            int64_t pnum = 0, m;

            ret = bdrv_co_is_allocated(bs, offset, chunk_end - offset, &pnum);
            if (ret < 0) {
                r->errmsg = qemu_xasprintf("error while reading image "
                                           "metadata: %s", strerror(-ret));
                goto out;
            }
            if (pnum <= 0) {
                pnum = chunk_end - offset;
            }
            m = pnum;
            if (!ret) {
                /* Not in the image itself: what the old chain gives must
                 * stay what the new one gives. */
                ret = blk_co_pread(r->blk, offset, m, old, 0);
                if (ret < 0) {
                    r->errmsg = qemu_xasprintf("error while reading at byte %"
                                               PRId64 ": %s", offset,
                                               strerror(-ret));
                    goto out;
                }
                memset(new, 0, (size_t)m);
                if (r->new_backing && offset < r->new_len) {
                    int64_t k = MIN(m, r->new_len - offset);
                    ret = blk_co_pread(r->new_backing, offset, k, new, 0);
                    if (ret < 0) {
                        r->errmsg = qemu_xasprintf("error while reading at "
                                                   "byte %" PRId64 " of the new "
                                                   "backing file: %s", offset,
                                                   strerror(-ret));
                        goto out;
                    }
                }
                ret = rebase_write_diff(r, offset, m, old, new);
                if (ret < 0) {
                    goto out;
                }
            }
            ret = 0;
            offset += m;
        }
        img_progress_set_done((uint64_t)offset);
    }
out:
    qemu_vfree(old);
    qemu_vfree(new);
    r->ret = ret;
    r->done = true;
}

int img_rebase(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { "progress-json", IMG_OPT_ARG, OPT_PROGRESS_JSON },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *cache = "writeback", *src_cache = "writeback";
    const char *out_base = NULL, *out_basefmt = NULL, *filename;
    bool unsafe = false, progress = false, quiet = false, image_opts = false;
    bool force_share = false, writethrough = false, src_writethrough = false;
    int json_fd = -1, flags = BDRV_O_RDWR, src_flags = 0, c, ret = 1;
    BlockBackend *blk = NULL, *new_backing = NULL;
    BlockDriverState *bs;
    Error *err = NULL;

    img_getopt_init(&g, "rebase");
    while ((c = img_getopt(&g, argc, argv, ":hf:F:b:upt:T:qU", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'F':
            out_basefmt = g.optarg;
            break;
        case 'b':
            out_base = g.optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            cache = g.optarg;
            break;
        case 'T':
            src_cache = g.optarg;
            break;
        case 'q':
            quiet = true;
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
                return 1;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (g.optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    if (!unsafe && !out_base) {
        img_error_exit("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    filename = argv[g.optind];
    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        return 1;
    }
    if (!img_parse_cache(src_cache, &src_flags, &src_writethrough, true)) {
        return 1;
    }
    if (unsafe) {
        flags |= BDRV_O_NO_BACKING;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet, false);
    if (!blk) {
        goto out;
    }
    bs = blk_bs(blk);

    /* QEMU checks the name before it looks at the backing file at all,
     * with -u too. */
    if (out_basefmt && !bdrv_find_format(out_basefmt)) {
        error_report("Invalid format name: '%s'", out_basefmt);
        goto out;
    }

    if (!unsafe && out_base[0]) {
        char *path;
        QDict *opts = qdict_new();

        if (path_is_absolute(out_base) || strchr(out_base, ':')) {
            path = qemu_xstrdup(out_base);
        } else {
            path = path_combine(bs->filename, out_base);
        }
        if (out_basefmt) {
            qdict_put_str(opts, "driver", out_basefmt);
        }
        if (force_share) {
            qdict_put_bool(opts, "force-share", true);
        }
        new_backing = blk_new_open_noprefix(path, opts, src_flags, &err);
        free(path);
        if (!new_backing) {
            error_prepend(&err, "Could not open new backing file '%s': ",
                          out_base);
            error_report_err(err);
            goto out;
        }
    }

    if (!unsafe) {
        RebaseCo r = { .blk = blk, .new_backing = new_backing };

        r.has_old_backing = bdrv_backing_bs(bs) != NULL;

        r.len = blk_getlength(blk);
        if (r.len < 0) {
            error_report("Could not get size of '%s': %s", filename,
                         strerror((int)-r.len));
            goto out;
        }
        r.new_len = new_backing ? blk_getlength(new_backing) : 0;
        if (r.new_len < 0) {
            error_report("Could not get size of '%s': %s", out_base,
                         strerror((int)-r.new_len));
            goto out;
        }
        img_progress_init(progress, json_fd, "rebase", 1.0);
        img_progress_set_total((uint64_t)r.len);
        bdrv_run_co(blk_get_aio_context(blk), rebase_co, &r, &r.done);
        if (r.ret < 0) {
            img_progress_end(false);
            error_report("%s", r.errmsg);
            free(r.errmsg);
            goto out;
        }
    } else {
        img_progress_init(progress, json_fd, "rebase", 1.0);
    }

    /* The header: "" removes the backing file. */
    if (out_base && out_base[0] && !out_basefmt) {
        img_progress_end(false);
        error_report("Could not change the backing file to '%s': backing format "
                     "must be specified", out_base);
        goto out;
    }
    if (!bs->drv->change_backing_file) {
        img_progress_end(false);
        error_report("Could not change the backing file to '%s': %s",
                     out_base ? out_base : "", strerror(ENOTSUP));
        goto out;
    }
    if (bdrv_change_backing_file(bs, out_base && out_base[0] ? out_base : NULL,
                                 out_base && out_base[0] ? out_basefmt : NULL,
                                 &err) < 0) {
        img_progress_end(false);
        error_report_err(err);
        goto out;
    }
    img_progress_finish();
    img_progress_end(true);
    ret = 0;
out:
    blk_unref(new_backing);
    blk_unref(blk);
    return ret;
}
