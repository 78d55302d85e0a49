/*
 * coblock — BlockBackend: the public API over a node graph
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A BlockBackend adds to its root node what users expect of a disk:
 * requests are checked against the virtual size (-EIO outside it), a
 * disabled write cache turns every write into a FUA write, and the three
 * ways in (coroutine, callback, synchronous) all end in the same
 * coroutine functions.  Callback requests run as one coroutine each; the
 * callback is delivered from a bottom half, so it never runs before
 * blk_aio_* has returned, even when the request completes at once.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "block/block_int.h"

struct BlockBackend {
    BlockDriverState *bs;
    BdrvChild root;             /* how requests address the root node */
    AioContext *ctx;
    bool enable_write_cache;
    unsigned in_flight;
};

struct BlockAIOCB {
    BlockBackend *blk;
    BlockCompletionFunc *cb;
    void *opaque;
    int ret;
    /* request */
    int64_t offset, bytes;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    int (*fn)(BlockAIOCB *acb);
};

/* ---- open / close ---- */

static BlockBackend *blk_new_with_bs(BlockDriverState *bs)
{
    BlockBackend *blk = qemu_xmalloc0(sizeof(*blk));

    blk->bs = bs;
    blk->root.bs = bs;
    blk->root.name = (char *)"root";
    blk->ctx = bs->aio_context;
    blk->enable_write_cache = true;
    return blk;
}

/* Open without adding a "Could not open" prefix to errors (the tools add
 * their own). */
BlockBackend *blk_new_open_noprefix(const char *filename, QDict *options,
                                    int flags, Error **errp)
{
    BlockDriverState *bs = bdrv_open(filename, options, flags, errp);

    if (bs && (flags & BDRV_O_RDWR) && bs->read_only) {
        /* The caller wants to write, but the options (read-only=on)
         * made the node read-only: refused, as QEMU refuses it. */
        error_setg(errp, "Block node is read-only");
        bdrv_unref(bs);
        return NULL;
    }
    return bs ? blk_new_with_bs(bs) : NULL;
}

BlockBackend *blk_new_open(const char *filename, QDict *options, int flags,
                           Error **errp)
{
    Error *local_err = NULL;
    BlockBackend *blk;
    char *name = NULL;

    if (!filename && options) {
        const char *f = qdict_get_try_str(options, "file.filename");
        if (!f) {
            f = qdict_get_try_str(options, "filename");
        }
        name = f ? qemu_xstrdup(f) : NULL;
    }
    blk = blk_new_open_noprefix(filename, options, flags, &local_err);
    if (!blk) {
        error_propagate(errp, local_err);
        error_prepend(errp, "Could not open '%s': ",
                      filename ? filename : (name ? name : ""));
    }
    free(name);
    return blk;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    blk_drain(blk);
    if (!blk->bs->read_only) {
        bdrv_flush(blk->bs);
    }
    bdrv_unref(blk->bs);
    free(blk);
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->bs;
}

AioContext *blk_get_aio_context(BlockBackend *blk)
{
    return blk->ctx;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return bdrv_getlength(blk->bs);
}

bool blk_is_read_only(BlockBackend *blk)
{
    return blk->bs->read_only;
}

const char *blk_get_format_name(BlockBackend *blk)
{
    return bdrv_get_format_name(blk->bs);
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->enable_write_cache = wce;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->enable_write_cache;
}

void blk_drain(BlockBackend *blk)
{
    while (blk->in_flight) {
        aio_poll(blk->ctx, true);
    }
    bdrv_drain(blk->bs);
}

/* ---- coroutine interface ---- */

static int blk_check_request(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    int64_t len, end;

    if (offset < 0 || bytes < 0 || CHECKED_ADD(offset, bytes, &end)) {
        return -EIO;
    }
    len = blk_getlength(blk);
    if (len < 0) {
        return (int)len;
    }
    if (offset > len || len - offset < bytes) {
        return -EIO;
    }
    return 0;
}

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    int ret = blk_check_request(blk, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    blk->in_flight++;
    ret = bdrv_co_preadv(&blk->root, offset, bytes, qiov, flags);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    int ret = blk_check_request(blk, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (blk->bs->read_only) {
        return -EACCES;
    }
    if (!blk->enable_write_cache) {
        flags |= BDRV_REQ_FUA;
    }
    blk->in_flight++;
    ret = bdrv_co_pwritev(&blk->root, offset, bytes, qiov, flags);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                              void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, (size_t)bytes);
    return blk_co_preadv(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                               const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, (size_t)bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_copy_range(BlockBackend *blk_in, int64_t off_in,
                                   BlockBackend *blk_out, int64_t off_out,
                                   int64_t bytes, BdrvRequestFlags flags)
{
    int ret = blk_check_request(blk_in, off_in, bytes);

    if (ret == 0) {
        ret = blk_check_request(blk_out, off_out, bytes);
    }
    if (ret < 0) {
        return ret;
    }
    if (blk_out->bs->read_only) {
        return -EACCES;
    }
    if (!blk_out->enable_write_cache) {
        flags |= BDRV_REQ_FUA;
    }
    blk_in->in_flight++;
    blk_out->in_flight++;
    ret = bdrv_co_copy_range(&blk_in->root, off_in, &blk_out->root, off_out,
                             bytes, flags);
    blk_out->in_flight--;
    blk_in->in_flight--;
    return ret;
}

int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags)
{
    int ret = blk_check_request(blk, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (blk->bs->read_only) {
        return -EACCES;
    }
    if (!blk->enable_write_cache) {
        flags |= BDRV_REQ_FUA;
    }
    blk->in_flight++;
    ret = bdrv_co_pwrite_zeroes(&blk->root, offset, bytes, flags);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    int ret = blk_check_request(blk, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (blk->bs->read_only) {
        return -EACCES;
    }
    blk->in_flight++;
    ret = bdrv_co_pdiscard(&blk->root, offset, bytes);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_flush(BlockBackend *blk)
{
    int ret;

    blk->in_flight++;
    ret = bdrv_co_flush(blk->bs);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, int64_t pos,
                                     QEMUIOVector *qiov)
{
    int ret;

    if (!blk->bs) {
        return -ENOMEDIUM;
    }
    blk->in_flight++;
    ret = bdrv_co_readv_vmstate(blk->bs, qiov, pos);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, int64_t pos,
                                     QEMUIOVector *qiov)
{
    int ret;

    if (!blk->bs) {
        return -ENOMEDIUM;
    }
    if (blk->bs->read_only) {
        return -EACCES;
    }
    blk->in_flight++;
    ret = bdrv_co_writev_vmstate(blk->bs, qiov, pos);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 PreallocMode prealloc, BdrvRequestFlags flags,
                                 Error **errp)
{
    int ret;

    blk->in_flight++;
    ret = bdrv_co_truncate(&blk->root, offset, exact, prealloc, flags, errp);
    blk->in_flight--;
    return ret;
}

/* ---- callback interface ---- */

static void blk_aio_complete_bh(void *opaque)
{
    BlockAIOCB *acb = opaque;
    BlockBackend *blk = acb->blk;

    blk->in_flight--;
    acb->cb(acb->opaque, acb->ret);
    free(acb);
}

static void coroutine_fn blk_aio_entry(void *opaque)
{
    BlockAIOCB *acb = opaque;

    acb->ret = acb->fn(acb);
    /* Deliver from the loop: never inside blk_aio_*, even when the
     * request finished without yielding. */
    aio_bh_schedule_oneshot(acb->blk->ctx, blk_aio_complete_bh, acb);
}

static BlockAIOCB *blk_aio_start(BlockBackend *blk, int (*fn)(BlockAIOCB *),
                                 int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags,
                                 BlockCompletionFunc *cb, void *opaque)
{
    BlockAIOCB *acb = qemu_xmalloc(sizeof(*acb));

    acb->blk = blk;
    acb->cb = cb;
    acb->opaque = opaque;
    acb->ret = -EINPROGRESS;
    acb->offset = offset;
    acb->bytes = bytes;
    acb->qiov = qiov;
    acb->flags = flags;
    acb->fn = fn;
    blk->in_flight++;
    aio_co_enter(blk->ctx, qemu_coroutine_create(blk_aio_entry), acb);
    return acb;
}

static int coroutine_fn aio_preadv_fn(BlockAIOCB *acb)
{
    return blk_co_preadv(acb->blk, acb->offset, acb->bytes, acb->qiov, acb->flags);
}

static int coroutine_fn aio_pwritev_fn(BlockAIOCB *acb)
{
    return blk_co_pwritev(acb->blk, acb->offset, acb->bytes, acb->qiov, acb->flags);
}

static int coroutine_fn aio_pwrite_zeroes_fn(BlockAIOCB *acb)
{
    return blk_co_pwrite_zeroes(acb->blk, acb->offset, acb->bytes, acb->flags);
}

static int coroutine_fn aio_pdiscard_fn(BlockAIOCB *acb)
{
    return blk_co_pdiscard(acb->blk, acb->offset, acb->bytes);
}

static int coroutine_fn aio_flush_fn(BlockAIOCB *acb)
{
    return blk_co_flush(acb->blk);
}

static int coroutine_fn load_vmstate_fn(BlockAIOCB *acb)
{
    return blk_co_load_vmstate(acb->blk, acb->offset, acb->qiov);
}

static int coroutine_fn save_vmstate_fn(BlockAIOCB *acb)
{
    return blk_co_save_vmstate(acb->blk, acb->offset, acb->qiov);
}

BlockAIOCB *blk_aio_preadv(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov,
                           BdrvRequestFlags flags, BlockCompletionFunc *cb,
                           void *opaque)
{
    return blk_aio_start(blk, aio_preadv_fn, offset, (int64_t)qiov->size, qiov,
                         flags, cb, opaque);
}

BlockAIOCB *blk_aio_pwritev(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov,
                            BdrvRequestFlags flags, BlockCompletionFunc *cb,
                            void *opaque)
{
    return blk_aio_start(blk, aio_pwritev_fn, offset, (int64_t)qiov->size, qiov,
                         flags, cb, opaque);
}

BlockAIOCB *blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                                  BdrvRequestFlags flags, BlockCompletionFunc *cb,
                                  void *opaque)
{
    return blk_aio_start(blk, aio_pwrite_zeroes_fn, offset, bytes, NULL, flags,
                         cb, opaque);
}

BlockAIOCB *blk_aio_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes,
                             BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, aio_pdiscard_fn, offset, bytes, NULL, 0, cb, opaque);
}

BlockAIOCB *blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, aio_flush_fn, 0, 0, NULL, 0, cb, opaque);
}

/* ---- synchronous interface ---- */

typedef struct BlkSync {
    BlockAIOCB acb;
    bool done;
} BlkSync;

static void coroutine_fn blk_sync_entry(void *opaque)
{
    BlkSync *s = opaque;

    s->acb.ret = s->acb.fn(&s->acb);
    s->done = true;
}

static int blk_run_sync(BlockBackend *blk, int (*fn)(BlockAIOCB *),
                        int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                        BdrvRequestFlags flags)
{
    BlkSync s = {
        .acb = {
            .blk = blk, .offset = offset, .bytes = bytes, .qiov = qiov,
            .flags = flags, .fn = fn,
        },
    };

    bdrv_run_co(blk->ctx, blk_sync_entry, &s, &s.done);
    return s.acb.ret;
}

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
              BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    if (bytes < 0) {
        return -EIO;
    }
    qemu_iovec_init_buf(&qiov, buf, (size_t)bytes);
    return blk_run_sync(blk, aio_preadv_fn, offset, bytes, &qiov, flags);
}

int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    if (bytes < 0) {
        return -EIO;
    }
    qemu_iovec_init_buf(&qiov, (void *)buf, (size_t)bytes);
    return blk_run_sync(blk, aio_pwritev_fn, offset, bytes, &qiov, flags);
}

int blk_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return blk_run_sync(blk, aio_preadv_fn, offset, bytes, qiov, flags);
}

int blk_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return blk_run_sync(blk, aio_pwritev_fn, offset, bytes, qiov, flags);
}

int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags)
{
    return blk_run_sync(blk, aio_pwrite_zeroes_fn, offset, bytes, NULL, flags);
}

int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    return blk_run_sync(blk, aio_pdiscard_fn, offset, bytes, NULL, 0);
}

int blk_load_vmstate(BlockBackend *blk, int64_t pos, void *buf, int64_t bytes)
{
    QEMUIOVector qiov;

    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX) {
        return -EIO;
    }
    qemu_iovec_init_buf(&qiov, buf, (size_t)bytes);
    return blk_run_sync(blk, load_vmstate_fn, pos, bytes, &qiov, 0);
}

int blk_save_vmstate(BlockBackend *blk, int64_t pos, const void *buf,
                     int64_t bytes)
{
    QEMUIOVector qiov;

    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX) {
        return -EIO;
    }
    qemu_iovec_init_buf(&qiov, (void *)buf, (size_t)bytes);
    return blk_run_sync(blk, save_vmstate_fn, pos, bytes, &qiov, 0);
}

int blk_flush(BlockBackend *blk)
{
    return blk_run_sync(blk, aio_flush_fn, 0, 0, NULL, 0);
}

typedef struct BlkTruncate {
    BlockBackend *blk;
    int64_t offset;
    bool exact;
    PreallocMode prealloc;
    BdrvRequestFlags flags;
    Error **errp;
    int ret;
    bool done;
} BlkTruncate;

static void coroutine_fn blk_truncate_entry(void *opaque)
{
    BlkTruncate *t = opaque;

    t->ret = blk_co_truncate(t->blk, t->offset, t->exact, t->prealloc, t->flags,
                             t->errp);
    t->done = true;
}

int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BlkTruncate t = {
        .blk = blk, .offset = offset, .exact = exact, .prealloc = prealloc,
        .flags = flags, .errp = errp,
    };

    bdrv_run_co(blk->ctx, blk_truncate_entry, &t, &t.done);
    return t.ret;
}
