/*
 * coblock — log-writes: a filter that records, in order, every write,
 * zero write, discard, resize and flush that reaches its child
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * In the spirit of Linux's dm-log-writes: put it between a format and
 * its file and a crash-consistency replayer can rebuild the file as it
 * stood after any prefix of the writes, or with the writes since the
 * last flush reordered or dropped, as a disk with a volatile cache may
 * leave it (tests/reliability/crash-replay.c).
 *
 * Options: driver=log-writes, log=PATH (the log, created or
 * truncated), image.* or x-image=NAME (the child).
 *
 * The log is a sequence of records, each a LogWritesRecord header in
 * little-endian order followed, for writes, by the data.  A write is
 * recorded when it has completed (a write that failed is recorded as
 * well, as a write whose bytes may or may not have landed, since a
 * failing disk may have written part of it); a flush is recorded when
 * it is issued, so that the writes recorded before it are exactly those
 * it makes stable.  Marks are written by the program that drives the
 * node (log_writes_mark()), to tie guest-visible events to positions in
 * the log.
 */
#include "util/osdep.h"
#include "block/block_int.h"
#include "block/log-writes.h"

typedef struct BDRVLogWritesState {
    FILE *log;
    uint64_t records;
    int error;              /* the first error writing the log */
} BDRVLogWritesState;

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void log_record(BlockDriverState *bs, uint32_t type, uint32_t flags,
                       uint64_t offset, uint64_t len, QEMUIOVector *qiov)
{
    BDRVLogWritesState *s = bs->opaque;
    uint8_t hdr[LOG_WRITES_RECORD_SIZE];

    if (!s->log || s->error) {
        return;
    }
    put_le32(hdr, LOG_WRITES_MAGIC);
    put_le32(hdr + 4, type);
    put_le32(hdr + 8, flags);
    put_le32(hdr + 12, 0);
    put_le64(hdr + 16, offset);
    put_le64(hdr + 24, len);
    if (fwrite(hdr, sizeof(hdr), 1, s->log) != 1) {
        s->error = EIO;
        return;
    }
    if (qiov) {
        for (int i = 0; i < qiov->niov; i++) {
            if (qiov->iov[i].iov_len &&
                fwrite(qiov->iov[i].iov_base, qiov->iov[i].iov_len, 1,
                       s->log) != 1) {
                s->error = EIO;
                return;
            }
        }
    }
    s->records++;
}

void log_writes_mark(BlockDriverState *bs, uint64_t tag)
{
    while (bs && bs->drv && strcmp(bs->drv->format_name, "log-writes")) {
        bs = bs->file ? bs->file->bs : NULL;
    }
    if (bs && bs->drv) {
        log_record(bs, LOG_WRITES_MARK, 0, tag, 0, NULL);
        fflush(((BDRVLogWritesState *)bs->opaque)->log);
    }
}

static int log_writes_open(BlockDriverState *bs, QDict *options, int flags,
                           Error **errp)
{
    BDRVLogWritesState *s = bs->opaque;
    char *log = bdrv_opt_take_str(options, "log");
    char *image = bdrv_opt_take_str(options, "x-image");
    QDict *image_opts = NULL;
    BdrvChild *child;
    int ret = -EINVAL;

    qdict_extract_subqdict(options, &image_opts, "image");
    if (!log) {
        error_setg(errp, "Parameter 'log' is required");
        goto out;
    }
    child = bdrv_open_image_child(bs, image, image_opts, flags, errp);
    image_opts = NULL;
    if (!child) {
        goto out;
    }
    bs->file = child;
    s->log = fopen(log, "wb");
    if (!s->log) {
        error_setg_errno(errp, errno, "Could not create the log '%s'", log);
        ret = -errno;
        goto out;
    }
    bs->supported_zero_flags = (BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
                               child->bs->supported_zero_flags;
    ret = 0;
out:
    qdict_unref(image_opts);
    free(log);
    free(image);
    return ret;
}

static void log_writes_close(BlockDriverState *bs)
{
    BDRVLogWritesState *s = bs->opaque;

    if (s->log) {
        fclose(s->log);
        s->log = NULL;
    }
}

static void log_writes_refresh_limits(BlockDriverState *bs, Error **errp)
{
    if (bs->file) {
        bs->bl = bs->file->bs->bl;
    }
}

static int coroutine_fn log_writes_preadv(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov,
                                          BdrvRequestFlags flags)
{
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn log_writes_pwritev(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, QEMUIOVector *qiov,
                                           BdrvRequestFlags flags)
{
    int ret = bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);

    log_record(bs, LOG_WRITES_WRITE, ret < 0 ? LOG_WRITES_FAILED : 0,
               (uint64_t)offset, (uint64_t)bytes, qiov);
    return ret;
}

static int coroutine_fn log_writes_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    int ret = bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);

    log_record(bs, LOG_WRITES_ZERO, ret < 0 ? LOG_WRITES_FAILED : 0,
               (uint64_t)offset, (uint64_t)bytes, NULL);
    return ret;
}

static int coroutine_fn log_writes_pdiscard(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes)
{
    int ret = bdrv_co_pdiscard(bs->file, offset, bytes);

    log_record(bs, LOG_WRITES_DISCARD, ret < 0 ? LOG_WRITES_FAILED : 0,
               (uint64_t)offset, (uint64_t)bytes, NULL);
    return ret;
}

/* The core flushes the child right after this. */
static int coroutine_fn log_writes_flush(BlockDriverState *bs)
{
    BDRVLogWritesState *s = bs->opaque;

    log_record(bs, LOG_WRITES_FLUSH, 0, 0, 0, NULL);
    if (s->log && fflush(s->log) != 0 && !s->error) {
        s->error = EIO;
    }
    return s->error ? -s->error : 0;
}

static int coroutine_fn log_writes_truncate(BlockDriverState *bs,
                                            int64_t offset, bool exact,
                                            PreallocMode prealloc,
                                            BdrvRequestFlags flags,
                                            Error **errp)
{
    int ret = bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);

    if (ret == 0) {
        log_record(bs, LOG_WRITES_TRUNCATE, 0, (uint64_t)offset,
                   (uint64_t)bdrv_getlength(bs->file->bs), NULL);
    }
    return ret;
}

static int64_t log_writes_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

const BlockDriver bdrv_log_writes = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "log-writes",
    .instance_size = sizeof(BDRVLogWritesState),
    .is_filter = true,
    .opens_children = true,
    .growable = true,
    .has_variable_length = true,
    .open = log_writes_open,
    .close = log_writes_close,
    .refresh_limits = log_writes_refresh_limits,
    .preadv = log_writes_preadv,
    .pwritev = log_writes_pwritev,
    .pwrite_zeroes = log_writes_pwrite_zeroes,
    .pdiscard = log_writes_pdiscard,
    .flush = log_writes_flush,
    .truncate = log_writes_truncate,
    .getlength = log_writes_getlength,
};
