/*
 * coblock — qemu-img bench
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * -d worker coroutines keep that many requests in flight; each takes the
 * next offset (start, then + step each time, modulo the image size) and
 * issues the request through the coroutine interface, so a request costs
 * no allocation, no extra coroutine and no bottom half of its own.  With
 * --flush-interval=N a flush follows every N completed writes: by default
 * the workers first wait until nothing else is in flight (drain), with
 * --no-drain the flush runs alongside the other requests.
 */
#include "qemu-img/img.h"
#include "util/cutils.h"
#include "block/block_int.h"

/* Buffers of all workers together stay below this. */
#define BENCH_MAX_MEMORY (4 * GiB)

typedef struct BenchState {
    BlockBackend *blk;
    AioContext *ctx;
    uint8_t *buf;
    size_t bufsize;
    int64_t image_size;
    int64_t step;
    int64_t offset;             /* next request */
    int count;                  /* requests to issue */
    int issued, completed;
    bool write;
    int flush_interval;
    bool drain_on_flush;
    int writes_since_flush;
    int in_flight;
    bool flushing;              /* a draining flush is waiting or running */
    Coroutine *flusher_wait;    /* the flusher waits for in_flight == 0 */
    CoQueue paused;             /* workers wait for the flush */
    int running;
    int ret;
} BenchState;

typedef struct BenchWorker {
    BenchState *b;
    int index;
} BenchWorker;

static void coroutine_fn bench_flush(BenchState *b)
{
    int ret;

    if (b->drain_on_flush) {
        b->flushing = true;
        while (b->in_flight > 0) {
            b->flusher_wait = qemu_coroutine_self();
            qemu_coroutine_yield();
        }
        b->flusher_wait = NULL;
    }
    b->in_flight++;
    ret = blk_co_flush(b->blk);
    b->in_flight--;
    if (ret < 0 && !b->ret) {
        b->ret = ret;
    }
    if (b->drain_on_flush) {
        b->flushing = false;
        qemu_co_queue_restart_all(&b->paused);
    }
}

static void coroutine_fn bench_worker(void *opaque)
{
    BenchWorker *w = opaque;
    BenchState *b = w->b;
    uint8_t *buf = b->buf + (size_t)w->index * b->bufsize;
    QEMUIOVector qiov;
    int ret;

    qemu_iovec_init_buf(&qiov, buf, b->bufsize);
    while (!b->ret && b->issued < b->count) {
        int64_t offset;

        while (b->flushing) {
            qemu_co_queue_wait(&b->paused, NULL);
        }
        if (b->ret || b->issued >= b->count) {
            break;
        }
        offset = b->offset;
        b->issued++;
        b->offset += b->step;
        if (b->image_size > 0) {
            b->offset %= b->image_size;
        }

        b->in_flight++;
        if (b->write) {
            ret = blk_co_pwritev(b->blk, offset, (int64_t)b->bufsize, &qiov, 0);
        } else {
            ret = blk_co_preadv(b->blk, offset, (int64_t)b->bufsize, &qiov, 0);
        }
        b->in_flight--;
        if (b->flusher_wait && b->in_flight == 0) {
            aio_co_wake(b->flusher_wait);
        }
        if (ret < 0) {
            if (!b->ret) {
                b->ret = ret;
            }
            break;
        }
        b->completed++;
        if (b->write && b->flush_interval &&
            ++b->writes_since_flush >= b->flush_interval) {
            b->writes_since_flush = 0;
            bench_flush(b);
        }
    }
    b->running--;
    aio_notify(b->ctx);
}

int img_bench(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "flush-interval", IMG_REQ_ARG, OPT_FLUSH_INTERVAL },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "pattern", IMG_REQ_ARG, OPT_PATTERN },
        { "no-drain", IMG_NO_ARG, OPT_NO_DRAIN },
        { "force-share", IMG_NO_ARG, 'U' },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *filename;
    bool quiet = false, image_opts = false, is_write = false, force_share = false;
    bool writethrough = false, drain_on_flush = true;
    int count = 75000, depth = 64, pattern = 0, flush_interval = 0;
    int64_t offset = 0, bufsize = 4096, step = 0;
    int flags = 0, c, i, ret = 1;
    BlockBackend *blk;
    BenchState b;
    BenchWorker *workers = NULL;
    int64_t t0, t1;

    img_getopt_init(&g, "bench");
    while ((c = img_getopt(&g, argc, argv, ":hc:d:f:ni:o:qs:S:t:wU",
                           longopts)) != -1) {
        switch (c) {
        case 'c': {
            int64_t v;
            if (qemu_strtoi64(g.optarg, NULL, 0, &v) < 0 || v < 0 ||
                v > INT_MAX) {
                error_report("Invalid request count specified");
                return 1;
            }
            count = (int)v;
            break;
        }
        case 'd': {
            int64_t v;
            if (qemu_strtoi64(g.optarg, NULL, 0, &v) < 0 || v <= 0 ||
                v > INT_MAX) {
                error_report("Invalid queue depth specified");
                return 1;
            }
            depth = (int)v;
            break;
        }
        case 'f':
            fmt = g.optarg;
            break;
        case 'n':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i':
            if (bdrv_parse_aio(g.optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", g.optarg);
                return 1;
            }
            break;
        case 'o':
            offset = img_cvtnum_full("offset", g.optarg, 0, INT64_MAX);
            if (offset < 0) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            bufsize = img_cvtnum_full("buffer size", g.optarg, 0, INT_MAX);
            if (bufsize < 0) {
                return 1;
            }
            break;
        case 'S':
            step = img_cvtnum_full("step_size", g.optarg, 0, INT_MAX);
            if (step < 0) {
                return 1;
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(g.optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode");
                return 1;
            }
            break;
        case 'w':
            flags |= BDRV_O_RDWR;
            is_write = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_FLUSH_INTERVAL: {
            int64_t v;
            if (qemu_strtoi64(g.optarg, NULL, 0, &v) < 0 || v < 0 ||
                v > INT_MAX) {
                error_report("Invalid flush interval specified");
                return 1;
            }
            flush_interval = (int)v;
            break;
        }
        case OPT_PATTERN: {
            int64_t v;
            if (qemu_strtoi64(g.optarg, NULL, 0, &v) < 0 || v < 0 || v > 0xff) {
                error_report("Invalid pattern byte specified");
                return 1;
            }
            pattern = (int)v;
            break;
        }
        case OPT_NO_DRAIN:
            drain_on_flush = false;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    (void)quiet;    /* QEMU's bench prints its lines even with -q */
    if (g.optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[g.optind];
    if (!is_write && flush_interval) {
        error_report("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        error_report("Flush interval can't be smaller than depth");
        return 1;
    }
    if (bufsize && (uint64_t)bufsize * (uint64_t)depth > BENCH_MAX_MEMORY) {
        error_report("Buffers of %d requests of %" PRId64 " bytes need more "
                     "than %" PRId64 " bytes of memory", depth, bufsize,
                     (int64_t)BENCH_MAX_MEMORY);
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    memset(&b, 0, sizeof(b));
    b.blk = blk;
    b.ctx = blk_get_aio_context(blk);
    b.image_size = blk_getlength(blk);
    if (b.image_size < 0) {
        error_report("Could not get the size of '%s': %s", filename,
                     strerror((int)-b.image_size));
        goto out;
    }
    b.bufsize = (size_t)bufsize;
    b.step = step ? step : bufsize;
    b.offset = offset;
    b.count = count;
    b.write = is_write;
    b.flush_interval = flush_interval;
    b.drain_on_flush = drain_on_flush;
    qemu_co_queue_init(&b.paused);
    b.buf = qemu_try_memalign(MAX((size_t)4096,
                                  blk_bs(blk)->bl.opt_mem_alignment),
                              MAX((size_t)1, b.bufsize * (size_t)depth));
    if (!b.buf) {
        error_report("Out of memory");
        goto out;
    }
    memset(b.buf, pattern, b.bufsize * (size_t)depth);

    printf("Sending %d %s requests, %" PRId64 " bytes each, %d in parallel "
           "(starting at offset %" PRId64 ", step size %" PRId64 ")\n",
           count, is_write ? "write" : "read", bufsize, depth, offset, b.step);
    if (flush_interval) {
        printf("Sending flush every %d requests\n", flush_interval);
    }

    /* More workers than requests would only wait. */
    if (depth > count) {
        depth = count ? count : 1;
    }
    workers = qemu_new0(BenchWorker, depth);
    t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    b.running = depth;
    for (i = 0; i < depth; i++) {
        workers[i].b = &b;
        workers[i].index = i;
        aio_co_enter(b.ctx, qemu_coroutine_create(bench_worker), &workers[i]);
    }
    while (b.running) {
        aio_poll(b.ctx, true);
    }
    t1 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (b.ret < 0) {
        error_report("Failed request: %s", strerror(-b.ret));
        goto out;
    }
    printf("Run completed in %3.3f seconds.\n", (double)(t1 - t0) / 1e9);
    ret = 0;
out:
    free(workers);
    qemu_vfree(b.buf);
    blk_unref(blk);
    return ret;
}
