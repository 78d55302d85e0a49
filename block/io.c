/*
 * coblock — the generic I/O path
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything between a caller (BlockBackend, or a format driver doing
 * I/O on its children) and a driver callback goes through here:
 *
 *   bounds      reads past the end of a fixed-size node return zeroes,
 *               writes past it fail with -EIO (growable protocol nodes
 *               take writes anywhere and pad short reads themselves);
 *   alignment   requests are widened to bs->bl.request_alignment: a
 *               misaligned read reads whole blocks into padding buffers,
 *               a misaligned write reads the partial blocks first
 *               (read-modify-write) and is serialised against every
 *               overlapping request while it runs;
 *   splitting   at bs->bl.max_transfer (and the zero/discard limits);
 *   tracking    every request is on the node's list while in flight, so
 *               that serialising requests can wait for overlaps and
 *               drain can wait for everything;
 *   flags       FUA is emulated with a flush, zero writes fall back to
 *               writing zero buffers unless NO_FALLBACK, detect-zeroes
 *               turns all-zero writes into zero writes;
 *   flush       generations: nothing written since the last flush means
 *               nothing to do, and concurrent flushes share one;
 *   status      block_status through drivers and down backing chains.
 *
 * Drivers are called only from the bdrv_driver_* wrappers, which assert
 * the contract written in block_int.h.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "block/block_int.h"

/* Largest zero buffer written when a driver cannot write zeroes itself. */
#define ZERO_FALLBACK_CHUNK (1 * MiB)

/* ---- the one bridge from synchronous code into coroutines ---- */

void bdrv_run_co(AioContext *ctx, CoroutineEntry *entry, void *opaque,
                 bool *done)
{
    if (qemu_in_coroutine()) {
        /* Already a coroutine: the operation may simply yield. */
        entry(opaque);
        assert(*done);
        return;
    }
    aio_co_enter(ctx, qemu_coroutine_create(entry), opaque);
    while (!*done) {
        aio_poll(ctx, true);
    }
}

/* ---- driver call wrappers: the contract, asserted ---- */

static void assert_request(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    uint32_t align = bs->bl.request_alignment;

    assert(offset >= 0 && bytes >= 0);
    assert(QEMU_IS_ALIGNED(offset, align));
    assert(QEMU_IS_ALIGNED(bytes, align) || offset + bytes == bdrv_getlength(bs) ||
           bs->drv->growable);
    assert(!bs->bl.max_transfer || bytes <= bs->bl.max_transfer);
}

static int coroutine_fn bdrv_driver_preadv(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, QEMUIOVector *qiov,
                                           size_t qiov_offset)
{
    QEMUIOVector local;
    int ret;

    assert_request(bs, offset, bytes);
    if (qiov_offset == 0 && qiov->size == (size_t)bytes) {
        ret = bs->drv->preadv(bs, offset, bytes, qiov, 0);
    } else {
        qemu_iovec_init_slice(&local, qiov, qiov_offset, bytes);
        ret = bs->drv->preadv(bs, offset, bytes, &local, 0);
        qemu_iovec_destroy(&local);
    }
    assert(ret <= 0);
    return ret;
}

static int coroutine_fn bdrv_driver_pwritev(BlockDriverState *bs, int64_t offset,
                                            int64_t bytes, QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    QEMUIOVector local;
    int ret;

    assert_request(bs, offset, bytes);
    assert(!(flags & ~bs->supported_write_flags));
    if (!bs->drv->pwritev) {
        return -ENOTSUP;
    }
    if (qiov_offset == 0 && qiov->size == (size_t)bytes) {
        ret = bs->drv->pwritev(bs, offset, bytes, qiov, flags);
    } else {
        qemu_iovec_init_slice(&local, qiov, qiov_offset, bytes);
        ret = bs->drv->pwritev(bs, offset, bytes, &local, flags);
        qemu_iovec_destroy(&local);
    }
    assert(ret <= 0);
    return ret;
}

/* ---- tracked requests ---- */

typedef struct TrackedRequest {
    BdrvTrackedRequest req;
    uint64_t seq;
} TrackedRequest;

static uint64_t request_seq;

static void tracked_begin(TrackedRequest *tr, BlockDriverState *bs,
                          int64_t offset, int64_t bytes, bool is_write,
                          int64_t ser_offset, int64_t ser_bytes)
{
    tr->req.bs = bs;
    tr->req.offset = offset;
    tr->req.bytes = bytes;
    tr->req.is_write = is_write;
    tr->req.overlap_offset = ser_offset;
    tr->req.overlap_bytes = ser_bytes;
    tr->req.co = qemu_coroutine_self();
    tr->seq = ++request_seq;
    qemu_co_queue_init(&tr->req.wait_queue);
    QLIST_INSERT_HEAD(&bs->tracked_requests, &tr->req, list);
    if (ser_bytes) {
        bs->serialising_in_flight++;
    }
}

static void tracked_end(TrackedRequest *tr)
{
    BlockDriverState *bs = tr->req.bs;

    if (tr->req.overlap_bytes) {
        bs->serialising_in_flight--;
    }
    QLIST_REMOVE(&tr->req, list);
    qemu_co_queue_restart_all(&tr->req.wait_queue);
}

static void request_region(BdrvTrackedRequest *r, int64_t *off, int64_t *len)
{
    if (r->overlap_bytes) {
        *off = r->overlap_offset;
        *len = r->overlap_bytes;
    } else {
        *off = r->offset;
        *len = r->bytes;
    }
}

/* Wait until no older overlapping request is in flight where either side
 * is serialising.  Waiting only for older requests cannot deadlock. */
static void coroutine_fn wait_serialising(TrackedRequest *self)
{
    BlockDriverState *bs = self->req.bs;
    BdrvTrackedRequest *r;
    int64_t soff, slen;

    if (!bs->serialising_in_flight) {
        return;
    }
    request_region(&self->req, &soff, &slen);
retry:
    QLIST_FOREACH(r, &bs->tracked_requests, list) {
        TrackedRequest *other = container_of(r, TrackedRequest, req);
        int64_t ooff, olen;

        if (r == &self->req || other->seq > self->seq) {
            continue;
        }
        if (!r->overlap_bytes && !self->req.overlap_bytes) {
            continue;
        }
        request_region(r, &ooff, &olen);
        if (ranges_overlap(soff, slen, ooff, olen)) {
            qemu_co_queue_wait(&r->wait_queue, NULL);
            goto retry;
        }
    }
}

static void bdrv_inc_in_flight(BlockDriverState *bs)
{
    bs->in_flight++;
}

static void bdrv_dec_in_flight(BlockDriverState *bs)
{
    assert(bs->in_flight > 0);
    if (--bs->in_flight == 0) {
        qemu_co_queue_restart_all(&bs->drain_queue);
        /* A synchronous bdrv_drain polling the loop sees the change. */
        aio_notify(bs->aio_context);
    }
}

/* ---- reads ---- */

/* A filter grows as what it filters does (blkdebug over a file, yes;
 * over a qcow2 image, no). */
static bool node_is_growable(BlockDriverState *bs)
{
    while (bs->drv->is_filter && bs->file && bs->file->bs->drv) {
        bs = bs->file->bs;
    }
    return bs->drv->growable;
}

static bool is_protocol_node(BlockDriverState *bs)
{
    return !bs->drv->is_format && !bs->drv->is_filter;
}

/* Aligned, tracked read of [offset, offset + bytes), split at
 * max_transfer; the part past the end of a fixed-size node reads as
 * zeroes. */
static int coroutine_fn bdrv_aligned_preadv(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            TrackedRequest *tr)
{
    uint32_t align = bs->bl.request_alignment;
    int64_t max_transfer, readable, done = 0;
    int ret = 0;

    wait_serialising(tr);

    readable = bytes;
    if (!node_is_growable(bs)) {
        int64_t total = bdrv_getlength(bs);
        if (total < 0) {
            return (int)total;
        }
        readable = offset >= total ? 0 : MIN(bytes, QEMU_ALIGN_UP(total - offset, align));
    }
    max_transfer = bs->bl.max_transfer ? QEMU_ALIGN_DOWN(bs->bl.max_transfer, align)
                                       : INT64_MAX;
    if (max_transfer <= 0) {
        max_transfer = align;
    }
    while (done < readable) {
        int64_t n = MIN(readable - done, max_transfer);
        ret = bdrv_driver_preadv(bs, offset + done, n, qiov, qiov_offset + done);
        if (ret < 0) {
            return ret;
        }
        done += n;
    }
    if (readable < bytes) {
        qemu_iovec_memset(qiov, qiov_offset + readable, 0, bytes - readable);
    }
    return 0;
}

/* Padding of a misaligned request to whole alignment blocks. */
typedef struct Padding {
    int64_t aligned_offset, aligned_bytes;
    size_t head, tail;          /* bytes added before and after */
    uint8_t *buf;               /* head block, then tail block */
    size_t buf_len;
    QEMUIOVector qiov;          /* head pad + caller's bytes + tail pad */
} Padding;

static bool padding_needed(BlockDriverState *bs, int64_t offset, int64_t bytes,
                           Padding *pad)
{
    uint32_t align = bs->bl.request_alignment;

    memset(pad, 0, sizeof(*pad));
    if (align <= 1 || (QEMU_IS_ALIGNED(offset, align) && QEMU_IS_ALIGNED(bytes, align))) {
        return false;
    }
    pad->aligned_offset = QEMU_ALIGN_DOWN(offset, align);
    pad->aligned_bytes = QEMU_ALIGN_UP(offset + bytes, align) - pad->aligned_offset;
    pad->head = (size_t)(offset - pad->aligned_offset);
    pad->tail = (size_t)(pad->aligned_offset + pad->aligned_bytes - offset - bytes);
    pad->buf_len = 2 * (size_t)align;
    pad->buf = qemu_memalign(MAX(bs->bl.min_mem_alignment, sizeof(void *)),
                             pad->buf_len);
    return true;
}

/* Build the padded vector: pad->buf[0, head) + caller + tail bytes taken
 * from the end of the tail block pad->buf[align, 2 * align). */
static void padding_build(BlockDriverState *bs, Padding *pad, QEMUIOVector *qiov,
                          size_t qiov_offset, int64_t bytes)
{
    uint32_t align = bs->bl.request_alignment;

    qemu_iovec_init(&pad->qiov, qiov->niov + 2);
    if (pad->head) {
        qemu_iovec_add(&pad->qiov, pad->buf, pad->head);
    }
    if (bytes) {
        qemu_iovec_concat(&pad->qiov, qiov, qiov_offset, (size_t)bytes);
    }
    if (pad->tail) {
        qemu_iovec_add(&pad->qiov, pad->buf + 2 * (size_t)align - pad->tail,
                       pad->tail);
    }
}

static void padding_free(Padding *pad)
{
    if (pad->buf) {
        qemu_iovec_destroy(&pad->qiov);
        qemu_vfree(pad->buf);
    }
}

static int check_request(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    int64_t end;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (offset < 0 || bytes < 0 || CHECKED_ADD(offset, bytes, &end) ||
        end > BDRV_MAX_LENGTH) {
        return -EIO;
    }
    return 0;
}

/* ---- copy-on-read ---- */

/* Largest run of unallocated clusters copied through one bounce buffer. */
#define COR_CHUNK (1 * MiB)

static int coroutine_fn bdrv_aligned_pwritev(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags,
                                             TrackedRequest *tr);
static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags);

/*
 * Read [offset, offset + bytes) of @bs and copy what the read finds below
 * @bs (in its backing chain) into @bs itself.  The request is widened to
 * whole clusters and serialising over them: older overlapping requests
 * finish first and newer ones wait, so a write that raced with the copy
 * is never overwritten by backing data.  Each run of the widened range
 * is asked whether @bs holds it: held runs are read as usual (only the
 * part the caller wants), missing ones are read whole into a bounce
 * buffer, written back to @bs (as a zero write when all zero, which a
 * format records as zero clusters) and the caller's part copied out.
 * A failed copy fails the read.
 */
static int coroutine_fn bdrv_co_copy_on_readv(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              QEMUIOVector *qiov,
                                              size_t qiov_offset)
{
    uint32_t align = bs->bl.request_alignment;
    int64_t cluster = align, total, start, end, cur, chunk_max;
    int64_t req_end = offset + bytes;
    BlockDriverInfo bdi;
    TrackedRequest tr;
    uint8_t *bounce = NULL;
    size_t bounce_len = 0;
    int ret = 0;

    if (bdrv_get_info(bs, &bdi) == 0 && bdi.cluster_size > 0) {
        cluster = QEMU_ALIGN_UP((int64_t)bdi.cluster_size, (int64_t)align);
    }
    total = bdrv_getlength(bs);
    if (total < 0) {
        return (int)total;
    }
    start = QEMU_ALIGN_DOWN(offset, cluster);
    end = MIN(QEMU_ALIGN_UP(req_end, cluster), QEMU_ALIGN_UP(total, align));
    chunk_max = MAX(cluster, QEMU_ALIGN_DOWN((int64_t)COR_CHUNK, cluster));

    tracked_begin(&tr, bs, start, end - start, false, start, end - start);
    wait_serialising(&tr);

    for (cur = start; cur < end && ret == 0; ) {
        int64_t pnum = 0, n, a, b;
        int allocated;

        allocated = bdrv_co_is_allocated(bs, cur, MIN(end - cur, chunk_max),
                                         &pnum);
        if (allocated < 0) {
            ret = allocated;
            break;
        }
        /* Whole alignment blocks; a status that ends at the (unaligned)
         * end of the image covers the block it ends in. */
        n = pnum > 0 ? QEMU_ALIGN_UP(pnum, align) : end - cur;
        n = MIN(n, MIN(end - cur, chunk_max));
        a = MAX(cur, offset);           /* the caller's part of the run */
        b = MIN(cur + n, req_end);

        if (allocated) {
            int64_t ra, rb;

            if (a >= b) {
                cur += n;
                continue;
            }
            ra = QEMU_ALIGN_DOWN(a, align);
            rb = MIN(QEMU_ALIGN_UP(b, align), cur + n);
            if (ra == a && rb == b) {
                ret = bdrv_aligned_preadv(bs, a, b - a, qiov,
                                          qiov_offset + (size_t)(a - offset),
                                          &tr);
            } else {
                QEMUIOVector bq;
                uint8_t *buf = qemu_memalign(MAX(bs->bl.min_mem_alignment,
                                                 sizeof(void *)),
                                             (size_t)(rb - ra));

                qemu_iovec_init_buf(&bq, buf, (size_t)(rb - ra));
                ret = bdrv_aligned_preadv(bs, ra, rb - ra, &bq, 0, &tr);
                if (ret == 0) {
                    qemu_iovec_from_buf(qiov, qiov_offset + (size_t)(a - offset),
                                        buf + (a - ra), (size_t)(b - a));
                }
                qemu_vfree(buf);
            }
        } else {
            QEMUIOVector bq;

            if (!bounce) {
                bounce_len = (size_t)MIN(end - start, chunk_max);
                bounce = qemu_memalign(MAX(bs->bl.min_mem_alignment,
                                           sizeof(void *)), bounce_len);
            }
            assert((size_t)n <= bounce_len);
            qemu_iovec_init_buf(&bq, bounce, (size_t)n);
            ret = bdrv_aligned_preadv(bs, cur, n, &bq, 0, &tr);
            if (ret == 0) {
                bdrv_debug_event(bs, BLKDBG_COR_WRITE);
                if (bs->drv->pwrite_zeroes && buffer_is_zero(bounce, (size_t)n)) {
                    ret = bdrv_co_do_pwrite_zeroes(bs, cur, n, 0);
                } else {
                    ret = bdrv_aligned_pwritev(bs, cur, n, &bq, 0, 0, &tr);
                }
            }
            if (ret == 0 && a < b) {
                qemu_iovec_from_buf(qiov, qiov_offset + (size_t)(a - offset),
                                    bounce + (a - cur), (size_t)(b - a));
            }
        }
        cur += n;
    }

    tracked_end(&tr);
    qemu_vfree(bounce);
    return ret;
}

/* Does this read copy on read?  Asked per request, through the flag, or
 * for every read of a node opened with BDRV_O_COPY_ON_READ; never on a
 * read-only node, nor for a range that reaches past the end of the image
 * (nothing could be written there). */
static bool copy_on_read_wanted(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, BdrvRequestFlags flags)
{
    int64_t total;

    if (!(flags & BDRV_REQ_COPY_ON_READ) &&
        !(bs->open_flags & BDRV_O_COPY_ON_READ)) {
        return false;
    }
    if (bs->read_only || node_is_growable(bs)) {
        return false;
    }
    total = bdrv_getlength(bs);
    return total >= 0 && offset + bytes <= total;
}

int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset, BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    TrackedRequest tr;
    Padding pad;
    int ret;

    ret = check_request(bs, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    assert(qiov && qiov->size >= qiov_offset + (size_t)bytes);
    if (bytes == 0) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    if (copy_on_read_wanted(bs, offset, bytes, flags)) {
        ret = bdrv_co_copy_on_readv(bs, offset, bytes, qiov, qiov_offset);
    } else if (padding_needed(bs, offset, bytes, &pad)) {
        padding_build(bs, &pad, qiov, qiov_offset, bytes);
        tracked_begin(&tr, bs, pad.aligned_offset, pad.aligned_bytes, false, 0, 0);
        ret = bdrv_aligned_preadv(bs, pad.aligned_offset, pad.aligned_bytes,
                                  &pad.qiov, 0, &tr);
        tracked_end(&tr);
        padding_free(&pad);
    } else {
        tracked_begin(&tr, bs, offset, bytes, false, 0, 0);
        ret = bdrv_aligned_preadv(bs, offset, bytes, qiov, qiov_offset, &tr);
        tracked_end(&tr);
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return bdrv_co_preadv_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes,
                               void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, (size_t)bytes);
    return bdrv_co_preadv_part(child, offset, bytes, &qiov, 0, flags);
}

/* ---- writes ---- */

static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags);

/* Aligned, tracked write, split at max_transfer, with FUA emulated. */
static int coroutine_fn bdrv_aligned_pwritev(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags,
                                             TrackedRequest *tr)
{
    uint32_t align = bs->bl.request_alignment;
    int64_t max_transfer, done = 0;
    bool emulate_fua = false;
    int ret = 0;

    wait_serialising(tr);

    if (!node_is_growable(bs)) {
        int64_t total = bdrv_getlength(bs);
        if (total < 0) {
            return (int)total;
        }
        if (offset + bytes > QEMU_ALIGN_UP(total, align)) {
            return -EIO;
        }
    }
    if ((flags & BDRV_REQ_FUA) && !(bs->supported_write_flags & BDRV_REQ_FUA)) {
        flags &= ~BDRV_REQ_FUA;
        emulate_fua = true;
    }
    if ((flags & BDRV_REQ_WRITE_COMPRESSED) &&
        !(bs->supported_write_flags & BDRV_REQ_WRITE_COMPRESSED)) {
        return -ENOTSUP;
    }
    flags &= bs->supported_write_flags;

    max_transfer = bs->bl.max_transfer ? QEMU_ALIGN_DOWN(bs->bl.max_transfer, align)
                                       : INT64_MAX;
    if (max_transfer <= 0) {
        max_transfer = align;
    }
    if ((flags & BDRV_REQ_WRITE_COMPRESSED) && bytes > max_transfer) {
        /* Compressed writes cover whole clusters and are not split. */
        max_transfer = bytes;
    }
    bdrv_debug_event(bs, BLKDBG_PWRITEV);
    while (done < bytes) {
        int64_t n = MIN(bytes - done, max_transfer);
        ret = bdrv_driver_pwritev(bs, offset + done, n, qiov, qiov_offset + done,
                                  flags);
        if (ret < 0) {
            return ret;
        }
        done += n;
    }
    bdrv_debug_event(bs, BLKDBG_PWRITEV_DONE);
    /* Count the write before an emulated FUA flush looks at the count. */
    bs->write_gen++;
    if (emulate_fua) {
        ret = bdrv_co_flush(bs);
    }
    return ret;
}

/* Write zeroes over [offset, offset + bytes), aligned to the request
 * alignment: the driver's zero path for the part aligned to its zero
 * granularity, zero buffers for the rest (or everything, on -ENOTSUP),
 * unless NO_FALLBACK forbids buffers. */
static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    uint32_t align = MAX(bs->bl.request_alignment, bs->bl.pwrite_zeroes_alignment);
    int64_t max_zero = bs->bl.max_pwrite_zeroes ? bs->bl.max_pwrite_zeroes
                                                : INT64_MAX;
    int64_t max_write = bs->bl.max_transfer ? bs->bl.max_transfer : INT64_MAX;
    bool emulate_fua = (flags & BDRV_REQ_FUA) &&
                       !(bs->supported_zero_flags & BDRV_REQ_FUA);
    uint8_t *zero_buf = NULL;
    size_t zero_len = 0;
    int ret = 0;

    assert(QEMU_IS_ALIGNED(offset, bs->bl.request_alignment));
    if (!(bs->open_flags & BDRV_O_UNMAP)) {
        flags &= ~BDRV_REQ_MAY_UNMAP;
    }
    max_zero = QEMU_ALIGN_DOWN(max_zero, align);
    if (max_zero <= 0) {
        max_zero = align;
    }
    bdrv_debug_event(bs, BLKDBG_PWRITEV_ZERO);
    while (bytes > 0 && ret == 0) {
        int64_t num = bytes;

        /* A piece not aligned to the zero granularity goes on its own. */
        if (!QEMU_IS_ALIGNED(offset, align)) {
            num = MIN(bytes, align - offset % align);
        } else if (num >= align) {
            num = MIN(QEMU_ALIGN_DOWN(num, align), max_zero);
        }

        /* Pieces smaller than the zero granularity go to the driver too
         * (never across a granule), which may refuse them. */
        ret = -ENOTSUP;
        if (bs->drv->pwrite_zeroes &&
            (!(flags & BDRV_REQ_NO_FALLBACK) ||
             (bs->supported_zero_flags & BDRV_REQ_NO_FALLBACK))) {
            BdrvRequestFlags zflags = flags & bs->supported_zero_flags &
                                      (BDRV_REQ_MAY_UNMAP | BDRV_REQ_FUA |
                                       BDRV_REQ_NO_FALLBACK);
            ret = bs->drv->pwrite_zeroes(bs, offset, num, zflags);
            assert(ret <= 0);
        }
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            QEMUIOVector qiov;

            num = MIN(num, MIN(ZERO_FALLBACK_CHUNK, max_write));
            if (!zero_buf) {
                zero_len = (size_t)MIN(bytes, MIN(ZERO_FALLBACK_CHUNK, max_write));
                zero_buf = qemu_memalign(MAX(bs->bl.min_mem_alignment, sizeof(void *)),
                                         zero_len);
                memset(zero_buf, 0, zero_len);
            }
            assert((size_t)num <= zero_len);
            qemu_iovec_init_buf(&qiov, zero_buf, (size_t)num);
            ret = bdrv_driver_pwritev(bs, offset, num, &qiov, 0,
                                      flags & bs->supported_write_flags &
                                      BDRV_REQ_FUA);
        }
        offset += num;
        bytes -= num;
    }
    qemu_vfree(zero_buf);
    bs->write_gen++;
    if (ret == 0 && emulate_fua) {
        ret = bdrv_co_flush(bs);
    }
    return ret;
}

/* A zero write that is not aligned to the request alignment: the partial
 * blocks at either end are written as zero buffers (read-modify-write),
 * the aligned middle as a zero write. */
static int coroutine_fn zero_write_unaligned(BdrvChild *child, int64_t offset,
                                             int64_t bytes, BdrvRequestFlags flags)
{
    uint32_t align = child->bs->bl.request_alignment;
    int64_t head_end = MIN(offset + bytes, QEMU_ALIGN_UP(offset, align));
    int64_t tail_start = MAX(head_end, QEMU_ALIGN_DOWN(offset + bytes, align));
    BdrvRequestFlags buf_flags = flags & BDRV_REQ_FUA;
    uint8_t *zeroes;
    QEMUIOVector qiov;
    int ret = 0;

    if (flags & BDRV_REQ_NO_FALLBACK) {
        return -ENOTSUP;
    }
    zeroes = qemu_xmalloc0(align);
    if (head_end > offset) {
        qemu_iovec_init_buf(&qiov, zeroes, (size_t)(head_end - offset));
        ret = bdrv_co_pwritev_part(child, offset, head_end - offset, &qiov, 0,
                                   buf_flags);
    }
    if (ret == 0 && tail_start > head_end) {
        ret = bdrv_co_pwritev_part(child, head_end, tail_start - head_end, NULL, 0,
                                   flags);
    }
    if (ret == 0 && offset + bytes > tail_start) {
        qemu_iovec_init_buf(&qiov, zeroes, (size_t)(offset + bytes - tail_start));
        ret = bdrv_co_pwritev_part(child, tail_start, offset + bytes - tail_start,
                                   &qiov, 0, buf_flags);
    }
    free(zeroes);
    return ret;
}

static void write_finished(BlockDriverState *bs, int64_t offset, int64_t bytes,
                           int ret)
{
    if (ret == 0 && node_is_growable(bs) && bs->total_bytes >= 0 &&
        offset + bytes > bs->total_bytes) {
        bs->total_bytes = offset + bytes;
    }
}

int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset, BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    TrackedRequest tr;
    Padding pad;
    int ret;

    ret = check_request(bs, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    /* Refused before anything else, even when empty (as QEMU does). */
    if ((flags & BDRV_REQ_WRITE_COMPRESSED) &&
        !(bs->supported_write_flags & BDRV_REQ_WRITE_COMPRESSED)) {
        return -ENOTSUP;
    }
    if (bytes == 0) {
        return 0;
    }
    if (!(flags & BDRV_REQ_ZERO_WRITE)) {
        assert(qiov && qiov->size >= qiov_offset + (size_t)bytes);
        if (bs->detect_zeroes != BLOCKDEV_DETECT_ZEROES_OFF &&
            !(flags & BDRV_REQ_WRITE_COMPRESSED) &&
            qemu_iovec_is_zero(qiov, qiov_offset, (size_t)bytes)) {
            flags |= BDRV_REQ_ZERO_WRITE;
            if (bs->detect_zeroes == BLOCKDEV_DETECT_ZEROES_UNMAP) {
                flags |= BDRV_REQ_MAY_UNMAP;
            }
        }
    }

    if ((flags & BDRV_REQ_ZERO_WRITE) &&
        (!QEMU_IS_ALIGNED(offset, bs->bl.request_alignment) ||
         !QEMU_IS_ALIGNED(bytes, bs->bl.request_alignment))) {
        return zero_write_unaligned(child, offset, bytes, flags);
    }

    bdrv_inc_in_flight(bs);
    if (flags & BDRV_REQ_ZERO_WRITE) {
        tracked_begin(&tr, bs, offset, bytes, true, 0, 0);
        wait_serialising(&tr);
        ret = bdrv_co_do_pwrite_zeroes(bs, offset, bytes, flags);
        tracked_end(&tr);
    } else if (padding_needed(bs, offset, bytes, &pad)) {
        uint32_t align = bs->bl.request_alignment;
        QEMUIOVector blk;

        /* Read-modify-write: nobody may touch the padded blocks until
         * the write is done. */
        tracked_begin(&tr, bs, pad.aligned_offset, pad.aligned_bytes, true,
                      pad.aligned_offset, pad.aligned_bytes);
        wait_serialising(&tr);
        ret = 0;
        if (pad.head) {
            qemu_iovec_init_buf(&blk, pad.buf, align);
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_HEAD);
            ret = bdrv_aligned_preadv(bs, pad.aligned_offset, align, &blk, 0, &tr);
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_HEAD);
        }
        if (ret == 0 && pad.tail) {
            int64_t tail_block = pad.aligned_offset + pad.aligned_bytes - align;
            if (pad.head && tail_block == pad.aligned_offset) {
                /* One block holds both ends. */
                memcpy(pad.buf + align, pad.buf, align);
            } else {
                qemu_iovec_init_buf(&blk, pad.buf + align, align);
                bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_TAIL);
                ret = bdrv_aligned_preadv(bs, tail_block, align, &blk, 0, &tr);
                bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
            }
        }
        if (ret == 0) {
            padding_build(bs, &pad, qiov, qiov_offset, bytes);
            ret = bdrv_aligned_pwritev(bs, pad.aligned_offset, pad.aligned_bytes,
                                       &pad.qiov, 0, flags, &tr);
        }
        tracked_end(&tr);
        padding_free(&pad);
    } else {
        tracked_begin(&tr, bs, offset, bytes, true, 0, 0);
        ret = bdrv_aligned_pwritev(bs, offset, bytes, qiov, qiov_offset, flags, &tr);
        tracked_end(&tr);
    }
    write_finished(bs, offset, bytes, ret);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                                const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, (size_t)bytes);
    return bdrv_co_pwritev_part(child, offset, bytes, &qiov, 0, flags);
}

int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes, BdrvRequestFlags flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, NULL, 0,
                                flags | BDRV_REQ_ZERO_WRITE);
}

/* ---- copy offload ---- */

/* Whether [offset, offset + bytes) of @bs is a range a copy may offload:
 * whole blocks (or up to the end of the node) inside the node.  Anything
 * else is -ENOTSUP, left to the caller's reads and writes, which know how
 * to pad and to read past the end. */
static int copy_range_check(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, bool write)
{
    uint32_t align;
    int64_t total;
    int ret = check_request(bs, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (write && bs->read_only) {
        return -EPERM;
    }
    align = bs->bl.request_alignment;
    total = bdrv_getlength(bs);
    if (total < 0) {
        return (int)total;
    }
    if (!QEMU_IS_ALIGNED(offset, align) ||
        (!QEMU_IS_ALIGNED(bytes, align) && offset + bytes != total)) {
        return -ENOTSUP;
    }
    if (offset + bytes > total && !(write && node_is_growable(bs))) {
        return -ENOTSUP;
    }
    return 0;
}

int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset,
                                         BdrvChild *dst, int64_t dst_offset,
                                         int64_t bytes,
                                         BdrvRequestFlags write_flags)
{
    BlockDriverState *bs = src->bs;
    TrackedRequest tr;
    int ret;

    ret = copy_range_check(bs, src_offset, bytes, false);
    if (ret < 0) {
        return ret;
    }
    if (!bs->drv->copy_range_from || (write_flags & ~BDRV_REQ_FUA)) {
        return -ENOTSUP;
    }
    if (bytes == 0) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    tracked_begin(&tr, bs, src_offset, bytes, false, 0, 0);
    wait_serialising(&tr);
    ret = bs->drv->copy_range_from(bs, src_offset, bytes, dst, dst_offset,
                                   write_flags);
    assert(ret <= 0);
    tracked_end(&tr);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_copy_range_to(BdrvChild *dst, int64_t dst_offset,
                                       BlockDriverState *src,
                                       int64_t src_offset, int64_t bytes,
                                       BdrvRequestFlags write_flags)
{
    BlockDriverState *bs = dst->bs;
    bool emulate_fua = false;
    TrackedRequest tr;
    int ret;

    ret = copy_range_check(bs, dst_offset, bytes, true);
    if (ret < 0) {
        return ret;
    }
    /* Zero detection looks at the data, which an offloaded copy never
     * shows us. */
    if (!bs->drv->copy_range_to || (write_flags & ~BDRV_REQ_FUA) ||
        bs->detect_zeroes != BLOCKDEV_DETECT_ZEROES_OFF) {
        return -ENOTSUP;
    }
    if (bytes == 0) {
        return 0;
    }
    if ((write_flags & BDRV_REQ_FUA) &&
        !(bs->supported_write_flags & BDRV_REQ_FUA)) {
        write_flags &= ~BDRV_REQ_FUA;
        emulate_fua = true;
    }
    bdrv_inc_in_flight(bs);
    tracked_begin(&tr, bs, dst_offset, bytes, true, 0, 0);
    wait_serialising(&tr);
    ret = bs->drv->copy_range_to(bs, dst_offset, bytes, src, src_offset,
                                 write_flags);
    assert(ret <= 0);
    tracked_end(&tr);
    /* Even a failed or refused copy may have written part of the range. */
    bs->write_gen++;
    write_finished(bs, dst_offset, bytes, ret);
    if (ret == 0 && emulate_fua) {
        ret = bdrv_co_flush(bs);
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

bool bdrv_copy_range_offloads(BlockDriverState *bs)
{
    while (bs && bs->drv && bs->drv->copy_range_to) {
        if (bs->drv->copy_range_offloads) {
            return bs->drv->copy_range_offloads(bs);
        }
        bs = bs->file ? bs->file->bs : NULL;
    }
    return false;
}

int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags write_flags)
{
    return bdrv_co_copy_range_from(src, src_offset, dst, dst_offset, bytes,
                                   write_flags);
}

/* ---- discard ---- */

int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes)
{
    BlockDriverState *bs = child->bs;
    uint32_t align;
    int64_t max_pdiscard, end;
    TrackedRequest tr;
    int ret;

    ret = check_request(bs, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    /* Discard is advisory: without discard=unmap, or without driver
     * support, it succeeds doing nothing. */
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->pdiscard || bytes == 0) {
        return 0;
    }
    align = MAX(bs->bl.pdiscard_alignment, bs->bl.request_alignment);
    end = offset + bytes;
    offset = QEMU_ALIGN_UP(offset, align);
    end = QEMU_ALIGN_DOWN(end, align);
    if (!node_is_growable(bs)) {
        int64_t total = bdrv_getlength(bs);
        if (total >= 0 && end > total) {
            /* The partial block at the end of the image may go too. */
            end = QEMU_IS_ALIGNED(total, align) ? total : end;
        }
    }
    if (end <= offset) {
        return 0;
    }
    max_pdiscard = bs->bl.max_pdiscard ? QEMU_ALIGN_DOWN(bs->bl.max_pdiscard, align)
                                       : INT64_MAX;
    if (max_pdiscard <= 0) {
        max_pdiscard = align;
    }

    bdrv_inc_in_flight(bs);
    tracked_begin(&tr, bs, offset, end - offset, true, 0, 0);
    wait_serialising(&tr);
    ret = 0;
    while (offset < end) {
        int64_t num = MIN(end - offset, max_pdiscard);

        ret = bs->drv->pdiscard(bs, offset, num);
        assert(ret <= 0);
        if (ret == -ENOTSUP) {
            ret = 0;
        }
        if (ret < 0) {
            break;
        }
        offset += num;
    }
    tracked_end(&tr);
    bs->write_gen++;
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- flush ---- */

/* ---- the VM state area ---- */

static int coroutine_fn vmstate_rw(BlockDriverState *bs, QEMUIOVector *qiov,
                                   int64_t pos, bool write)
{
    const BlockDriver *drv = bs->drv;
    int (*fn)(BlockDriverState *, QEMUIOVector *, int64_t);
    int64_t end;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (pos < 0 || qiov->size > INT64_MAX ||
        CHECKED_ADD(pos, (int64_t)qiov->size, &end) || end > BDRV_MAX_LENGTH) {
        return -EIO;
    }
    if (write && bs->read_only) {
        return -EPERM;
    }
    fn = write ? drv->save_vmstate : drv->load_vmstate;
    bdrv_inc_in_flight(bs);
    if (fn) {
        ret = fn(bs, qiov, pos);
    } else if (drv->is_filter && bs->file) {
        ret = vmstate_rw(bs->file->bs, qiov, pos, write);
    } else {
        ret = -ENOTSUP;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_readv_vmstate(BlockDriverState *bs, QEMUIOVector *qiov,
                                       int64_t pos)
{
    return vmstate_rw(bs, qiov, pos, false);
}

int coroutine_fn bdrv_co_writev_vmstate(BlockDriverState *bs, QEMUIOVector *qiov,
                                        int64_t pos)
{
    return vmstate_rw(bs, qiov, pos, true);
}

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    BdrvChild *child;
    unsigned current_gen;
    int ret = 0;

    if (!bs || !bs->drv || bs->read_only) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    current_gen = bs->write_gen;

    /* One flush at a time; a later one re-checks what is left to do. */
    while (bs->active_flush) {
        qemu_co_queue_wait(&bs->flush_queue, NULL);
    }
    bs->active_flush = true;

    if (bs->flush_error) {
        ret = bs->flush_error;
        goto out;
    }
    if (bs->flushed_gen == current_gen) {
        goto out;
    }
    if (bs->file) {
        bdrv_debug_event(bs->file->bs, BLKDBG_FLUSH_TO_OS);
    }
    if (bs->drv->flush &&
        (!(bs->open_flags & BDRV_O_NO_FLUSH) || !is_protocol_node(bs))) {
        ret = bs->drv->flush(bs);
        assert(ret <= 0);
        if (ret < 0 && is_protocol_node(bs)) {
            /* The kernel may have dropped dirty pages: from now on no
             * flush of this node can claim success. */
            bs->flush_error = ret;
        }
    }
    if (ret == 0 && bs->file) {
        bdrv_debug_event(bs->file->bs, BLKDBG_FLUSH_TO_DISK);
    }
    if (ret == 0) {
        QLIST_FOREACH(child, &bs->children, next) {
            if (!child->bs->read_only) {
                int r = bdrv_co_flush(child->bs);
                if (r < 0 && ret == 0) {
                    ret = r;
                }
            }
        }
    }
    if (ret == 0) {
        bs->flushed_gen = current_gen;
    }
out:
    bs->active_flush = false;
    qemu_co_queue_next(&bs->flush_queue);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- truncate ---- */

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, BdrvRequestFlags flags,
                                  Error **errp)
{
    BlockDriverState *bs = child->bs;
    int ret;

    if (!bs->drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (!bs->drv->truncate) {
        error_setg(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }
    if (bs->backing) {
        /* Growing over a backing file that is longer than the image: the
         * new area must read as zeroes, not as the backing file's data
         * that the old end hid.  The driver has to write those zeroes. */
        int64_t old_size = bdrv_getlength(bs);
        int64_t backing_len = bdrv_getlength(bs->backing->bs);

        if (old_size < 0 || backing_len < 0) {
            ret = old_size < 0 ? (int)old_size : (int)backing_len;
            error_setg_errno(errp, -ret, "Could not get the image length");
            return ret;
        }
        if (offset > old_size && backing_len > old_size) {
            if (!(bs->supported_truncate_flags & BDRV_REQ_ZERO_WRITE)) {
                error_setg(errp, "Block driver does not support requested "
                           "flags");
                return -ENOTSUP;
            }
            flags |= BDRV_REQ_ZERO_WRITE;
        }
    }
    bdrv_inc_in_flight(bs);
    ret = bs->drv->truncate(bs, offset, exact, prealloc,
                            flags & bs->supported_truncate_flags, errp);
    bs->total_bytes = -1;
    if (ret == 0) {
        bs->write_gen++;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- block status ---- */

static int coroutine_fn block_status_one(BlockDriverState *bs, bool want_zero,
                                         int64_t offset, int64_t bytes,
                                         int64_t *pnum, int64_t *map,
                                         BlockDriverState **file)
{
    int64_t total, local_map = 0, n;
    BlockDriverState *local_file = NULL;
    uint32_t align;
    int ret;

    total = bdrv_getlength(bs);
    if (total < 0) {
        return (int)total;
    }
    if (offset >= total) {
        *pnum = 0;
        return BDRV_BLOCK_EOF;
    }
    bytes = MIN(bytes, total - offset);
    if (!bs->drv->block_status) {
        *pnum = bytes;
        if (is_protocol_node(bs)) {
            local_map = offset;
            local_file = bs;
            ret = BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
        } else if (bs->drv->is_filter && bs->file) {
            local_map = offset;
            local_file = bs->file->bs;
            ret = BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
        } else {
            ret = BDRV_BLOCK_DATA;
        }
    } else {
        /* Ask for whole alignment blocks. */
        int64_t aligned_offset, aligned_bytes;

        align = bs->bl.request_alignment;
        aligned_offset = QEMU_ALIGN_DOWN(offset, align);
        aligned_bytes = QEMU_ALIGN_UP(offset + bytes, align) - aligned_offset;
        n = 0;
        ret = bs->drv->block_status(bs, want_zero, aligned_offset, aligned_bytes,
                                    &n, &local_map, &local_file);
        if (ret < 0) {
            *pnum = 0;
            return ret;
        }
        assert(n > 0 && n <= aligned_bytes);
        /* Report from @offset on, within the caller's range. */
        n -= offset - aligned_offset;
        if (n <= 0) {
            n = 1;
        }
        *pnum = MIN(n, bytes);
        if (ret & BDRV_BLOCK_OFFSET_VALID) {
            local_map += offset - aligned_offset;
        }
    }

    if (ret & BDRV_BLOCK_RAW) {
        assert((ret & BDRV_BLOCK_OFFSET_VALID) && local_file);
        ret = block_status_one(local_file, want_zero, local_map, *pnum, pnum,
                               &local_map, &local_file);
        ret &= ~BDRV_BLOCK_EOF;
        goto out;
    }

    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        ret |= BDRV_BLOCK_ALLOCATED;
    } else if (bs->drv->supports_backing) {
        BlockDriverState *backing = bdrv_backing_bs(bs);

        if (!backing) {
            ret |= BDRV_BLOCK_ZERO;
        } else if (want_zero) {
            int64_t blen = bdrv_getlength(backing);
            if (blen >= 0 && offset >= blen) {
                ret |= BDRV_BLOCK_ZERO;
            }
        }
    }

    if (want_zero && (ret & BDRV_BLOCK_RECURSE) && local_file && local_file != bs &&
        (ret & BDRV_BLOCK_DATA) && !(ret & BDRV_BLOCK_ZERO) &&
        (ret & BDRV_BLOCK_OFFSET_VALID)) {
        int64_t file_pnum;
        int ret2 = block_status_one(local_file, want_zero, local_map, *pnum,
                                    &file_pnum, NULL, NULL);
        if (ret2 >= 0) {
            if (ret2 & BDRV_BLOCK_EOF &&
                (!file_pnum || ret2 & BDRV_BLOCK_ZERO)) {
                /* Past the end of the file: reads as zero. */
                ret |= BDRV_BLOCK_ZERO;
            } else {
                *pnum = file_pnum;
                ret |= (ret2 & BDRV_BLOCK_ZERO);
            }
        }
    }

out:
    ret &= ~(BDRV_BLOCK_RAW | BDRV_BLOCK_RECURSE);
    if (offset + *pnum == total) {
        ret |= BDRV_BLOCK_EOF;
    }
    if (map) {
        *map = local_map;
    }
    if (file) {
        *file = local_file;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file,
                                            int *depth)
{
    BlockDriverState *p;
    int64_t eof = 0;
    int ret, d = 0;

    ret = block_status_one(bs, want_zero, offset, bytes, pnum, map, file);
    d++;
    if (ret < 0 || *pnum == 0 || (ret & BDRV_BLOCK_ALLOCATED) || bs == base) {
        goto out;
    }
    if (ret & BDRV_BLOCK_EOF) {
        eof = offset + *pnum;
    }
    bytes = *pnum;
    for (p = bdrv_backing_bs(bs); p && p != base; p = bdrv_backing_bs(p)) {
        ret = block_status_one(p, want_zero, offset, bytes, pnum, map, file);
        d++;
        if (ret < 0) {
            goto out;
        }
        if (*pnum == 0) {
            /* Past the end of a shorter lower layer: zeroes, which behave
             * as if allocated at that layer. */
            *pnum = bytes;
            if (file) {
                *file = p;
            }
            ret = BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
            break;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            /* This layer's end of file says nothing about the top's. */
            ret &= ~BDRV_BLOCK_EOF;
            break;
        }
        bytes = *pnum;
    }
    if (offset + *pnum == eof) {
        ret |= BDRV_BLOCK_EOF;
    }
out:
    if (depth) {
        *depth = d;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum,
                                      int64_t *map, BlockDriverState **file)
{
    return block_status_one(bs, true, offset, bytes, pnum, map, file);
}

int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum)
{
    int64_t dummy;
    int ret = block_status_one(bs, false, offset, bytes, pnum ? pnum : &dummy,
                               NULL, NULL);

    if (ret < 0) {
        return ret;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base, int64_t offset,
                                            int64_t bytes, int64_t *pnum)
{
    BlockDriverState *p;
    int64_t n = bytes;

    for (p = top; p; p = bdrv_backing_bs(p)) {
        int64_t pnum_inter, size;
        int ret;

        if (p == base && !include_base) {
            break;
        }
        ret = bdrv_co_is_allocated(p, offset, bytes, &pnum_inter);
        if (ret < 0) {
            return ret;
        }
        if (ret) {
            *pnum = pnum_inter;
            return 1;
        }
        size = bdrv_getlength(p);
        if (size < 0) {
            return (int)size;
        }
        /* A layer shorter than the request leaves the rest unallocated
         * here; only the part it covers narrows the answer. */
        if (n > pnum_inter && (p == top || offset + pnum_inter < size)) {
            n = pnum_inter;
        }
        if (p == base) {
            break;
        }
    }
    *pnum = n;
    return 0;
}

int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res,
                               int fix)
{
    memset(res, 0, sizeof(*res));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->check) {
        return -ENOTSUP;
    }
    return bs->drv->check(bs, res, (BdrvCheckMode)fix);
}

/* ---- drain ---- */

static bool node_busy(BlockDriverState *bs)
{
    BdrvChild *child;

    if (bs->in_flight) {
        return true;
    }
    QLIST_FOREACH(child, &bs->children, next) {
        if (node_busy(child->bs)) {
            return true;
        }
    }
    return false;
}

void coroutine_fn bdrv_co_drain(BlockDriverState *bs)
{
    while (node_busy(bs)) {
        if (bs->in_flight) {
            qemu_co_queue_wait(&bs->drain_queue, NULL);
        } else {
            /* A child is busy: let the loop run and look again. */
            qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 100000);
        }
    }
}

void bdrv_drain(BlockDriverState *bs)
{
    if (qemu_in_coroutine()) {
        bdrv_co_drain(bs);
        return;
    }
    while (node_busy(bs)) {
        aio_poll(bs->aio_context, true);
    }
}

/* ---- synchronous twins (through bdrv_run_co) ---- */

typedef struct RwCo {
    BdrvChild *child;
    int64_t offset, bytes;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    bool write;
    int ret;
    bool done;
} RwCo;

static void coroutine_fn rw_co_entry(void *opaque)
{
    RwCo *rw = opaque;

    if (rw->write) {
        rw->ret = bdrv_co_pwritev_part(rw->child, rw->offset, rw->bytes,
                                       rw->qiov, 0, rw->flags);
    } else {
        rw->ret = bdrv_co_preadv_part(rw->child, rw->offset, rw->bytes,
                                      rw->qiov, 0, rw->flags);
    }
    rw->done = true;
}

static int bdrv_rw_sync(BdrvChild *child, int64_t offset, int64_t bytes,
                        QEMUIOVector *qiov, BdrvRequestFlags flags, bool write)
{
    RwCo rw = {
        .child = child, .offset = offset, .bytes = bytes, .qiov = qiov,
        .flags = flags, .write = write,
    };

    bdrv_run_co(child->bs->aio_context, rw_co_entry, &rw, &rw.done);
    return rw.ret;
}

int bdrv_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, (size_t)bytes);
    return bdrv_rw_sync(child, offset, bytes, &qiov, flags, false);
}

int bdrv_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, (size_t)bytes);
    return bdrv_rw_sync(child, offset, bytes, &qiov, flags, true);
}

int bdrv_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes,
                       BdrvRequestFlags flags)
{
    return bdrv_rw_sync(child, offset, bytes, NULL, flags | BDRV_REQ_ZERO_WRITE,
                        true);
}

typedef struct FlushCo {
    BlockDriverState *bs;
    int ret;
    bool done;
} FlushCo;

static void coroutine_fn flush_co_entry(void *opaque)
{
    FlushCo *f = opaque;

    f->ret = bdrv_co_flush(f->bs);
    f->done = true;
}

int bdrv_flush(BlockDriverState *bs)
{
    FlushCo f = { .bs = bs };

    bdrv_run_co(bs->aio_context, flush_co_entry, &f, &f.done);
    return f.ret;
}

typedef struct TruncateCo {
    BdrvChild *child;
    int64_t offset;
    bool exact;
    PreallocMode prealloc;
    BdrvRequestFlags flags;
    Error **errp;
    int ret;
    bool done;
} TruncateCo;

static void coroutine_fn truncate_co_entry(void *opaque)
{
    TruncateCo *t = opaque;

    t->ret = bdrv_co_truncate(t->child, t->offset, t->exact, t->prealloc,
                              t->flags, t->errp);
    t->done = true;
}

int bdrv_truncate(BdrvChild *child, int64_t offset, bool exact,
                  PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    TruncateCo t = {
        .child = child, .offset = offset, .exact = exact, .prealloc = prealloc,
        .flags = flags, .errp = errp,
    };

    bdrv_run_co(child->bs->aio_context, truncate_co_entry, &t, &t.done);
    return t.ret;
}

typedef struct StatusCo {
    BlockDriverState *bs, *base;
    bool above, allocated, include_base;
    int64_t offset, bytes;
    int64_t *pnum, *map;
    BlockDriverState **file;
    int *depth;
    int ret;
    bool done;
} StatusCo;

static void coroutine_fn status_co_entry(void *opaque)
{
    StatusCo *s = opaque;

    if (s->allocated) {
        s->ret = s->above
            ? bdrv_co_is_allocated_above(s->bs, s->base, s->include_base,
                                         s->offset, s->bytes, s->pnum)
            : bdrv_co_is_allocated(s->bs, s->offset, s->bytes, s->pnum);
    } else {
        s->ret = s->above
            ? bdrv_co_block_status_above(s->bs, s->base, true, s->offset,
                                         s->bytes, s->pnum, s->map, s->file,
                                         s->depth)
            : bdrv_co_block_status(s->bs, s->offset, s->bytes, s->pnum,
                                   s->map, s->file);
    }
    s->done = true;
}

int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    StatusCo s = {
        .bs = bs, .offset = offset, .bytes = bytes, .pnum = pnum, .map = map,
        .file = file,
    };

    bdrv_run_co(bs->aio_context, status_co_entry, &s, &s.done);
    return s.ret;
}

int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file, int *depth)
{
    StatusCo s = {
        .bs = bs, .base = base, .above = true, .offset = offset, .bytes = bytes,
        .pnum = pnum, .map = map, .file = file, .depth = depth,
    };

    bdrv_run_co(bs->aio_context, status_co_entry, &s, &s.done);
    return s.ret;
}

int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum)
{
    StatusCo s = {
        .bs = bs, .allocated = true, .offset = offset, .bytes = bytes,
        .pnum = pnum,
    };

    bdrv_run_co(bs->aio_context, status_co_entry, &s, &s.done);
    return s.ret;
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            bool include_base, int64_t offset, int64_t bytes,
                            int64_t *pnum)
{
    StatusCo s = {
        .bs = top, .base = base, .above = true, .allocated = true,
        .include_base = include_base, .offset = offset, .bytes = bytes,
        .pnum = pnum,
    };

    bdrv_run_co(top->aio_context, status_co_entry, &s, &s.done);
    return s.ret;
}

typedef struct CheckCo {
    BlockDriverState *bs;
    BdrvCheckResult *res;
    int fix;
    int ret;
    bool done;
} CheckCo;

static void coroutine_fn check_co_entry(void *opaque)
{
    CheckCo *c = opaque;

    c->ret = bdrv_co_check(c->bs, c->res, c->fix);
    c->done = true;
}

int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    CheckCo c = { .bs = bs, .res = res, .fix = fix };

    bdrv_run_co(bs->aio_context, check_co_entry, &c, &c.done);
    return c.ret;
}
