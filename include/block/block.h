/*
 * coblock — the block layer's internal API (nodes, generic I/O path)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Used by the drivers, BlockBackend and the tools.  Every bdrv_co_*
 * function is coroutine_fn; its synchronous twin without "_co" runs it to
 * completion through the one coroutine bridge (bdrv_run_co), polling the
 * node's AioContext.
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include "util/osdep.h"
#include <coblock/block.h>

typedef struct BdrvChild BdrvChild;
typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverInfo BlockDriverInfo;
typedef struct ImageInfoSpecific ImageInfoSpecific;
typedef struct BdrvCheckResult BdrvCheckResult;
typedef struct QemuOpts QemuOpts;

/* Longest backing chain we follow (loops are refused before this). */
#define BDRV_MAX_BACKING_DEPTH 256

/* ---- opening ---- */

/* Open a node.  @filename may be NULL (then @options must name the
 * file), a protocol URI, or "json:{...}".  Takes ownership of @options.
 * Format probing happens unless "driver" is given or BDRV_O_PROTOCOL is
 * set.  The backing chain is opened unless BDRV_O_NO_BACKING. */
BlockDriverState *bdrv_open(const char *filename, QDict *options, int flags,
                            Error **errp);
void bdrv_ref(BlockDriverState *bs);
void bdrv_unref(BlockDriverState *bs);

/* Open the backing chain of @bs now (when opened with NO_BACKING). */
int bdrv_open_backing_file(BlockDriverState *bs, QDict *options, int flags,
                           Error **errp);

/* Create an image with format driver @drv (or the protocol for
 * @filename when @drv is NULL). */
int bdrv_create(const BlockDriver *drv, const char *filename, QemuOpts *opts,
                Error **errp);
/* Create the file under a format (the protocol layer's create). */
int bdrv_create_file(const char *filename, QemuOpts *opts, Error **errp);
/* Delete the file @filename names through its protocol driver; -ENOTSUP
 * (with *errp set) when the protocol cannot. */
int bdrv_delete_file(const char *filename, Error **errp);
/* The protocol driver for @filename ("file" unless it has a prefix). */
const BlockDriver *bdrv_find_protocol(const char *filename, Error **errp);

/* Print QEMU's warning on stderr when a writable image was opened
 * without a format and probing guessed raw (the tools ask for this; the
 * library is silent by default). */
void bdrv_enable_probe_warnings(void);

/* ---- properties ---- */
const char *bdrv_get_format_name(BlockDriverState *bs);
int64_t bdrv_getlength(BlockDriverState *bs);
int64_t bdrv_get_allocated_file_size(BlockDriverState *bs);
bool bdrv_is_read_only(BlockDriverState *bs);
int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
ImageInfoSpecific *bdrv_get_specific_info(BlockDriverState *bs, Error **errp);
typedef struct QEMUSnapshotInfo QEMUSnapshotInfo;   /* block_int.h */
/* The internal snapshots of @bs (caller frees *psn_tab): their count, 0
 * for a format without any, or -errno. */
int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_tab);
/* The filename as QEMU would print it: plain, or json:{...} when options
 * matter.  Caller frees. */
char *bdrv_get_display_filename(BlockDriverState *bs);
AioContext *bdrv_get_context(BlockDriverState *bs);

/* ---- the generic I/O path (block/io.c) ---- */
int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes,
                               void *buf, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                                const void *buf, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes);
int coroutine_fn bdrv_co_flush(BlockDriverState *bs);
/* The VM state area of @bs (see BlockDriver.load_vmstate): 0 or -errno. */
int coroutine_fn bdrv_co_readv_vmstate(BlockDriverState *bs, QEMUIOVector *qiov,
                                       int64_t pos);
int coroutine_fn bdrv_co_writev_vmstate(BlockDriverState *bs, QEMUIOVector *qiov,
                                        int64_t pos);
int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, BdrvRequestFlags flags,
                                  Error **errp);
/* Copy offload: copy [src_offset, src_offset + bytes) of @src to
 * @dst_offset of @dst inside the kernel (or the storage), when every
 * driver on the way can.  0 on success; -ENOTSUP when this range cannot
 * be offloaded (part of it may have been copied: the caller falls back
 * to reading and writing all of it); other -errno on failure.
 * @write_flags: BDRV_REQ_FUA at most.  _from is the source side's entry
 * (a format calls it on its file child), _to the destination side's
 * (@src is the protocol node holding the data). */
int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags write_flags);
int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset,
                                         BdrvChild *dst, int64_t dst_offset,
                                         int64_t bytes,
                                         BdrvRequestFlags write_flags);
int coroutine_fn bdrv_co_copy_range_to(BdrvChild *dst, int64_t dst_offset,
                                       BlockDriverState *src,
                                       int64_t src_offset, int64_t bytes,
                                       BdrvRequestFlags write_flags);
/* Whether a copy into @bs would be offloaded to the storage, not done by
 * the kernel through the page cache: false where the protocol says so
 * (file: ext2/3/4, tmpfs, ramfs, O_DIRECT) or a node on the way has no
 * copy offload at all; true where it may be (the copy can still fail
 * with -ENOTSUP, e.g. between two file systems). */
bool bdrv_copy_range_offloads(BlockDriverState *bs);
/* Status of @bs alone (see BDRV_BLOCK_* in block_int.h). */
int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum,
                                      int64_t *map, BlockDriverState **file);
/* Status through the backing chain down to (not including) @base. */
int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file,
                                            int *depth);
/* 1 if allocated in @bs itself, 0 if not, -errno; *pnum bytes alike. */
int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum);
int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base, int64_t offset,
                                            int64_t bytes, int64_t *pnum);
int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res,
                               int fix);
/* Wait until @bs has no request in flight. */
void coroutine_fn bdrv_co_drain(BlockDriverState *bs);

/* ---- synchronous twins ---- */
int bdrv_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
               BdrvRequestFlags flags);
int bdrv_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                const void *buf, BdrvRequestFlags flags);
int bdrv_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes,
                       BdrvRequestFlags flags);
int bdrv_flush(BlockDriverState *bs);
int bdrv_truncate(BdrvChild *child, int64_t offset, bool exact,
                  PreallocMode prealloc, BdrvRequestFlags flags, Error **errp);
int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file);
int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file, int *depth);
int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum);
int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            bool include_base, int64_t offset, int64_t bytes,
                            int64_t *pnum);
int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, int fix);
void bdrv_drain(BlockDriverState *bs);

/* The one bridge from synchronous code into coroutines: run
 * @entry(@opaque) as a coroutine in @ctx (or directly when already in a
 * coroutine) and poll @ctx until *@done is true. */
void bdrv_run_co(AioContext *ctx, CoroutineEntry *entry, void *opaque,
                 bool *done);

/* blk_new_open without the "Could not open 'NAME': " prefix on errors
 * (the tools add their own). */
BlockBackend *blk_new_open_noprefix(const char *filename, QDict *options,
                                    int flags, Error **errp);

/* ---- image maintenance (used by qemu-img) ---- */
int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, Error **errp);
int bdrv_make_empty(BlockDriverState *bs, Error **errp);
/* qemu-img amend: change the options of an existing image (@opts holds
 * what the user set, from the driver's amend_opts). */
int bdrv_amend_options(BlockDriverState *bs, QemuOpts *opts, bool force,
                       Error **errp);
/* qemu-img measure: the sizes a new image of format @drv needs, for the
 * data of @in_bs or (NULL) for the size in @opts.  Caller frees. */
typedef struct BlockMeasureInfo BlockMeasureInfo;
BlockMeasureInfo *bdrv_measure(const BlockDriver *drv, QemuOpts *opts,
                               BlockDriverState *in_bs, Error **errp);

#endif /* BLOCK_BLOCK_H */
