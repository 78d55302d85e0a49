/*
 * coblock — the null-co protocol: a device of a given size that stores
 * nothing, for measuring the block layer alone
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Options: size (default 1 GiB), read-zeroes (reads fill the buffer with
 * zeroes; otherwise its contents are left alone), latency-ns (each request
 * sleeps that long on the loop's timers).  Filename "null-co://".
 */
#include "util/osdep.h"
#include "block/block_int.h"

typedef struct BDRVNullState {
    int64_t length;
    int64_t latency_ns;
    bool read_zeroes;
} BDRVNullState;

static void null_parse_filename(const char *filename, QDict *options,
                                Error **errp)
{
    if (strcmp(filename, "null-co://") != 0) {
        error_setg(errp, "The only allowed filename for this driver is "
                   "'null-co://'");
    }
}

static int null_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    BDRVNullState *s = bs->opaque;
    Error *local_err = NULL;

    qdict_del(options, "filename");
    s->length = (int64_t)bdrv_opt_take_size(options, "size", 1 * GiB, &local_err);
    if (!local_err) {
        s->latency_ns = bdrv_opt_take_int(options, "latency-ns", 0, &local_err);
    }
    if (!local_err) {
        s->read_zeroes = bdrv_opt_take_bool(options, "read-zeroes", false,
                                            &local_err);
    }
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    if (s->length < 0 || s->latency_ns < 0) {
        error_setg(errp, "size and latency-ns must not be negative");
        return -EINVAL;
    }
    if (!bs->filename[0]) {
        snprintf(bs->filename, sizeof(bs->filename), "null-co://");
    }
    return 0;
}

static int64_t null_getlength(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;
    return s->length;
}

static void coroutine_fn null_delay(BDRVNullState *s)
{
    if (s->latency_ns) {
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, s->latency_ns);
    }
}

static int coroutine_fn null_co_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNullState *s = bs->opaque;

    if (s->read_zeroes) {
        qemu_iovec_memset(qiov, 0, 0, (size_t)bytes);
    }
    null_delay(s);
    return 0;
}

static int coroutine_fn null_co_pwritev(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    null_delay(bs->opaque);
    return 0;
}

static int coroutine_fn null_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                              int64_t bytes, BdrvRequestFlags flags)
{
    null_delay(bs->opaque);
    return 0;
}

static int coroutine_fn null_co_flush(BlockDriverState *bs)
{
    null_delay(bs->opaque);
    return 0;
}

static int coroutine_fn null_co_block_status(BlockDriverState *bs, bool want_zero,
                                             int64_t offset, int64_t bytes,
                                             int64_t *pnum, int64_t *map,
                                             BlockDriverState **file)
{
    BDRVNullState *s = bs->opaque;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID | (s->read_zeroes ? BDRV_BLOCK_ZERO : 0);
}

static int64_t null_get_allocated_file_size(BlockDriverState *bs)
{
    return 0;
}

static const char *const null_strong_opts[] = { "size", "read-zeroes", NULL };

const BlockDriver bdrv_null_co = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "null-co",
    .protocol_name = "null-co",
    .instance_size = sizeof(BDRVNullState),
    .parse_filename = null_parse_filename,
    .open = null_open,
    .getlength = null_getlength,
    .preadv = null_co_preadv,
    .pwritev = null_co_pwritev,
    .pwrite_zeroes = null_co_pwrite_zeroes,
    .flush = null_co_flush,
    .block_status = null_co_block_status,
    .get_allocated_file_size = null_get_allocated_file_size,
    .strong_runtime_opts = null_strong_opts,
    .supported_write_flags = BDRV_REQ_FUA,
    .supported_zero_flags = BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP,
};
