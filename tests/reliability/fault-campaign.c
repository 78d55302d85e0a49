/*
 * coblock — the fault campaign: every debug event x errno {EIO, ENOSPC}
 * x once {on, off} over allocating, COW, growth and discard workloads
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each case copies a template qcow2 image, opens it through blkdebug with
 * one [inject-error] rule and runs the workload.  Then:
 *   - every operation either succeeded or failed with the injected errno
 *     (nothing else: no false corruption, no ENOMEDIUM);
 *   - with once=on, a write and a read after the failure succeed;
 *   - when the last flush succeeded, every acknowledged write reads back
 *     (after reopening the image without blkdebug);
 *   - our check and QEMU 7.2's find no corruption (leaks are allowed).
 * A workload is expected to make certain events fire: the campaign fails
 * if one of them never produced an error, so that it cannot pass by
 * injecting nothing.
 *
 * Usage: fault-campaign WORKDIR QEMU_IMG_OURS [WORKLOAD]
 * Prints one summary line per workload and "N cases, N failed".
 */
#include "rel-common.h"


typedef struct Workload {
    const char *name;
    const char *create;         /* our qemu-img create arguments */
    const char *backing_create; /* a backing image to create first */
    uint64_t size;
    uint64_t backing_pattern_len;
    uint64_t initial_size;
    /* events that must have produced an error at least once */
    const char *must_fire;
} Workload;

static const Workload workloads[] = {
    { "alloc", "-f qcow2 -o cluster_size=65536 %s 64M", NULL, 64 * MiB, 0,
      64 * MiB,
      "write_aio l2_update refblock_update_part cluster_alloc "
      "flush_to_os flush_to_disk l1_update pwritev" },
    { "cow", "-f qcow2 -o cluster_size=65536 -b base.qcow2 -F qcow2 %s 64M",
      "-f qcow2 base.qcow2 64M", 64 * MiB, 8 * MiB, 64 * MiB,
      "cow_read read_backing_aio l2_update cluster_alloc" },
    { "growth", "-f qcow2 -o cluster_size=512,refcount_bits=64 %s 1M", NULL,
      16 * MiB, 0, MiB,
      "l1_grow_alloc_table l1_grow_write_table l1_grow_activate_table "
      "reftable_grow refblock_alloc refblock_alloc_write "
      "refblock_alloc_hookup refblock_alloc_write_blocks "
      "refblock_alloc_write_table refblock_alloc_switch_table" },
    { "discard", "-f qcow2 -o cluster_size=65536 %s 64M", NULL, 64 * MiB, 0,
      64 * MiB,
      "cluster_free write_compressed cluster_alloc_bytes" },
};

typedef struct Case {
    const Workload *w;
    BlockBackend *blk;
    Shadow shadow;
    int injected;           /* the errno being injected */
    int hits;               /* operations that failed with it */
    int bad;                /* operations that failed otherwise */
    int last_flush;
    uint64_t size;          /* the image's size now */
    uint32_t seq;
    char detail[256];
} Case;

static void note_result(Case *c, const char *what, uint64_t off, uint64_t len,
                        int ret)
{
    if (ret == 0) {
        return;
    }
    if (ret == -c->injected) {
        c->hits++;
    } else {
        c->bad++;
        if (!c->detail[0]) {
            snprintf(c->detail, sizeof(c->detail), "%s %" PRIu64 "+%" PRIu64
                     ": %s", what, off, len, strerror(-ret));
        }
    }
}

static void op_write(Case *c, uint64_t off, uint64_t len, BdrvRequestFlags f)
{
    uint8_t *buf;
    int ret;

    if (off + len > c->size) {
        return;     /* a failed resize left the image smaller */
    }
    buf = qemu_xmalloc(len);
    rel_fill(buf, len, ++c->seq);
    if (f & BDRV_REQ_WRITE_COMPRESSED) {
        /* compressible, or the driver stores it plainly */
        for (uint64_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)(c->seq + i / 1000);
        }
    }
    ret = blk_pwrite(c->blk, (int64_t)off, (int64_t)len, buf, f);
    note_result(c, "write", off, len, ret);
    if (ret == 0) {
        shadow_set(&c->shadow, off, len, buf);
    } else {
        shadow_any(&c->shadow, off, len);
    }
    free(buf);
}

static void op_zero(Case *c, uint64_t off, uint64_t len, BdrvRequestFlags f)
{
    int ret;

    if (off + len > c->size) {
        return;     /* a failed resize left the image smaller */
    }
    ret = blk_pwrite_zeroes(c->blk, (int64_t)off, (int64_t)len, f);
    note_result(c, "zero", off, len, ret);
    if (ret == 0) {
        shadow_set(&c->shadow, off, len, NULL);
    } else {
        shadow_any(&c->shadow, off, len);
    }
}

static void op_discard(Case *c, uint64_t off, uint64_t len)
{
    int ret;

    if (off + len > c->size) {
        return;     /* a failed resize left the image smaller */
    }
    ret = blk_pdiscard(c->blk, (int64_t)off, (int64_t)len);
    note_result(c, "discard", off, len, ret);
    /* Advisory: the bytes may read as anything afterwards. */
    shadow_any(&c->shadow, off, len);
}

static void op_flush(Case *c)
{
    int ret = blk_flush(c->blk);

    note_result(c, "flush", 0, 0, ret);
    c->last_flush = ret;
}

static void op_read(Case *c, uint64_t off, uint64_t len)
{
    uint8_t *buf;
    int64_t diff;
    int ret;

    if (off + len > c->size) {
        return;     /* a failed resize left the image smaller */
    }
    buf = qemu_xmalloc(len);
    ret = blk_pread(c->blk, (int64_t)off, (int64_t)len, buf, 0);
    note_result(c, "read", off, len, ret);
    if (ret == 0 && (diff = shadow_compare(&c->shadow, off, len, buf)) >= 0 &&
        !c->detail[0]) {
        c->bad++;
        snprintf(c->detail, sizeof(c->detail), "read back wrong data at %"
                 PRId64, diff);
    }
    free(buf);
}

static void op_truncate(Case *c, uint64_t size)
{
    Error *err = NULL;
    int ret = blk_truncate(c->blk, (int64_t)size, false, PREALLOC_MODE_OFF, 0,
                           &err);

    if (ret < 0) {
        error_free(err);
    } else {
        c->size = size;
    }
    note_result(c, "truncate", size, 0, ret);
}

static void run_workload(Case *c)
{
    const char *n = c->w->name;

    if (!strcmp(n, "alloc")) {
        op_write(c, 0, 65536, 0);
        op_write(c, MiB + 512, 4096, 0);
        op_write(c, 4 * MiB, 256 * 1024, 0);
        op_flush(c);
        op_write(c, 0, 4096, 0);
        op_write(c, 40 * MiB + 1000, 70000, 0);
        op_read(c, 0, 128 * 1024);
        op_flush(c);
    } else if (!strcmp(n, "cow")) {
        op_write(c, 65536 + 512, 1024, 0);
        op_write(c, 2 * MiB, 128 * 1024, 0);
        op_write(c, 3 * MiB + 4096, 8192, 0);
        op_flush(c);
        op_write(c, 7 * MiB + 60000, 20000, 0);
        op_read(c, 65536, 65536);
        op_flush(c);
    } else if (!strcmp(n, "growth")) {
        op_truncate(c, 16 * MiB);
        op_write(c, 0, 4096, 0);
        op_write(c, 15 * MiB, 4096, 0);
        op_flush(c);
        op_write(c, 4 * MiB, 3 * MiB, 0);
        op_flush(c);
    } else if (!strcmp(n, "discard")) {
        op_write(c, 0, MiB, 0);
        op_write(c, 2 * MiB, MiB, 0);
        op_flush(c);
        op_discard(c, 0, 512 * 1024);
        op_zero(c, 2 * MiB, 256 * 1024, BDRV_REQ_MAY_UNMAP);
        op_zero(c, 2 * MiB + 300 * 1024, 4096, 0);
        op_write(c, 4 * MiB, 65536, BDRV_REQ_WRITE_COMPRESSED);
        op_write(c, 4 * MiB + 65536, 65536, BDRV_REQ_WRITE_COMPRESSED);
        op_flush(c);
        op_discard(c, 4 * MiB, 65536);
        op_flush(c);
    }
}

/* The guest contents of the template (a backing file's pattern). */
static void init_shadow(Case *c)
{
    shadow_init(&c->shadow, c->w->size);
    if (c->w->backing_pattern_len) {
        uint8_t *buf = qemu_xmalloc(c->w->backing_pattern_len);
        rel_fill(buf, c->w->backing_pattern_len, 0xba5e);
        shadow_set(&c->shadow, 0, c->w->backing_pattern_len, buf);
        free(buf);
    }
}

static bool make_template(const Workload *w, const char *ours)
{
    if (w->backing_create) {
        uint8_t *buf;
        BlockBackend *blk;
        QDict *o = qdict_new();
        Error *err = NULL;
        int ret;

        if (rel_system("'%s' create -q %s", ours, w->backing_create) != 0) {
            return false;
        }
        qdict_put_str(o, "driver", "qcow2");
        blk = blk_new_open("base.qcow2", o, BDRV_O_RDWR, &err);
        if (!blk) {
            error_free(err);
            return false;
        }
        buf = qemu_xmalloc(w->backing_pattern_len);
        rel_fill(buf, w->backing_pattern_len, 0xba5e);
        ret = blk_pwrite(blk, 0, (int64_t)w->backing_pattern_len, buf, 0);
        free(buf);
        blk_unref(blk);
        if (ret < 0) {
            return false;
        }
    }
    {
        char args[512];
        snprintf(args, sizeof(args), w->create, "template.qcow2");
        return rel_system("'%s' create -q %s", ours, args) == 0;
    }
}

/* One case; returns true if it passed.  *fired: the injected errno came
 * back from some operation. */
static bool run_case(const Workload *w, const char *event, int err, bool once,
                     bool *fired)
{
    Case c;
    FILE *f;
    QDict *opts;
    Error *e = NULL;
    char fname[64];
    int corruptions, qemu;
    bool ok = true;

    memset(&c, 0, sizeof(c));
    c.w = w;
    c.injected = err;
    c.last_flush = -1;
    c.size = w->initial_size;
    *fired = false;
    if (!rel_copy("template.qcow2", "case.qcow2")) {
        printf("FAIL %s %s: cannot copy the template\n", w->name, event);
        return false;
    }
    f = fopen("case.cfg", "w");
    if (!f) {
        return false;
    }
    fprintf(f, "[inject-error]\nevent = \"%s\"\nerrno = \"%d\"\nonce = \"%s\"\n",
            event, err, once ? "on" : "off");
    fclose(f);
    init_shadow(&c);
    opts = qdict_new();
    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "discard", "unmap");
    snprintf(fname, sizeof(fname), "blkdebug:case.cfg:case.qcow2");
    c.blk = blk_new_open(fname, opts, BDRV_O_RDWR | BDRV_O_UNMAP, &e);
    if (!c.blk) {
        /* Only the image's own reads at open may fail, and then only
         * with the injected error. */
        bool expected = strstr(error_get_pretty(e), strerror(err)) != NULL;
        if (!expected) {
            printf("FAIL %s %s errno=%d once=%d: open: %s\n", w->name, event,
                   err, once, error_get_pretty(e));
            ok = false;
        }
        *fired = expected;
        error_free(e);
        shadow_free(&c.shadow);
        return ok;
    }
    run_workload(&c);
    if (once && c.hits) {
        /* The rule is used up: the node must work again. */
        int before = c.bad;
        op_write(&c, c.size - MiB, 8192, 0);
        op_read(&c, c.size - MiB, 8192);
        op_flush(&c);
        if (c.bad == before && c.hits && c.last_flush) {
            c.bad++;
            snprintf(c.detail, sizeof(c.detail), "flush after the fault: %s",
                     strerror(-c.last_flush));
        }
        if (c.bad > before && !c.detail[0]) {
            snprintf(c.detail, sizeof(c.detail), "no recovery after the fault");
        }
    }
    blk_unref(c.blk);
    *fired = c.hits > 0;

    if (c.bad) {
        printf("FAIL %s %s errno=%d once=%d: %s\n", w->name, event, err, once,
               c.detail[0] ? c.detail : "operation failed unexpectedly");
        ok = false;
    }
    if (c.last_flush == 0) {
        int64_t bad;
        c.shadow.size = MIN(c.shadow.size, c.size);
        bad = rel_verify_image("case.qcow2", &c.shadow);
        if (bad != -1) {
            printf("FAIL %s %s errno=%d once=%d: acknowledged data lost at %"
                   PRId64 "\n", w->name, event, err, once, bad);
            ok = false;
        }
    }
    corruptions = rel_our_check("case.qcow2", NULL);
    if (corruptions != 0) {
        printf("FAIL %s %s errno=%d once=%d: our check: %d\n", w->name, event,
               err, once, corruptions);
        ok = false;
    }
    qemu = rel_qemu_check("case.qcow2");
    if (qemu != 0 && qemu != 3 && qemu != -1) {
        printf("FAIL %s %s errno=%d once=%d: QEMU's check exit %d\n", w->name,
               event, err, once, qemu);
        ok = false;
    }
    if (!ok) {
        snprintf(fname, sizeof(fname), "fail-%s-%s-%d-%d.qcow2", w->name,
                 event, err, once);
        rel_copy("case.qcow2", fname);
    }
    shadow_free(&c.shadow);
    return ok;
}

int main(int argc, char **argv)
{
    static const int errnos[] = { EIO, ENOSPC };
    int cases = 0, failed = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s WORKDIR OUR_QEMU_IMG [WORKLOAD]\n", argv[0]);
        return 2;
    }
    if (chdir(argv[1]) < 0) {
        perror(argv[1]);
        return 2;
    }
    bdrv_init();
    for (size_t wi = 0; wi < ARRAY_SIZE(workloads); wi++) {
        const Workload *w = &workloads[wi];
        bool fired_any[BLKDBG__MAX] = { false };
        int wcases = 0, wfailed = 0, nfired = 0, wskipped = 0;
        char must[1024], *tok, *save = NULL;

        if (argc > 3 && strcmp(argv[3], w->name)) {
            continue;
        }
        if (!make_template(w, argv[2])) {
            printf("FAIL %s: cannot create the template image\n", w->name);
            failed++;
            continue;
        }
        for (int ev = 0; ev < BLKDBG__MAX; ev++) {
            if (ev == BLKDBG_NONE) {
                continue;
            }
            for (size_t ei = 0; ei < ARRAY_SIZE(errnos); ei++) {
                for (int once = 0; once < 2; once++) {
                    bool fired;
                    if (!run_case(w, bdrv_debug_event_name(ev), errnos[ei],
                                  once, &fired)) {
                        wfailed++;
                    }
                    wcases++;
                    fired_any[ev] |= fired;
                    if (ei == 0 && once == 0 && !fired) {
                        /* The event never reaches the node before an I/O
                         * request in this workload: the other errno and
                         * once settings cannot inject anything either. */
                        wskipped += 3;
                        goto next_event;
                    }
                }
            }
next_event:;
        }
        for (int ev = 0; ev < BLKDBG__MAX; ev++) {
            nfired += fired_any[ev];
        }
        snprintf(must, sizeof(must), "%s", w->must_fire);
        for (tok = strtok_r(must, " ", &save); tok;
             tok = strtok_r(NULL, " ", &save)) {
            int ev = bdrv_debug_event_lookup(tok);
            if (ev < 0 || !fired_any[ev]) {
                printf("FAIL %s: event %s never produced an error\n", w->name,
                       tok);
                wfailed++;
            }
        }
        printf("%s: %d cases run (%d more skipped: the event never fired), "
               "%d events injected an error, %d failed\n",
               w->name, wcases, wskipped, nfired, wfailed);
        cases += wcases;
        failed += wfailed;
    }
    printf("%d cases, %d failed\n", cases, failed);
    return failed ? 1 : 0;
}
