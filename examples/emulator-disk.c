/*
 * coblock — an emulator-style disk device on libcoblock
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * This is what an emulator's disk model looks like when it uses
 * libcoblock: the emulator owns its event loop (here a plain poll() over
 * its own descriptors), adds coblock's AioContext to it through the
 * descriptor from aio_get_fd(), bounds its sleep with aio_get_timeout_ns()
 * and calls aio_dispatch() when coblock has work.  The "guest" keeps a
 * queue of asynchronous sector reads and writes in flight with
 * blk_aio_preadv/blk_aio_pwritev; every read is checked against a shadow
 * copy of what was written.  At the end the image is flushed, closed,
 * reopened and read back in full.
 *
 * Usage: emulator-disk IMAGE [FORMAT [REQUESTS [QUEUE_DEPTH]]]
 * The image must exist (any size of at least 1 MiB); its first 64 MiB at
 * most are used.  Uses only the public API.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <coblock/block.h>

#define SECTOR 512
#define MAX_QD 256

typedef struct Request {
    struct Device *dev;
    bool busy;
    bool is_write;
    int64_t sector;
    int nsectors;
    uint8_t *buf;
    QEMUIOVector qiov;
} Request;

typedef struct Device {
    BlockBackend *blk;
    int64_t nsectors;
    uint32_t *shadow;           /* generation written to each sector, 0 = never */
    uint8_t *sector_busy;       /* a request in flight covers the sector */
    Request reqs[MAX_QD];
    int qd;
    long to_submit;
    long in_flight;
    long reads, writes, mismatches, errors;
    uint32_t generation;
    uint64_t rng;
} Device;

static uint64_t next_random(Device *dev)
{
    /* xorshift64* */
    dev->rng ^= dev->rng >> 12;
    dev->rng ^= dev->rng << 25;
    dev->rng ^= dev->rng >> 27;
    return dev->rng * UINT64_C(2685821657736338717);
}

/* The content of a sector written with generation @gen. */
static void fill_sector(uint8_t *p, int64_t sector, uint32_t gen)
{
    uint32_t seed = (uint32_t)(sector * 2654435761u) ^ gen;
    int i;

    for (i = 0; i < SECTOR; i += 4) {
        seed = seed * 1103515245u + 12345u;
        memcpy(p + i, &seed, 4);
    }
}

static bool check_sector(const uint8_t *p, int64_t sector, uint32_t gen)
{
    uint8_t expect[SECTOR];
    int i;

    if (gen == 0) {
        /* Never written: whatever the image held before; not checked. */
        return true;
    }
    fill_sector(expect, sector, gen);
    for (i = 0; i < SECTOR; i++) {
        if (p[i] != expect[i]) {
            return false;
        }
    }
    return true;
}

static void request_done(void *opaque, int ret)
{
    Request *r = opaque;
    Device *dev = r->dev;
    int i;

    if (ret < 0) {
        fprintf(stderr, "%s of sector %" PRId64 " failed: %s\n",
                r->is_write ? "write" : "read", r->sector, strerror(-ret));
        dev->errors++;
    } else if (!r->is_write) {
        for (i = 0; i < r->nsectors; i++) {
            int64_t s = r->sector + i;
            if (!check_sector(r->buf + (size_t)i * SECTOR, s, dev->shadow[s])) {
                if (dev->mismatches++ < 10) {
                    fprintf(stderr, "mismatch in sector %" PRId64 "\n", s);
                }
            }
        }
        dev->reads++;
    } else {
        dev->writes++;
    }
    for (i = 0; i < r->nsectors; i++) {
        dev->sector_busy[r->sector + i] = 0;
    }
    r->busy = false;
    dev->in_flight--;
}

/* The guest submits a request into a free slot, on sectors no other
 * request in flight touches. */
static bool submit_one(Device *dev, Request *r)
{
    int64_t sector;
    int n, i;

    n = 1 + (int)(next_random(dev) % 16);
    sector = (int64_t)(next_random(dev) % (uint64_t)(dev->nsectors - n));
    for (i = 0; i < n; i++) {
        if (dev->sector_busy[sector + i]) {
            return false;
        }
    }
    r->dev = dev;
    r->busy = true;
    r->is_write = next_random(dev) % 2;
    r->sector = sector;
    r->nsectors = n;
    for (i = 0; i < n; i++) {
        dev->sector_busy[sector + i] = 1;
    }
    qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)n * SECTOR);
    if (r->is_write) {
        uint32_t gen = ++dev->generation;
        for (i = 0; i < n; i++) {
            fill_sector(r->buf + (size_t)i * SECTOR, sector + i, gen);
            dev->shadow[sector + i] = gen;
        }
        blk_aio_pwritev(dev->blk, sector * SECTOR, &r->qiov, 0, request_done, r);
    } else {
        blk_aio_preadv(dev->blk, sector * SECTOR, &r->qiov, 0, request_done, r);
    }
    dev->in_flight++;
    dev->to_submit--;
    return true;
}

static BlockBackend *open_image(const char *path, const char *format)
{
    QDict *opts = NULL;
    Error *err = NULL;
    BlockBackend *blk;

    if (format) {
        opts = qdict_new();
        qdict_put_str(opts, "driver", format);
    }
    blk = blk_new_open(path, opts, BDRV_O_RDWR, &err);
    if (!blk) {
        fprintf(stderr, "emulator-disk: %s\n", error_get_pretty(err));
        error_free(err);
    }
    return blk;
}

/* The emulator's main loop: its own poll() with coblock's descriptor in
 * the set, until the guest's requests are done. */
static int run_guest(Device *dev, AioContext *ctx)
{
    struct pollfd pfd;
    int i;

    pfd.fd = aio_get_fd(ctx);
    pfd.events = POLLIN;
    while (dev->to_submit > 0 || dev->in_flight > 0) {
        int64_t timeout_ns;
        int timeout_ms;

        for (i = 0; i < dev->qd && dev->to_submit > 0; i++) {
            if (!dev->reqs[i].busy) {
                submit_one(dev, &dev->reqs[i]);
            }
        }
        /* coblock may have work already (completions to deliver from
         * bottom halves, timers): then do not sleep. */
        timeout_ns = aio_get_timeout_ns(ctx);
        timeout_ms = timeout_ns < 0 ? 1000 : (int)((timeout_ns + 999999) / 1000000);
        if (pfd.fd >= 0) {
            if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
                perror("poll");
                return -1;
            }
        }
        aio_dispatch(ctx);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path, *format;
    AioContext *ctx;
    Device dev;
    long requests;
    int64_t len, s;
    uint8_t *buf;
    int i, ret = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE [FORMAT [REQUESTS [QUEUE_DEPTH]]]\n", argv[0]);
        return 2;
    }
    path = argv[1];
    format = argc > 2 && strcmp(argv[2], "probe") ? argv[2] : NULL;
    requests = argc > 3 ? atol(argv[3]) : 20000;
    memset(&dev, 0, sizeof(dev));
    dev.qd = argc > 4 ? atoi(argv[4]) : 32;
    if (dev.qd < 1 || dev.qd > MAX_QD || requests < 1) {
        fprintf(stderr, "emulator-disk: bad request count or queue depth\n");
        return 2;
    }
    dev.to_submit = requests;
    dev.rng = 0x9e3779b97f4a7c15ull;

    ctx = qemu_get_aio_context();
    dev.blk = open_image(path, format);
    if (!dev.blk) {
        return 1;
    }
    len = blk_getlength(dev.blk);
    if (len < 1024 * 1024) {
        fprintf(stderr, "emulator-disk: image too small\n");
        goto out;
    }
    dev.nsectors = (len < 64LL * 1024 * 1024 ? len : 64LL * 1024 * 1024) / SECTOR;
    dev.shadow = calloc((size_t)dev.nsectors, sizeof(uint32_t));
    dev.sector_busy = calloc((size_t)dev.nsectors, 1);
    for (i = 0; i < dev.qd; i++) {
        dev.reqs[i].buf = malloc(16 * SECTOR);
    }

    if (run_guest(&dev, ctx) < 0) {
        goto out;
    }
    if (blk_flush(dev.blk) < 0) {
        fprintf(stderr, "emulator-disk: flush failed\n");
        dev.errors++;
    }
    blk_unref(dev.blk);

    /* Reopen and read everything back. */
    dev.blk = open_image(path, format);
    if (!dev.blk) {
        goto out_free;
    }
    buf = malloc(SECTOR);
    for (s = 0; s < dev.nsectors; s++) {
        if (!dev.shadow[s]) {
            continue;
        }
        if (blk_pread(dev.blk, s * SECTOR, SECTOR, buf, 0) < 0) {
            dev.errors++;
        } else if (!check_sector(buf, s, dev.shadow[s])) {
            if (dev.mismatches++ < 10) {
                fprintf(stderr, "after reopen: mismatch in sector %" PRId64 "\n", s);
            }
        }
    }
    free(buf);
    printf("emulator-disk: %s (%s): %ld reads and %ld writes at queue depth %d, "
           "%ld mismatches, %ld errors\n", path, blk_get_format_name(dev.blk),
           dev.reads, dev.writes, dev.qd, dev.mismatches, dev.errors);
    ret = dev.mismatches || dev.errors ? 1 : 0;

out:
    blk_unref(dev.blk);
out_free:
    for (i = 0; i < dev.qd; i++) {
        free(dev.reqs[i].buf);
    }
    free(dev.shadow);
    free(dev.sector_busy);
    return ret;
}
