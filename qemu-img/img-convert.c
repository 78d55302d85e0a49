/*
 * coblock — qemu-img convert and dd
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The convert engine
 * ------------------
 * The sources are concatenated into one address space (the target's).  A
 * cursor walks it, asking the block layer what each run of the sources
 * is (block status through the whole backing chain, or of the top image
 * alone when the target has a backing file):
 *
 *   ZERO     reads as zeroes: nothing to read; nothing to write either
 *            when the target is known to read as zeroes (a new image
 *            without a backing file, or -n --target-is-zero), otherwise a
 *            zero write (which may unmap);
 *   DATA     read, then scanned for zeroes in blocks of the -S size
 *            (aligned to the target's offsets): zero blocks are treated
 *            as ZERO, the rest is written;
 *   BACKING  (only when the target is given a backing file, with -B or
 *            -o backing_file) not allocated in the source's top image:
 *            left to the target's backing file, whatever it holds, as
 *            QEMU does: with a backing file, only the source's top layer
 *            is copied (its zeroes as zero writes, except past the end of
 *            the target's backing file, where the target reads zeroes).
 *
 * -m workers (coroutines) each claim the next run (at most one buffer of
 * data, whole target clusters where possible) under a lock, read it, and
 * write it.  Writes are issued in offset order unless -W: a worker whose
 * run is not next waits until the run before it has issued its last
 * write request (not until that request completes, so that several
 * writes can be in flight while the target still allocates in order).  With -c, runs
 * are single clusters written with BDRV_REQ_WRITE_COMPRESSED; the format
 * driver compresses inside that write, on the thread pool, so the writes
 * of -c are never ordered: the workers' clusters are compressed in
 * parallel, on every core.
 *
 * With -C a DATA run is not read at all: blk_co_copy_range() asks the drivers to have the
 * file system copy it (copy_file_range(2) from the source file's range
 * to the target file's, qcow2 mapping both sides to host offsets), so
 * the data never passes through this program; as QEMU's -C does, the
 * data is copied as it is, without looking for zero blocks (also when
 * a run cannot be offloaded: the first such run turns offloading off
 * for the rest, which are read and written).  Where the target's storage
 * has no copy of its own (convert_offload_wanted), -C reads and writes
 * from the start, with no zero detection either.
 *
 * Progress counts the bytes of DATA and COMPARE runs, which are the bytes
 * that are read and possibly written; a first pass over the block status
 * computes the total when progress is shown.
 *
 * On any error the first one is reported with the offset ("error while
 * reading at byte N: ..."), the workers stop, and a target this command
 * created is deleted, so that no half-written image is left behind that
 * could be taken for a complete copy.
 */
#include "qemu-img/img.h"
#include "util/checked.h"
#include "util/cutils.h"
#include "block/block_int.h"

#include <sys/stat.h>

#define CONVERT_BUF_SIZE        (2 * MiB)
#define CONVERT_MAX_WORKERS     16
#define CONVERT_STATUS_MAX      (1 * GiB)

typedef enum RunType {
    RUN_DATA,
    RUN_ZERO,
    RUN_BACKING,
} RunType;

typedef struct ConvertSource {
    BlockBackend *blk;
    int64_t start;          /* offset in the target */
    int64_t len;
} ConvertSource;

typedef struct ConvertState {
    ConvertSource *src;
    int nsrc;
    int64_t total_size;
    BlockBackend *target;
    AioContext *ctx;

    bool target_zero_init;      /* unwritten target areas read as zero */
    bool target_has_backing;
    int64_t target_backing_len; /* -1: none, or unknown */
    bool compressed;
    bool salvage;
    bool copy_range;            /* offload DATA runs (-C) */
    bool zero_detect;           /* look for zero blocks in data (not -C) */
    bool in_order;
    bool count_data;            /* a progress report wants the total */
    bool prealloc;              /* allocate the data ranges first */
    int64_t prealloc_start;     /* the target's own allocation ends here */
    int64_t prealloc_end;       /* data ranges before this are allocated */
    int64_t min_sparse;         /* 0: write everything */
    int64_t buf_size;
    int64_t cluster_size;       /* target's, or 0 */
    size_t mem_align;

    /* the cursor (under lock) */
    CoMutex lock;
    int64_t next;
    int cur_src;
    int64_t run_end;            /* cached status: [next, run_end) is run_type */
    RunType run_type;

    /* in-order writes */
    int64_t wr_offs;
    Coroutine *waiter[CONVERT_MAX_WORKERS];
    int64_t waiter_offs[CONVERT_MAX_WORKERS];

    /* copy offloads in flight, at most copy_slots (-C) */
    int copies;
    int copy_slots;
    CoQueue copy_wait;

    int running;
    int ret;                    /* first error, 0 if none */
    char *errmsg;               /* its message */
} ConvertState;

typedef struct ConvertRun {
    RunType type;
    bool turn_released;         /* the next run may write (in-order mode) */
    int64_t offset;             /* in the target */
    int64_t bytes;
    int src;
    int64_t src_offset;
} ConvertRun;

static void convert_set_error(ConvertState *s, int ret, const char *fmt, ...)
    QEMU_PRINTF(3, 4);

static void convert_set_error(ConvertState *s, int ret, const char *fmt, ...)
{
    va_list ap;
    int i;

    if (s->ret == 0) {
        s->ret = ret;
        va_start(ap, fmt);
        s->errmsg = qemu_xvasprintf(fmt, ap);
        va_end(ap);
    }
    /* Whoever waits for its turn to write must notice. */
    for (i = 0; i < CONVERT_MAX_WORKERS; i++) {
        if (s->waiter[i]) {
            Coroutine *co = s->waiter[i];
            s->waiter[i] = NULL;
            aio_co_wake(co);
        }
    }
}

/* What [offset, offset + bytes) of source @i (source offsets) is. */
static int coroutine_fn convert_status(ConvertState *s, int i, int64_t offset,
                                       int64_t bytes, RunType *type,
                                       int64_t *pnum)
{
    BlockDriverState *bs = blk_bs(s->src[i].blk);
    int ret;

    if (!s->min_sparse && !s->target_has_backing) {
        *type = RUN_DATA;
        *pnum = bytes;
        return 0;
    }
    if (s->target_has_backing) {
        /* The source's top image alone. */
        ret = bdrv_co_block_status(bs, offset, bytes, pnum, NULL, NULL);
        if (ret < 0) {
            return ret;
        }
        if (*pnum <= 0 || *pnum > bytes) {
            /* No usable answer: copy it all, which is always right. */
            *type = RUN_DATA;
            *pnum = bytes;
            return 0;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            int64_t tblen = s->target_backing_len;
            int64_t toff = s->src[i].start + offset;

            /* Past the end of the target's backing file the target
             * reads zeroes already. */
            if (tblen >= 0 && toff < tblen && toff + *pnum > tblen) {
                *pnum = tblen - toff;
            }
            *type = tblen >= 0 && toff >= tblen ? RUN_BACKING : RUN_ZERO;
            return 0;
        }
        if (!(ret & BDRV_BLOCK_DATA)) {
            *type = RUN_BACKING;
            return 0;
        }
        bytes = *pnum;
        if (!s->min_sparse) {
            *type = RUN_DATA;
            return 0;
        }
    }
    ret = bdrv_co_block_status_above(bs, NULL, true, offset, bytes, pnum,
                                     NULL, NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    if (*pnum <= 0 || *pnum > bytes) {
        /* No usable answer: read it (what reads give is always right). */
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA;
    }
    *type = (ret & BDRV_BLOCK_ZERO) ? RUN_ZERO : RUN_DATA;
    return 0;
}

/* Claim the next run.  Returns 1 with *run set, 0 when there is nothing
 * left (or after an error). */
static int coroutine_fn convert_claim(ConvertState *s, ConvertRun *run)
{
    ConvertSource *src;
    int64_t n, end;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    if (s->ret || s->next >= s->total_size) {
        qemu_co_mutex_unlock(&s->lock);
        return 0;
    }
    while (s->next >= s->src[s->cur_src].start + s->src[s->cur_src].len) {
        s->cur_src++;
    }
    src = &s->src[s->cur_src];
    if (s->next >= s->run_end) {
        int64_t off = s->next - src->start;
        int64_t want = MIN(src->len - off, CONVERT_STATUS_MAX);

        ret = convert_status(s, s->cur_src, off, want, &s->run_type, &n);
        if (ret < 0) {
            convert_set_error(s, ret, "error while reading block status at "
                              "offset %" PRId64 ": %s", s->next, strerror(-ret));
            qemu_co_mutex_unlock(&s->lock);
            return 0;
        }
        assert(n > 0);
        s->run_end = s->next + n;
    }
    end = s->run_end;
    run->type = s->run_type;
    if (s->compressed) {
        /* Whole clusters of the target, whatever the sources' boundaries
         * (a cluster may take data from several sources): a cluster is
         * skipped or zeroed only if all of it is; otherwise it is read and
         * compressed as a whole.  Only the image's last cluster may be
         * partial. */
        int64_t cend = MIN(QEMU_ALIGN_DOWN(s->next, s->cluster_size) +
                           s->cluster_size, s->total_size);
        if ((run->type == RUN_ZERO || run->type == RUN_BACKING) &&
            s->run_end >= cend) {
            end = s->run_end == s->total_size
                  ? s->run_end : QEMU_ALIGN_DOWN(s->run_end, s->cluster_size);
        } else {
            end = cend;
            run->type = RUN_DATA;
        }
    } else if (run->type == RUN_DATA) {
        end = MIN(end, s->next + s->buf_size);
        /* End on a cluster boundary of the target when the run goes on. */
        if (s->cluster_size && end < s->run_end) {
            int64_t aligned = QEMU_ALIGN_DOWN(end, s->cluster_size);
            if (aligned > s->next) {
                end = aligned;
            }
        }
    }
    run->turn_released = false;
    run->offset = s->next;
    run->bytes = end - s->next;
    run->src = s->cur_src;
    run->src_offset = s->next - src->start;
    s->next = end;
    qemu_co_mutex_unlock(&s->lock);
    return 1;
}

/* Wait until every write before @offset is done (in-order mode). */
static void coroutine_fn convert_wait_turn(ConvertState *s, int id,
                                           int64_t offset)
{
    while (s->in_order && !s->ret && s->wr_offs != offset) {
        s->waiter[id] = qemu_coroutine_self();
        s->waiter_offs[id] = offset;
        qemu_coroutine_yield();
        s->waiter[id] = NULL;
    }
}

static void convert_done_turn(ConvertState *s, int64_t end)
{
    int i;

    if (!s->in_order) {
        return;
    }
    s->wr_offs = end;
    for (i = 0; i < CONVERT_MAX_WORKERS; i++) {
        if (s->waiter[i] && s->waiter_offs[i] == end) {
            Coroutine *co = s->waiter[i];
            s->waiter[i] = NULL;
            aio_co_wake(co);
            break;
        }
    }
}

/* Zeroes for [offset, offset + bytes): nothing where the target reads
 * as zeroes already, unless @in_data and the range was allocated in
 * advance (convert_count_entry), whose blocks are freed again so that
 * the target is as sparse as if they had never been allocated. */
static int coroutine_fn convert_write_zeroes(ConvertState *s, int64_t offset,
                                             int64_t bytes, bool in_data)
{
    int ret;

    if (s->target_zero_init) {
        int64_t end = offset + bytes;

        if (!in_data || end <= s->prealloc_start ||
            offset >= s->prealloc_end) {
            return 0;
        }
        offset = MAX(offset, s->prealloc_start);
        bytes = end - offset;
    }
    ret = blk_co_pwrite_zeroes(s->target, offset, bytes, BDRV_REQ_MAY_UNMAP);
    if (ret < 0) {
        convert_set_error(s, ret, "error while writing at byte %" PRId64 ": %s",
                          offset, strerror(-ret));
    }
    return ret;
}

static int coroutine_fn convert_write_data(ConvertState *s, int64_t offset,
                                           int64_t bytes, uint8_t *buf,
                                           BdrvRequestFlags flags)
{
    int ret = blk_co_pwrite(s->target, offset, bytes, buf, flags);

    if (ret < 0) {
        convert_set_error(s, ret, "error while writing at byte %" PRId64 ": %s",
                          offset, strerror(-ret));
    }
    return ret;
}

/* In-order mode: let the worker with the next run write.  Called just
 * before a run's last write request is issued (or when it has nothing to
 * write): the requests are then submitted in offset order, which is what
 * keeps the target's allocation sequential, while several of them may be
 * in flight at once. */
static void convert_release_turn(ConvertState *s, ConvertRun *run)
{
    if (!run->turn_released) {
        run->turn_released = true;
        convert_done_turn(s, run->offset + run->bytes);
        /* In order, progress follows the offsets, as QEMU's does: a run
         * counts once it is read and all of its writes are issued. */
        if (s->in_order && run->type == RUN_DATA) {
            img_progress_add((uint64_t)run->bytes);
        }
    }
}

static int coroutine_fn convert_write_segment(ConvertState *s, int64_t offset,
                                              int64_t len, int kind,
                                              uint8_t *data)
{
    if (kind == 1) {
        return convert_write_zeroes(s, offset, len, true);
    }
    if (kind == 2) {
        return convert_write_data(s, offset, len, data, 0);
    }
    return 0;
}

/* Write the buffer of a DATA run: zero blocks of min_sparse bytes become
 * zero writes or nothing, non-zero blocks are written in as few requests
 * as possible. */
static int coroutine_fn convert_write_buffer(ConvertState *s, ConvertRun *run,
                                             uint8_t *buf)
{
    int64_t sparse = s->zero_detect ? s->min_sparse : 0;
    int64_t blk = sparse ? sparse : run->bytes;
    int64_t pos = 0, start, len;
    int64_t pend_start = 0, pend_len = 0;
    int kind, pend_kind = -1, ret;   /* kind: 1 zero, 2 data */

    if (s->compressed) {
        convert_release_turn(s, run);
        if (s->min_sparse && buffer_is_zero(buf, (size_t)run->bytes)) {
            return convert_write_zeroes(s, run->offset, run->bytes, true);
        }
        return convert_write_data(s, run->offset, run->bytes, buf,
                                  BDRV_REQ_WRITE_COMPRESSED);
    }
    if (!sparse) {
        convert_release_turn(s, run);
        return convert_write_data(s, run->offset, run->bytes, buf, 0);
    }
    while (pos < run->bytes) {
        /* one block, aligned to the target's offsets */
        int64_t abs = run->offset + pos;
        int64_t next = MIN(QEMU_ALIGN_DOWN(abs, blk) + blk - run->offset,
                           run->bytes);
        int k;

        start = pos;
        kind = -1;
        while (pos < run->bytes) {
            len = next - pos;
            if (buffer_is_zero(buf + pos, (size_t)len)) {
                k = 1;
            } else {
                k = 2;
            }
            if (kind >= 0 && k != kind) {
                break;
            }
            kind = k;
            pos = next;
            next = MIN(pos + blk, run->bytes);
        }
        /* Issue the previous segment; keep this one, it may be the last. */
        if (pend_kind >= 0) {
            ret = convert_write_segment(s, run->offset + pend_start, pend_len,
                                        pend_kind, buf + pend_start);
            if (ret < 0) {
                return ret;
            }
        }
        pend_kind = kind;
        pend_start = start;
        pend_len = pos - start;
    }
    convert_release_turn(s, run);
    if (pend_kind >= 0) {
        return convert_write_segment(s, run->offset + pend_start, pend_len,
                                     pend_kind, buf + pend_start);
    }
    return 0;
}

/*
 * Whether a DATA run is worth offering to the target as a copy.  A run
 * releases its turn when its copy starts, so a copy the target refuses
 * would have its data written out of turn, and the target's clusters
 * allocated out of order.  Formats with clusters take whole clusters
 * only (or a tail at the end of the image): other runs are read and
 * written in turn, like runs without -C (the data is the same).
 */
static bool convert_may_offload(ConvertState *s, const ConvertRun *run)
{
    if (!s->cluster_size) {
        return true;
    }
    return run->offset % s->cluster_size == 0 &&
           (run->bytes % s->cluster_size == 0 ||
            run->offset + run->bytes == s->total_size);
}

/*
 * Copy a DATA run without reading it: the block layer hands it to the
 * file system (copy_file_range(2)) when both images are files and every
 * driver on the way can map the range.  Called in the run's turn, which
 * is released before the copy starts, as a write's is before the write
 * (the target's drivers place the run before anything else can yield),
 * so that the copies of several runs overlap: each one's read from the
 * source proceeds while another writes into the target.  A run whose
 * copy fails is read and written instead, out of its turn then (only
 * the order of the writes differs, and only for the runs in flight when
 * offloading fails).  Returns 0, or -ENOTSUP when the run must be read
 * and written instead (offloading is then off for the rest of the
 * conversion, as any error turns it off: the read and write report a
 * real error themselves).
 *
 * The run holds its turn until it has a copy slot, so copies start in
 * order.  Within one file system without reflinks a copy is the kernel
 * copying page-cache pages into the target under the target's inode
 * lock: copies beyond one per processor only queue on that lock (and
 * spin there), which made -C 5-10 % slower with 8 in flight than with 2
 * on a 2-CPU machine (docs/performance.md).
 */
static int coroutine_fn convert_copy_range(ConvertState *s, ConvertRun *run)
{
    int ret;

    while (s->copies >= s->copy_slots) {
        qemu_co_queue_wait(&s->copy_wait, NULL);
    }
    s->copies++;
    convert_release_turn(s, run);
    ret = blk_co_copy_range(s->src[run->src].blk, run->src_offset, s->target,
                            run->offset, run->bytes, 0);
    s->copies--;
    qemu_co_queue_next(&s->copy_wait);
    if (ret < 0) {
        s->copy_range = false;
        return -ENOTSUP;
    }
    return 0;
}

/* A raw image straight on the file driver: its data ranges are the
 * file's, and can be allocated ahead of the copy. */
static bool convert_target_is_raw_file(BlockBackend *target)
{
    BlockDriverState *bs = blk_bs(target);

    return bs && bs->drv && !strcmp(bs->drv->format_name, "raw") &&
           bs->file && bs->file->bs->drv &&
           !strcmp(bs->file->bs->drv->format_name, "file");
}

/*
 * Whether -C should copy with blk_co_copy_range() into @target.  Not
 * where the storage has no copy of its own (the file driver knows: ext4,
 * tmpfs, O_DIRECT), since the kernel's copy is then a page-cache copy
 * done one pipe's worth at a time under the target's inode lock, slower
 * than this program's own reads and writes (docs/performance.md,
 * "Copy offloading").  COBLOCK_COPY_OFFLOAD=always asks for the
 * kernel's copy all the same.
 */
static bool convert_offload_wanted(BlockBackend *target)
{
    const char *env = getenv("COBLOCK_COPY_OFFLOAD");

    if (env && !strcmp(env, "always")) {
        return true;
    }
    return bdrv_copy_range_offloads(blk_bs(target));
}

/* Read [offset, offset + bytes) of a source; with --salvage, sectors that
 * cannot be read are reported and read as zeroes. */
static int coroutine_fn convert_read_one(ConvertState *s, int i,
                                         int64_t src_offset, int64_t bytes,
                                         int64_t offset, uint8_t *buf)
{
    BlockBackend *blk = s->src[i].blk;
    int64_t off;
    int ret;

    ret = blk_co_pread(blk, src_offset, bytes, buf, 0);
    if (ret >= 0 || !s->salvage) {
        return ret;
    }
    for (off = 0; off < bytes; off += BDRV_SECTOR_SIZE) {
        int64_t n = MIN((int64_t)BDRV_SECTOR_SIZE, bytes - off);
        ret = blk_co_pread(blk, src_offset + off, n, buf + off, 0);
        if (ret < 0) {
            warn_report("error while reading offset %" PRId64 ": %s",
                        offset + off, strerror(-ret));
            memset(buf + off, 0, (size_t)n);
        }
    }
    return 0;
}

/* A run may go on into the following sources (a compressed cluster over
 * their boundary): each part is read from its own. */
static int coroutine_fn convert_read(ConvertState *s, const ConvertRun *run,
                                     uint8_t *buf)
{
    int64_t done = 0, src_offset = run->src_offset;
    int i = run->src;

    while (done < run->bytes) {
        int64_t n;
        int ret;

        while (src_offset >= s->src[i].len) {
            src_offset -= s->src[i].len;
            i++;
            assert(i < s->nsrc);
        }
        n = MIN(run->bytes - done, s->src[i].len - src_offset);
        ret = convert_read_one(s, i, src_offset, n, run->offset + done,
                               buf + done);
        if (ret < 0) {
            return ret;
        }
        done += n;
        src_offset += n;
    }
    return 0;
}

typedef struct ConvertWorker {
    ConvertState *s;
    int id;
} ConvertWorker;

static void coroutine_fn convert_worker(void *opaque)
{
    ConvertWorker *w = opaque;
    ConvertState *s = w->s;
    uint8_t *buf = NULL;
    ConvertRun run;
    int ret;

    while (convert_claim(s, &run)) {
        bool need_buf = run.type == RUN_DATA;

        if (run.type == RUN_DATA && s->copy_range &&
            convert_may_offload(s, &run)) {
            convert_wait_turn(s, w->id, run.offset);
            if (s->ret) {
                break;
            }
            if (convert_copy_range(s, &run) == 0) {
                if (!s->in_order) {
                    img_progress_add((uint64_t)run.bytes);
                }
                continue;
            }
            /* Not offloaded: read and write it (out of turn now). */
        }
        if (need_buf) {
            if (!buf) {
                buf = qemu_try_memalign(s->mem_align, (size_t)s->buf_size);
                if (!buf) {
                    convert_set_error(s, -ENOMEM, "Out of memory");
                    break;
                }
            }
            ret = convert_read(s, &run, buf);
            if (ret < 0) {
                convert_set_error(s, ret, "error while reading at byte %"
                                  PRId64 ": %s", run.offset, strerror(-ret));
                break;
            }
        }
        if (!run.turn_released) {
            convert_wait_turn(s, w->id, run.offset);
        }
        if (s->ret) {
            break;
        }
        switch (run.type) {
        case RUN_DATA:
            ret = convert_write_buffer(s, &run, buf);
            break;
        case RUN_ZERO:
            convert_release_turn(s, &run);
            ret = convert_write_zeroes(s, run.offset, run.bytes, false);
            break;
        case RUN_BACKING:
        default:
            convert_release_turn(s, &run);
            ret = 0;
            break;
        }
        convert_release_turn(s, &run);
        if (ret < 0) {
            break;
        }
        if (need_buf && !s->in_order) {
            img_progress_add((uint64_t)run.bytes);
        }
    }
    qemu_vfree(buf);
    s->running--;
    aio_notify(s->ctx);
}

/* Bytes that will be read (DATA and COMPARE runs), for the progress. */
typedef struct CountCo {
    ConvertState *s;
    uint64_t bytes;
    int64_t err_offset;
    int ret;
    bool done;
} CountCo;

/*
 * The pass over the block status before the copy: the total for a
 * progress report, and with s->prealloc the allocation of every data
 * range of the target.  Allocating them all now, while nothing else
 * holds the target's inode lock, spares the writes the file system's
 * work of reserving a block for each page of a hole as they go (on
 * ext4 0.19 s instead of 0.22 s for a GiB of writes; docs/performance.md,
 * "Plain convert").  An allocation the target refuses ends the
 * allocating, not the conversion.
 */
static void coroutine_fn convert_count_entry(void *opaque)
{
    CountCo *cc = opaque;
    ConvertState *s = cc->s;
    int i;

    if (s->prealloc) {
        /* What the new file has of its own (its first block) is neither
         * allocated again nor freed: allocating starts after it. */
        int64_t pnum;
        int st = bdrv_co_block_status(blk_bs(s->target), 0, s->total_size,
                                      &pnum, NULL, NULL);

        s->prealloc = st >= 0;
        s->prealloc_start = st >= 0 && (st & BDRV_BLOCK_DATA) ? pnum : 0;
    }
    for (i = 0; i < s->nsrc; i++) {
        int64_t off = 0, n;
        RunType type;

        while (off < s->src[i].len) {
            int ret = convert_status(s, i, off,
                                     MIN(s->src[i].len - off, CONVERT_STATUS_MAX),
                                     &type, &n);
            if (ret < 0) {
                cc->ret = ret;
                cc->err_offset = s->src[i].start + off;
                goto out;
            }
            if (type == RUN_DATA) {
                int64_t a = MAX(s->src[i].start + off, s->prealloc_start);
                int64_t b = s->src[i].start + off + n;

                cc->bytes += (uint64_t)n;
                if (s->prealloc && a < b &&
                    blk_co_pwrite_zeroes(s->target, a, b - a,
                                         BDRV_REQ_NO_FALLBACK) < 0) {
                    s->prealloc = false;
                }
            }
            off += n;
            if (s->prealloc) {
                s->prealloc_end = s->src[i].start + off;
            }
        }
    }
out:
    cc->done = true;
}

static int convert_do_copy(ConvertState *s, int num_workers)
{
    ConvertWorker workers[CONVERT_MAX_WORKERS];
    int i;

    qemu_co_mutex_init(&s->lock);
    qemu_co_queue_init(&s->copy_wait);
    s->copies = 0;
    assert(s->copy_slots >= 1 && s->copy_slots <= num_workers);
    s->ret = 0;
    s->next = 0;
    s->cur_src = 0;
    s->run_end = 0;
    s->wr_offs = 0;

    s->prealloc_start = s->prealloc_end = 0;
    if (s->count_data || s->prealloc) {
        CountCo cc = { .s = s };
        bdrv_run_co(s->ctx, convert_count_entry, &cc, &cc.done);
        if (cc.ret < 0) {
            error_report("error while reading block status at offset %" PRId64
                         ": %s", cc.err_offset, strerror(-cc.ret));
            return cc.ret;
        }
        if (s->count_data) {
            img_progress_set_total(cc.bytes);
        }
    }

    s->running = num_workers;
    for (i = 0; i < num_workers; i++) {
        workers[i].s = s;
        workers[i].id = i;
        aio_co_enter(s->ctx, qemu_coroutine_create(convert_worker), &workers[i]);
    }
    while (s->running) {
        aio_poll(s->ctx, true);
    }
    if (s->ret) {
        error_report("%s", s->errmsg);
        free(s->errmsg);
        s->errmsg = NULL;
        return s->ret;
    }
    return 0;
}

/* A new image on a regular file (or a new file) reads as zeroes; one
 * created on a device does not. */
static bool new_target_reads_zero(const char *filename)
{
#ifndef _WIN32
    struct stat st;

    if (stat(filename, &st) == 0 && !S_ISREG(st.st_mode)) {
        return false;
    }
#endif
    return true;
}

static bool is_local_file(const char *filename)
{
    const BlockDriver *drv = bdrv_find_protocol(filename, NULL);

    return drv && !strcmp(drv->format_name, "file");
}

int img_convert(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { "target-image-opts", IMG_NO_ARG, OPT_TARGET_IMAGE_OPTS },
        { "salvage", IMG_NO_ARG, OPT_SALVAGE },
        { "target-is-zero", IMG_NO_ARG, OPT_TARGET_IS_ZERO },
        { "bitmaps", IMG_NO_ARG, OPT_BITMAPS },
        { "skip-broken-bitmaps", IMG_NO_ARG, OPT_SKIP_BROKEN },
        { "progress-json", IMG_OPT_ARG, OPT_PROGRESS_JSON },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *out_fmt = NULL, *out_baseimg = NULL;
    const char *backing_fmt = NULL, *cache = "unsafe", *src_cache = "writeback";
    const char *out_filename;
    char *options = NULL;
    bool compress = false, progress = false, quiet = false, skip_create = false;
    bool backing_file_opt = false;      /* -o backing_file on a new target */
    bool image_opts = false, tgt_image_opts = false, force_share = false;
    bool target_is_zero = false, salvage = false, wr_in_order = true;
    bool writethrough = false, src_writethrough = false, created = false;
    bool copying = false, copy_range = false, explicit_min_sparse = false;
    bool new_unallocated = false;   /* created here, nothing preallocated */
    const char *prealloc_opt;
    int64_t min_sparse = 8 * BDRV_SECTOR_SIZE;
    int num_workers = 8, json_fd = -1;
    bool explicit_workers = false;
    /* No engine is asked for: the file driver picks (io_uring where the
     * kernel has it: docs/performance.md, "Plain convert"). */
    int flags = BDRV_O_RDWR | BDRV_O_AIO_AUTO, src_flags = BDRV_O_AIO_AUTO;
    ConvertState s;
    const BlockDriver *drv;
    QemuOptsList *list = NULL;
    QemuOpts *opts = NULL;
    Error *err = NULL;
    int c, i, ret = 1;

    memset(&s, 0, sizeof(s));
    img_getopt_init(&g, "convert");
    while ((c = img_getopt(&g, argc, argv, ":hf:O:B:b:CcF:o:l:S:pt:T:qnm:WUr:",
                           longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'O':
            out_fmt = g.optarg;
            break;
        case 'B':
        case 'b':
            out_baseimg = g.optarg;
            break;
        case 'C':
            copy_range = true;
            break;
        case 'c':
            compress = true;
            break;
        case 'F':
            backing_fmt = g.optarg;
            break;
        case 'o':
            options = img_add_option(options, g.optarg);
            break;
        case 'l':
            error_report("Failed to load snapshot: internal snapshots are not "
                         "supported");
            goto out_early;
        case 'S': {
            int64_t sval = img_cvtnum_full("buffer size for sparse output",
                                           g.optarg, 0, INT64_MAX);
            if (sval < 0) {
                goto out_early;
            }
            if (!QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
                sval > CONVERT_BUF_SIZE * 8) {
                error_report("Invalid buffer size for sparse output specified. "
                             "Valid sizes are multiples of %llu up to %llu. "
                             "Select 0 to disable sparse detection (fully "
                             "allocates output).",
                             (unsigned long long)BDRV_SECTOR_SIZE,
                             (unsigned long long)CONVERT_BUF_SIZE * 8);
                goto out_early;
            }
            min_sparse = sval;
            explicit_min_sparse = true;
            break;
        }
        case 'p':
            progress = true;
            break;
        case 't':
            cache = g.optarg;
            break;
        case 'T':
            src_cache = g.optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            skip_create = true;
            break;
        case 'm': {
            int64_t m;
            if (qemu_strtoi64(g.optarg, NULL, 0, &m) < 0 || m < 1 ||
                m > CONVERT_MAX_WORKERS) {
                error_report("Invalid number of coroutines. Allowed number of "
                             "coroutines is between 1 and %d",
                             CONVERT_MAX_WORKERS);
                goto out_early;
            }
            num_workers = (int)m;
            explicit_workers = true;
            break;
        }
        case 'W':
            wr_in_order = false;
            break;
        case 'U':
            force_share = true;
            break;
        case 'r': {
            int64_t rate = img_cvtnum_full("rate limit", g.optarg, 0, INT64_MAX);
            if (rate < 0) {
                goto out_early;
            }
            /* Accepted; the copy is not throttled. */
            break;
        }
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_TARGET_IMAGE_OPTS:
            tgt_image_opts = true;
            break;
        case OPT_SALVAGE:
            salvage = true;
            break;
        case OPT_TARGET_IS_ZERO:
            target_is_zero = true;
            break;
        case OPT_BITMAPS:
        case OPT_SKIP_BROKEN:
            error_report("Copying persistent bitmaps is not supported");
            goto out_early;
        case OPT_PROGRESS_JSON:
            json_fd = img_parse_progress_fd(g.optarg);
            if (json_fd < 0) {
                goto out_early;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            goto out_early;
        }
    }

    if (copy_range && compress) {
        error_report("Cannot enable copy offloading when -c is used");
        goto out_early;
    }
    if (copy_range && explicit_min_sparse) {
        error_report("Cannot enable copy offloading when -S is used");
        goto out_early;
    }
    if (!out_fmt && !tgt_image_opts) {
        out_fmt = "raw";
    }
    if (skip_create && options) {
        error_report("-o has no effect when skipping image creation");
        goto out_early;
    }
    if (target_is_zero && !skip_create) {
        error_report("--target-is-zero requires use of -n flag");
        goto out_early;
    }
    if (tgt_image_opts && !skip_create) {
        error_report("--target-image-opts requires use of -n flag");
        goto out_early;
    }
    if (img_options_want_help(options)) {
        ret = img_print_create_opts_help(out_fmt ? out_fmt : "raw",
                                         g.optind < argc ? argv[argc - 1] : NULL,
                                         false);
        goto out_early;
    }
    s.nsrc = argc - g.optind - 1;
    if (s.nsrc < 1) {
        error_report("Must specify image file name");
        goto out_early;
    }
    out_filename = argv[argc - 1];
    if (quiet) {
        progress = false;
    }
    if (!img_parse_cache(src_cache, &src_flags, &src_writethrough, true)) {
        goto out_early;
    }

    /* the sources */
    s.src = qemu_new0(ConvertSource, s.nsrc);
    for (i = 0; i < s.nsrc; i++) {
        s.src[i].blk = img_open(image_opts, argv[g.optind + i], fmt, src_flags,
                                src_writethrough, quiet, force_share);
        if (!s.src[i].blk) {
            goto out;
        }
        s.src[i].len = blk_getlength(s.src[i].blk);
        if (s.src[i].len < 0) {
            error_report("Could not get size of %s: %s", argv[g.optind + i],
                         strerror((int)-s.src[i].len));
            goto out;
        }
        s.src[i].start = s.total_size;
        if (CHECKED_ADD(s.total_size, s.src[i].len, &s.total_size)) {
            error_report("Total size of the input images is too large");
            goto out;
        }
    }
    s.ctx = blk_get_aio_context(s.src[0].blk);

    if (out_baseimg && s.nsrc > 1) {
        error_report("Having a backing file for the target makes no sense "
                     "when concatenating multiple input images");
        goto out;
    }

    /* the target */
    if (!skip_create) {
        drv = bdrv_find_format(out_fmt);
        if (!drv) {
            error_report("Unknown file format '%s'", out_fmt);
            goto out;
        }
        list = img_create_opts_list(out_fmt, out_filename, false, &err);
        if (!list) {
            error_report_err(err);
            goto out;
        }
        opts = qemu_opts_create(list);
        if (options && !qemu_opts_do_parse(opts, options, &err)) {
            error_report_err(err);
            goto out;
        }
        qemu_opt_set_number(opts, "size", s.total_size);
        if (out_baseimg || backing_fmt) {
            const QemuOptDesc *d;
            bool has_bf = false, has_bfmt = false;

            for (d = list->desc; d->name; d++) {
                has_bf |= !strcmp(d->name, "backing_file");
                has_bfmt |= !strcmp(d->name, "backing_fmt");
            }
            if (out_baseimg && !has_bf) {
                error_report("Backing file not supported for file format '%s'",
                             out_fmt);
                goto out;
            }
            if (backing_fmt && !has_bfmt) {
                error_report("Backing file format not supported for file "
                             "format '%s'", out_fmt);
                goto out;
            }
            if (out_baseimg) {
                qemu_opt_set(opts, "backing_file", out_baseimg, &error_abort);
            }
            if (backing_fmt) {
                qemu_opt_set(opts, "backing_fmt", backing_fmt, &error_abort);
            }
        }
        if (qemu_opt_get(opts, "backing_file") && !qemu_opt_get(opts, "backing_fmt")) {
            error_report("Use of backing file requires explicit backing format");
            goto out;
        }
        if (compress && !(drv->supported_write_flags & BDRV_REQ_WRITE_COMPRESSED)) {
            error_report("Compression not supported for this file format");
            goto out;
        }
        backing_file_opt = qemu_opt_get(opts, "backing_file") != NULL;
        s.target_zero_init = new_target_reads_zero(out_filename) &&
                             !backing_file_opt;
        img_round_size_opt(opts);
        if (bdrv_create(drv, out_filename, opts, &err) < 0) {
            error_prepend(&err, "%s: error while converting %s: ", out_filename,
                          out_fmt);
            error_report_err(err);
            goto out;
        }
        created = is_local_file(out_filename);
        prealloc_opt = qemu_opt_get(opts, "preallocation");
        new_unallocated = created &&
                          (!prealloc_opt || !strcmp(prealloc_opt, "off"));
    }

    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        goto out;
    }
    /* As QEMU: with sparse detection, zeroes written into the target may
     * free what they cover (a zero cluster rather than a preallocated
     * one, a hole rather than written blocks); -S 0 allocates. */
    if (min_sparse) {
        flags |= BDRV_O_UNMAP;
    }
    s.target = img_open(tgt_image_opts, out_filename, out_fmt, flags,
                        writethrough, quiet, false);
    if (!s.target) {
        goto out;
    }
    {
        BlockDriverState *tbs = blk_bs(s.target);
        BlockDriverInfo bdi;

        if (compress && !(tbs->supported_write_flags & BDRV_REQ_WRITE_COMPRESSED)) {
            error_report("Compression not supported for this file format");
            goto out;
        }
        /* As QEMU: a target given a backing file here (-B, or
         * -o backing_file) gets the source's top layer only; a target
         * of -n that has a backing file of its own gets everything. */
        s.target_has_backing = out_baseimg || backing_file_opt;
        s.target_backing_len = bdrv_backing_bs(tbs)
                               ? bdrv_getlength(bdrv_backing_bs(tbs)) : -1;
        if (s.target_backing_len < 0) {
            s.target_backing_len = -1;
        }
        if (skip_create) {
            int64_t tlen = blk_getlength(s.target);
            if (tlen < 0) {
                error_report("Could not get size of '%s': %s", out_filename,
                             strerror((int)-tlen));
                goto out;
            }
            if (tlen < s.total_size) {
                error_report("output file is smaller than input file");
                goto out;
            }
            /* QEMU refuses the combination with -B only (a target that
             * has a backing file of its own is taken at its word), and
             * reports it but still exits with status 0. */
            if (target_is_zero && out_baseimg) {
                error_report("Cannot use --target-is-zero when the destination "
                             "image has a backing file");
                ret = 0;
                goto out;
            }
            s.target_zero_init = target_is_zero;
        }
        if (s.target_has_backing) {
            s.target_zero_init = skip_create && target_is_zero;
        }
        /* The driver validated its cluster size; anything beyond what a
         * format can have is not used for buffers. */
        if (bdrv_get_info(tbs, &bdi) >= 0 && bdi.cluster_size > 0 &&
            bdi.cluster_size <= 64 * MiB) {
            s.cluster_size = bdi.cluster_size;
        }
        s.mem_align = MAX((size_t)4096, tbs->bl.opt_mem_alignment);
    }
    s.compressed = compress;
    s.salvage = salvage;
    /* Compressed clusters are compressed inside the driver's write, on
     * its thread pool: writes in offset order would compress one cluster
     * at a time.  Their placement in the file is the driver's anyway. */
    s.in_order = wr_in_order && !compress;
    s.count_data = progress || json_fd >= 0;
    s.min_sparse = min_sparse;
    /* -C: data is copied as it is, offloaded or not (QEMU's -C looks for
     * zero blocks nowhere); --salvage needs the data in memory. */
    s.zero_detect = !copy_range;
    s.copy_range = copy_range && !salvage;
    s.buf_size = CONVERT_BUF_SIZE;
    if (s.compressed) {
        if (!s.cluster_size) {
            error_report("Compression not supported for this file format");
            goto out;
        }
        s.buf_size = s.cluster_size;
    } else if (s.cluster_size > s.buf_size) {
        s.buf_size = s.cluster_size;
    }

    img_progress_init(progress, json_fd, "convert", 1.0);
    copying = true;
    /* Copies in flight: what -m says, else one per processor (at least
     * two, so that one copy's reading overlaps another's writing). */
    s.copy_slots = explicit_workers ? num_workers
                                    : MIN(num_workers, MAX(2, qemu_online_cpus()));
    if (s.copy_range && !convert_offload_wanted(s.target)) {
        /* The target's storage cannot copy by itself: the data is read
         * and written in turn, still as it is, by as many workers as
         * there would have been copies (which keeps memory at what the
         * copies' bookkeeping takes, a buffer each). */
        s.copy_range = false;
        if (!explicit_workers) {
            num_workers = s.copy_slots;
        }
    }
    s.prealloc = new_unallocated && s.target_zero_init && !s.compressed &&
                 !s.copy_range && !tgt_image_opts &&
                 convert_target_is_raw_file(s.target);
    ret = convert_do_copy(&s, num_workers) < 0 ? 1 : 0;
    if (ret == 0) {
        int fret = blk_flush(s.target);
        if (fret < 0) {
            error_report("Could not flush the target: %s", strerror(-fret));
            ret = 1;
        }
    }
    if (ret == 0) {
        img_progress_finish();
    }
    img_progress_end(ret == 0);

out:
    if (s.target) {
        blk_unref(s.target);
    }
    if (s.src) {
        for (i = 0; i < s.nsrc; i++) {
            blk_unref(s.src[i].blk);
        }
        free(s.src);
    }
    if (ret && created && copying) {
        /* Do not leave a partial copy that looks like a good one.  (A
         * target that failed before any data was copied is left, empty,
         * as QEMU leaves it.) */
        remove(out_filename);
    }
    qemu_opts_del(opts);
    free(list);
out_early:
    free(options);
    return ret;
}

/* ---- dd ---- */

/*
 * Operands are "bs=", "count=", "skip=", "if=" and "of=", as in dd(1).
 * The output is created (format -O, default raw) and written in full,
 * block by block.  For compatibility with QEMU 7.2, count= limits the
 * input size before skip= is applied: "skip=2 count=3" copies the third
 * block only, and a skip beyond that limit copies nothing.
 */
typedef struct DdParams {
    int64_t bs;
    int64_t count;      /* -1: all */
    int64_t skip;       /* -1: none */
    const char *in, *out;
} DdParams;

static int dd_parse_operand(DdParams *p, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char *key;
    int64_t v;

    if (!eq) {
        error_report("unrecognized operand %s", arg);
        return -1;
    }
    key = qemu_xstrndup(arg, (size_t)(eq - arg));
    if (!strcmp(key, "bs")) {
        v = img_cvtnum_full("bs", eq + 1, 1, INT_MAX);
        if (v < 0) {
            goto fail;
        }
        p->bs = v;
    } else if (!strcmp(key, "count")) {
        v = img_cvtnum_full("count", eq + 1, 0, INT64_MAX);
        if (v < 0) {
            goto fail;
        }
        p->count = v;
    } else if (!strcmp(key, "skip")) {
        v = img_cvtnum_full("skip", eq + 1, 0, INT64_MAX);
        if (v < 0) {
            goto fail;
        }
        p->skip = v;
    } else if (!strcmp(key, "if")) {
        p->in = eq + 1;
    } else if (!strcmp(key, "of")) {
        p->out = eq + 1;
    } else {
        error_report("unrecognized operand %s", key);
        goto fail;
    }
    free(key);
    return 0;
fail:
    free(key);
    return -1;
}

int img_dd(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *out_fmt = "raw";
    bool image_opts = false, force_share = false, bad_skip;
    DdParams p = { .bs = 512, .count = -1, .skip = -1 };
    BlockBackend *in = NULL, *out = NULL;
    const BlockDriver *drv;
    QemuOptsList *list = NULL;
    QemuOpts *opts = NULL;
    Error *err = NULL;
    int64_t size, in_pos, out_pos;
    uint8_t *buf = NULL;
    int c, i, ret = 1;

    img_getopt_init(&g, "dd");
    while ((c = img_getopt(&g, argc, argv, ":hf:O:U", longopts)) != -1) {
        switch (c) {
        case 'O':
            out_fmt = g.optarg;
            break;
        case 'f':
            fmt = g.optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    for (i = g.optind; i < argc; i++) {
        if (dd_parse_operand(&p, argv[i]) < 0) {
            return 1;
        }
    }
    if (!p.in || !p.out) {
        error_report("Must specify both input and output files");
        return 1;
    }

    in = img_open(image_opts, p.in, fmt, 0, false, false, force_share);
    if (!in) {
        goto out;
    }
    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        error_report("Unknown file format");
        goto out;
    }
    list = img_create_opts_list(out_fmt, p.out, false, &err);
    if (!list) {
        error_report_err(err);
        goto out;
    }
    size = blk_getlength(in);
    if (size < 0) {
        error_report("Failed to get size for '%s'", p.in);
        goto out;
    }
    if (p.count >= 0 && p.count <= INT64_MAX / p.bs && p.count * p.bs < size) {
        size = p.count * p.bs;
    }
    bad_skip = p.skip >= 0 && (p.skip > INT64_MAX / p.bs || size < p.bs * p.skip);
    opts = qemu_opts_create(list);
    qemu_opt_set_number(opts, "size",
                        bad_skip ? 0 : size - (p.skip > 0 ? p.bs * p.skip : 0));
    img_round_size_opt(opts);
    if (bdrv_create(drv, p.out, opts, &err) < 0) {
        error_prepend(&err, "%s: error while creating output image: ", p.out);
        error_report_err(err);
        goto out;
    }
    out = img_open(false, p.out, out_fmt, BDRV_O_RDWR, false, false, false);
    if (!out) {
        goto out;
    }
    if (bad_skip) {
        /* QEMU reports this and exits with status 0 */
        error_report("%s: cannot skip to specified offset", p.in);
        ret = 0;
        goto out;
    }
    in_pos = p.skip > 0 ? p.bs * p.skip : 0;
    buf = qemu_try_memalign(4096, (size_t)p.bs);
    if (!buf) {
        error_report("Could not allocate a buffer of %" PRId64 " bytes", p.bs);
        goto out;
    }
    for (out_pos = 0; in_pos < size; ) {
        int64_t n = MIN(p.bs, size - in_pos);
        int r = blk_pread(in, in_pos, n, buf, 0);

        if (r < 0) {
            error_report("error while reading from input image file: %s",
                         strerror(-r));
            goto out;
        }
        r = blk_pwrite(out, out_pos, n, buf, 0);
        if (r < 0) {
            error_report("error while writing to output image file: %s",
                         strerror(-r));
            goto out;
        }
        in_pos += n;
        out_pos += n;
    }
    ret = 0;
out:
    qemu_vfree(buf);
    qemu_opts_del(opts);
    free(list);
    blk_unref(out);
    blk_unref(in);
    return ret;
}
