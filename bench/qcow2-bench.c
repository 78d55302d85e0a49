/*
 * coblock — qcow2 benchmarks: random reads, and writes like qemu-img bench
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage:
 *   qcow2-bench randread FILE FORMAT [SECONDS [QD [BS [ENGINE]]]]
 *       QD random aligned reads of BS bytes in flight for SECONDS over the
 *       whole image (FORMAT raw or qcow2); prints "IOPS MiB/s".
 *   qcow2-bench write FILE FORMAT COUNT [QD [BS [ENGINE]]]
 *       COUNT writes of BS bytes at offsets 0, BS, 2*BS, ... with QD in
 *       flight, the pattern of `qemu-img bench -w -c COUNT -d QD -s BS`;
 *       prints "seconds IOPS".
 * The image is opened with cache.direct=on and file.aio=ENGINE (native by
 * default), as `-t none -i native`.  One thread; QD coroutines loop on
 * blk_co_preadv/blk_co_pwritev.
 */
#include "util/osdep.h"
#include <coblock/block.h>

typedef struct Bench {
    BlockBackend *blk;
    int64_t size;
    int64_t bs;
    int64_t deadline;       /* randread */
    int64_t next, count;    /* write */
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
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * UINT64_C(2685821657736338717);
}

static void coroutine_fn reader(void *opaque)
{
    Slot *s = opaque;
    Bench *b = s->b;

    while (!b->error && qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < b->deadline) {
        int64_t off = (int64_t)(next_rand(b) % (uint64_t)(b->size / b->bs)) *
                      b->bs;
        int ret = blk_co_preadv(b->blk, off, b->bs, &s->qiov, 0);
        if (ret < 0) {
            b->error = ret;
        }
        b->done++;
    }
    b->running--;
}

static void coroutine_fn writer(void *opaque)
{
    Slot *s = opaque;
    Bench *b = s->b;

    while (!b->error && b->next < b->count) {
        int64_t off = (b->next++ * b->bs) % b->size;
        int ret = blk_co_pwritev(b->blk, off, b->bs, &s->qiov, 0);
        if (ret < 0) {
            b->error = ret;
        }
        b->done++;
    }
    b->running--;
}

static BlockBackend *open_image(const char *file, const char *fmt,
                                const char *engine, int flags)
{
    QDict *o = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(o, "driver", fmt);
    qdict_put_str(o, "file.aio", engine);
    blk = blk_new_open(file, o, flags | BDRV_O_NOCACHE, &err);
    if (!blk) {
        fprintf(stderr, "%s\n", error_get_pretty(err));
        exit(1);
    }
    return blk;
}

int main(int argc, char **argv)
{
    Bench b = { .rng = 88172645463325252ULL };
    const char *mode, *file, *fmt, *engine = "native";
    bool rd;
    int qd = 32;
    Slot *slots;
    int64_t start, end;

    if (argc < 4) {
        fprintf(stderr, "usage: %s randread|write FILE FORMAT ...\n", argv[0]);
        return 2;
    }
    mode = argv[1];
    file = argv[2];
    fmt = argv[3];
    rd = !strcmp(mode, "randread");
    b.bs = 4096;
    if (rd) {
        int secs = argc > 4 ? atoi(argv[4]) : 5;
        qd = argc > 5 ? atoi(argv[5]) : 32;
        b.bs = argc > 6 ? atoll(argv[6]) : 4096;
        engine = argc > 7 ? argv[7] : engine;
        b.deadline = secs;
    } else {
        b.count = argc > 4 ? atoll(argv[4]) : 65536;
        qd = argc > 5 ? atoi(argv[5]) : 32;
        b.bs = argc > 6 ? atoll(argv[6]) : 4096;
        engine = argc > 7 ? argv[7] : engine;
    }
    b.blk = open_image(file, fmt, engine, rd ? 0 : BDRV_O_RDWR);
    b.size = blk_getlength(b.blk);
    slots = calloc((size_t)qd, sizeof(*slots));
    for (int i = 0; i < qd; i++) {
        slots[i].b = &b;
        slots[i].buf = qemu_memalign(4096, (size_t)b.bs);
        memset(slots[i].buf, 0xa5 + i, (size_t)b.bs);
        qemu_iovec_init_buf(&slots[i].qiov, slots[i].buf, (size_t)b.bs);
    }
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (rd) {
        b.deadline = start + b.deadline * INT64_C(1000000000);
    }
    for (int i = 0; i < qd; i++) {
        Coroutine *co = qemu_coroutine_create(rd ? reader : writer);
        b.running++;
        aio_co_enter(blk_get_aio_context(b.blk), co, &slots[i]);
    }
    while (b.running) {
        aio_poll(blk_get_aio_context(b.blk), true);
    }
    if (!rd) {
        /* Like qemu-img bench: the time includes the final flush of the
         * metadata (done when the image is closed). */
        blk_flush(b.blk);
    }
    end = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (b.error) {
        fprintf(stderr, "I/O error: %s\n", strerror(-b.error));
        return 1;
    }
    if (rd) {
        double s = (double)(end - start) / 1e9;
        printf("%.0f %.1f\n", (double)b.done / s,
               (double)b.done * (double)b.bs / s / (1024 * 1024));
    } else {
        double s = (double)(end - start) / 1e9;
        printf("%.3f %.0f\n", s, (double)b.done / s);
    }
    blk_unref(b.blk);
    for (int i = 0; i < qd; i++) {
        qemu_vfree(slots[i].buf);
    }
    free(slots);
    return 0;
}
