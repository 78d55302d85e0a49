/*
 * coblock — a tour of the coroutine and event-loop API
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Three "request" coroutines each sleep on a timer, hand a checksum job
 * to the thread pool, and take turns in a CoMutex-protected log, while a
 * bottom half reports progress.  Everything runs on one AioContext, from
 * one thread, with blocking-style code.  Uses only the public API.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <coblock/aio.h>
#include <coblock/thread-pool.h>

typedef struct Request {
    int id;
    int64_t delay_ms;
    unsigned char data[1 << 16];
    uint32_t sum;
    int done;
} Request;

static CoMutex log_lock;
static int finished;

static int checksum(void *opaque)
{
    Request *r = opaque;
    uint32_t a = 1, b = 0;
    size_t i;

    /* Adler-32, computed on a worker thread. */
    for (i = 0; i < sizeof(r->data); i++) {
        a = (a + r->data[i]) % 65521;
        b = (b + a) % 65521;
    }
    r->sum = (b << 16) | a;
    return 0;
}

static void coroutine_fn request_co(void *opaque)
{
    Request *r = opaque;
    AioContext *ctx = qemu_get_current_aio_context();

    memset(r->data, 'a' + r->id, sizeof(r->data));
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, r->delay_ms * 1000000);
    thread_pool_submit_co(aio_get_thread_pool(ctx), checksum, r);

    qemu_co_mutex_lock(&log_lock);
    printf("request %d: slept %" PRId64 " ms, adler32 of 64 KiB of '%c' = %08" PRIx32 "\n",
           r->id, r->delay_ms, 'a' + r->id, r->sum);
    qemu_co_mutex_unlock(&log_lock);
    r->done = 1;
    finished++;
}

static void progress_bh(void *opaque)
{
    printf("bottom half: %d of 3 requests finished\n", finished);
}

int main(void)
{
    AioContext *ctx = qemu_get_aio_context();
    Request *reqs = calloc(3, sizeof(Request));
    QEMUBH *bh = aio_bh_new(ctx, progress_bh, NULL);
    int i, last = -1;

    printf("coroutine backend: %s\n", qemu_coroutine_backend());
    qemu_co_mutex_init(&log_lock);
    for (i = 0; i < 3; i++) {
        reqs[i].id = i;
        reqs[i].delay_ms = 30 - 10 * i;
        aio_co_enter(ctx, qemu_coroutine_create(request_co), &reqs[i]);
    }
    while (finished < 3) {
        aio_poll(ctx, true);
        if (finished != last) {
            last = finished;
            qemu_bh_schedule(bh);
        }
    }
    aio_poll(ctx, false);
    qemu_bh_delete(bh);
    free(reqs);
    return 0;
}
