/*
 * coblock — the "file" protocol driver on POSIX hosts
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A node of this driver is one open file descriptor on a regular file or
 * a device.  Data moves through one of three engines, chosen per node
 * with file.aio= (or the BDRV_O_NATIVE_AIO / BDRV_O_IO_URING open
 * flags):
 *
 *   threads   the context's thread pool runs preadv/pwritev (default);
 *   native    Linux AIO, block/linux-aio.c (needs cache.direct=on);
 *   io_uring  block/io-uring.c.
 *
 * Everything else that may block (fdatasync, fallocate, ftruncate,
 * writing preallocation zeroes) runs on the thread pool whatever the
 * engine, except flushes under io_uring, which the ring does itself.
 *
 * O_DIRECT (cache.direct=on)
 * --------------------------
 * The kernel wants offsets, lengths and buffer addresses aligned.  At
 * open we learn the alignments (the device's logical block size, or what
 * statx reports, or trial reads) and publish them in bs->bl: the generic
 * layer pads requests to request_alignment; buffers that are not aligned
 * to min_mem_alignment are bounced here, through an aligned copy.
 *
 * Image locking
 * -------------
 * The same byte-range locks as QEMU, so that our tools and QEMU's see
 * each other: a shared (read) OFD lock on byte 100 + i while we hold
 * permission bit i, and on byte 200 + i while we refuse to share it.
 * Before taking a permission we test (with a write-lock probe) that
 * nobody holds byte 200 + i; before refusing to share one we test that
 * nobody holds byte 100 + i.  OFD locks belong to the open file
 * description, so two opens in one process exclude each other exactly
 * like two processes do.
 *
 * Flushes
 * -------
 * After a failed fdatasync the kernel may have dropped dirty pages and
 * reports the error only once, so a later fdatasync could succeed
 * although data was lost.  A node whose flush failed therefore fails
 * every later flush with -EIO.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "util/aio-int.h"
#include "block/block_int.h"
#include "block/raw-aio.h"
#include <coblock/thread-pool.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif
#include <sys/uio.h>
#ifdef __linux__
#include <linux/falloc.h>
#include <linux/fs.h>
#endif

#ifndef O_DIRECT
#define O_DIRECT 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Lock bytes, as QEMU lays them out. */
#define RAW_LOCK_PERM_BASE   100
#define RAW_LOCK_SHARED_BASE 200
#define RAW_LOCK_NBITS       4

static const char *const raw_perm_names[RAW_LOCK_NBITS] = {
    "consistent read", "write", "write unchanged", "resize",
};
QEMU_BUILD_BUG_ON(BLK_PERM_ALL != (1 << RAW_LOCK_NBITS) - 1);

/* Alignments tried when nothing better tells us. */
static const size_t raw_trial_alignments[] = { 1, 512, 1024, 2048, 4096 };
#define RAW_MAX_ALIGN 4096

/* Zero-writing chunk for preallocation=full. */
#define RAW_PREALLOC_CHUNK (1 * MiB)

typedef enum RawAioEngine {
    RAW_ENGINE_THREADS,
    RAW_ENGINE_NATIVE,
    RAW_ENGINE_IO_URING,
} RawAioEngine;

typedef struct BDRVRawState {
    int fd;
    int open_flags;             /* flags given to open(2) */
    char *filename;
    bool is_regular;
    bool is_blockdev;
    bool direct;                /* O_DIRECT */

    RawAioEngine engine;
    bool auto_engine;           /* picked, not asked for: may fall back */
    unsigned aio_max_batch;
    AioContext *engine_ctx;     /* the context the engine pointer is for */
#ifdef CONFIG_LINUX_AIO
    LinuxAioState *laio;
#endif
#ifdef CONFIG_LINUX_IO_URING
    LuringState *luring;
#endif

    /* O_DIRECT alignments (1 when not direct). */
    uint32_t request_align;
    size_t buf_align;

    /* What fallocate / lseek have shown the file system can do. */
    bool has_punch_hole;
    bool has_zero_range;
    bool has_seek_data;
    /* preadv2(RWF_NOWAIT) works on this descriptor (not O_DIRECT; the
     * kernel knows the flag): reads try the page cache inline first. */
    bool try_nowait;
    /* copy_file_range(2) is known to the kernel (cleared on ENOSYS). */
    bool has_copy_range;
    /* Large buffered writes (threads engine) and copies at or past
     * @hole_start, where nothing of the file is allocated, have their
     * range allocated first (see raw_threads_co_write_new); INT64_MAX
     * when not known or not used. */
    bool alloc_first;
    int64_t hole_start;

    int flush_error;            /* sticky: see the file comment */

    /* Locking. */
    bool use_lock;
    bool use_ofd;
    uint64_t perm, shared_perm;         /* granted by set_perm */
    uint64_t locked_perm;               /* bytes 100+i we hold */
    uint64_t locked_shared_perm;        /* bytes 200+i we hold */
} BDRVRawState;

/* ---------------------------------------------------------------------
 * Blocking helpers (run on the thread pool from coroutines)
 * --------------------------------------------------------------------- */

/* Run @func(@arg) on the current context's thread pool when called from a
 * coroutine, else directly. */
static int raw_run_blocking(ThreadPoolFunc *func, void *arg)
{
    if (qemu_in_coroutine()) {
        AioContext *ctx = qemu_get_current_aio_context();

        return thread_pool_submit_co(aio_get_thread_pool(ctx), func, arg);
    }
    return func(arg);
}

static int raw_fstat_size(int fd, int64_t *size)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    *size = st.st_size;
    return 0;
}

static int raw_fallocate(int fd, int mode, int64_t offset, int64_t len)
{
#ifdef HAVE_FALLOCATE
    int ret;

    do {
        ret = fallocate(fd, mode, offset, len);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        return (errno == EOPNOTSUPP || errno == ENOSYS) ? -ENOTSUP : -errno;
    }
    return 0;
#else
    return -ENOTSUP;
#endif
}

typedef enum {
    RAW_ZERO_UNMAP = 1,         /* may deallocate */
    RAW_ZERO_DISCARD = 2,       /* discard: deallocate only */
} RawZeroMode;

typedef struct RawAllocWork {
    int fd;
    bool is_blockdev;
    int64_t offset;
    int64_t bytes;
    int mode;                   /* RawZeroMode bits */
    /* In: what the file system is believed to support.  Out: cleared
     * when it turned out not to (the caller updates the node). */
    bool punch_hole;
    bool zero_range;
} RawAllocWork;

/*
 * Zero or discard [offset, offset + bytes) with fallocate.  Returns
 * -ENOTSUP when the file system cannot do it without writing zeroes
 * (the generic layer then writes them, unless told not to).  Never
 * shrinks the file: extending uses fallocate modes without KEEP_SIZE,
 * which only ever grow it, so a concurrent write past the old end is
 * safe.  Runs on a worker: touches nothing but @opaque.
 */
static int raw_work_alloc(void *opaque)
{
    RawAllocWork *w = opaque;
    int64_t end = w->offset + w->bytes;
    int64_t size;
    int ret;

#ifdef __linux__
    if (w->is_blockdev) {
        if (w->mode & RAW_ZERO_DISCARD) {
            uint64_t range[2] = { (uint64_t)w->offset, (uint64_t)w->bytes };

            ret = ioctl(w->fd, BLKDISCARD, range) < 0 ? -errno : 0;
            return (ret == -EOPNOTSUPP || ret == -ENOTTY) ? -ENOTSUP : ret;
        }
        if ((w->mode & RAW_ZERO_UNMAP) && w->punch_hole) {
            ret = raw_fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                w->offset, w->bytes);
            if (ret != -ENOTSUP) {
                return ret;
            }
            w->punch_hole = false;
        }
        if (w->zero_range) {
            ret = raw_fallocate(w->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                w->offset, w->bytes);
            if (ret != -ENOTSUP) {
                return ret;
            }
            w->zero_range = false;
        }
        return -ENOTSUP;
    }

    ret = raw_fstat_size(w->fd, &size);
    if (ret < 0) {
        return ret;
    }
    if ((w->mode & (RAW_ZERO_UNMAP | RAW_ZERO_DISCARD)) && w->punch_hole) {
        ret = 0;
        if (w->offset < size) {
            ret = raw_fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                w->offset, MIN(end, size) - w->offset);
        }
        if (ret == -ENOTSUP) {
            w->punch_hole = false;
        } else if (ret < 0 || (w->mode & RAW_ZERO_DISCARD) || end <= size) {
            return ret;
        } else {
            /* The part past the end of the file: grow it. */
            int64_t from = MAX(w->offset, size);

            ret = raw_fallocate(w->fd, FALLOC_FL_ZERO_RANGE, from, end - from);
            if (ret == -ENOTSUP) {
                ret = raw_fallocate(w->fd, 0, from, end - from);
            }
            return ret;
        }
    }
    if (w->mode & RAW_ZERO_DISCARD) {
        return -ENOTSUP;
    }
    if (w->zero_range) {
        ret = raw_fallocate(w->fd, FALLOC_FL_ZERO_RANGE, w->offset, w->bytes);
        if (ret != -ENOTSUP) {
            return ret;
        }
        w->zero_range = false;
    }
    if (w->offset >= size) {
        /* Entirely past the end: new space reads as zeroes. */
        return raw_fallocate(w->fd, 0, w->offset, w->bytes);
    }
    return -ENOTSUP;
#else
    (void)end;
    (void)size;
    (void)ret;
    return -ENOTSUP;
#endif
}

/* Write zeroes from @from to @to with plain writes (preallocation=full). */
static int raw_write_zeroes_slow(int fd, int64_t from, int64_t to)
{
    void *buf = qemu_try_memalign(RAW_MAX_ALIGN, RAW_PREALLOC_CHUNK);
    int ret = 0;

    if (!buf) {
        return -ENOMEM;
    }
    memset(buf, 0, RAW_PREALLOC_CHUNK);
    while (from < to) {
        size_t n = (size_t)MIN((int64_t)RAW_PREALLOC_CHUNK, to - from);
        ssize_t w = pwrite(fd, buf, n, from);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        if (w == 0) {
            ret = -ENOSPC;
            break;
        }
        from += w;
    }
    qemu_vfree(buf);
    return ret;
}

typedef enum {
    RAW_TRUNC_OK,
    RAW_TRUNC_ERR_RESIZE,       /* "Could not resize file" */
    RAW_TRUNC_ERR_PREALLOC,     /* "Could not preallocate new data" */
    RAW_TRUNC_ERR_ZEROES,       /* "Could not write zeros for preallocation" */
    RAW_TRUNC_ERR_FLUSH,        /* "Could not flush file to disk" */
} RawTruncErr;

typedef struct RawTruncWork {
    int fd;
    int64_t old_size;           /* current length */
    int64_t offset;             /* new length */
    PreallocMode prealloc;
    RawTruncErr err;
} RawTruncWork;

/* Make the first block of a new file allocated: later alignment probes
 * through O_DIRECT then learn something (reads past EOF always succeed),
 * and the file looks the way QEMU leaves it.  Failures do not matter. */
static void raw_allocate_first_block(int fd, int64_t size)
{
    size_t len = size < RAW_MAX_ALIGN ? BDRV_SECTOR_SIZE : RAW_MAX_ALIGN;
    void *buf;

    if ((int64_t)len > size) {
        return;
    }
    buf = qemu_try_memalign(RAW_MAX_ALIGN, len);
    if (!buf) {
        return;
    }
    memset(buf, 0, len);
    if (pwrite(fd, buf, len, 0) < 0) {
        /* Best effort only. */
    }
    qemu_vfree(buf);
}

/* Grow or shrink a regular file to w->offset, preallocating growth. */
static int raw_work_truncate(void *opaque)
{
    RawTruncWork *w = opaque;
    int ret = 0;

    w->err = RAW_TRUNC_OK;
    switch (w->prealloc) {
    case PREALLOC_MODE_OFF:
        if (ftruncate(w->fd, w->offset) < 0) {
            w->err = RAW_TRUNC_ERR_RESIZE;
            return -errno;
        }
        if (w->old_size == 0 && w->offset > 0) {
            raw_allocate_first_block(w->fd, w->offset);
        }
        return 0;

    case PREALLOC_MODE_FALLOC:
        if (w->offset > w->old_size) {
            ret = raw_fallocate(w->fd, 0, w->old_size, w->offset - w->old_size);
#ifdef HAVE_POSIX_FALLOCATE
            if (ret == -ENOTSUP) {
                /* The C library writes the blocks instead. */
                ret = -posix_fallocate(w->fd, w->old_size,
                                       w->offset - w->old_size);
            }
#endif
            if (ret < 0) {
                w->err = RAW_TRUNC_ERR_PREALLOC;
                break;
            }
            if (w->old_size == 0) {
                raw_allocate_first_block(w->fd, w->offset);
            }
        }
        return 0;

    case PREALLOC_MODE_FULL:
        /* Setting the final size first lets the file system allocate
         * the whole range in one go. */
        if (ftruncate(w->fd, w->offset) < 0) {
            w->err = RAW_TRUNC_ERR_RESIZE;
            return -errno;
        }
        ret = raw_write_zeroes_slow(w->fd, w->old_size, w->offset);
        if (ret < 0) {
            w->err = RAW_TRUNC_ERR_ZEROES;
            break;
        }
        if (fsync(w->fd) < 0) {
            ret = -errno;
            w->err = RAW_TRUNC_ERR_FLUSH;
            break;
        }
        return 0;

    default:
        return -ENOTSUP;
    }

    /* Failed part-way through growing: give the space back. */
    if (ftruncate(w->fd, w->old_size) < 0) {
        /* The error already reported is the one that matters. */
    }
    return ret;
}

/* Truncate a regular file, reporting failures in QEMU's words. */
static int raw_regular_truncate(int fd, int64_t old_size, int64_t offset,
                                PreallocMode prealloc, Error **errp)
{
    RawTruncWork w = {
        .fd = fd, .old_size = old_size, .offset = offset, .prealloc = prealloc,
    };
    int ret = raw_run_blocking(raw_work_truncate, &w);

    if (ret < 0) {
        switch (w.err) {
        case RAW_TRUNC_ERR_RESIZE:
            error_setg_errno(errp, -ret, "Could not resize file");
            break;
        case RAW_TRUNC_ERR_PREALLOC:
            error_setg_errno(errp, -ret, "Could not preallocate new data");
            break;
        case RAW_TRUNC_ERR_ZEROES:
            error_setg_errno(errp, -ret, "Could not write zeros for preallocation");
            break;
        case RAW_TRUNC_ERR_FLUSH:
            error_setg_errno(errp, -ret, "Could not flush file to disk");
            break;
        default:
            error_setg_errno(errp, -ret, "Could not resize file");
            break;
        }
    }
    return ret;
}

/* ---------------------------------------------------------------------
 * Image locking
 * --------------------------------------------------------------------- */

static int raw_lock_cmd(bool ofd, bool set)
{
#ifdef F_OFD_SETLK
    if (ofd) {
        return set ? F_OFD_SETLK : F_OFD_GETLK;
    }
#endif
    (void)ofd;
    return set ? F_SETLK : F_GETLK;
}

/* Take (F_RDLCK) or drop (F_UNLCK) a shared lock on one byte. */
static int raw_lock_byte(BDRVRawState *s, int fd, int byte, short type)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
        .l_type = type,
    };
    int ret;

    do {
        ret = fcntl(fd, raw_lock_cmd(s->use_ofd, true), &fl);
    } while (ret < 0 && errno == EINTR);
    return ret < 0 ? -errno : 0;
}

/* 1 if someone else holds a lock on @byte that a write lock would
 * conflict with, 0 if not, -errno if the test failed. */
static int raw_test_byte(BDRVRawState *s, int fd, int byte)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
        .l_type = F_WRLCK,
    };
    int ret;

    do {
        ret = fcntl(fd, raw_lock_cmd(s->use_ofd, false), &fl);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : 1;
}

/*
 * Hold lock byte 100 + i for every bit of @perm_bits and 200 + i for every
 * bit of @unshared_bits.  With @unlock, drop the bytes of bits not in the
 * sets; without it only add.  Updates the record of held bytes in @s.
 */
static int raw_apply_lock_bytes(BDRVRawState *s, int fd, uint64_t perm_bits,
                                uint64_t unshared_bits, bool unlock,
                                Error **errp)
{
    int i, ret;

    for (i = 0; i < RAW_LOCK_NBITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        int byte = RAW_LOCK_PERM_BASE + i;

        if ((perm_bits & bit) && !(s->locked_perm & bit)) {
            ret = raw_lock_byte(s, fd, byte, F_RDLCK);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to lock byte %d", byte);
                return ret;
            }
            s->locked_perm |= bit;
        } else if (unlock && !(perm_bits & bit) && (s->locked_perm & bit)) {
            ret = raw_lock_byte(s, fd, byte, F_UNLCK);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to unlock byte %d", byte);
                return ret;
            }
            s->locked_perm &= ~bit;
        }
    }
    for (i = 0; i < RAW_LOCK_NBITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        int byte = RAW_LOCK_SHARED_BASE + i;

        if ((unshared_bits & bit) && !(s->locked_shared_perm & bit)) {
            ret = raw_lock_byte(s, fd, byte, F_RDLCK);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to lock byte %d", byte);
                return ret;
            }
            s->locked_shared_perm |= bit;
        } else if (unlock && !(unshared_bits & bit) &&
                   (s->locked_shared_perm & bit)) {
            ret = raw_lock_byte(s, fd, byte, F_UNLCK);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to unlock byte %d", byte);
                return ret;
            }
            s->locked_shared_perm &= ~bit;
        }
    }
    return 0;
}

/* Check that nobody refuses to share what we want (@perm) and that
 * nobody holds what we refuse to share (~@shared). */
static int raw_check_lock_bytes(BDRVRawState *s, int fd, uint64_t perm,
                                uint64_t shared, const char *filename,
                                Error **errp)
{
    int i, ret;

    for (i = 0; i < RAW_LOCK_NBITS; i++) {
        if (perm & (UINT64_C(1) << i)) {
            ret = raw_test_byte(s, fd, RAW_LOCK_SHARED_BASE + i);
            if (ret) {
                error_setg(errp, "Failed to get \"%s\" lock", raw_perm_names[i]);
                error_append_hint(errp, "Is another process using the image [%s]?\n",
                                  filename);
                return ret < 0 ? ret : -EAGAIN;
            }
        }
    }
    for (i = 0; i < RAW_LOCK_NBITS; i++) {
        if (!(shared & (UINT64_C(1) << i))) {
            ret = raw_test_byte(s, fd, RAW_LOCK_PERM_BASE + i);
            if (ret) {
                error_setg(errp, "Failed to get shared \"%s\" lock",
                           raw_perm_names[i]);
                error_append_hint(errp, "Is another process using the image [%s]?\n",
                                  filename);
                return ret < 0 ? ret : -EAGAIN;
            }
        }
    }
    return 0;
}

/* Take the locks for (@perm, @shared) on @fd: add the new bytes while
 * keeping the old ones, check for conflicts, then drop what is no longer
 * needed; on a conflict go back to what was held before. */
static int raw_lock_perm(BDRVRawState *s, int fd, uint64_t perm,
                         uint64_t shared, const char *filename, Error **errp)
{
    uint64_t old_perm = s->perm, old_shared = s->shared_perm;
    int ret;

    perm &= BLK_PERM_ALL;
    shared &= BLK_PERM_ALL;
    ret = raw_apply_lock_bytes(s, fd, old_perm | perm,
                               (~old_shared | ~shared) & BLK_PERM_ALL, false,
                               errp);
    if (ret == 0) {
        ret = raw_check_lock_bytes(s, fd, perm, shared, filename, errp);
    }
    if (ret < 0) {
        raw_apply_lock_bytes(s, fd, old_perm, ~old_shared & BLK_PERM_ALL,
                             true, NULL);
        return ret;
    }
    /* Dropping bytes cannot hurt anyone; a failure leaves a stale lock
     * that goes away with the descriptor. */
    raw_apply_lock_bytes(s, fd, perm, ~shared & BLK_PERM_ALL, true, NULL);
    s->perm = perm;
    s->shared_perm = shared;
    return 0;
}

static int raw_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                        Error **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!s->use_lock) {
        s->perm = perm & BLK_PERM_ALL;
        s->shared_perm = shared & BLK_PERM_ALL;
        return 0;
    }
    return raw_lock_perm(s, s->fd, perm, shared, s->filename, errp);
}

/* Decide whether to lock at all: locking=off never, on always, auto when
 * the file system takes OFD locks. */
static int raw_setup_locking(BDRVRawState *s, const char *mode, bool force_share,
                             Error **errp)
{
    bool want, required;

    if (!mode || !strcmp(mode, "auto")) {
        want = true;
        required = false;
    } else if (!strcmp(mode, "on")) {
        want = required = true;
    } else if (!strcmp(mode, "off")) {
        want = required = false;
    } else {
        error_setg(errp, "invalid parameter value: %s", mode);
        return -EINVAL;
    }
    s->use_lock = false;
    s->use_ofd = false;
    if (!want || force_share) {
        return 0;
    }
#ifdef F_OFD_GETLK
    {
        struct flock fl = { .l_whence = SEEK_SET, .l_type = F_WRLCK };

        if (fcntl(s->fd, F_OFD_GETLK, &fl) == 0) {
            s->use_lock = true;
            s->use_ofd = true;
            return 0;
        }
    }
#endif
    if (required) {
        warn_report("File lock requested but OFD locking syscall is "
                    "unavailable, falling back to POSIX file locks");
        s->use_lock = true;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Opening
 * --------------------------------------------------------------------- */

static void raw_parse_filename(const char *filename, QDict *options,
                               Error **errp)
{
    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    qdict_put_str(options, "filename", filename);
}

/* open(2) with QEMU's diagnosis of file systems that refuse O_DIRECT. */
static int raw_open_fd(const char *filename, int flags, mode_t mode,
                       const char *action, Error **errp)
{
    int fd;

    do {
        fd = open(filename, flags, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        return fd;
    }
    if (errno == EINVAL && (flags & O_DIRECT) != 0) {
        int fd2 = open(filename, flags & ~O_DIRECT, mode);

        if (fd2 >= 0) {
            close(fd2);
            error_setg(errp, "Could not %s '%s': filesystem does not support "
                       "O_DIRECT", action, filename);
            return -EINVAL;
        }
        errno = EINVAL;
    }
    fd = -errno;
    error_setg_errno(errp, -fd, "Could not %s '%s'", action, filename);
    return fd;
}

/*
 * Learn the O_DIRECT alignments: from the device for block devices, from
 * statx where the kernel reports them, else by trial reads at offset 0.
 * A trial that comes back with 0 bytes (an empty file) says nothing, so
 * then we assume the largest alignment.
 */
static int raw_probe_alignment(BDRVRawState *s, Error **errp)
{
    size_t page = qemu_real_host_page_size();
    size_t max_align = MAX((size_t)RAW_MAX_ALIGN, page);
    uint8_t *buf;
    size_t i;

    s->request_align = 1;
    s->buf_align = 1;
    if (!s->direct) {
        return 0;
    }

#if defined(__linux__) && defined(BLKSSZGET)
    if (s->is_blockdev) {
        int sector = 0;

        if (ioctl(s->fd, BLKSSZGET, &sector) == 0 && sector > 0 &&
            is_power_of_2((uint64_t)sector)) {
            s->request_align = (uint32_t)sector;
            s->buf_align = (size_t)sector;
            return 0;
        }
    }
#endif
#if defined(__linux__) && defined(STATX_DIOALIGN)
    {
        struct statx stx;

        if (statx(s->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
            (stx.stx_mask & STATX_DIOALIGN) &&
            stx.stx_dio_offset_align && stx.stx_dio_mem_align &&
            is_power_of_2(stx.stx_dio_offset_align) &&
            is_power_of_2(stx.stx_dio_mem_align) &&
            stx.stx_dio_offset_align <= max_align &&
            stx.stx_dio_mem_align <= max_align) {
            s->request_align = stx.stx_dio_offset_align;
            s->buf_align = stx.stx_dio_mem_align;
            return 0;
        }
    }
#endif

    buf = qemu_try_memalign(max_align, 2 * max_align);
    if (!buf) {
        error_setg(errp, "Could not allocate an alignment probe buffer");
        return -ENOMEM;
    }
    s->request_align = 0;
    for (i = 0; i < ARRAY_SIZE(raw_trial_alignments); i++) {
        size_t align = raw_trial_alignments[i];
        ssize_t n = pread(s->fd, buf, align, 0);

        if (n > 0 || (n < 0 && errno != EINVAL)) {
            s->request_align = (uint32_t)align;
            break;
        }
        if (n == 0) {
            s->request_align = (uint32_t)max_align;
            break;
        }
    }
    s->buf_align = 0;
    if (s->request_align) {
        for (i = 0; i < ARRAY_SIZE(raw_trial_alignments); i++) {
            size_t align = raw_trial_alignments[i];
            ssize_t n = pread(s->fd, buf + align, s->request_align, 0);

            if (n > 0 || (n < 0 && errno != EINVAL)) {
                s->buf_align = align;
                break;
            }
            if (n == 0) {
                s->buf_align = max_align;
                break;
            }
        }
    }
    qemu_vfree(buf);
    if (!s->request_align || !s->buf_align) {
        error_setg(errp, "Could not find working O_DIRECT alignment");
        error_append_hint(errp, "Try cache.direct=off\n");
        return -EINVAL;
    }
    return 0;
}

static int raw_parse_engine(const char *name, int flags, RawAioEngine *engine,
                            bool *auto_engine, Error **errp)
{
    *auto_engine = false;
    if (!name) {
        if (flags & BDRV_O_NATIVE_AIO) {
            *engine = RAW_ENGINE_NATIVE;
        } else if (flags & BDRV_O_IO_URING) {
            *engine = RAW_ENGINE_IO_URING;
#ifdef CONFIG_LINUX_IO_URING
        } else if (flags & BDRV_O_AIO_AUTO) {
            /* Where the kernel offers a ring (else threads, at attach). */
            *engine = RAW_ENGINE_IO_URING;
            *auto_engine = true;
#endif
        } else {
            *engine = RAW_ENGINE_THREADS;
        }
    } else if (!strcmp(name, "threads")) {
        *engine = RAW_ENGINE_THREADS;
    } else if (!strcmp(name, "native")) {
        *engine = RAW_ENGINE_NATIVE;
    } else if (!strcmp(name, "io_uring")) {
        *engine = RAW_ENGINE_IO_URING;
    } else {
        error_setg(errp, "invalid parameter value: %s", name);
        return -EINVAL;
    }
    return 0;
}

/* Attach the engine of @ctx (created on first use); false if the kernel
 * refuses one. */
static bool raw_attach_engine(BDRVRawState *s, AioContext *ctx, Error **errp)
{
    s->engine_ctx = ctx;
    switch (s->engine) {
#ifdef CONFIG_LINUX_AIO
    case RAW_ENGINE_NATIVE:
        s->laio = laio_get(ctx, errp);
        if (!s->laio) {
            error_prepend(errp, "Unable to use native AIO: ");
            return false;
        }
        return true;
#endif
#ifdef CONFIG_LINUX_IO_URING
    case RAW_ENGINE_IO_URING:
        s->luring = luring_get(ctx, s->auto_engine ? NULL : errp);
        if (!s->luring && s->auto_engine) {
            /* No ring here (an old kernel, io_uring disabled, a seccomp
             * filter): the thread pool, as if nothing had been asked. */
            s->engine = RAW_ENGINE_THREADS;
            s->auto_engine = false;
            return true;
        }
        if (!s->luring) {
            error_prepend(errp, "Unable to use io_uring: ");
            return false;
        }
        return true;
#endif
    default:
        return true;
    }
}

/* ---------------------------------------------------------------------
 * Writes into holes
 * --------------------------------------------------------------------- */

/* Smallest write worth an allocation call of its own. */
#define RAW_ALLOC_FIRST_MIN (256 * KiB)

/*
 * Where the trailing hole of a writable, buffered regular file starts: a
 * new file (data at most in its first block) is one hole after that
 * block, any other file at least past its end.  Writes there are writes
 * into a hole until something is written.  A few lseek calls at open.
 */
static void raw_find_trailing_hole(BDRVRawState *s, int64_t size)
{
    s->hole_start = INT64_MAX;
    s->alloc_first = false;
#if defined(HAVE_FALLOCATE) && defined(SEEK_DATA) && defined(SEEK_HOLE)
    if (!s->is_regular || s->direct || !(s->open_flags & O_RDWR) ||
        s->engine == RAW_ENGINE_NATIVE) {
        return;
    }
    s->alloc_first = true;
    s->hole_start = size;
    {
        off_t hole = lseek(s->fd, 0, SEEK_HOLE);
        int i;

        /* Only the first few extents are looked at: the point is new
         * files, whose data is their first block at most. */
        for (i = 0; i < 4 && hole >= 0 && hole < size; i++) {
            off_t data = lseek(s->fd, hole, SEEK_DATA);

            if (data < 0) {
                if (errno == ENXIO) {
                    s->hole_start = hole;
                }
                break;
            }
            hole = lseek(s->fd, data, SEEK_HOLE);
        }
    }
#else
    (void)size;
#endif
}

/* [@offset, @offset + @bytes) may hold data from now on. */
static void raw_note_allocated(BDRVRawState *s, int64_t offset, int64_t bytes)
{
    if (offset + bytes > s->hole_start) {
        s->hole_start = offset + bytes;
    }
}

static AioContext *raw_node_context(BlockDriverState *bs)
{
    AioContext *ctx = bdrv_get_aio_context(bs);

    return ctx ? ctx : qemu_get_current_aio_context();
}

static int raw_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVRawState *s = bs->opaque;
    Error *local_err = NULL;
    const char *filename;
    char *locking = NULL;
    int64_t max_batch;
    struct stat st;
    int ret;

    s->fd = -1;
    s->has_punch_hole = s->has_zero_range = s->has_seek_data = true;
    s->has_copy_range = true;
    s->perm = 0;
    s->shared_perm = BLK_PERM_ALL;

    filename = qdict_get_try_str(options, "filename");
    if (!filename) {
        error_setg(errp, "The 'file' block driver requires a file name");
        return -EINVAL;
    }
    s->filename = qemu_xstrdup(filename);
    qdict_del(options, "filename");

    ret = raw_parse_engine(qdict_get_try_str(options, "aio"), flags, &s->engine,
                           &s->auto_engine, errp);
    if (ret < 0) {
        goto fail;
    }
    qdict_del(options, "aio");

    max_batch = qdict_get_int_opt(options, "aio-max-batch", 0, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        ret = -EINVAL;
        goto fail;
    }
    qdict_del(options, "aio-max-batch");
    /* 0 (or anything silly) means the engine's default. */
    s->aio_max_batch = (max_batch > 0 && max_batch <= RAW_AIO_MAX_BATCH_LIMIT)
                       ? (unsigned)max_batch
                       : (max_batch > RAW_AIO_MAX_BATCH_LIMIT
                          ? RAW_AIO_MAX_BATCH_LIMIT : 0);

    if (qdict_get_try_str(options, "locking")) {
        locking = qemu_xstrdup(qdict_get_try_str(options, "locking"));
    }
    qdict_del(options, "locking");

    switch (s->engine) {
    case RAW_ENGINE_NATIVE:
#ifndef CONFIG_LINUX_AIO
        error_setg(errp, "aio=native was specified, but is not supported "
                   "in this build.");
        ret = -EINVAL;
        goto fail;
#endif
        if (!(flags & BDRV_O_NOCACHE)) {
            error_setg(errp, "aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified.");
            ret = -EINVAL;
            goto fail;
        }
        break;
    case RAW_ENGINE_IO_URING:
#ifndef CONFIG_LINUX_IO_URING
        error_setg(errp, "aio=io_uring was specified, but is not supported "
                   "in this build.");
        ret = -EINVAL;
        goto fail;
#endif
        break;
    default:
        break;
    }

    s->direct = (flags & BDRV_O_NOCACHE) != 0;
    s->try_nowait = !s->direct;
    s->open_flags = O_CLOEXEC;
    s->open_flags |= (flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY;
    if (s->direct) {
        if (!O_DIRECT) {
            error_setg(errp, "cache.direct=on is not supported on this host");
            ret = -ENOTSUP;
            goto fail;
        }
        s->open_flags |= O_DIRECT;
    }
    ret = raw_open_fd(s->filename, s->open_flags, 0, "open", errp);
    if (ret < 0) {
        goto fail;
    }
    s->fd = ret;

    if (fstat(s->fd, &st) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not stat '%s'", s->filename);
        goto fail;
    }
    s->is_regular = S_ISREG(st.st_mode);
    s->is_blockdev = S_ISBLK(st.st_mode);
    if (!s->is_regular && !s->is_blockdev && !S_ISCHR(st.st_mode)) {
        error_setg(errp, "'file' driver requires '%s' to be a regular file",
                   s->filename);
        ret = -EINVAL;
        goto fail;
    }

    ret = raw_setup_locking(s, locking, (flags & BDRV_O_FORCE_SHARE) != 0, errp);
    if (ret < 0) {
        goto fail;
    }

    ret = raw_probe_alignment(s, errp);
    if (ret < 0) {
        goto fail;
    }

    if (!raw_attach_engine(s, raw_node_context(bs), errp)) {
        ret = -EINVAL;
        goto fail;
    }

    raw_find_trailing_hole(s, st.st_size);

    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    bs->supported_truncate_flags = s->is_regular ? BDRV_REQ_ZERO_WRITE : 0;
    free(locking);
    return 0;

fail:
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    free(s->filename);
    s->filename = NULL;
    free(locking);
    return ret;
}

static void raw_close(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    if (s->fd >= 0) {
        if (s->use_lock) {
            /* Closing the descriptor drops its OFD locks; with POSIX
             * locks it drops all of the process's locks on the file, so
             * say precisely what goes. */
            raw_apply_lock_bytes(s, s->fd, 0, 0, true, NULL);
        }
        close(s->fd);
        s->fd = -1;
    }
    free(s->filename);
    s->filename = NULL;
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    size_t page = qemu_real_host_page_size();

    if (!s->filename) {
        return;             /* not open (yet) */
    }
    bs->bl.request_alignment = s->request_align;
    bs->bl.min_mem_alignment = s->buf_align;
    bs->bl.opt_mem_alignment = MAX(s->buf_align, page);
    bs->bl.max_iov = IOV_MAX;
}

/* ---------------------------------------------------------------------
 * I/O
 * --------------------------------------------------------------------- */

/* Whether O_DIRECT can use @qiov's memory as it is. */
static bool raw_qiov_usable(BDRVRawState *s, QEMUIOVector *qiov)
{
    int i;

    if (qiov->niov > IOV_MAX) {
        return false;
    }
    if (s->buf_align <= 1) {
        return true;
    }
    for (i = 0; i < qiov->niov; i++) {
        if (!QEMU_PTR_IS_ALIGNED(qiov->iov[i].iov_base, s->buf_align) ||
            !QEMU_IS_ALIGNED(qiov->iov[i].iov_len, s->buf_align)) {
            return false;
        }
    }
    return true;
}

/* Point the engine pointers at the current context's engines. */
static void raw_refresh_engine(BDRVRawState *s)
{
    AioContext *ctx = qemu_get_current_aio_context();

    if (likely(ctx == s->engine_ctx)) {
        return;
    }
    if (!raw_attach_engine(s, ctx, NULL)) {
        /* The kernel refuses an engine for this context: use threads. */
        s->engine = RAW_ENGINE_THREADS;
    }
}

/*
 * The thread-pool engine's fast path for reads through the page cache:
 * when every byte is cached, preadv2(RWF_NOWAIT) copies it at once, and
 * the request costs one system call instead of a trip through a worker
 * thread, its wake-up and the completion bottom half.  Anything short of
 * the whole request (a page not cached, the end of the file, an error)
 * leaves it to the worker, which reads it all again; a kernel that does
 * not know the flag turns the path off.  Never on O_DIRECT descriptors,
 * where the call would wait for the disk.
 */
/* Larger reads are left to the workers: there the copy, not the trip
 * through the pool, is the cost, and workers copy in parallel while the
 * loop goes on. */
#define RAW_INLINE_READ_MAX (128 * KiB)

static bool raw_read_cached(BDRVRawState *s, int64_t offset, QEMUIOVector *qiov)
{
#if defined(RWF_NOWAIT) && defined(HAVE_PREADV2)
    ssize_t n;

    if (qiov->niov > IOV_MAX) {
        return false;
    }
    n = preadv2(s->fd, qiov->iov, qiov->niov, offset, RWF_NOWAIT);
    if (n == (ssize_t)qiov->size) {
        raw_aio_mark_defined(qiov, 0, qiov->size);
        return true;
    }
    if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)) {
        s->try_nowait = false;
    }
#else
    (void)s;
    (void)offset;
    (void)qiov;
#endif
    return false;
}

static int coroutine_fn raw_co_submit(BDRVRawState *s, int64_t offset,
                                      QEMUIOVector *qiov, RawAioType type)
{
    raw_refresh_engine(s);
    switch (s->engine) {
#ifdef CONFIG_LINUX_AIO
    case RAW_ENGINE_NATIVE:
        return laio_co_submit(s->laio, s->fd, offset, qiov, type,
                              s->aio_max_batch);
#endif
#ifdef CONFIG_LINUX_IO_URING
    case RAW_ENGINE_IO_URING:
        /* Writes into holes are not allocated first here (see
         * docs/file-posix.md); copies into them still are. */
        if (type == RAW_AIO_WRITE) {
            raw_note_allocated(s, offset, (int64_t)qiov->size);
        }
        return luring_co_submit(s->luring, s->fd, offset, qiov, type,
                                s->aio_max_batch);
#endif
    default:
        if (type == RAW_AIO_READ && s->try_nowait &&
            qiov->size <= RAW_INLINE_READ_MAX &&
            raw_read_cached(s, offset, qiov)) {
            return 0;
        }
        if (type == RAW_AIO_WRITE && s->alloc_first && offset >= s->hole_start &&
            qiov->size >= RAW_ALLOC_FIRST_MIN) {
            raw_note_allocated(s, offset, (int64_t)qiov->size);
            return raw_threads_co_write_new(qemu_get_current_aio_context(),
                                            s->fd, offset, qiov, type,
                                            &s->alloc_first);
        }
        if (type == RAW_AIO_WRITE) {
            raw_note_allocated(s, offset, (int64_t)qiov->size);
        }
        return raw_threads_co_submit(qemu_get_current_aio_context(), s->fd,
                                     offset, qiov, type);
    }
}

static int coroutine_fn raw_co_prw(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, QEMUIOVector *qiov,
                                   RawAioType type)
{
    BDRVRawState *s = bs->opaque;
    QEMUIOVector bounce_qiov;
    void *bounce;
    int ret;

    assert(qemu_in_coroutine());
    assert(offset >= 0 && bytes >= 0 && (uint64_t)bytes == qiov->size);
    if (s->fd < 0) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    if (raw_qiov_usable(s, qiov)) {
        return raw_co_submit(s, offset, qiov, type);
    }

    /* Bounce through one aligned buffer. */
    bounce = qemu_try_memalign(MAX(s->buf_align, qemu_real_host_page_size()),
                               (size_t)bytes);
    if (!bounce) {
        return -ENOMEM;
    }
    if (type == RAW_AIO_WRITE) {
        qemu_iovec_to_buf(qiov, 0, bounce, (size_t)bytes);
    }
    qemu_iovec_init_buf(&bounce_qiov, bounce, (size_t)bytes);
    ret = raw_co_submit(s, offset, &bounce_qiov, type);
    if (ret == 0 && type == RAW_AIO_READ) {
        qemu_iovec_from_buf(qiov, 0, bounce, (size_t)bytes);
    }
    qemu_vfree(bounce);
    return ret;
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    return raw_co_prw(bs, offset, bytes, qiov, RAW_AIO_READ);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    return raw_co_prw(bs, offset, bytes, qiov, RAW_AIO_WRITE);
}

static int coroutine_fn raw_co_flush(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    if (s->fd < 0) {
        return -EBADF;
    }
    if (s->flush_error) {
        /* See the file comment: once lost, always failed. */
        return -EIO;
    }
    raw_refresh_engine(s);
    {
        QEMUIOVector none = { 0 };

#ifdef CONFIG_LINUX_IO_URING
        if (s->engine == RAW_ENGINE_IO_URING) {
            ret = luring_co_submit(s->luring, s->fd, 0, &none, RAW_AIO_FLUSH, 0);
        } else
#endif
        {
            ret = raw_threads_co_submit(qemu_get_current_aio_context(), s->fd,
                                        0, &none, RAW_AIO_FLUSH);
        }
    }
    if (ret < 0) {
        s->flush_error = ret;
    }
    return ret;
}

/* Run an allocation change on the thread pool and remember what the file
 * system turned out not to support. */
static int coroutine_fn raw_co_alloc(BDRVRawState *s, RawAllocWork *w)
{
    int ret;

    w->fd = s->fd;
    w->is_blockdev = s->is_blockdev;
    w->punch_hole = s->has_punch_hole;
    w->zero_range = s->has_zero_range;
    ret = raw_run_blocking(raw_work_alloc, w);
    s->has_punch_hole = w->punch_hole;
    s->has_zero_range = w->zero_range;
    return ret;
}

/* ---- copy offload ---- */

typedef struct RawCopyWork {
    int src_fd, dst_fd;
    int64_t src_offset, dst_offset, bytes;
    bool alloc_first;           /* in: the target range is a hole; out:
                                 * cleared if it cannot be allocated */
    bool no_syscall;            /* out: the kernel lacks copy_file_range */
} RawCopyWork;

/* Runs on a worker: copy_file_range(2) until all bytes are copied.  On
 * one file system the kernel may share extents (reflinks) or copy inside
 * the page cache; either way the data never passes through us. */
static int raw_work_copy(void *opaque)
{
    RawCopyWork *w = opaque;
#ifdef HAVE_COPY_FILE_RANGE
    int64_t done = 0;

    if (w->alloc_first &&
        !raw_allocate_range(w->dst_fd, w->dst_offset, w->bytes)) {
        w->alloc_first = false;
    }

    while (done < w->bytes) {
        off_t in = (off_t)(w->src_offset + done);
        off_t out = (off_t)(w->dst_offset + done);
        ssize_t n = copy_file_range(w->src_fd, &in, w->dst_fd, &out,
                                    (size_t)MIN(w->bytes - done, (int64_t)GiB),
                                    0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOSYS) {
                w->no_syscall = true;
            }
            /* EXDEV (two file systems), EINVAL (overlap, a file type
             * that cannot), EOPNOTSUPP...: the caller copies by hand;
             * real I/O errors are reported as such. */
            return (errno == EIO || errno == ENOSPC || errno == EDQUOT ||
                    errno == EFBIG || errno == ENOMEM) ? -errno : -ENOTSUP;
        }
        if (n == 0) {
            /* The source ends before the range does (it shrank): reads
             * know how to fill that with zeroes. */
            return -ENOTSUP;
        }
        done += n;
    }
    return 0;
#else
    w->no_syscall = true;
    return -ENOTSUP;
#endif
}

static int coroutine_fn raw_co_copy_range_from(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvChild *dst,
                                               int64_t dst_offset,
                                               BdrvRequestFlags flags)
{
    return bdrv_co_copy_range_to(dst, dst_offset, bs, offset, bytes, flags);
}

/*
 * File systems where copy_file_range(2) has nothing of its own to offer:
 * no reflinks and no copy in the storage, so the kernel's copy is a
 * splice of page-cache pages into the target under its inode lock, one
 * pipe's worth (64 KiB) at a time.  On a 2-CPU machine with ext4 that
 * took 0.29 s for 1 GiB with two copies in flight (0.34 s with one),
 * where reading into memory and writing took 0.25 s
 * (docs/performance.md).  Everything else (xfs, btrfs, NFS, SMB, Ceph,
 * FUSE, overlayfs...) may offload and is given the chance.
 */
static bool raw_fs_copies_pages(int fd)
{
#ifdef __linux__
    struct statfs st;

    if (fstatfs(fd, &st) < 0) {
        return false;
    }
    switch ((unsigned long)st.f_type) {
    case 0xef53:            /* ext2, ext3, ext4 */
    case 0x01021994:        /* tmpfs */
    case 0x858458f6:        /* ramfs */
        return true;
    }
#else
    (void)fd;
#endif
    return false;
}

static bool raw_copy_range_offloads(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    return s->fd >= 0 && s->has_copy_range && !s->direct &&
           !raw_fs_copies_pages(s->fd);
}

static int coroutine_fn raw_co_copy_range_to(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BlockDriverState *src,
                                             int64_t src_offset,
                                             BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    BDRVRawState *ss;
    RawCopyWork w;
    bool asked;
    int ret;

    /* Only between two nodes of this driver, both through the page cache
     * (O_DIRECT would need the kernel's bounce rules on both ends). */
    if (src->drv != bs->drv || !s->has_copy_range || s->direct ||
        s->fd < 0) {
        return -ENOTSUP;
    }
    ss = src->opaque;
    if (ss->fd < 0 || ss->direct) {
        return -ENOTSUP;
    }
    w = (RawCopyWork) {
        .src_fd = ss->fd, .dst_fd = s->fd, .src_offset = src_offset,
        .dst_offset = offset, .bytes = bytes,
        .alloc_first = s->alloc_first && offset >= s->hole_start &&
                       bytes >= RAW_ALLOC_FIRST_MIN,
    };
    asked = w.alloc_first;
    raw_note_allocated(s, offset, bytes);
    ret = raw_run_blocking(raw_work_copy, &w);
    if (w.no_syscall) {
        s->has_copy_range = false;
    }
    if (asked && !w.alloc_first) {
        s->alloc_first = false;
    }
    (void)flags;    /* FUA is not supported here: the core flushes */
    return ret;
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    RawAllocWork w = {
        .offset = offset, .bytes = bytes,
        .mode = (flags & BDRV_REQ_MAY_UNMAP) ? RAW_ZERO_UNMAP : 0,
    };

    if (s->fd < 0) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    raw_note_allocated(s, offset, bytes);
    return raw_co_alloc(s, &w);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    RawAllocWork w = {
        .offset = offset, .bytes = bytes, .mode = RAW_ZERO_DISCARD,
    };

    if (s->fd < 0) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    if (!s->is_blockdev && !s->has_punch_hole) {
        return -ENOTSUP;
    }
    return raw_co_alloc(s, &w);
}

/*
 * Data or hole at @offset, from SEEK_DATA/SEEK_HOLE.  Sets *pnum to the
 * bytes (at most @bytes) that share the answer.  -ENOTSUP when the file
 * system cannot tell.
 */
static int raw_find_allocation(BDRVRawState *s, int64_t offset, int64_t bytes,
                               int64_t *pnum, bool *is_data)
{
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
    off_t data, hole;

    data = lseek(s->fd, offset, SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO) {
            /* In a hole that runs to the end of the file (or past it). */
            *is_data = false;
            *pnum = bytes;
            return 0;
        }
        return -ENOTSUP;
    }
    if (data > offset) {
        *is_data = false;
        *pnum = MIN(bytes, data - offset);
        return 0;
    }
    hole = lseek(s->fd, offset, SEEK_HOLE);
    if (hole < 0) {
        return -ENOTSUP;
    }
    if (hole <= offset) {
        /* Changed under our feet; claim data, which is always safe. */
        *is_data = true;
        *pnum = bytes;
        return 0;
    }
    *is_data = true;
    *pnum = MIN(bytes, hole - offset);
    return 0;
#else
    return -ENOTSUP;
#endif
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;
    uint32_t align = MAX(s->request_align, 1);
    bool is_data = true;
    int ret = BDRV_BLOCK_DATA;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    if (s->fd < 0) {
        return -EBADF;
    }
    if (!want_zero || !s->is_regular || !s->has_seek_data) {
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    if (raw_find_allocation(s, offset, bytes, pnum, &is_data) < 0) {
        s->has_seek_data = false;
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    if (is_data) {
        /* A data extent ending inside an alignment unit (the end of an
         * unaligned file): round up, data is the safe answer. */
        *pnum = MIN(bytes, (int64_t)ROUND_UP((uint64_t)*pnum, align));
    } else {
        /* A hole shorter than an alignment unit cannot be reported. */
        int64_t aligned = QEMU_ALIGN_DOWN(*pnum, (int64_t)align);

        if (aligned > 0 || *pnum == bytes) {
            *pnum = aligned > 0 ? aligned : *pnum;
            ret = BDRV_BLOCK_ZERO;
        } else {
            *pnum = MIN(bytes, (int64_t)align);
        }
    }
    assert(*pnum > 0);
    return ret | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (s->fd < 0) {
        return -EBADF;
    }
#if defined(__linux__) && defined(BLKGETSIZE64)
    if (s->is_blockdev) {
        uint64_t size;

        if (ioctl(s->fd, BLKGETSIZE64, &size) < 0) {
            return -errno;
        }
        return size > INT64_MAX ? -EFBIG : (int64_t)size;
    }
#endif
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    if (s->is_regular) {
        return st.st_size;
    }
    {
        off_t end = lseek(s->fd, 0, SEEK_END);

        return end < 0 ? 0 : end;
    }
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (s->fd < 0) {
        return -EBADF;
    }
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int64_t cur;
    int ret;

    if (s->fd < 0) {
        error_setg(errp, "Could not resize file: image is not open");
        return -EBADF;
    }
    if (offset < 0) {
        error_setg(errp, "Invalid image size specified");
        return -EINVAL;
    }
    if (!s->is_regular) {
        cur = raw_getlength(bs);
        if (cur < 0) {
            error_setg_errno(errp, (int)-cur, "Could not get the device size");
            return (int)cur;
        }
        if (offset != cur && exact) {
            error_setg(errp, "Cannot resize device files");
            return -ENOTSUP;
        } else if (offset > cur) {
            error_setg(errp, "Cannot grow device files");
            return -EINVAL;
        }
        return 0;
    }

    if (prealloc != PREALLOC_MODE_OFF && prealloc != PREALLOC_MODE_FALLOC &&
        prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode: %s",
                   bdrv_prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    ret = raw_fstat_size(s->fd, &cur);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not stat file");
        return ret;
    }
    if (offset < cur) {
        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Cannot use preallocation for shrinking files");
            return -ENOTSUP;
        }
        /* A regular file takes the size asked for, exact or not, as
         * QEMU's file driver does (qemu-io truncate shrinks raw files). */
    } else if (offset == cur) {
        return 0;
    }
    if (offset < cur) {
        /* Nothing is left past the new end. */
        s->hole_start = s->alloc_first ? MIN(s->hole_start, offset) : INT64_MAX;
    } else if (prealloc != PREALLOC_MODE_OFF) {
        raw_note_allocated(s, cur, offset - cur);
    } else if (cur == 0) {
        raw_note_allocated(s, 0, MIN(offset, (int64_t)RAW_MAX_ALIGN));
    }
    return raw_regular_truncate(s->fd, cur, offset, prealloc, errp);
}

/* ---------------------------------------------------------------------
 * Creating
 * --------------------------------------------------------------------- */

static int raw_parse_prealloc(const char *str, PreallocMode *mode, Error **errp)
{
    if (!str) {
        *mode = PREALLOC_MODE_OFF;
    } else if (!bdrv_prealloc_mode_parse(str, mode)) {
        error_setg(errp, "invalid parameter value: %s", str);
        return -EINVAL;
    }
    return 0;
}

static void raw_set_nocow(int fd)
{
#if defined(__linux__) && defined(FS_IOC_GETFLAGS) && defined(FS_NOCOW_FL)
    int attr;

    /* Only btrfs knows the flag; elsewhere this quietly does nothing. */
    if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
        attr |= FS_NOCOW_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &attr) < 0) {
            /* A hint only. */
        }
    }
#else
    (void)fd;
#endif
}

static void raw_set_extent_size_hint(int fd, uint64_t hint)
{
#if defined(__linux__) && defined(FS_IOC_FSGETXATTR) && defined(FS_XFLAG_EXTSIZE)
    struct fsxattr attr;

    if (ioctl(fd, FS_IOC_FSGETXATTR, &attr) == 0) {
        attr.fsx_xflags |= FS_XFLAG_EXTSIZE;
        attr.fsx_extsize = (uint32_t)hint;
        if (ioctl(fd, FS_IOC_FSSETXATTR, &attr) < 0) {
            /* A hint only (XFS honours it, others may refuse). */
        }
    }
#else
    (void)fd;
    (void)hint;
#endif
}

static int coroutine_fn raw_co_create(BlockDriver *drv, const char *filename,
                                      QemuOpts *opts, Error **errp)
{
    BDRVRawState lock_state = { .fd = -1 };
    PreallocMode prealloc;
    uint64_t size, hint;
    bool nocow;
    int64_t cur = 0;
    int fd, ret;

    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    size = qemu_opt_get_size(opts, "size", 0);
    nocow = qemu_opt_get_bool(opts, "nocow", false);
    hint = qemu_opt_get_size(opts, "extent_size_hint", 1 * MiB);
    ret = raw_parse_prealloc(qemu_opt_get(opts, "preallocation"), &prealloc, errp);
    if (ret < 0) {
        return ret;
    }
    if (hint > UINT32_MAX) {
        error_setg(errp, "Extent size hint is too large");
        return -EINVAL;
    }
    if (size > INT64_MAX) {
        error_setg(errp, "Image size is too large");
        return -EFBIG;
    }

    fd = raw_open_fd(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644, "create",
                     errp);
    if (fd < 0) {
        return fd;
    }

    /* Creating truncates: that needs "write" and "resize", and nobody
     * else may resize meanwhile. */
    lock_state.fd = fd;
    lock_state.shared_perm = BLK_PERM_ALL;
    raw_setup_locking(&lock_state, NULL, false, NULL);
    if (lock_state.use_lock) {
        ret = raw_lock_perm(&lock_state, fd, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                            BLK_PERM_ALL & ~BLK_PERM_RESIZE, filename, errp);
        if (ret < 0) {
            goto out;
        }
    }

    if (nocow) {
        raw_set_nocow(fd);
    }
    if (ftruncate(fd, 0) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not resize file");
        goto out;
    }
    if (prealloc == PREALLOC_MODE_METADATA) {
        /* Refused only now, as QEMU refuses it: the file is left
         * created (or truncated) and empty. */
        error_setg(errp, "Unsupported preallocation mode: %s",
                   bdrv_prealloc_mode_name(prealloc));
        ret = -ENOTSUP;
        goto out;
    }
    if (hint) {
        raw_set_extent_size_hint(fd, hint);
    }
    ret = raw_fstat_size(fd, &cur);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not stat file");
        goto out;
    }
    if (size) {
        ret = raw_regular_truncate(fd, cur, (int64_t)size, prealloc, errp);
    }

out:
    if (lock_state.use_lock) {
        raw_apply_lock_bytes(&lock_state, fd, 0, 0, true, NULL);
    }
    if (close(fd) < 0 && ret == 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not close the new file");
    }
    return ret;
}

static const QemuOptsList raw_create_opts = {
    .name = "raw-create-opts",
    .desc = {
        { "size", QEMU_OPT_SIZE, "Virtual disk size", NULL },
        { "nocow", QEMU_OPT_BOOL, "Turn off copy-on-write (valid only on btrfs)",
          NULL },
        { "preallocation", QEMU_OPT_STRING,
          "Preallocation mode (allowed values: off, falloc, full)", NULL },
        { "extent_size_hint", QEMU_OPT_SIZE,
          "Extent size hint for the image file, 0 to disable", NULL },
        { NULL, 0, NULL, NULL },
    },
};

static const char *const file_strong_opts[] = { "filename", NULL };

/* A plain file has no clusters and no VM state: an empty answer. */
static int file_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    return 0;
}

static int raw_delete_file(const char *filename, Error **errp)
{
    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    if (unlink(filename) < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Error when deleting file %s", filename);
        return -err;
    }
    return 0;
}

const BlockDriver bdrv_file = {
    .strong_runtime_opts = file_strong_opts,
    .get_info = file_get_info,
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "file",
    .protocol_name = "file",
    .instance_size = sizeof(BDRVRawState),
    .growable = true,

    .parse_filename = raw_parse_filename,
    .open = raw_open,
    .close = raw_close,
    .refresh_limits = raw_refresh_limits,
    .set_perm = raw_set_perm,
    .create = raw_co_create,
    .create_opts = &raw_create_opts,
    .delete_file = raw_delete_file,

    .preadv = raw_co_preadv,
    .pwritev = raw_co_pwritev,
    .pwrite_zeroes = raw_co_pwrite_zeroes,
    .pdiscard = raw_co_pdiscard,
    .flush = raw_co_flush,
    .block_status = raw_co_block_status,
    .truncate = raw_co_truncate,
    .copy_range_from = raw_co_copy_range_from,
    .copy_range_to = raw_co_copy_range_to,
    .copy_range_offloads = raw_copy_range_offloads,
    .getlength = raw_getlength,
    .get_allocated_file_size = raw_get_allocated_file_size,

    .supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
    .supported_truncate_flags = BDRV_REQ_ZERO_WRITE,
};
