/*
 * coblock — qcow2 cluster compression (deflate and zstd)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One compressed cluster is one raw deflate stream (no zlib header,
 * 4 KiB window: windowBits -12), or one zstd frame when the image says
 * compression_type=zstd.  The stored data is followed by padding up to a
 * sector boundary (and possibly by the start of another compressed
 * cluster), so decompression stops once a cluster's worth of output is
 * produced, whatever follows.
 *
 * The work runs on the context's thread pool; these functions only touch
 * the buffers they are given.
 */
#include "util/osdep.h"
#include "block/qcow2.h"
#include <coblock/thread-pool.h>

#ifdef CONFIG_ZLIB
#include <zlib.h>
#endif
#ifdef CONFIG_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

bool qcow2_compression_supported(int type)
{
    switch (type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_ZLIB:
        return true;
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_ZSTD:
        return true;
#endif
    default:
        return false;
    }
}

#ifdef CONFIG_ZLIB
static ssize_t zlib_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    z_stream strm;
    ssize_t ret;
    int zr;

    memset(&strm, 0, sizeof(strm));
    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = (uInt)src_size;
    strm.next_out = dest;
    strm.avail_out = (uInt)dest_size;
    zr = deflate(&strm, Z_FINISH);
    if (zr == Z_STREAM_END) {
        ret = (ssize_t)(dest_size - strm.avail_out);
    } else if (zr == Z_OK || zr == Z_BUF_ERROR) {
        ret = -ENOSPC;
    } else {
        ret = -EIO;
    }
    deflateEnd(&strm);
    return ret;
}

static ssize_t zlib_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    z_stream strm;
    ssize_t ret = -EIO;
    int zr;

    memset(&strm, 0, sizeof(strm));
    if (inflateInit2(&strm, -12) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (Bytef *)src;
    strm.avail_in = (uInt)src_size;
    strm.next_out = dest;
    strm.avail_out = (uInt)dest_size;
    zr = inflate(&strm, Z_FINISH);
    /* Success means a full cluster came out; the stream may go on (it
     * never should) or end exactly there. */
    if ((zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) &&
        strm.avail_out == 0) {
        ret = (ssize_t)dest_size;
    }
    inflateEnd(&strm);
    return ret;
}
#endif

#ifdef CONFIG_ZSTD
static ssize_t zstd_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    size_t r = ZSTD_compress(dest, dest_size, src, src_size,
                             ZSTD_CLEVEL_DEFAULT);

    if (ZSTD_isError(r)) {
        return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? -ENOSPC
                                                                   : -EIO;
    }
    return (ssize_t)r;
}

static ssize_t zstd_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in = { src, src_size, 0 };
    ZSTD_outBuffer out = { dest, dest_size, 0 };
    ssize_t ret = -EIO;

    if (!dctx) {
        return -ENOMEM;
    }
    /* A cluster is at most 2 MiB: refuse frames that ask for a larger
     * window (and the memory that goes with it). */
    if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 22))) {
        goto out;
    }
    while (out.pos < out.size) {
        size_t in_before = in.pos, out_before = out.pos;
        size_t r = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(r)) {
            goto out;
        }
        if (in.pos == in_before && out.pos == out_before) {
            /* No progress: truncated input. */
            goto out;
        }
    }
    ret = (ssize_t)dest_size;
out:
    ZSTD_freeDCtx(dctx);
    return ret;
}
#endif

ssize_t qcow2_compress_buf(int type, void *dest, size_t dest_size,
                           const void *src, size_t src_size)
{
    switch (type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_ZLIB:
        return zlib_compress(dest, dest_size, src, src_size);
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_ZSTD:
        return zstd_compress(dest, dest_size, src, src_size);
#endif
    default:
        (void)dest;
        (void)dest_size;
        (void)src;
        (void)src_size;
        return -ENOTSUP;
    }
}

ssize_t qcow2_decompress_buf(int type, void *dest, size_t dest_size,
                             const void *src, size_t src_size)
{
    switch (type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_ZLIB:
        return zlib_decompress(dest, dest_size, src, src_size);
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_ZSTD:
        return zstd_decompress(dest, dest_size, src, src_size);
#endif
    default:
        return -ENOTSUP;
    }
}

typedef struct CompressJob {
    bool compress;
    int type;
    void *dest;
    size_t dest_size;
    const void *src;
    size_t src_size;
    ssize_t ret;
} CompressJob;

static int compress_worker(void *opaque)
{
    CompressJob *j = opaque;

    if (j->compress) {
        j->ret = qcow2_compress_buf(j->type, j->dest, j->dest_size, j->src,
                                    j->src_size);
    } else {
        j->ret = qcow2_decompress_buf(j->type, j->dest, j->dest_size, j->src,
                                      j->src_size);
    }
    return 0;
}

static ssize_t coroutine_fn run_job(BlockDriverState *bs, CompressJob *j)
{
    ThreadPool *pool = aio_get_thread_pool(bdrv_get_aio_context(bs));

    thread_pool_submit_co(pool, compress_worker, j);
    return j->ret;
}

ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size)
{
    BDRVQcow2State *s = bs->opaque;
    CompressJob j = {
        .compress = true, .type = s->compression_type,
        .dest = dest, .dest_size = dest_size,
        .src = src, .src_size = src_size,
    };
    return run_job(bs, &j);
}

ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size)
{
    BDRVQcow2State *s = bs->opaque;
    CompressJob j = {
        .compress = false, .type = s->compression_type,
        .dest = dest, .dest_size = dest_size,
        .src = src, .src_size = src_size,
    };
    ssize_t r = run_job(bs, &j);

    /* Undecodable data reads as an I/O error. */
    return r == -ENOTSUP ? -EIO : r;
}
