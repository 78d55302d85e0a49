/*
 * coblock — the raw format: the guest disk is the file, byte for byte,
 * optionally a window of it ("offset" and "size" options)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Raw probes with the lowest possible score, so it is the format of last
 * resort.  A probed raw image (no format given) refuses writes to its
 * first sector that would make it probe as another format next time: a
 * guest could otherwise turn its disk into, say, a qcow2 header pointing
 * at host files.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "block/block_int.h"

typedef struct BDRVRawState {
    uint64_t offset;
    uint64_t size;
    bool has_size;
} BDRVRawState;

static int raw_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    return 1;
}

static int raw_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVRawState *s = bs->opaque;
    Error *local_err = NULL;
    int64_t file_len;

    s->offset = bdrv_opt_take_size(options, "offset", 0, &local_err);
    if (!local_err && qdict_haskey(options, "size")) {
        s->has_size = true;
        s->size = bdrv_opt_take_size(options, "size", 0, &local_err);
    }
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Could not get image size");
        return (int)file_len;
    }
    if (s->offset > (uint64_t)file_len) {
        error_setg(errp, "The offset %" PRIu64 " is beyond the end of the "
                   "underlying file (%" PRId64 ")", s->offset, file_len);
        return -EINVAL;
    }
    if (s->has_size && (s->offset + s->size > (uint64_t)file_len ||
                        s->offset + s->size < s->offset)) {
        error_setg(errp, "The sum of offset (%" PRIu64 ") and size (%" PRIu64
                   ") has to be smaller or equal to the actual size of the "
                   "containing file (%" PRId64 ")", s->offset, s->size, file_len);
        return -EINVAL;
    }
    if (s->has_size && !QEMU_IS_ALIGNED(s->size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "Specified size is not a multiple of %llu",
                   (unsigned long long)BDRV_SECTOR_SIZE);
        return -EINVAL;
    }
    if (s->offset || s->has_size) {
        /* A window may not grow. */
    }
    bs->supported_write_flags = BDRV_REQ_FUA & bs->file->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP |
                                BDRV_REQ_NO_FALLBACK) &
                               bs->file->bs->supported_zero_flags;
    return 0;
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    BlockDriverState *file = bs->file->bs;

    /* Pass the file's limits through; a window start that is not aligned
     * to them forces byte granularity on top (the file pads). */
    if (s->offset % MAX(1u, file->bl.request_alignment) == 0) {
        bs->bl.request_alignment = file->bl.request_alignment;
    }
    bs->bl.max_transfer = file->bl.max_transfer;
    bs->bl.pdiscard_alignment = file->bl.pdiscard_alignment;
    bs->bl.pwrite_zeroes_alignment = file->bl.pwrite_zeroes_alignment;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    if (s->has_size) {
        return (int64_t)s->size;
    }
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    return len - (int64_t)MIN((uint64_t)len, s->offset);
}

/* Translate and bound a request to the window. */
static int raw_adjust(BlockDriverState *bs, int64_t *offset, int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    int64_t end;

    if (s->has_size && (CHECKED_ADD(*offset, bytes, &end) ||
                        (uint64_t)end > s->size)) {
        return -ENOSPC;
    }
    if (CHECKED_ADD(*offset, (int64_t)s->offset, offset)) {
        return -EINVAL;
    }
    return 0;
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    int ret = raw_adjust(bs, &offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

/* Would writing @qiov at @offset make the first sector probe as a non-raw
 * format? */
static bool raw_write_changes_format(BlockDriverState *bs, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov)
{
    uint8_t sector[BDRV_SECTOR_SIZE];
    size_t n;

    if (offset >= (int64_t)BDRV_SECTOR_SIZE) {
        return false;
    }
    memset(sector, 0, sizeof(sector));
    if (offset > 0 || bytes < (int64_t)BDRV_SECTOR_SIZE) {
        /* Partial first sector: merge with what is on disk. */
        if (bdrv_co_pread(bs->file, 0, BDRV_SECTOR_SIZE, sector, 0) < 0) {
            return true;
        }
    }
    n = (size_t)MIN(bytes, (int64_t)BDRV_SECTOR_SIZE - offset);
    qemu_iovec_to_buf(qiov, 0, sector + offset, n);
    return bdrv_probe_is_not_raw(sector, BDRV_SECTOR_SIZE, bs->filename);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    int ret;

    if (bs->probed && offset < (int64_t)BDRV_SECTOR_SIZE &&
        raw_write_changes_format(bs, offset, bytes, qiov)) {
        return -EPERM;
    }
    ret = raw_adjust(bs, &offset, bytes);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                             int64_t bytes, BdrvRequestFlags flags)
{
    int ret = raw_adjust(bs, &offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    int ret = raw_adjust(bs, &offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn raw_co_copy_range_from(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvChild *dst,
                                               int64_t dst_offset,
                                               BdrvRequestFlags flags)
{
    int ret = raw_adjust(bs, &offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_copy_range_from(bs->file, offset, dst, dst_offset, bytes,
                                   flags);
}

static int coroutine_fn raw_co_copy_range_to(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BlockDriverState *src,
                                             int64_t src_offset,
                                             BdrvRequestFlags flags)
{
    int ret;

    /* The first sector of a probed image is checked by pwritev, which
     * sees the data. */
    if (bs->probed && offset < (int64_t)BDRV_SECTOR_SIZE) {
        return -ENOTSUP;
    }
    ret = raw_adjust(bs, &offset, bytes);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_copy_range_to(bs->file, offset, src, src_offset, bytes,
                                 flags);
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs, bool want_zero,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;

    *pnum = bytes;
    *map = offset + (int64_t)s->offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int64_t end;

    if (s->has_size) {
        error_setg(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    if (CHECKED_ADD(offset, (int64_t)s->offset, &end)) {
        error_setg(errp, "Disk size too large for the chosen offset");
        return -EINVAL;
    }
    return bdrv_co_truncate(bs->file, end, exact, prealloc, flags, errp);
}

static int coroutine_fn raw_co_create(BlockDriver *drv, const char *filename,
                                      QemuOpts *opts, Error **errp)
{
    return bdrv_create_file(filename, opts, errp);
}

static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    /* Whatever the protocol says (a file: no clusters, no VM state). */
    return bdrv_get_info(bs->file->bs, bdi);
}

/* A raw image needs exactly its virtual size, in whole sectors. */
static BlockMeasureInfo *raw_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                     Error **errp)
{
    BlockMeasureInfo *info;
    int64_t size;

    if (in_bs) {
        size = bdrv_getlength(in_bs);
        if (size < 0) {
            error_setg_errno(errp, (int)-size, "Unable to get image virtual_size");
            return NULL;
        }
    } else {
        uint64_t s = qemu_opt_get_size(opts, "size", 0);
        if (s > (uint64_t)INT64_MAX - BDRV_SECTOR_SIZE) {
            error_setg(errp, "Image size is too large");
            return NULL;
        }
        size = (int64_t)s;
    }
    info = qemu_xmalloc0(sizeof(*info));
    info->required = QEMU_ALIGN_UP((uint64_t)size, BDRV_SECTOR_SIZE);
    info->fully_allocated = info->required;
    return info;
}

static const QemuOptsList raw_create_opts = {
    .name = "raw",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE, .help = "Virtual disk size" },
        { NULL }
    },
};

static const char *const raw_strong_opts[] = { "offset", "size", NULL };

const BlockDriver bdrv_raw = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "raw",
    .instance_size = sizeof(BDRVRawState),
    .is_format = true,
    .shares_writes = true,
    .probe = raw_probe,
    .open = raw_open,
    .refresh_limits = raw_refresh_limits,
    .create = raw_co_create,
    .create_opts = &raw_create_opts,
    .preadv = raw_co_preadv,
    .pwritev = raw_co_pwritev,
    .pwrite_zeroes = raw_co_pwrite_zeroes,
    .pdiscard = raw_co_pdiscard,
    .block_status = raw_co_block_status,
    .truncate = raw_co_truncate,
    .copy_range_from = raw_co_copy_range_from,
    .copy_range_to = raw_co_copy_range_to,
    .getlength = raw_getlength,
    .get_info = raw_get_info,
    .measure = raw_measure,
    .supported_write_flags = BDRV_REQ_FUA,
    .supported_zero_flags = BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
    .supported_truncate_flags = BDRV_REQ_ZERO_WRITE,
    .strong_runtime_opts = raw_strong_opts,
};
