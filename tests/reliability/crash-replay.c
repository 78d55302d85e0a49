/*
 * coblock — crash consistency by replay: record every write and flush
 * that reaches a qcow2 image's file (the log-writes filter), rebuild the
 * file as a crash could leave it, and check each state
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * For each workload (with and without lazy refcounts) the image's file
 * is rebuilt:
 *   - after every prefix of the recorded writes;
 *   - within each flush interval, with one write dropped, with only one
 *     write landed, and with random subsets landed in random order (a
 *     disk with a volatile cache may persist any of them);
 * and each state must
 *   - pass our check and QEMU 7.2's with no corruption (leaks allowed;
 *     with lazy refcounts, after the repair that opening it read-write
 *     does, nothing at all);
 *   - read back every byte the guest wrote before its last completed
 *     flush (bytes written since may read either way).
 *
 * Usage: crash-replay WORKDIR OUR_QEMU_IMG [WORKLOAD]
 * CRASH_MAX_PREFIXES=N checks at most about N prefix states of a long
 * log (every k-th prefix, and every k-th flush interval);
 * unset or 0, every prefix.
 * Prints the states checked per workload and "N states, N failed".
 */
#include "rel-common.h"
#include "block/log-writes.h"

typedef struct Record {
    uint32_t type, flags;
    uint64_t offset, len;
    const uint8_t *data;
} Record;

typedef struct Log {
    uint8_t *buf;
    size_t size;
    Record *rec;
    size_t n;
} Log;

/* Guest-side knowledge: the content each completed flush guarantees. */
typedef struct Checkpoint {
    uint64_t tag;
    Shadow shadow;
} Checkpoint;

typedef struct Run {
    const char *name;
    bool lazy;
    BlockBackend *blk;
    Shadow cur;
    Checkpoint *cp;
    size_t ncp;
    uint32_t seq;
    uint64_t size;
    bool failed;
} Run;

/* ---- the workloads (run on the image through log-writes) ---- */

static void touch(Run *r, uint64_t off, uint64_t len)
{
    /* Bytes changed since the last checkpoint may read either way. */
    if (r->ncp) {
        shadow_any(&r->cp[r->ncp - 1].shadow, off, len);
    }
}

static void w_write(Run *r, uint64_t off, uint64_t len, BdrvRequestFlags f)
{
    uint8_t *buf = qemu_xmalloc(len);
    int ret;

    rel_fill(buf, len, ++r->seq);
    if (f & BDRV_REQ_WRITE_COMPRESSED) {
        for (uint64_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)(r->seq + i / 700);
        }
    }
    touch(r, off, len);
    ret = blk_pwrite(r->blk, (int64_t)off, (int64_t)len, buf, f);
    if (ret < 0) {
        printf("FAIL %s: write %" PRIu64 "+%" PRIu64 ": %s\n", r->name, off,
               len, strerror(-ret));
        r->failed = true;
        shadow_any(&r->cur, off, len);
    } else {
        shadow_set(&r->cur, off, len, buf);
    }
    free(buf);
}

static void w_zero(Run *r, uint64_t off, uint64_t len, BdrvRequestFlags f)
{
    int ret;

    touch(r, off, len);
    ret = blk_pwrite_zeroes(r->blk, (int64_t)off, (int64_t)len, f);
    if (ret < 0) {
        printf("FAIL %s: zero %" PRIu64 "+%" PRIu64 ": %s\n", r->name, off,
               len, strerror(-ret));
        r->failed = true;
        shadow_any(&r->cur, off, len);
    } else {
        shadow_set(&r->cur, off, len, NULL);
    }
}

static void w_discard(Run *r, uint64_t off, uint64_t len)
{
    touch(r, off, len);
    if (blk_pdiscard(r->blk, (int64_t)off, (int64_t)len) < 0) {
        printf("FAIL %s: discard failed\n", r->name);
        r->failed = true;
    }
    shadow_any(&r->cur, off, len);
}

static void w_truncate(Run *r, uint64_t size)
{
    Error *err = NULL;

    if (size < r->size) {
        touch(r, size, r->size - size);
    }
    if (blk_truncate(r->blk, (int64_t)size, false, PREALLOC_MODE_OFF, 0,
                     &err) < 0) {
        printf("FAIL %s: resize to %" PRIu64 ": %s\n", r->name, size,
               error_get_pretty(err));
        error_free(err);
        r->failed = true;
        return;
    }
    if (size > r->size) {
        /* the new space reads as zeroes */
        shadow_set(&r->cur, r->size, size - r->size, NULL);
    }
    r->size = size;
}

/* A guest flush; once it returns, the current contents are guaranteed. */
static void w_flush(Run *r)
{
    Checkpoint *cp;
    int ret = blk_flush(r->blk);

    if (ret < 0) {
        printf("FAIL %s: flush: %s\n", r->name, strerror(-ret));
        r->failed = true;
        return;
    }
    r->cp = qemu_xrealloc(r->cp, (r->ncp + 1) * sizeof(*r->cp));
    cp = &r->cp[r->ncp];
    cp->tag = r->ncp + 1;
    shadow_init(&cp->shadow, r->cur.size);
    memcpy(cp->shadow.data, r->cur.data, r->cur.size);
    memcpy(cp->shadow.state, r->cur.state, r->cur.size);
    cp->shadow.size = r->size;
    r->ncp++;
    log_writes_mark(blk_bs(r->blk), cp->tag);
}

typedef struct Workload {
    const char *name;
    const char *create;     /* qemu-img create arguments, %s = image */
    uint64_t size;          /* initial guest size */
    uint64_t max_size;      /* largest guest size it reaches */
    bool backing;
    void (*run)(Run *r);
} Workload;

#define BACKING_LEN (4 * MiB)

static void run_alloc(Run *r)
{
    w_write(r, 0, 65536, 0);
    w_write(r, 3 * 65536 + 512, 4096, 0);
    w_flush(r);
    w_write(r, MiB, 200 * 1024, 0);
    w_write(r, 5 * MiB + 100, 3000, 0);
    w_flush(r);
    w_write(r, 0, 4096, 0);           /* overwrite in place */
    w_write(r, 7 * MiB, 65536, 0);
    w_flush(r);
}

static void run_cow(Run *r)
{
    w_write(r, 65536 + 512, 1024, 0);
    w_write(r, MiB + 4096, 8192, 0);
    w_flush(r);
    w_write(r, 2 * MiB - 1000, 2000, 0);  /* spans two clusters */
    w_write(r, 3 * MiB, 65536, 0);
    w_flush(r);
}

static void run_zero(Run *r)
{
    w_write(r, 0, MiB, 0);
    w_flush(r);
    w_zero(r, 0, 256 * 1024, BDRV_REQ_MAY_UNMAP);
    w_zero(r, 512 * 1024, 128 * 1024, 0);
    w_zero(r, 900 * 1024 + 512, 4096, 0);
    w_flush(r);
    w_write(r, 64 * 1024, 4096, 0);
    w_flush(r);
}

static void run_discard(Run *r)
{
    w_write(r, 0, MiB, 0);
    w_write(r, 2 * MiB, 512 * 1024, 0);
    w_flush(r);
    w_discard(r, 0, 512 * 1024);
    w_discard(r, 2 * MiB, 65536);
    w_flush(r);
    w_write(r, 4 * MiB, 256 * 1024, 0);   /* may reuse freed clusters */
    w_flush(r);
}

static void run_l1grow(Run *r)
{
    w_write(r, 0, 4096, 0);
    w_flush(r);
    w_truncate(r, 64 * MiB);
    w_write(r, 60 * MiB, 8192, 0);
    w_flush(r);
    w_write(r, 33 * MiB + 512, 512, 0);
    w_flush(r);
}

static void run_refgrow(Run *r)
{
    w_write(r, 0, 4096, 0);
    w_flush(r);
    w_write(r, 256 * 1024, 2 * MiB, 0);   /* past what the table covers */
    w_flush(r);
    w_write(r, 3 * MiB, 64 * 1024, 0);
    w_flush(r);
}

static void run_compressed(Run *r)
{
    w_write(r, 0, 65536, BDRV_REQ_WRITE_COMPRESSED);
    w_write(r, 65536, 65536, BDRV_REQ_WRITE_COMPRESSED);
    w_flush(r);
    w_write(r, 65536 + 4096, 4096, 0);    /* rewrite of a compressed cluster */
    w_write(r, 4 * 65536, 65536, BDRV_REQ_WRITE_COMPRESSED);
    w_flush(r);
}

static void run_resize(Run *r)
{
    w_write(r, 0, 65536, 0);
    w_write(r, 6 * MiB, 65536, 0);
    w_flush(r);
    w_truncate(r, 4 * MiB);
    w_flush(r);
    w_truncate(r, 12 * MiB);
    w_write(r, 10 * MiB, 4096, 0);
    w_flush(r);
}

static const Workload workloads[] = {
    { "alloc", "-o cluster_size=65536%s %s 8M", 8 * MiB, 8 * MiB, false, run_alloc },
    { "cow", "-o cluster_size=65536%s -b base.qcow2 -F qcow2 %s 8M", 8 * MiB,
      8 * MiB, true, run_cow },
    { "zero", "-o cluster_size=65536%s %s 8M", 8 * MiB, 8 * MiB, false, run_zero },
    { "discard", "-o cluster_size=65536%s %s 8M", 8 * MiB, 8 * MiB, false,
      run_discard },
    { "l1grow", "-o cluster_size=4096%s %s 1M", MiB, 64 * MiB, false, run_l1grow },
    { "refgrow", "-o cluster_size=512,refcount_bits=64%s %s 8M", 8 * MiB,
      8 * MiB, false, run_refgrow },
    { "compressed", "-o cluster_size=65536%s %s 8M", 8 * MiB, 8 * MiB, false,
      run_compressed },
    { "resize", "-o cluster_size=65536%s %s 8M", 8 * MiB, 12 * MiB, false,
      run_resize },
};

/* ---- files and logs ---- */

static bool slurp(const char *path, uint8_t **buf, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f) {
        return false;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = qemu_xmalloc((size_t)n + 1);
    *size = (size_t)n;
    if (n && fread(*buf, (size_t)n, 1, f) != 1) {
        fclose(f);
        free(*buf);
        return false;
    }
    fclose(f);
    return true;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static bool parse_log(const char *path, Log *log)
{
    size_t pos = 0, cap = 0;

    memset(log, 0, sizeof(*log));
    if (!slurp(path, &log->buf, &log->size)) {
        return false;
    }
    while (pos + LOG_WRITES_RECORD_SIZE <= log->size) {
        const uint8_t *h = log->buf + pos;
        Record rec;

        if (le32(h) != LOG_WRITES_MAGIC) {
            return false;
        }
        rec.type = le32(h + 4);
        rec.flags = le32(h + 8);
        rec.offset = le64(h + 16);
        rec.len = le64(h + 24);
        rec.data = NULL;
        pos += LOG_WRITES_RECORD_SIZE;
        if (rec.type == LOG_WRITES_WRITE) {
            if (rec.len > log->size - pos) {
                return false;
            }
            rec.data = log->buf + pos;
            pos += rec.len;
        }
        if (log->n == cap) {
            cap = cap ? 2 * cap : 256;
            log->rec = qemu_xrealloc(log->rec, cap * sizeof(Record));
        }
        log->rec[log->n++] = rec;
    }
    return pos == log->size;
}

/* A file image being rebuilt in memory. */
typedef struct FileState {
    uint8_t *data;
    size_t size, cap;
} FileState;

static void fs_resize(FileState *fs, size_t size)
{
    if (size > fs->cap) {
        size_t cap = MAX(size, 2 * fs->cap);
        fs->data = qemu_xrealloc(fs->data, cap);
        fs->cap = cap;
    }
    if (size > fs->size) {
        memset(fs->data + fs->size, 0, size - fs->size);
    }
    fs->size = size;
}

static void fs_apply(FileState *fs, const Record *r)
{
    switch (r->type) {
    case LOG_WRITES_WRITE:
    case LOG_WRITES_ZERO:
    case LOG_WRITES_DISCARD:
        if (r->offset + r->len > fs->size) {
            fs_resize(fs, r->offset + r->len);
        }
        if (r->type == LOG_WRITES_WRITE) {
            memcpy(fs->data + r->offset, r->data, r->len);
        } else {
            memset(fs->data + r->offset, 0, r->len);
        }
        break;
    case LOG_WRITES_TRUNCATE:
        fs_resize(fs, r->offset);
        break;
    default:
        break;
    }
}

static bool changes_file(const Record *r)
{
    return r->type == LOG_WRITES_WRITE || r->type == LOG_WRITES_ZERO ||
           r->type == LOG_WRITES_DISCARD || r->type == LOG_WRITES_TRUNCATE;
}

static bool fs_save(const FileState *fs, const char *path)
{
    FILE *f = fopen(path, "wb");
    bool ok;

    if (!f) {
        return false;
    }
    ok = !fs->size || fwrite(fs->data, fs->size, 1, f) == 1;
    return fclose(f) == 0 && ok;
}

/* ---- checking one state ---- */

typedef struct Replay {
    const Run *run;
    const Log *log;
    const uint8_t *base;
    size_t base_size;
    unsigned states, failures, skipped;
    char what[128];
} Replay;

static const Checkpoint *find_checkpoint(const Run *run, uint64_t tag)
{
    for (size_t i = 0; i < run->ncp; i++) {
        if (run->cp[i].tag == tag) {
            return &run->cp[i];
        }
    }
    return NULL;
}

/* Check the file @fs; @cp: what the guest must read (NULL: nothing
 * guaranteed yet). */
static void check_state(Replay *rp, const FileState *fs, const Checkpoint *cp)
{
    int corruptions, qemu;
    const char *img = "state.qcow2";

    rp->states++;
    if (!fs_save(fs, img)) {
        printf("FAIL %s: cannot write the state\n", rp->what);
        rp->failures++;
        return;
    }
    if (rp->run->lazy) {
        /* A crashed image with lazy refcounts is dirty: opening it
         * read-write repairs it. */
        QDict *o = qdict_new();
        Error *err = NULL;
        BlockBackend *blk;

        qdict_put_str(o, "driver", "qcow2");
        rel_quiet_begin();
        blk = blk_new_open(img, o, BDRV_O_RDWR, &err);
        if (blk) {
            blk_unref(blk);
        }
        rel_quiet_end();
        if (!blk) {
            printf("FAIL %s: open for repair: %s\n", rp->what,
                   error_get_pretty(err));
            error_free(err);
            rp->failures++;
            return;
        }
    }
    corruptions = rel_our_check(img, NULL);
    qemu = rel_qemu_check(img);
    if (corruptions != 0 || (qemu != 0 && qemu != 3 && qemu != -1) ||
        (rp->run->lazy && qemu == 3)) {
        char keep[192];
        printf("FAIL %s: our check %d, QEMU's check exit %d\n", rp->what,
               corruptions, qemu);
        snprintf(keep, sizeof(keep), "fail-%u.qcow2", rp->failures);
        rel_copy(img, keep);
        rp->failures++;
        return;
    }
    if (cp) {
        int64_t bad = rel_verify_image(img, &cp->shadow);
        if (bad != -1) {
            printf("FAIL %s: flushed data lost at guest offset %" PRId64
                   " (checkpoint %" PRIu64 ")\n", rp->what, bad, cp->tag);
            rp->failures++;
        }
    }
}

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

/* Build the state: records [0, start) all applied, then from [start, end)
 * those with keep[i - start] set, in @order; return the checkpoint whose
 * mark has every earlier file change applied. */
static const Checkpoint *build(Replay *rp, FileState *fs, size_t start,
                               size_t end, const bool *keep,
                               const size_t *order)
{
    const Log *log = rp->log;
    const Checkpoint *cp = NULL;
    bool all = true;

    fs->size = 0;
    fs_resize(fs, rp->base_size);
    memcpy(fs->data, rp->base, rp->base_size);
    for (size_t i = 0; i < start; i++) {
        fs_apply(fs, &log->rec[i]);
        if (log->rec[i].type == LOG_WRITES_MARK) {
            cp = find_checkpoint(rp->run, log->rec[i].offset);
        }
    }
    for (size_t k = 0; k < end - start; k++) {
        size_t i = order ? order[k] : start + k;
        if (keep[i - start]) {
            fs_apply(fs, &log->rec[i]);
        }
    }
    for (size_t i = start; i < end; i++) {
        if (changes_file(&log->rec[i]) && !keep[i - start]) {
            all = false;
        }
        if (log->rec[i].type == LOG_WRITES_MARK && all) {
            cp = find_checkpoint(rp->run, log->rec[i].offset);
        }
    }
    return cp;
}

static void replay(Replay *rp, unsigned random_subsets, size_t max_prefixes)
{
    const Log *log = rp->log;
    FileState fs = { 0 };
    bool *keep = qemu_xmalloc0(log->n + 1);
    size_t *order = qemu_xmalloc((log->n + 1) * sizeof(size_t));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t start = 0;

    /* Every prefix that ends with a change of the file (or, with a
     * limit set, every stride-th one). */
    size_t nchanges = 0, stride = 1, k = 0, nintervals = 0;
    for (size_t i = 0; i < log->n; i++) {
        nchanges += changes_file(&log->rec[i]);
    }
    if (max_prefixes && nchanges > max_prefixes) {
        stride = (nchanges + max_prefixes - 1) / max_prefixes;
    }
    for (size_t i = 0; i <= log->n; i++) {
        const Checkpoint *cp;
        if (i > 0 && !changes_file(&log->rec[i - 1]) && i != log->n) {
            continue;
        }
        if (stride > 1 && i > 0 && i != log->n && (k++ % stride)) {
            rp->skipped++;
            continue;
        }
        memset(keep, 1, i);
        cp = build(rp, &fs, 0, i, keep, NULL);
        snprintf(rp->what, sizeof(rp->what), "%s%s prefix %zu/%zu",
                 rp->run->name, rp->run->lazy ? " lazy" : "", i, log->n);
        check_state(rp, &fs, cp);
    }

    /* Within each flush interval: drops, singles, random subsets. */
    while (start < log->n) {
        size_t end = start, m = 0;
        size_t changes[4096];

        while (end < log->n && log->rec[end].type != LOG_WRITES_FLUSH) {
            if (changes_file(&log->rec[end]) && m < ARRAY_SIZE(changes)) {
                changes[m++] = end;
            }
            end++;
        }
        if (m >= 2 && stride > 1 && (nintervals++ % stride)) {
            rp->skipped += 2 * m + random_subsets;
            m = 0;
        }
        if (m >= 2) {
            for (size_t j = 0; j < m; j++) {
                const Checkpoint *cp;
                /* all but one */
                memset(keep, 1, end - start);
                keep[changes[j] - start] = 0;
                cp = build(rp, &fs, start, end, keep, NULL);
                snprintf(rp->what, sizeof(rp->what),
                         "%s%s interval %zu-%zu without %zu", rp->run->name,
                         rp->run->lazy ? " lazy" : "", start, end, changes[j]);
                check_state(rp, &fs, cp);
                /* only one */
                memset(keep, 0, end - start);
                keep[changes[j] - start] = 1;
                for (size_t i = start; i < end; i++) {
                    if (!changes_file(&log->rec[i])) {
                        keep[i - start] = 1;
                    }
                }
                cp = build(rp, &fs, start, end, keep, NULL);
                snprintf(rp->what, sizeof(rp->what),
                         "%s%s interval %zu-%zu only %zu", rp->run->name,
                         rp->run->lazy ? " lazy" : "", start, end, changes[j]);
                check_state(rp, &fs, cp);
            }
            for (unsigned t = 0; t < random_subsets; t++) {
                const Checkpoint *cp;
                for (size_t i = start; i < end; i++) {
                    keep[i - start] = !changes_file(&log->rec[i]) ||
                                      (rnd(&seed) & 1);
                    order[i - start] = i;
                }
                for (size_t i = end - start; i > 1; i--) {
                    size_t j = rnd(&seed) % i, tmp = order[i - 1];
                    order[i - 1] = order[j];
                    order[j] = tmp;
                }
                cp = build(rp, &fs, start, end, keep, order);
                snprintf(rp->what, sizeof(rp->what),
                         "%s%s interval %zu-%zu random subset %u",
                         rp->run->name, rp->run->lazy ? " lazy" : "", start,
                         end, t);
                check_state(rp, &fs, cp);
            }
        }
        start = end + 1;
    }
    free(fs.data);
    free(keep);
    free(order);
}

/* ---- one workload ---- */

static size_t max_prefixes;    /* 0: every prefix */

static bool run_one(const Workload *w, bool lazy, const char *ours,
                    unsigned *states, unsigned *failures, unsigned *records)
{
    Run run;
    Replay rp;
    Log log;
    QDict *opts;
    Error *err = NULL;
    char args[512], logname[64];
    uint8_t *base;
    size_t base_size;

    memset(&run, 0, sizeof(run));
    run.name = w->name;
    run.lazy = lazy;
    run.size = w->size;
    shadow_init(&run.cur, w->max_size);
    run.cur.size = w->max_size;
    if (w->backing) {
        uint8_t *buf = qemu_xmalloc(BACKING_LEN);
        QDict *o = qdict_new();
        BlockBackend *blk;
        int ret;

        if (rel_system("'%s' create -q -f qcow2 base.qcow2 8M", ours) != 0) {
            return false;
        }
        qdict_put_str(o, "driver", "qcow2");
        blk = blk_new_open("base.qcow2", o, BDRV_O_RDWR, &err);
        if (!blk) {
            error_free(err);
            free(buf);
            return false;
        }
        rel_fill(buf, BACKING_LEN, 0xba5e);
        ret = blk_pwrite(blk, 0, BACKING_LEN, buf, 0);
        blk_unref(blk);
        if (ret < 0) {
            free(buf);
            return false;
        }
        shadow_set(&run.cur, 0, BACKING_LEN, buf);
        free(buf);
    }
    snprintf(args, sizeof(args), w->create, lazy ? ",lazy_refcounts=on" : "",
             "image.qcow2");
    if (rel_system("'%s' create -q -f qcow2 %s", ours, args) != 0) {
        printf("FAIL %s: create\n", w->name);
        return false;
    }
    if (!slurp("image.qcow2", &base, &base_size)) {
        return false;
    }

    opts = qdict_new();
    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "discard", "unmap");
    qdict_put_str(opts, "file.driver", "log-writes");
    snprintf(logname, sizeof(logname), "%s%s.log", w->name, lazy ? "-lazy" : "");
    qdict_put_str(opts, "file.log", logname);
    qdict_put_str(opts, "file.image.driver", "file");
    qdict_put_str(opts, "file.image.filename", "image.qcow2");
    run.blk = blk_new_open(NULL, opts, BDRV_O_RDWR | BDRV_O_UNMAP, &err);
    if (!run.blk) {
        printf("FAIL %s: open: %s\n", w->name, error_get_pretty(err));
        error_free(err);
        free(base);
        return false;
    }
    w->run(&run);
    blk_unref(run.blk);

    if (!parse_log(logname, &log)) {
        printf("FAIL %s: the log does not parse\n", w->name);
        free(base);
        return false;
    }
    memset(&rp, 0, sizeof(rp));
    rp.run = &run;
    rp.log = &log;
    rp.base = base;
    rp.base_size = base_size;
    replay(&rp, 4, max_prefixes);
    *states += rp.states;
    *failures += rp.failures + (run.failed ? 1 : 0);
    *records += (unsigned)log.n;
    printf("%s%s: %zu records, %zu flushes checked by the guest, %u states"
           "%s, %u failed\n", w->name, lazy ? " (lazy refcounts)" : "", log.n,
           run.ncp, rp.states, rp.skipped ? " (prefixes sampled)" : "",
           rp.failures);
    for (size_t i = 0; i < run.ncp; i++) {
        shadow_free(&run.cp[i].shadow);
    }
    free(run.cp);
    shadow_free(&run.cur);
    free(log.rec);
    free(log.buf);
    free(base);
    return !run.failed;
}

int main(int argc, char **argv)
{
    unsigned states = 0, failures = 0, records = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s WORKDIR OUR_QEMU_IMG [WORKLOAD]\n", argv[0]);
        return 2;
    }
    if (chdir(argv[1]) < 0) {
        perror(argv[1]);
        return 2;
    }
    if (getenv("CRASH_MAX_PREFIXES")) {
        max_prefixes = strtoul(getenv("CRASH_MAX_PREFIXES"), NULL, 10);
    }
    bdrv_init();
    for (size_t i = 0; i < ARRAY_SIZE(workloads); i++) {
        if (argc > 3 && strcmp(argv[3], workloads[i].name)) {
            continue;
        }
        for (int lazy = 0; lazy < 2; lazy++) {
            if (!run_one(&workloads[i], lazy, argv[2], &states, &failures,
                         &records)) {
                failures++;
            }
        }
    }
    printf("%u records replayed into %u crash states, %u failed\n", records,
           states, failures);
    printf("%u states, %u failed\n", states, failures);
    return failures ? 1 : 0;
}
