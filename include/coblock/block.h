/*
 * coblock — block devices: the public API (BlockBackend)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A BlockBackend is an open image: a format node (qcow2, raw) over a
 * protocol node (a file), possibly with a backing chain.  Offsets and
 * lengths are in bytes of the virtual disk.  There are three ways in:
 *
 *   coroutine    blk_co_preadv() & co: from coroutine context; they yield
 *                until the request is done and return 0 or -errno.
 *   callback     blk_aio_preadv() & co: start the request and return at
 *                once; the callback reports the result later.
 *   synchronous  blk_pread() & co: run the request to completion, running
 *                the BlockBackend's AioContext meanwhile.  Not from a
 *                coroutine of that context's thread other than through
 *                the coroutine interface.
 *
 * Thread rules: a BlockBackend belongs to the AioContext it was opened in
 * (the calling thread's current context, see coblock/aio.h) and is used
 * from that context's thread only.  Requests run in that context.
 *
 * Buffers: the memory a request reads into or writes from must stay valid
 * and untouched until the request has completed.  Any alignment is
 * accepted (misaligned requests and buffers are bounced internally when
 * the image is opened with cache.direct=on).
 */
#ifndef COBLOCK_BLOCK_H
#define COBLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <coblock/aio.h>
#include <coblock/error.h>
#include <coblock/iov.h>
#include <coblock/qdict.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BlockBackend BlockBackend;
typedef struct BlockDriverState BlockDriverState;
typedef struct BlockAIOCB BlockAIOCB;

/* ---- open flags (blk_new_open) ---- */
#define BDRV_O_RDWR         0x0002  /* open for writing */
#define BDRV_O_RESIZE       0x0004  /* the user may resize */
#define BDRV_O_NOCACHE      0x0020  /* cache.direct=on: bypass the host page cache */
#define BDRV_O_NATIVE_AIO   0x0080  /* aio=native: Linux AIO or Windows overlapped I/O */
#define BDRV_O_NO_BACKING   0x0100  /* do not open the backing file */
#define BDRV_O_COPY_ON_READ 0x0400  /* copy-on-read: every read copies what it
                                     * finds in the backing chain into the
                                     * image (needs BDRV_O_RDWR) */
#define BDRV_O_NO_FLUSH     0x0200  /* cache.no-flush=on: flushes do nothing */
#define BDRV_O_CHECK        0x1000  /* opened to be checked or repaired */
#define BDRV_O_UNMAP        0x4000  /* discard=unmap: pass discards down */
#define BDRV_O_PROTOCOL     0x8000  /* open a protocol only, no format */
#define BDRV_O_NO_IO        0x10000 /* metadata only, no guest I/O */
#define BDRV_O_IO_URING     0x40000 /* aio=io_uring */
#define BDRV_O_FORCE_SHARE  0x80000 /* force-share=on: take no image locks, read-only */
#define BDRV_O_AIO_AUTO     0x100000 /* no aio= given: the file driver picks
                                      * the engine it expects to be fastest
                                      * (io_uring where the kernel offers a
                                      * ring, else threads); an explicit
                                      * aio= or engine flag wins */

/* ---- request flags ---- */
typedef enum BdrvRequestFlags {
    BDRV_REQ_COPY_ON_READ       = 0x1,   /* read: copy what comes from the
                                          * backing chain into the image, as
                                          * BDRV_O_COPY_ON_READ does for all
                                          * reads (ignored when read-only) */
    BDRV_REQ_ZERO_WRITE         = 0x2,   /* internal: write zeroes */
    BDRV_REQ_MAY_UNMAP          = 0x4,   /* zeroes may be deallocated */
    BDRV_REQ_FUA                = 0x10,  /* stable on disk before completion */
    BDRV_REQ_WRITE_COMPRESSED   = 0x20,  /* compress (whole clusters) */
    BDRV_REQ_SERIALISING        = 0x80,  /* internal */
    BDRV_REQ_NO_FALLBACK        = 0x100, /* zeroes: fail instead of writing buffers */
    BDRV_REQ_MASK               = 0x1ff,
} BdrvRequestFlags;

typedef enum PreallocMode {
    PREALLOC_MODE_OFF,
    PREALLOC_MODE_METADATA,
    PREALLOC_MODE_FALLOC,
    PREALLOC_MODE_FULL,
    PREALLOC_MODE__MAX
} PreallocMode;

/* Completion callback of the blk_aio_* functions.  It runs exactly once,
 * from the BlockBackend's AioContext, never before the blk_aio_* call has
 * returned, with 0 or -errno.  The opaque pointer and the request's
 * buffers must stay valid until it has run.  It may start new requests
 * and may call blk_unref only if no other request is in flight. */
typedef void BlockCompletionFunc(void *opaque, int ret);

/* Parse the tools' option spellings into open flags.  Return 0, or
 * -EINVAL for an unknown mode. */
int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
int bdrv_parse_aio(const char *mode, int *flags);
int bdrv_parse_discard_flags(const char *mode, int *flags);

/* ---- open and close ---- */

/*
 * Open @filename (may be NULL if @options name everything) with open
 * @flags and @options (QEMU spellings: "driver", "file.filename",
 * "file.aio", "cache.direct", "read-only", ...).  @filename may be a
 * "json:{...}" string.  Without "driver", the format is probed.  Takes
 * ownership of @options (may be NULL).  On failure returns NULL and sets
 * *errp, e.g. "Could not open 'x.qcow2': Invalid L1 table offset".
 */
BlockBackend *blk_new_open(const char *filename, QDict *options, int flags,
                           Error **errp);
/* Close: drains in-flight requests, flushes, frees. */
void blk_unref(BlockBackend *blk);

BlockDriverState *blk_bs(BlockBackend *blk);
AioContext *blk_get_aio_context(BlockBackend *blk);
/* Virtual size in bytes, or -errno. */
int64_t blk_getlength(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
/* Name of the format driver ("qcow2", "raw", ...). */
const char *blk_get_format_name(BlockBackend *blk);
/* With the write cache disabled (cache=writethrough, directsync), every
 * write completes only once it is stable (FUA). */
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
bool blk_enable_write_cache(BlockBackend *blk);
/* Wait until no request of @blk is in flight. */
void blk_drain(BlockBackend *blk);

/* ---- coroutine interface ---- */
int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                              void *buf, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                               const void *buf, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags);
int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
/* Copy [off_in, off_in + bytes) of @blk_in to @off_out of @blk_out
 * without bringing the data into memory (copy_file_range(2) between two
 * image files, through raw and through qcow2's data clusters).  Returns
 * 0, -ENOTSUP when this range cannot be offloaded (any part of the
 * target range may then have been written: copy it with reads and
 * writes instead), or another -errno.  @flags: 0 or BDRV_REQ_FUA. */
int coroutine_fn blk_co_copy_range(BlockBackend *blk_in, int64_t off_in,
                                   BlockBackend *blk_out, int64_t off_out,
                                   int64_t bytes, BdrvRequestFlags flags);
int coroutine_fn blk_co_flush(BlockBackend *blk);
int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 PreallocMode prealloc, BdrvRequestFlags flags,
                                 Error **errp);
/* The VM state area: where an emulator saves a snapshot's RAM and device
 * state, beside the disk's data but outside what the guest sees.  @pos
 * counts from the start of the area.  Only formats that have one (qcow2)
 * support it; others return -ENOTSUP.  Saving needs a writable backend. */
int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, int64_t pos,
                                     QEMUIOVector *qiov);
int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, int64_t pos,
                                     QEMUIOVector *qiov);

/* ---- callback interface (never returns NULL) ---- */
BlockAIOCB *blk_aio_preadv(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov,
                           BdrvRequestFlags flags, BlockCompletionFunc *cb,
                           void *opaque);
BlockAIOCB *blk_aio_pwritev(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov,
                            BdrvRequestFlags flags, BlockCompletionFunc *cb,
                            void *opaque);
BlockAIOCB *blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                                  BdrvRequestFlags flags, BlockCompletionFunc *cb,
                                  void *opaque);
BlockAIOCB *blk_aio_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes,
                             BlockCompletionFunc *cb, void *opaque);
BlockAIOCB *blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque);

/* ---- synchronous interface: 0 or -errno ---- */
int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
              BdrvRequestFlags flags);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
               BdrvRequestFlags flags);
int blk_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags);
int blk_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                QEMUIOVector *qiov, BdrvRequestFlags flags);
int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags);
int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int blk_flush(BlockBackend *blk);
int blk_load_vmstate(BlockBackend *blk, int64_t pos, void *buf, int64_t bytes);
int blk_save_vmstate(BlockBackend *blk, int64_t pos, const void *buf,
                     int64_t bytes);
int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, BdrvRequestFlags flags, Error **errp);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_BLOCK_H */
