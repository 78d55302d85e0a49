/*
 * coblock — the "file" protocol driver on Windows
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A node of this driver is one file HANDLE, always opened with
 * FILE_FLAG_OVERLAPPED, so that any number of requests may be in flight
 * on it at once (a synchronous handle makes Windows serialise every call
 * on it).  Options, create options and messages are those of the POSIX
 * driver (block/file-posix.c): filename, aio, locking, aio-max-batch.
 *
 * Engines (file.aio=)
 * -------------------
 *   native    the handle is associated with the completion port of the
 *             node's AioContext (util/aio-win32.c); requests start
 *             overlapped operations and yield, and the loop wakes them.
 *   threads   (default) a worker of the context's thread pool starts the
 *             operation and waits for it.  Reads that the system cache
 *             satisfies complete synchronously even on an overlapped
 *             handle, so this engine can be faster for cached I/O.
 * Flushes and size changes run on the thread pool with either engine.
 *
 * Vectors
 * -------
 * A request of several pieces becomes one overlapped operation per piece,
 * all in flight together (threads: one after the other on one worker);
 * nothing is copied.  With FILE_FLAG_NO_BUFFERING and pieces that are
 * whole, page-aligned pages, one ReadFileScatter / WriteFileGather moves
 * them all.  Only pieces that unbuffered I/O cannot use as they are
 * (misaligned), or vectors too long for one batch of operations, are
 * bounced through an aligned buffer.
 *
 * Cache modes
 * -----------
 * cache.direct=on opens with FILE_FLAG_NO_BUFFERING.  Offsets, lengths and
 * buffer addresses must then be multiples of the sector size, which is
 * probed (FILE_STORAGE_INFO, else IOCTL_DISK_GET_DRIVE_GEOMETRY for
 * devices, else GetDiskFreeSpace) and published in bs->bl, so the
 * generic layer pads requests; misaligned buffers are bounced here.
 * Writes that carry FUA (cache=writethrough, directsync) go through a
 * second handle to the same file opened with FILE_FLAG_WRITE_THROUGH.
 *
 * Sparse files, zeroes, discard, block status
 * -------------------------------------------
 * Where the volume supports sparse files (FILE_SUPPORTS_SPARSE_FILES), new
 * images are created sparse, discards and zero writes that may unmap
 * deallocate with FSCTL_SET_ZERO_DATA (making the file sparse first), and
 * block status asks FSCTL_QUERY_ALLOCATED_RANGES.  Elsewhere (and under
 * Wine, which offers none of this) discard reports -ENOTSUP, zero writes
 * fall back to writing zeroes in the generic layer, and every range is
 * reported as data.
 *
 * Image locking
 * -------------
 * The layout of the POSIX driver and QEMU — one lock byte per permission
 * held (base 100) and per permission not shared (base 200) — but placed
 * at WIN32_LOCK_BASE, far beyond any file's end, because Windows locks
 * are mandatory: a locked byte could not be written.  LockFileEx locks
 * belong to the handle, so two opens in one process exclude each other
 * like two processes.  Windows has no test-without-taking, and a handle's
 * own shared lock blocks its exclusive probe, so a change of permissions
 * runs under an exclusive "guard" byte: drop our bytes, probe the
 * conflicting ones with exclusive locks, take ours again.
 *
 * Synchronous calls on an associated handle that take an OVERLAPPED
 * (LockFileEx, a waited-for DeviceIoControl) use an event whose handle
 * value has the low bit set, which keeps their packets off the port.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "util/aio-int.h"
#include "util/aio-win32.h"
#include "util/win32-error.h"
#include "block/block_int.h"
#include "block/file-win32.h"
#include <coblock/thread-pool.h>

#include <winioctl.h>

/* Lock bytes: the POSIX layout, moved past the end of any file. */
#define WIN32_LOCK_BASE        UINT64_C(0x7fffffff00000000)
#define WIN32_LOCK_GUARD       0
#define WIN32_LOCK_PERM_BASE   100
#define WIN32_LOCK_SHARED_BASE 200
#define WIN32_LOCK_NBITS       4
/* How long a change of permissions waits for another's guard. */
#define WIN32_LOCK_GUARD_MS    5000

static const char *const win32_perm_names[WIN32_LOCK_NBITS] = {
    "consistent read", "write", "write unchanged", "resize",
};
QEMU_BUILD_BUG_ON(BLK_PERM_ALL != (1 << WIN32_LOCK_NBITS) - 1);

/* Operations started at once for one request before we bounce instead. */
#define WIN32_MAX_SEGS         64
#define WIN32_INLINE_SEGS      4
/* ReadFile counts in DWORDs. */
#define WIN32_MAX_TRANSFER     (1 * GiB)
#define WIN32_PREALLOC_CHUNK   (1 * MiB)
#define WIN32_FIRST_BLOCK      4096

typedef struct BDRVWin32State {
    HANDLE h;
    HANDLE h_wt;                /* FILE_FLAG_WRITE_THROUGH twin, or NULL */
    char *filename;
    bool is_device;
    bool nocache;
    bool native;
    AioContext *port_ctx;       /* the context whose port has our handles */
    bool skipping;              /* h: no packet on immediate success */
    bool skipping_wt;

    uint32_t sector_size;       /* unbuffered alignment (1 if buffered) */
    size_t buf_align;

    bool sparse_volume;
    bool sparse_file;
    bool has_zero_data;
    bool has_alloc_ranges;
    int flush_error;            /* sticky, as in file-posix */

    bool use_lock;
    uint64_t perm, shared_perm;
    uint64_t locked_perm, locked_shared_perm;

    FileWin32Stats stats;
} BDRVWin32State;

/* ---------------------------------------------------------------------
 * One operation: a read, write, scatter/gather or control code
 * --------------------------------------------------------------------- */

typedef enum Win32OpType {
    W32_READ,
    W32_WRITE,
    W32_READ_SCATTER,
    W32_WRITE_GATHER,
    W32_IOCTL,
} Win32OpType;

typedef struct Win32Job Win32Job;

typedef struct Win32Seg {
    Win32OpType type;
    HANDLE h;
    bool skipping;
    uint64_t offset;
    uint8_t *buf;               /* data; input of an IOCTL */
    FILE_SEGMENT_ELEMENT *pages;  /* scatter/gather, NULL-terminated */
    DWORD len;                  /* bytes to move; IOCTL input length */
    DWORD ioctl;
    void *out;
    DWORD out_len;
    DWORD done;                 /* bytes moved (IOCTL: bytes returned) */
    DWORD error;                /* ERROR_SUCCESS or what failed */
    bool eof;                   /* a read stopped at the end of the file */
    Win32Job *job;
    AioWin32Op op;
} Win32Seg;

struct Win32Job {
    Win32Seg *segs;
    int nsegs;
    int pending;                /* native: operations in flight */
    Coroutine *co;              /* native: waiting for them */
    AioContext *ctx;
};

static bool seg_is_read(const Win32Seg *seg)
{
    return seg->type == W32_READ || seg->type == W32_READ_SCATTER;
}

static BOOL seg_start(Win32Seg *seg, OVERLAPPED *ov)
{
    size_t page = qemu_real_host_page_size();
    DWORD left = seg->len - seg->done;

    switch (seg->type) {
    case W32_READ:
        return ReadFile(seg->h, seg->buf + seg->done, left, NULL, ov);
    case W32_WRITE:
        return WriteFile(seg->h, seg->buf + seg->done, left, NULL, ov);
    case W32_READ_SCATTER:
        return ReadFileScatter(seg->h, seg->pages + seg->done / page, left,
                               NULL, ov);
    case W32_WRITE_GATHER:
        return WriteFileGather(seg->h, seg->pages + seg->done / page, left,
                               NULL, ov);
    case W32_IOCTL:
        return DeviceIoControl(seg->h, seg->ioctl, seg->buf, seg->len,
                               seg->out, seg->out_len, NULL, ov);
    }
    SetLastError(ERROR_INVALID_PARAMETER);
    return FALSE;
}

/*
 * Account for one finished operation of @seg that moved @bytes with
 * @error.  Returns true when @seg is finished, false when the rest must
 * be started again (a write that stopped short).  A read that stops
 * short has reached the end of the file: the rest reads as zeroes.
 */
static bool seg_account(Win32Seg *seg, DWORD bytes, DWORD error)
{
    if (seg->type == W32_IOCTL) {
        seg->done = bytes;
        seg->error = error;
        return true;
    }
    if (error == ERROR_HANDLE_EOF && seg_is_read(seg)) {
        seg->eof = true;
        return true;
    }
    if (error != ERROR_SUCCESS) {
        seg->error = error;
        return true;
    }
    if (bytes > seg->len - seg->done) {
        seg->error = ERROR_INVALID_DATA;    /* more than asked: broken */
        return true;
    }
    seg->done += bytes;
    if (seg->done == seg->len) {
        return true;
    }
    if (seg_is_read(seg)) {
        seg->eof = true;
        return true;
    }
    if (bytes == 0) {
        seg->error = ERROR_DISK_FULL;
        return true;
    }
    if (seg->type == W32_WRITE_GATHER &&
        seg->done % qemu_real_host_page_size()) {
        seg->error = ERROR_INVALID_DATA;    /* cannot resume mid-page */
        return true;
    }
    return false;
}

/* Fill what a read that hit the end of the file left untouched. */
static void seg_zero_tail(Win32Seg *seg)
{
    size_t page = qemu_real_host_page_size();
    DWORD pos = seg->done;

    if (!seg->eof || pos >= seg->len) {
        return;
    }
    if (seg->type == W32_READ) {
        memset(seg->buf + pos, 0, seg->len - pos);
        return;
    }
    while (pos < seg->len) {
        uint8_t *p = (uint8_t *)(uintptr_t)seg->pages[pos / page].Buffer;
        DWORD in_page = (DWORD)(pos % page);
        DWORD n = (DWORD)MIN(page - in_page, (size_t)(seg->len - pos));

        memset(p + in_page, 0, n);
        pos += n;
    }
}

/* Run @seg to the end on the calling thread, waiting on @ev. */
static void seg_run_sync(Win32Seg *seg, HANDLE ev)
{
    for (;;) {
        OVERLAPPED ov;
        uint64_t off = seg->offset + seg->done;
        DWORD n = 0, err = ERROR_SUCCESS;
        BOOL ok;

        memset(&ov, 0, sizeof(ov));
        ov.Offset = (DWORD)off;
        ov.OffsetHigh = (DWORD)(off >> 32);
        /* Low bit set: no completion packet, should the handle be
         * associated with a port. */
        ov.hEvent = (HANDLE)((uintptr_t)ev | 1);
        ok = seg_start(seg, &ov);
        if (!ok) {
            err = GetLastError();
            if (err == ERROR_IO_PENDING) {
                WaitForSingleObject(ev, INFINITE);
                err = ERROR_SUCCESS;
                ok = TRUE;
            }
        }
        if (ok && !GetOverlappedResult(seg->h, &ov, &n, FALSE)) {
            err = GetLastError();
        }
        if (seg_account(seg, n, err)) {
            return;
        }
    }
}

/* Run every operation of @job on the calling thread (a worker, or a
 * caller outside coroutine context). */
static int job_run_sync(void *opaque)
{
    Win32Job *job = opaque;
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    int i;

    if (!ev) {
        for (i = 0; i < job->nsegs; i++) {
            job->segs[i].error = GetLastError();
        }
        return 0;
    }
    for (i = 0; i < job->nsegs; i++) {
        seg_run_sync(&job->segs[i], ev);
    }
    CloseHandle(ev);
    return 0;
}

static void seg_op_done(AioWin32Op *op);

/* Start @seg through the completion port of the job's context (again
 * after a short write).  Returns true if it is in flight. */
static bool seg_submit_native(Win32Seg *seg)
{
    for (;;) {
        BOOL ok;

        aio_win32_op_init(seg->job->ctx, &seg->op, seg->offset + seg->done,
                          seg_op_done, seg);
        ok = seg_start(seg, &seg->op.ov);
        if (aio_win32_op_started(&seg->op, seg->h, ok, seg->skipping)) {
            return true;
        }
        if (seg_account(seg, seg->op.bytes, seg->op.error)) {
            return false;
        }
    }
}

static void seg_op_done(AioWin32Op *op)
{
    Win32Seg *seg = op->opaque;
    Win32Job *job = seg->job;

    if (!seg_account(seg, op->bytes, op->error) && seg_submit_native(seg)) {
        return;
    }
    if (--job->pending == 0 && job->co) {
        aio_co_wake(job->co);   /* last use of @job */
    }
}

/*
 * Run @job with the node's engine.  Every operation has finished (and
 * its buffers are free again) when this returns.
 */
static int coroutine_fn job_run(BDRVWin32State *s, Win32Job *job)
{
    AioContext *ctx = qemu_get_current_aio_context();
    int i;

    for (i = 0; i < job->nsegs; i++) {
        job->segs[i].job = job;
    }
    /* Our handles sit on one context's port; a request from another
     * context takes the thread pool. */
    if (s->native && ctx == s->port_ctx) {
        job->ctx = ctx;
        job->pending = 0;
        job->co = NULL;
        for (i = 0; i < job->nsegs; i++) {
            if (seg_submit_native(&job->segs[i])) {
                job->pending++;
            }
        }
        s->stats.native_ops += job->nsegs;
        if (job->pending) {
            job->co = qemu_coroutine_self();
            while (job->pending) {
                qemu_coroutine_yield();
            }
        }
        return 0;
    }
    s->stats.thread_jobs++;
    return thread_pool_submit_co(aio_get_thread_pool(ctx), job_run_sync, job);
}

/* Run one operation on @h and wait for it, from any context. */
static DWORD win32_sync_ioctl(HANDLE h, DWORD code, void *in, DWORD in_len,
                              void *out, DWORD out_len, DWORD *returned)
{
    Win32Seg seg = {
        .type = W32_IOCTL, .h = h, .ioctl = code, .buf = in, .len = in_len,
        .out = out, .out_len = out_len,
    };
    Win32Job job = { .segs = &seg, .nsegs = 1 };

    job_run_sync(&job);
    if (returned) {
        *returned = seg.done;
    }
    return seg.error;
}

/* The file system has no such call (Wine answers most FSCTLs so). */
static bool win32_unsupported(DWORD err)
{
    return err == ERROR_NOT_SUPPORTED || err == ERROR_INVALID_FUNCTION ||
           err == ERROR_CALL_NOT_IMPLEMENTED ||
           err == ERROR_INVALID_PARAMETER;
}

/* ---------------------------------------------------------------------
 * Blocking helpers for the thread pool
 * --------------------------------------------------------------------- */

/* Run @func(@arg) on the current context's pool from a coroutine, else
 * directly. */
static int win32_run_blocking(ThreadPoolFunc *func, void *arg)
{
    if (qemu_in_coroutine()) {
        AioContext *ctx = qemu_get_current_aio_context();

        return thread_pool_submit_co(aio_get_thread_pool(ctx), func, arg);
    }
    return func(arg);
}

static int win32_get_size(HANDLE h, int64_t *size)
{
    LARGE_INTEGER li;

    if (!GetFileSizeEx(h, &li)) {
        return -win32_error_to_errno(GetLastError());
    }
    *size = li.QuadPart;
    return 0;
}

static int win32_set_eof(HANDLE h, int64_t size)
{
    FILE_END_OF_FILE_INFO info = { .EndOfFile.QuadPart = size };

    if (!SetFileInformationByHandle(h, FileEndOfFileInfo, &info, sizeof(info))) {
        return -win32_error_to_errno(GetLastError());
    }
    return 0;
}

typedef struct Win32FlushWork {
    HANDLE h;
} Win32FlushWork;

static int win32_work_flush(void *opaque)
{
    Win32FlushWork *w = opaque;

    if (!FlushFileBuffers(w->h)) {
        return -win32_error_to_errno(GetLastError());
    }
    return 0;
}

/* Write zeroes over [from, to) with plain writes. */
static int win32_write_zeroes_slow(HANDLE h, int64_t from, int64_t to)
{
    uint8_t *buf = qemu_try_memalign(WIN32_FIRST_BLOCK, WIN32_PREALLOC_CHUNK);
    Win32Seg seg;
    Win32Job job = { .segs = &seg, .nsegs = 1 };
    int ret = 0;

    if (!buf) {
        return -ENOMEM;
    }
    memset(buf, 0, WIN32_PREALLOC_CHUNK);
    while (from < to) {
        memset(&seg, 0, sizeof(seg));
        seg.type = W32_WRITE;
        seg.h = h;
        seg.offset = (uint64_t)from;
        seg.buf = buf;
        seg.len = (DWORD)MIN((int64_t)WIN32_PREALLOC_CHUNK, to - from);
        job_run_sync(&job);
        if (seg.error) {
            ret = -win32_error_to_errno(seg.error);
            break;
        }
        from += seg.len;
    }
    qemu_vfree(buf);
    return ret;
}

typedef enum {
    WIN32_TRUNC_OK,
    WIN32_TRUNC_ERR_RESIZE,     /* "Could not resize file" */
    WIN32_TRUNC_ERR_PREALLOC,   /* "Could not preallocate new data" */
    WIN32_TRUNC_ERR_ZEROES,     /* "Could not write zeros for preallocation" */
    WIN32_TRUNC_ERR_FLUSH,      /* "Could not flush file to disk" */
} Win32TruncErr;

typedef struct Win32TruncWork {
    HANDLE h;
    int64_t old_size;
    int64_t offset;
    PreallocMode prealloc;
    Win32TruncErr err;
} Win32TruncWork;

/* Zero the first block of a new file, as the POSIX driver does, so that
 * both leave the same file behind.  Best effort. */
static void win32_allocate_first_block(HANDLE h, int64_t size)
{
    int64_t len = size < WIN32_FIRST_BLOCK ? BDRV_SECTOR_SIZE : WIN32_FIRST_BLOCK;

    if (len <= size) {
        win32_write_zeroes_slow(h, 0, len);
    }
}

static int win32_work_truncate(void *opaque)
{
    Win32TruncWork *w = opaque;
    int ret = 0;

    w->err = WIN32_TRUNC_OK;
    switch (w->prealloc) {
    case PREALLOC_MODE_OFF:
        ret = win32_set_eof(w->h, w->offset);
        if (ret < 0) {
            w->err = WIN32_TRUNC_ERR_RESIZE;
            return ret;
        }
        if (w->old_size == 0 && w->offset > 0) {
            win32_allocate_first_block(w->h, w->offset);
        }
        return 0;

    case PREALLOC_MODE_FALLOC:
        if (w->offset > w->old_size) {
            FILE_ALLOCATION_INFO ai = { .AllocationSize.QuadPart = w->offset };

            /* Reserve the clusters, then move the end of the file.  A
             * file system without allocation control gets the blocks
             * written instead (as posix_fallocate does). */
            if (!SetFileInformationByHandle(w->h, FileAllocationInfo, &ai,
                                            sizeof(ai))) {
                DWORD err = GetLastError();

                if (!win32_unsupported(err)) {
                    ret = -win32_error_to_errno(err);
                    w->err = WIN32_TRUNC_ERR_PREALLOC;
                    break;
                }
                ret = win32_set_eof(w->h, w->offset);
                if (ret == 0) {
                    ret = win32_write_zeroes_slow(w->h, w->old_size, w->offset);
                }
                if (ret < 0) {
                    w->err = WIN32_TRUNC_ERR_PREALLOC;
                    break;
                }
            } else {
                ret = win32_set_eof(w->h, w->offset);
                if (ret < 0) {
                    w->err = WIN32_TRUNC_ERR_RESIZE;
                    break;
                }
            }
            if (w->old_size == 0) {
                win32_allocate_first_block(w->h, w->offset);
            }
        }
        return 0;

    case PREALLOC_MODE_FULL:
        ret = win32_set_eof(w->h, w->offset);
        if (ret < 0) {
            w->err = WIN32_TRUNC_ERR_RESIZE;
            return ret;
        }
        ret = win32_write_zeroes_slow(w->h, w->old_size, w->offset);
        if (ret < 0) {
            w->err = WIN32_TRUNC_ERR_ZEROES;
            break;
        }
        if (!FlushFileBuffers(w->h)) {
            ret = -win32_error_to_errno(GetLastError());
            w->err = WIN32_TRUNC_ERR_FLUSH;
            break;
        }
        return 0;

    default:
        return -ENOTSUP;
    }

    /* Failed part-way through growing: give the space back. */
    win32_set_eof(w->h, w->old_size);
    return ret;
}

static int win32_regular_truncate(HANDLE h, int64_t old_size, int64_t offset,
                                  PreallocMode prealloc, Error **errp)
{
    Win32TruncWork w = {
        .h = h, .old_size = old_size, .offset = offset, .prealloc = prealloc,
    };
    int ret = win32_run_blocking(win32_work_truncate, &w);

    if (ret < 0) {
        switch (w.err) {
        case WIN32_TRUNC_ERR_PREALLOC:
            error_setg_errno(errp, -ret, "Could not preallocate new data");
            break;
        case WIN32_TRUNC_ERR_ZEROES:
            error_setg_errno(errp, -ret, "Could not write zeros for preallocation");
            break;
        case WIN32_TRUNC_ERR_FLUSH:
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

/* Lock (shared or exclusive) or unlock one lock byte, never waiting.
 * Returns ERROR_SUCCESS or the Win32 error (ERROR_LOCK_VIOLATION when
 * someone else holds a conflicting lock). */
static DWORD win32_lock_byte(HANDLE h, int byte, bool lock, bool exclusive)
{
    uint64_t off = WIN32_LOCK_BASE + (uint64_t)byte;
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    OVERLAPPED ov;
    DWORD err = ERROR_SUCCESS, n;
    BOOL ok;

    if (!ev) {
        return GetLastError();
    }
    memset(&ov, 0, sizeof(ov));
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)(off >> 32);
    ov.hEvent = (HANDLE)((uintptr_t)ev | 1);
    if (lock) {
        ok = LockFileEx(h, LOCKFILE_FAIL_IMMEDIATELY |
                        (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0),
                        0, 1, 0, &ov);
    } else {
        ok = UnlockFileEx(h, 0, 1, 0, &ov);
    }
    if (!ok) {
        err = GetLastError();
        if (err == ERROR_IO_PENDING) {
            WaitForSingleObject(ev, INFINITE);
            err = GetOverlappedResult(h, &ov, &n, FALSE) ? ERROR_SUCCESS
                                                         : GetLastError();
        }
    }
    CloseHandle(ev);
    return err;
}

/* 1 if someone else holds a lock on @byte, 0 if not, -errno if the
 * probe failed.  Our own handle must not hold @byte. */
static int win32_test_byte(HANDLE h, int byte)
{
    DWORD err = win32_lock_byte(h, byte, true, true);

    if (err == ERROR_SUCCESS) {
        win32_lock_byte(h, byte, false, false);
        return 0;
    }
    return err == ERROR_LOCK_VIOLATION ? 1 : -win32_error_to_errno(err);
}

static int win32_guard_lock(HANDLE h)
{
    ULONGLONG start = GetTickCount64();

    for (;;) {
        DWORD err = win32_lock_byte(h, WIN32_LOCK_GUARD, true, true);

        if (err == ERROR_SUCCESS) {
            return 0;
        }
        if (err != ERROR_LOCK_VIOLATION ||
            GetTickCount64() - start > WIN32_LOCK_GUARD_MS) {
            return err == ERROR_LOCK_VIOLATION ? -EAGAIN
                                               : -win32_error_to_errno(err);
        }
        Sleep(1);
    }
}

/* Hold byte 100 + i for each bit of @perm_bits and 200 + i for each bit
 * of @unshared_bits, and nothing else.  Stops at the first failure. */
static int win32_apply_lock_bytes(BDRVWin32State *s, HANDLE h,
                                  uint64_t perm_bits, uint64_t unshared_bits,
                                  Error **errp)
{
    int pass, i;

    for (pass = 0; pass < 2; pass++) {
        uint64_t want = pass ? unshared_bits : perm_bits;
        uint64_t *held = pass ? &s->locked_shared_perm : &s->locked_perm;
        int base = pass ? WIN32_LOCK_SHARED_BASE : WIN32_LOCK_PERM_BASE;

        for (i = 0; i < WIN32_LOCK_NBITS; i++) {
            uint64_t bit = UINT64_C(1) << i;
            bool on = (want & bit) != 0;
            DWORD err;

            if (on == ((*held & bit) != 0)) {
                continue;
            }
            err = win32_lock_byte(h, base + i, on, false);
            if (err != ERROR_SUCCESS) {
                error_setg_win32(errp, err, "Failed to %s byte %d",
                                 on ? "lock" : "unlock", base + i);
                return -win32_error_to_errno(err);
            }
            *held ^= bit;
        }
    }
    return 0;
}

/* Probe, with our own bytes released, that nobody refuses to share what
 * we want and nobody holds what we refuse to share. */
static int win32_check_lock_bytes(HANDLE h, uint64_t perm, uint64_t shared,
                                  const char *filename, Error **errp)
{
    int i, ret;

    for (i = 0; i < WIN32_LOCK_NBITS; i++) {
        if (perm & (UINT64_C(1) << i)) {
            ret = win32_test_byte(h, WIN32_LOCK_SHARED_BASE + i);
            if (ret) {
                error_setg(errp, "Failed to get \"%s\" lock", win32_perm_names[i]);
                error_append_hint(errp, "Is another process using the image [%s]?\n",
                                  filename);
                return ret < 0 ? ret : -EAGAIN;
            }
        }
    }
    for (i = 0; i < WIN32_LOCK_NBITS; i++) {
        if (!(shared & (UINT64_C(1) << i))) {
            ret = win32_test_byte(h, WIN32_LOCK_PERM_BASE + i);
            if (ret) {
                error_setg(errp, "Failed to get shared \"%s\" lock",
                           win32_perm_names[i]);
                error_append_hint(errp, "Is another process using the image [%s]?\n",
                                  filename);
                return ret < 0 ? ret : -EAGAIN;
            }
        }
    }
    return 0;
}

static int win32_lock_perm(BDRVWin32State *s, HANDLE h, uint64_t perm,
                           uint64_t shared, const char *filename, Error **errp)
{
    uint64_t old_perm = s->locked_perm, old_unshared = s->locked_shared_perm;
    int ret;

    perm &= BLK_PERM_ALL;
    shared &= BLK_PERM_ALL;
    ret = win32_guard_lock(h);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to lock byte %d", WIN32_LOCK_GUARD);
        return ret;
    }
    ret = win32_apply_lock_bytes(s, h, 0, 0, errp);
    if (ret == 0) {
        ret = win32_check_lock_bytes(h, perm, shared, filename, errp);
        if (ret == 0) {
            ret = win32_apply_lock_bytes(s, h, perm, ~shared & BLK_PERM_ALL,
                                         errp);
        }
    }
    if (ret < 0) {
        /* Back to what we held: under the guard nobody took it. */
        win32_apply_lock_bytes(s, h, old_perm, old_unshared, NULL);
    } else {
        s->perm = perm;
        s->shared_perm = shared;
    }
    win32_lock_byte(h, WIN32_LOCK_GUARD, false, false);
    return ret;
}

static int win32_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                          Error **errp)
{
    BDRVWin32State *s = bs->opaque;

    if (!s->use_lock) {
        s->perm = perm & BLK_PERM_ALL;
        s->shared_perm = shared & BLK_PERM_ALL;
        return 0;
    }
    return win32_lock_perm(s, s->h, perm, shared, s->filename, errp);
}

/* locking=off never, on always, auto (the default) when the file system
 * takes byte-range locks. */
static int win32_setup_locking(BDRVWin32State *s, HANDLE h, const char *mode,
                               bool force_share, Error **errp)
{
    bool want, required;
    DWORD err;

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
    if (!want || force_share) {
        return 0;
    }
    /* Does this file system lock at all?  Take and drop a shared lock on
     * the guard byte (someone else's guard makes it fail, which answers
     * the question as well). */
    err = win32_lock_byte(h, WIN32_LOCK_GUARD, true, false);
    if (err == ERROR_SUCCESS) {
        win32_lock_byte(h, WIN32_LOCK_GUARD, false, false);
    }
    if (err == ERROR_SUCCESS || err == ERROR_LOCK_VIOLATION) {
        s->use_lock = true;
        return 0;
    }
    if (required) {
        error_setg_win32(errp, err, "Failed to lock byte %d", WIN32_LOCK_GUARD);
        return -win32_error_to_errno(err);
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Opening
 * --------------------------------------------------------------------- */

static void win32_parse_filename(const char *filename, QDict *options,
                                 Error **errp)
{
    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    qdict_put_str(options, "filename", filename);
}

/* \\.\PhysicalDrive0, \\.\C: (either slash). */
static bool win32_is_device_path(const char *p)
{
    return (p[0] == '\\' || p[0] == '/') && (p[1] == '\\' || p[1] == '/') &&
           p[2] == '.' && (p[3] == '\\' || p[3] == '/');
}

/*
 * CreateFileW with the file name in UTF-8; sets *errp in QEMU's words
 * ("Could not ACTION 'NAME': REASON") and returns INVALID_HANDLE_VALUE on
 * failure.  A directory gets the message the POSIX build would give.
 */
static HANDLE win32_open_handle(const char *filename, bool writable,
                                DWORD disposition, DWORD flags,
                                const char *action, Error **errp)
{
    wchar_t *wname = win32_utf8_to_wide(filename);
    DWORD attrs;
    HANDLE h;

    if (!wname) {
        error_setg(errp, "Could not %s '%s': Invalid file name", action, filename);
        return INVALID_HANDLE_VALUE;
    }
    attrs = GetFileAttributesW(wname);
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY)) {
        if (writable) {
            error_setg_errno(errp, EISDIR, "Could not %s '%s'", action, filename);
        } else {
            error_setg(errp, "'file' driver requires '%s' to be a regular file",
                       filename);
        }
        free(wname);
        return INVALID_HANDLE_VALUE;
    }
    h = CreateFileW(wname, GENERIC_READ | (writable ? GENERIC_WRITE : 0),
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, disposition, FILE_ATTRIBUTE_NORMAL | flags, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        error_setg_win32(errp, GetLastError(), "Could not %s '%s'", action,
                         filename);
    }
    free(wname);
    return h;
}

/* What the volume under @h can do. */
static void win32_probe_volume(BDRVWin32State *s)
{
    DWORD fs_flags = 0;
    BY_HANDLE_FILE_INFORMATION info;

    s->sparse_volume = false;
    s->sparse_file = false;
    if (!s->is_device &&
        GetVolumeInformationByHandleW(s->h, NULL, 0, NULL, NULL, &fs_flags,
                                      NULL, 0)) {
        s->sparse_volume = (fs_flags & FILE_SUPPORTS_SPARSE_FILES) != 0;
    }
    if (s->sparse_volume && GetFileInformationByHandle(s->h, &info)) {
        s->sparse_file = (info.dwFileAttributes & FILE_ATTRIBUTE_SPARSE_FILE) != 0;
    }
    s->has_zero_data = s->sparse_volume;
    s->has_alloc_ranges = s->sparse_volume;
}

/* The sector size that unbuffered I/O must respect. */
static uint32_t win32_probe_sector_size(BDRVWin32State *s, const char *filename)
{
    FILE_STORAGE_INFO si;
    DISK_GEOMETRY geo;
    DWORD spc, bps = 0, free_clusters, total_clusters;
    wchar_t *wname, vol[MAX_PATH + 1];
    uint32_t size = 0;

    if (GetFileInformationByHandleEx(s->h, FileStorageInfo, &si, sizeof(si))) {
        size = MAX(si.LogicalBytesPerSector,
                   si.FileSystemEffectivePhysicalBytesPerSectorForAtomicity);
    }
    if (!size && s->is_device &&
        win32_sync_ioctl(s->h, IOCTL_DISK_GET_DRIVE_GEOMETRY, NULL, 0,
                         &geo, sizeof(geo), NULL) == ERROR_SUCCESS) {
        size = geo.BytesPerSector;
    }
    if (!size && (wname = win32_utf8_to_wide(filename)) != NULL) {
        if (GetVolumePathNameW(wname, vol, ARRAY_SIZE(vol)) &&
            GetDiskFreeSpaceW(vol, &spc, &bps, &free_clusters, &total_clusters)) {
            size = bps;
        }
        free(wname);
    }
    if (!size || !is_power_of_2(size) || size > 64 * KiB) {
        size = 4096;        /* no answer: the largest common sector */
    }
    return size;
}

static int win32_parse_engine(const char *name, int flags, bool *native,
                              Error **errp)
{
    if (!name) {
        *native = (flags & BDRV_O_NATIVE_AIO) != 0;
        if (flags & BDRV_O_IO_URING) {
            name = "io_uring";
        } else {
            return 0;
        }
    }
    if (!strcmp(name, "threads")) {
        *native = false;
    } else if (!strcmp(name, "native")) {
        *native = true;
    } else if (!strcmp(name, "io_uring")) {
        error_setg(errp, "aio=io_uring was specified, but is not supported "
                   "in this build.");
        return -EINVAL;
    } else {
        error_setg(errp, "invalid parameter value: %s", name);
        return -EINVAL;
    }
    return 0;
}

static AioContext *win32_node_context(BlockDriverState *bs)
{
    AioContext *ctx = bdrv_get_aio_context(bs);

    return ctx ? ctx : qemu_get_current_aio_context();
}

static void win32_close_handles(BDRVWin32State *s)
{
    if (s->h_wt && s->h_wt != INVALID_HANDLE_VALUE) {
        CloseHandle(s->h_wt);
    }
    s->h_wt = NULL;
    if (s->h && s->h != INVALID_HANDLE_VALUE) {
        CloseHandle(s->h);
    }
    s->h = NULL;
}

static int win32_open(BlockDriverState *bs, QDict *options, int flags,
                      Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    Error *local_err = NULL;
    const char *filename;
    char *locking = NULL;
    bool writable = (flags & BDRV_O_RDWR) != 0;
    DWORD hflags;
    int ret;

    memset(s, 0, sizeof(*s));
    s->shared_perm = BLK_PERM_ALL;

    filename = qdict_get_try_str(options, "filename");
    if (!filename) {
        error_setg(errp, "The 'file' block driver requires a file name");
        return -EINVAL;
    }
    s->filename = qemu_xstrdup(filename);
    qdict_del(options, "filename");

    ret = win32_parse_engine(qdict_get_try_str(options, "aio"), flags,
                             &s->native, errp);
    if (ret < 0) {
        goto fail;
    }
    qdict_del(options, "aio");

    /* Accepted for compatibility; the port takes operations one by one. */
    qdict_get_int_opt(options, "aio-max-batch", 0, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        ret = -EINVAL;
        goto fail;
    }
    qdict_del(options, "aio-max-batch");

    if (qdict_get_try_str(options, "locking")) {
        locking = qemu_xstrdup(qdict_get_try_str(options, "locking"));
    }
    qdict_del(options, "locking");

    s->is_device = win32_is_device_path(s->filename);
    s->nocache = (flags & BDRV_O_NOCACHE) != 0;
    hflags = FILE_FLAG_OVERLAPPED | (s->nocache ? FILE_FLAG_NO_BUFFERING : 0);
    s->h = win32_open_handle(s->filename, writable, OPEN_EXISTING, hflags,
                             "open", errp);
    if (s->h == INVALID_HANDLE_VALUE) {
        s->h = NULL;
        ret = -EINVAL;
        goto fail;
    }
    if (!s->is_device && GetFileType(s->h) != FILE_TYPE_DISK) {
        error_setg(errp, "'file' driver requires '%s' to be a regular file",
                   s->filename);
        ret = -EINVAL;
        goto fail;
    }

    ret = win32_setup_locking(s, s->h, locking,
                              (flags & BDRV_O_FORCE_SHARE) != 0, errp);
    if (ret < 0) {
        goto fail;
    }

    if (s->nocache) {
        s->sector_size = win32_probe_sector_size(s, s->filename);
        s->buf_align = s->sector_size;
    } else {
        s->sector_size = 1;
        s->buf_align = 1;
    }
    win32_probe_volume(s);

    /* FUA writes: a write-through twin of the handle.  Without it the
     * generic layer follows each FUA write with a flush. */
    if (writable) {
        HANDLE wt = ReOpenFile(s->h, GENERIC_READ | GENERIC_WRITE,
                               FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                               hflags | FILE_FLAG_WRITE_THROUGH);

        s->h_wt = wt == INVALID_HANDLE_VALUE ? NULL : wt;
    }

    if (s->native) {
        AioContext *ctx = win32_node_context(bs);

        ret = aio_win32_attach(ctx, s->h, true, &s->skipping);
        if (ret == 0 && s->h_wt) {
            ret = aio_win32_attach(ctx, s->h_wt, true, &s->skipping_wt);
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Unable to use native AIO");
            goto fail;
        }
        s->port_ctx = ctx;
    }

    bs->supported_write_flags = s->h_wt ? BDRV_REQ_FUA : 0;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    bs->supported_truncate_flags = s->is_device ? 0 : BDRV_REQ_ZERO_WRITE;
    free(locking);
    return 0;

fail:
    win32_close_handles(s);
    free(s->filename);
    s->filename = NULL;
    free(locking);
    return ret;
}

static void win32_close(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;

    if (s->h && s->use_lock) {
        win32_apply_lock_bytes(s, s->h, 0, 0, NULL);
    }
    win32_close_handles(s);
    free(s->filename);
    s->filename = NULL;
}

static void win32_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    size_t page = qemu_real_host_page_size();

    if (!s->filename) {
        return;             /* not open (yet) */
    }
    bs->bl.request_alignment = s->sector_size;
    bs->bl.min_mem_alignment = s->buf_align;
    bs->bl.opt_mem_alignment = MAX(s->buf_align, page);
    bs->bl.max_transfer = WIN32_MAX_TRANSFER;
}

bool file_win32_get_stats(BlockDriverState *bs, FileWin32Stats *st)
{
    BDRVWin32State *s;

    if (!bs || !bs->drv || strcmp(bs->drv->format_name, "file") != 0) {
        return false;
    }
    s = bs->opaque;
    *st = s->stats;
    st->native = s->native;
    st->nocache = s->nocache;
    st->write_through_handle = s->h_wt != NULL;
    st->sparse_volume = s->sparse_volume;
    st->sparse_file = s->sparse_file;
    st->zero_data = s->has_zero_data;
    st->allocated_ranges = s->has_alloc_ranges;
    st->locking = s->use_lock;
    st->sector_size = s->sector_size;
    return true;
}

/* ---------------------------------------------------------------------
 * Reads and writes
 * --------------------------------------------------------------------- */

/* Every piece can go to unbuffered I/O as it is. */
static bool win32_qiov_aligned(QEMUIOVector *qiov, size_t align)
{
    int i;

    if (align <= 1) {
        return true;
    }
    for (i = 0; i < qiov->niov; i++) {
        if (!QEMU_PTR_IS_ALIGNED(qiov->iov[i].iov_base, align) ||
            !QEMU_IS_ALIGNED(qiov->iov[i].iov_len, align)) {
            return false;
        }
    }
    return true;
}

static int coroutine_fn win32_co_rw(BlockDriverState *bs, int64_t offset,
                                    int64_t bytes, QEMUIOVector *qiov,
                                    BdrvRequestFlags flags, bool write)
{
    BDRVWin32State *s = bs->opaque;
    size_t page = qemu_real_host_page_size();
    Win32Seg inline_segs[WIN32_INLINE_SEGS];
    Win32Seg *segs = inline_segs;
    FILE_SEGMENT_ELEMENT *pages = NULL;
    Win32Job job;
    uint8_t *bounce = NULL;
    HANDLE h = s->h;
    bool skipping = s->skipping;
    int nsegs = 0, i, ret;
    size_t pos;

    assert(qemu_in_coroutine());
    assert(offset >= 0 && bytes >= 0 && (uint64_t)bytes == qiov->size);
    if (!s->h) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    if (bytes > WIN32_MAX_TRANSFER) {
        return -EINVAL;         /* max_transfer keeps this from happening */
    }
    if (write && (flags & BDRV_REQ_FUA) && s->h_wt) {
        h = s->h_wt;
        skipping = s->skipping_wt;
        s->stats.fua_writes++;
    }
    s->stats.requests++;

    if (qiov->niov > 1 && s->nocache && page <= 64 * KiB &&
        win32_qiov_aligned(qiov, page)) {
        /* Whole pages: one scatter/gather operation. */
        size_t npages = (size_t)bytes / page, k = 0;

        pages = qemu_try_malloc((npages + 1) * sizeof(*pages));
        if (!pages) {
            return -ENOMEM;
        }
        for (i = 0; i < qiov->niov; i++) {
            for (pos = 0; pos < qiov->iov[i].iov_len; pos += page) {
                pages[k++].Buffer =
                    PtrToPtr64((uint8_t *)qiov->iov[i].iov_base + pos);
            }
        }
        pages[k].Buffer = NULL;
        memset(&segs[0], 0, sizeof(segs[0]));
        segs[0].type = write ? W32_WRITE_GATHER : W32_READ_SCATTER;
        segs[0].pages = pages;
        segs[0].len = (DWORD)bytes;
        nsegs = 1;
        s->stats.scatter_gather++;
    } else if (win32_qiov_aligned(qiov, s->buf_align) &&
               qiov->niov <= WIN32_MAX_SEGS) {
        /* One operation per piece, in flight together. */
        if (qiov->niov > WIN32_INLINE_SEGS) {
            segs = qemu_try_malloc(sizeof(*segs) * (size_t)qiov->niov);
            if (!segs) {
                return -ENOMEM;
            }
        }
        pos = 0;
        for (i = 0; i < qiov->niov; i++) {
            if (!qiov->iov[i].iov_len) {
                continue;
            }
            memset(&segs[nsegs], 0, sizeof(segs[nsegs]));
            segs[nsegs].type = write ? W32_WRITE : W32_READ;
            segs[nsegs].buf = qiov->iov[i].iov_base;
            segs[nsegs].len = (DWORD)qiov->iov[i].iov_len;
            segs[nsegs].offset = (uint64_t)offset + pos;
            pos += qiov->iov[i].iov_len;
            nsegs++;
        }
        if (nsegs > 1) {
            s->stats.vectored++;
        }
    } else {
        /* Misaligned for unbuffered I/O, or too many pieces. */
        bounce = qemu_try_memalign(MAX(s->buf_align, page), (size_t)bytes);
        if (!bounce) {
            return -ENOMEM;
        }
        if (write) {
            qemu_iovec_to_buf(qiov, 0, bounce, (size_t)bytes);
        }
        memset(&segs[0], 0, sizeof(segs[0]));
        segs[0].type = write ? W32_WRITE : W32_READ;
        segs[0].buf = bounce;
        segs[0].len = (DWORD)bytes;
        nsegs = 1;
        s->stats.bounced++;
    }
    if (segs[0].type == W32_READ_SCATTER || segs[0].type == W32_WRITE_GATHER ||
        bounce) {
        segs[0].offset = (uint64_t)offset;
    }
    for (i = 0; i < nsegs; i++) {
        segs[i].h = h;
        segs[i].skipping = skipping;
    }

    job.segs = segs;
    job.nsegs = nsegs;
    ret = job_run(s, &job);
    for (i = 0; ret == 0 && i < nsegs; i++) {
        if (segs[i].error) {
            ret = -win32_error_to_errno(segs[i].error);
        }
    }
    if (ret == 0 && !write) {
        for (i = 0; i < nsegs; i++) {
            seg_zero_tail(&segs[i]);
        }
        if (bounce) {
            qemu_iovec_from_buf(qiov, 0, bounce, (size_t)bytes);
        }
    }
    qemu_vfree(bounce);
    free(pages);
    if (segs != inline_segs) {
        free(segs);
    }
    return ret;
}

static int coroutine_fn win32_co_preadv(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    return win32_co_rw(bs, offset, bytes, qiov, flags, false);
}

static int coroutine_fn win32_co_pwritev(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes, QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    return win32_co_rw(bs, offset, bytes, qiov, flags, true);
}

static int coroutine_fn win32_co_flush(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;
    Win32FlushWork w = { .h = s->h };
    int ret;

    if (!s->h) {
        return -EBADF;
    }
    if (s->flush_error) {
        return -EIO;
    }
    ret = win32_run_blocking(win32_work_flush, &w);
    if (ret < 0) {
        s->flush_error = ret;
    }
    return ret;
}

/* ---------------------------------------------------------------------
 * Zeroes, discard, block status
 * --------------------------------------------------------------------- */

/* One control code through the node's engine. */
static DWORD coroutine_fn win32_co_ioctl(BDRVWin32State *s, DWORD code,
                                         void *in, DWORD in_len, void *out,
                                         DWORD out_len, DWORD *returned)
{
    Win32Seg seg;
    Win32Job job = { .segs = &seg, .nsegs = 1 };

    memset(&seg, 0, sizeof(seg));
    seg.type = W32_IOCTL;
    seg.h = s->h;
    seg.skipping = s->skipping;
    seg.ioctl = code;
    seg.buf = in;
    seg.len = in_len;
    seg.out = out;
    seg.out_len = out_len;
    job_run(s, &job);
    if (returned) {
        *returned = seg.done;
    }
    return seg.error;
}

/* Make the file sparse, so that zeroed ranges are deallocated. */
static int coroutine_fn win32_co_make_sparse(BDRVWin32State *s)
{
    FILE_SET_SPARSE_BUFFER sp = { .SetSparse = TRUE };
    DWORD err;

    if (s->sparse_file) {
        return 0;
    }
    err = win32_co_ioctl(s, FSCTL_SET_SPARSE, &sp, sizeof(sp), NULL, 0, NULL);
    if (err != ERROR_SUCCESS) {
        if (win32_unsupported(err)) {
            s->sparse_volume = s->has_zero_data = s->has_alloc_ranges = false;
            return -ENOTSUP;
        }
        return -win32_error_to_errno(err);
    }
    s->sparse_file = true;
    return 0;
}

/*
 * Zero [offset, offset + bytes) with FSCTL_SET_ZERO_DATA, which on a
 * sparse file deallocates the range.  -ENOTSUP where that cannot be done
 * as asked: the range reaches past the end of the file (growing it here
 * could race with a write that grows it further), the file system has no
 * such call, or keeping the range allocated was required of a sparse
 * file.
 */
static int coroutine_fn win32_co_zero_range(BDRVWin32State *s, int64_t offset,
                                            int64_t bytes, bool unmap)
{
    FILE_ZERO_DATA_INFORMATION z;
    int64_t size = 0, end;
    DWORD err;
    int ret;

    if (s->is_device || !s->has_zero_data) {
        return -ENOTSUP;
    }
    if (CHECKED_ADD(offset, bytes, &end)) {
        return -EINVAL;
    }
    ret = win32_get_size(s->h, &size);
    if (ret < 0) {
        return ret;
    }
    if (end > size) {
        return -ENOTSUP;
    }
    if (unmap) {
        ret = win32_co_make_sparse(s);
        if (ret < 0) {
            return ret;
        }
    } else if (s->sparse_file) {
        return -ENOTSUP;
    }
    z.FileOffset.QuadPart = offset;
    z.BeyondFinalZero.QuadPart = end;
    err = win32_co_ioctl(s, FSCTL_SET_ZERO_DATA, &z, sizeof(z), NULL, 0, NULL);
    if (err != ERROR_SUCCESS) {
        if (win32_unsupported(err)) {
            s->has_zero_data = false;
            return -ENOTSUP;
        }
        return -win32_error_to_errno(err);
    }
    return 0;
}

static int coroutine_fn win32_co_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    BDRVWin32State *s = bs->opaque;

    if (!s->h) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    return win32_co_zero_range(s, offset, bytes,
                               (flags & BDRV_REQ_MAY_UNMAP) != 0);
}

static int coroutine_fn win32_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes)
{
    BDRVWin32State *s = bs->opaque;
    int64_t size = 0, end;
    int ret;

    if (!s->h) {
        return -EBADF;
    }
    if (!bytes) {
        return 0;
    }
    if (!s->sparse_volume || !s->has_zero_data) {
        return -ENOTSUP;
    }
    /* Nothing to give back past the end of the file. */
    ret = win32_get_size(s->h, &size);
    if (ret < 0) {
        return ret;
    }
    if (CHECKED_ADD(offset, bytes, &end)) {
        return -EINVAL;
    }
    end = MIN(end, size);
    if (offset >= end) {
        return 0;
    }
    return win32_co_zero_range(s, offset, end - offset, true);
}

/* Data or hole at @offset, from FSCTL_QUERY_ALLOCATED_RANGES.  -ENOTSUP
 * when the file system cannot tell. */
static int coroutine_fn win32_co_find_allocation(BDRVWin32State *s,
                                                 int64_t offset, int64_t bytes,
                                                 int64_t *pnum, bool *is_data)
{
    FILE_ALLOCATED_RANGE_BUFFER q, r;
    DWORD err, got = 0;
    int64_t start, end;

    q.FileOffset.QuadPart = offset;
    q.Length.QuadPart = bytes;
    err = win32_co_ioctl(s, FSCTL_QUERY_ALLOCATED_RANGES, &q, sizeof(q),
                         &r, sizeof(r), &got);
    if (err != ERROR_SUCCESS && err != ERROR_MORE_DATA) {
        return win32_unsupported(err) ? -ENOTSUP : -win32_error_to_errno(err);
    }
    if (got < sizeof(r)) {
        /* No allocated range at all in the window. */
        *is_data = false;
        *pnum = bytes;
        return 0;
    }
    start = r.FileOffset.QuadPart;
    if (CHECKED_ADD(start, r.Length.QuadPart, &end) || start < 0 ||
        end <= offset) {
        return -ENOTSUP;    /* an answer we cannot use: claim data */
    }
    if (start > offset) {
        *is_data = false;
        *pnum = MIN(bytes, start - offset);
    } else {
        *is_data = true;
        *pnum = MIN(bytes, end - offset);
    }
    return 0;
}

static int coroutine_fn win32_co_block_status(BlockDriverState *bs,
                                              bool want_zero, int64_t offset,
                                              int64_t bytes, int64_t *pnum,
                                              int64_t *map,
                                              BlockDriverState **file)
{
    BDRVWin32State *s = bs->opaque;
    uint32_t align = MAX(s->sector_size, 1);
    bool is_data = true;
    int ret = BDRV_BLOCK_DATA;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    if (!s->h) {
        return -EBADF;
    }
    if (!want_zero || s->is_device || !s->sparse_file || !s->has_alloc_ranges) {
        /* Not sparse: every byte up to the end is allocated. */
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    if (win32_co_find_allocation(s, offset, bytes, pnum, &is_data) < 0) {
        s->has_alloc_ranges = false;
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    if (is_data) {
        *pnum = MIN(bytes, (int64_t)ROUND_UP((uint64_t)*pnum, align));
    } else {
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

/* ---------------------------------------------------------------------
 * Size
 * --------------------------------------------------------------------- */

static int64_t win32_getlength(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;
    int64_t size = 0;
    int ret;

    if (!s->h) {
        return -EBADF;
    }
    if (s->is_device) {
        GET_LENGTH_INFORMATION li;
        DWORD err = win32_sync_ioctl(s->h, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0,
                                     &li, sizeof(li), NULL);

        if (err != ERROR_SUCCESS) {
            return -win32_error_to_errno(err);
        }
        return li.Length.QuadPart;
    }
    ret = win32_get_size(s->h, &size);
    return ret < 0 ? ret : size;
}

static int64_t win32_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;
    FILE_STANDARD_INFO info;

    if (!s->h) {
        return -EBADF;
    }
    if (s->is_device) {
        return -ENOTSUP;
    }
    if (!GetFileInformationByHandleEx(s->h, FileStandardInfo, &info,
                                      sizeof(info))) {
        return -win32_error_to_errno(GetLastError());
    }
    return info.AllocationSize.QuadPart;
}

static int coroutine_fn win32_co_truncate(BlockDriverState *bs, int64_t offset,
                                          bool exact, PreallocMode prealloc,
                                          BdrvRequestFlags flags, Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    int64_t cur = 0;
    int ret;

    if (!s->h) {
        error_setg(errp, "Could not resize file: image is not open");
        return -EBADF;
    }
    if (offset < 0) {
        error_setg(errp, "Invalid image size specified");
        return -EINVAL;
    }
    if (s->is_device) {
        cur = win32_getlength(bs);
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
    ret = win32_get_size(s->h, &cur);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not stat file");
        return ret;
    }
    if (offset < cur) {
        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Cannot use preallocation for shrinking files");
            return -ENOTSUP;
        }
        if (!exact) {
            return 0;
        }
    } else if (offset == cur) {
        return 0;
    }
    return win32_regular_truncate(s->h, cur, offset, prealloc, errp);
}

/* ---------------------------------------------------------------------
 * Creating
 * --------------------------------------------------------------------- */

static int win32_parse_prealloc(const char *str, PreallocMode *mode,
                                Error **errp)
{
    if (!str) {
        *mode = PREALLOC_MODE_OFF;
    } else if (!bdrv_prealloc_mode_parse(str, mode)) {
        error_setg(errp, "invalid parameter value: %s", str);
        return -EINVAL;
    }
    return 0;
}

static int coroutine_fn win32_co_create(BlockDriver *drv, const char *filename,
                                        QemuOpts *opts, Error **errp)
{
    BDRVWin32State st;
    PreallocMode prealloc;
    uint64_t size, hint;
    int64_t cur = 0;
    int ret;

    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    size = qemu_opt_get_size(opts, "size", 0);
    /* nocow is a btrfs attribute: accepted, nothing to do here. */
    qemu_opt_get_bool(opts, "nocow", false);
    hint = qemu_opt_get_size(opts, "extent_size_hint", 1 * MiB);
    ret = win32_parse_prealloc(qemu_opt_get(opts, "preallocation"), &prealloc,
                               errp);
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

    memset(&st, 0, sizeof(st));
    st.shared_perm = BLK_PERM_ALL;
    st.h = win32_open_handle(filename, true, OPEN_ALWAYS, FILE_FLAG_OVERLAPPED,
                             "create", errp);
    if (st.h == INVALID_HANDLE_VALUE) {
        return -EINVAL;
    }

    /* Creating truncates: that needs "write" and "resize", and nobody
     * else may resize meanwhile. */
    win32_setup_locking(&st, st.h, NULL, false, NULL);
    if (st.use_lock) {
        ret = win32_lock_perm(&st, st.h, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                              BLK_PERM_ALL & ~BLK_PERM_RESIZE, filename, errp);
        if (ret < 0) {
            goto out;
        }
    }
    ret = win32_set_eof(st.h, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not resize file");
        goto out;
    }
    if (prealloc == PREALLOC_MODE_METADATA) {
        /* As on POSIX: the file stays, created or truncated, empty. */
        error_setg(errp, "Unsupported preallocation mode: %s",
                   bdrv_prealloc_mode_name(prealloc));
        ret = -ENOTSUP;
        goto out;
    }
    /* Without preallocation, space is taken as it is written, as on
     * POSIX file systems. */
    win32_probe_volume(&st);
    if (prealloc == PREALLOC_MODE_OFF && st.sparse_volume) {
        FILE_SET_SPARSE_BUFFER sp = { .SetSparse = TRUE };

        win32_sync_ioctl(st.h, FSCTL_SET_SPARSE, &sp, sizeof(sp), NULL, 0, NULL);
    }
    ret = win32_get_size(st.h, &cur);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not stat file");
        goto out;
    }
    if (size) {
        ret = win32_regular_truncate(st.h, cur, (int64_t)size, prealloc, errp);
    }

out:
    if (st.use_lock) {
        win32_apply_lock_bytes(&st, st.h, 0, 0, NULL);
    }
    if (!CloseHandle(st.h) && ret == 0) {
        DWORD err = GetLastError();

        ret = -win32_error_to_errno(err);
        error_setg_win32(errp, err, "Could not close the new file");
    }
    return ret;
}

static const QemuOptsList win32_create_opts = {
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

static int win32_delete_file(const char *filename, Error **errp)
{
    wchar_t *wname;
    DWORD err = 0;

    if (!strncmp(filename, "file:", 5)) {
        filename += 5;
    }
    wname = win32_utf8_to_wide(filename);
    if (!wname) {
        error_setg(errp, "Error when deleting file %s", filename);
        return -EINVAL;
    }
    if (!DeleteFileW(wname)) {
        err = GetLastError();
    }
    free(wname);
    if (err) {
        int ret = err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND
                  ? -ENOENT : -EACCES;
        error_setg_errno(errp, -ret, "Error when deleting file %s", filename);
        return ret;
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
    .instance_size = sizeof(BDRVWin32State),
    .growable = true,

    .parse_filename = win32_parse_filename,
    .open = win32_open,
    .close = win32_close,
    .refresh_limits = win32_refresh_limits,
    .set_perm = win32_set_perm,
    .create = win32_co_create,
    .create_opts = &win32_create_opts,
    .delete_file = win32_delete_file,

    .preadv = win32_co_preadv,
    .pwritev = win32_co_pwritev,
    .pwrite_zeroes = win32_co_pwrite_zeroes,
    .pdiscard = win32_co_pdiscard,
    .flush = win32_co_flush,
    .block_status = win32_co_block_status,
    .truncate = win32_co_truncate,
    .getlength = win32_getlength,
    .get_allocated_file_size = win32_get_allocated_file_size,

    .supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
    .supported_truncate_flags = BDRV_REQ_ZERO_WRITE,
};
