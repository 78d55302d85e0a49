/*
 * coblock — random-read benchmark of the file driver's engines
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: file-bench FILE ENGINE [SECONDS [QUEUE_DEPTH [BLOCK_SIZE [API]]]]
 *
 * Opens FILE as raw over file with file.aio=ENGINE (threads, native,
 * io_uring) and cache.direct=on, and keeps QUEUE_DEPTH (default 32)
 * random, aligned reads of BLOCK_SIZE bytes (default 4096) in flight for
 * SECONDS (default 5), from one thread, the way fio's randread job does.
 * API "co" (default) runs QUEUE_DEPTH coroutines that loop on
 * blk_co_preadv; "aio" keeps the queue full from blk_aio_preadv
 * completion callbacks.  Prints one line: "ENGINE IOPS MiB/s".
 */
#include "util/osdep.h"
#include <coblock/block.h>

typedef struct Bench {
    BlockBackend *blk;
    int64_t size;
    int64_t block;
    int64_t deadline;
    uint64_t rng;
    uint64_t done;
    int running;
    int error;
} Bench;

typedef struct Slot {
    Bench *b;
    uint8_t *buf;
    QEMUIOVector qiov;
} Slot;

static uint64_t next_rand(Bench *b)
{
    /* xorshift64* */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * UINT64_C(2685821657736338717);
}

static int64_t random_offset(Bench *b)
{
    return (int64_t)(next_rand(b) % (uint64_t)(b->size / b->block)) * b->block;
}

static void coroutine_fn reader(void *opaque)
{
    Slot *s = opaque;
    Bench *b = s->b;

    while (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < b->deadline) {
        int ret = blk_co_preadv(b->blk, random_offset(b), b->block, &s->qiov, 0);

        if (ret < 0) {
            b->error = ret;
            break;
        }
        b->done++;
    }
    b->running--;
}

static void read_cb(void *opaque, int ret)
{
    Slot *s = opaque;
    Bench *b = s->b;

    if (ret < 0) {
        b->error = ret;
    } else {
        b->done++;
    }
    if (ret < 0 || qemu_clock_get_ns(QEMU_CLOCK_REALTIME) >= b->deadline) {
        b->running--;
        return;
    }
    blk_aio_preadv(b->blk, random_offset(b), &s->qiov, 0, read_cb, s);
}

int main(int argc, char **argv)
{
    const char *file, *engine, *api = "co";
    int seconds = 5, qd = 32, i;
    Bench b = { .block = 4096, .rng = 0x9e3779b97f4a7c15ULL };
    Slot *slots;
    QDict *opts;
    Error *err = NULL;
    AioContext *ctx;
    int64_t start, elapsed;

    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE ENGINE [SECONDS [QD [BLOCK_SIZE [co|aio]]]]\n",
                argv[0]);
        return 2;
    }
    file = argv[1];
    engine = argv[2];
    if (argc > 3) {
        seconds = atoi(argv[3]);
    }
    if (argc > 4) {
        qd = atoi(argv[4]);
    }
    if (argc > 5) {
        b.block = atoi(argv[5]);
    }
    if (argc > 6) {
        api = argv[6];
    }
    if (seconds <= 0 || qd <= 0 || qd > 4096 || b.block <= 0 ||
        (strcmp(api, "co") && strcmp(api, "aio"))) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    error_set_progname(argv[0]);

    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.driver", "file");
    qdict_put_str(opts, "file.filename", file);
    qdict_put_str(opts, "file.aio", engine);
    b.blk = blk_new_open(NULL, opts, BDRV_O_NOCACHE, &err);
    if (!b.blk) {
        error_report_err(err);
        return 1;
    }
    b.size = blk_getlength(b.blk);
    if (b.size < b.block) {
        error_report("%s is smaller than one block", file);
        return 1;
    }
    ctx = blk_get_aio_context(b.blk);

    slots = qemu_new0(Slot, qd);
    for (i = 0; i < qd; i++) {
        slots[i].b = &b;
        slots[i].buf = qemu_memalign(4096, (size_t)b.block);
        qemu_iovec_init_buf(&slots[i].qiov, slots[i].buf, (size_t)b.block);
    }

    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    b.deadline = start + (int64_t)seconds * 1000000000LL;
    b.running = qd;
    for (i = 0; i < qd; i++) {
        if (!strcmp(api, "co")) {
            aio_co_enter(ctx, qemu_coroutine_create(reader), &slots[i]);
        } else {
            blk_aio_preadv(b.blk, random_offset(&b), &slots[i].qiov, 0, read_cb,
                           &slots[i]);
        }
    }
    while (b.running > 0) {
        aio_poll(ctx, true);
    }
    elapsed = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
    if (b.error) {
        error_report("read failed: %s", strerror(-b.error));
        return 1;
    }
    printf("%s %.0f %.1f\n", engine, b.done * 1e9 / (double)elapsed,
           (double)b.done * (double)b.block * 1e9 / (double)elapsed / (1 << 20));

    for (i = 0; i < qd; i++) {
        qemu_vfree(slots[i].buf);
    }
    free(slots);
    blk_unref(b.blk);
    return 0;
}
