/*
 * coblock — a long random workload checked against a shadow model
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Drives an image through the public API with up to 256 requests in
 * flight: reads, writes, zero writes (with and without unmap), discards
 * and flushes, from 512 bytes to 4 MiB, some of them not sector-aligned.
 * A shadow copy in memory holds what every byte of the image must read
 * as; requests in flight never overlap, so the shadow is exact.  Every
 * read is compared with it; a discarded range is read back at once and
 * each of its sectors must hold either its old data or zeroes (the block
 * layer may ignore a discard, or drop whole clusters), and the shadow
 * takes what was read.  At the end the whole image is compared, then
 * closed, reopened and compared again, and the shadow is written to a raw
 * file so that other tools (QEMU's qemu-img compare) can check it too.
 *
 * Usage: shadow-stress [options] IMAGE
 *   -b FILE      the image's raw backing file: the shadow starts from it
 *                (zeroes past its end); without -b it starts as zeroes
 *   -g SIZE      first write FILE of -b with SIZE bytes of random data
 *                (a quarter of it left as holes), then start; without
 *                IMAGE, only that
 *   -f FMT       format (default qcow2)
 *   -c MODE      cache: writeback (default) or none (O_DIRECT)
 *   -i ENGINE    threads (default), native or io_uring
 *   -q QD        requests in flight, 1 to 256 (default 64)
 *   -m BYTES     largest request (default 4 MiB)
 *   -t SECONDS   run time (default 10)
 *   -n OPS       stop after OPS requests instead (0: by time only)
 *   -s SEED      random seed (default: from the clock; printed)
 *   -o FILE      write the final shadow to FILE
 *
 * Exit status 0 when everything matched, 1 on a mismatch or an I/O
 * error, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <coblock/block.h>

#define SECTOR 512
#define MAX_QD 256

enum { OP_READ, OP_WRITE, OP_ZERO, OP_DISCARD, OP_FLUSH, OP_VERIFY, OP__MAX };
static const char *const op_names[OP__MAX] = {
    "read", "write", "zero", "discard", "flush", "discard-readback",
};

typedef struct Stress Stress;

typedef struct Req {
    Stress *st;
    bool busy;
    int op;
    bool unmap;
    int64_t offset, bytes;
    uint8_t *buf;
    size_t buf_size;
    QEMUIOVector qiov;
} Req;

struct Stress {
    BlockBackend *blk;
    int64_t len;
    uint8_t *shadow;
    uint8_t *busy;              /* per sector: a request in flight covers it */
    Req reqs[MAX_QD];
    int qd;
    int64_t max_bytes;
    uint64_t rng;
    long in_flight;
    long ops[OP__MAX];
    uint64_t bytes[OP__MAX];
    long zero_sectors_after_discard;
    bool failed;
};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    size_t i = 0;

    while (i + 8 <= n) {
        uint64_t v = rnd(&s);
        memcpy(p + i, &v, 8);
        i += 8;
    }
    while (i < n) {
        p[i++] = (uint8_t)rnd(&s);
    }
}

static bool range_free(Stress *st, int64_t off, int64_t bytes)
{
    for (int64_t s = off / SECTOR; s <= (off + bytes - 1) / SECTOR; s++) {
        if (st->busy[s]) {
            return false;
        }
    }
    return true;
}

static void range_mark(Stress *st, int64_t off, int64_t bytes, uint8_t v)
{
    int64_t first = off / SECTOR, last = (off + bytes - 1) / SECTOR;

    memset(st->busy + first, v, (size_t)(last - first + 1));
}

static void report_mismatch(Stress *st, const char *what, int64_t off,
                            const uint8_t *got, int64_t bytes)
{
    for (int64_t i = 0; i < bytes; i++) {
        if (got[i] != st->shadow[off + i]) {
            fprintf(stderr, "shadow-stress: %s: byte %" PRId64 " is 0x%02x, "
                    "expected 0x%02x (request at %" PRId64 ", %" PRId64
                    " bytes)\n", what, off + i, got[i], st->shadow[off + i],
                    off, bytes);
            break;
        }
    }
    st->failed = true;
}

static void req_done(void *opaque, int ret)
{
    Req *r = opaque;
    Stress *st = r->st;

    st->in_flight--;
    if (ret < 0) {
        fprintf(stderr, "shadow-stress: %s at %" PRId64 ", %" PRId64
                " bytes failed: %s\n", op_names[r->op], r->offset, r->bytes,
                strerror(-ret));
        st->failed = true;
    } else {
        switch (r->op) {
        case OP_READ:
            if (memcmp(r->buf, st->shadow + r->offset, (size_t)r->bytes)) {
                report_mismatch(st, "read", r->offset, r->buf, r->bytes);
            }
            break;
        case OP_WRITE:
            memcpy(st->shadow + r->offset, r->buf, (size_t)r->bytes);
            break;
        case OP_ZERO:
            memset(st->shadow + r->offset, 0, (size_t)r->bytes);
            break;
        case OP_DISCARD:
            /* Read the range back while it is still ours. */
            r->op = OP_VERIFY;
            st->ops[OP_VERIFY]++;
            st->bytes[OP_VERIFY] += (uint64_t)r->bytes;
            qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)r->bytes);
            st->in_flight++;
            blk_aio_preadv(st->blk, r->offset, &r->qiov, 0, req_done, r);
            return;
        case OP_VERIFY:
            for (int64_t o = 0; o < r->bytes; o += SECTOR) {
                const uint8_t *got = r->buf + o;
                const uint8_t *old = st->shadow + r->offset + o;
                bool zero = got[0] == 0 && !memcmp(got, got + 1, SECTOR - 1);

                if (memcmp(got, old, SECTOR) == 0) {
                    continue;
                }
                if (!zero) {
                    report_mismatch(st, "read after discard", r->offset + o,
                                    got, SECTOR);
                    break;
                }
                memset(st->shadow + r->offset + o, 0, SECTOR);
                st->zero_sectors_after_discard++;
            }
            break;
        default:
            break;
        }
    }
    if (r->op != OP_FLUSH) {
        range_mark(st, r->offset, r->bytes, 0);
    }
    r->busy = false;
}

/* A request length: mostly small, some up to max_bytes (log-uniform). */
static int64_t pick_len(Stress *st, bool aligned)
{
    int bits_max = 63 - __builtin_clzll((unsigned long long)st->max_bytes);
    int bits = 9 + (int)(rnd(&st->rng) % (uint64_t)(bits_max - 9 + 1));
    int64_t len = (int64_t)(rnd(&st->rng) % (1ull << bits)) + 1;

    if (aligned) {
        len = (len + SECTOR - 1) / SECTOR * SECTOR;
    }
    if (len > st->max_bytes) {
        len = st->max_bytes;
    }
    return len > st->len ? st->len : len;
}

/* Start a request in the free slot @r; false when none could start. */
static bool submit(Stress *st, Req *r)
{
    uint64_t x = rnd(&st->rng) % 100;
    bool aligned = rnd(&st->rng) % 10 != 0;
    int tries;

    r->op = x < 35 ? OP_READ : x < 72 ? OP_WRITE : x < 84 ? OP_ZERO :
            x < 96 ? OP_DISCARD : OP_FLUSH;
    if (r->op == OP_DISCARD) {
        aligned = true;         /* the read-back checks whole sectors */
    }
    if (r->op == OP_FLUSH) {
        r->busy = true;
        st->ops[OP_FLUSH]++;
        st->in_flight++;
        blk_aio_flush(st->blk, req_done, r);
        return true;
    }
    for (tries = 0; tries < 8; tries++) {
        r->bytes = pick_len(st, aligned);
        r->offset = (int64_t)(rnd(&st->rng) % (uint64_t)(st->len - r->bytes + 1));
        if (aligned) {
            r->offset -= r->offset % SECTOR;
        }
        if (range_free(st, r->offset, r->bytes)) {
            break;
        }
    }
    if (tries == 8) {
        return false;           /* everything near is busy: try later */
    }
    r->busy = true;
    range_mark(st, r->offset, r->bytes, 1);
    st->ops[r->op]++;
    st->bytes[r->op] += (uint64_t)r->bytes;
    if ((size_t)r->bytes > r->buf_size) {
        free(r->buf);
        r->buf_size = (size_t)r->bytes;
        r->buf = malloc(r->buf_size);
        if (!r->buf) {
            perror("shadow-stress: malloc");
            exit(1);
        }
    }
    st->in_flight++;
    switch (r->op) {
    case OP_READ:
        qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)r->bytes);
        blk_aio_preadv(st->blk, r->offset, &r->qiov, 0, req_done, r);
        break;
    case OP_WRITE:
        fill_random(r->buf, (size_t)r->bytes, rnd(&st->rng));
        qemu_iovec_init_buf(&r->qiov, r->buf, (size_t)r->bytes);
        blk_aio_pwritev(st->blk, r->offset, &r->qiov,
                        rnd(&st->rng) % 16 == 0 ? BDRV_REQ_FUA : 0,
                        req_done, r);
        break;
    case OP_ZERO:
        r->unmap = rnd(&st->rng) & 1;
        blk_aio_pwrite_zeroes(st->blk, r->offset, r->bytes,
                              r->unmap ? BDRV_REQ_MAY_UNMAP : 0, req_done, r);
        break;
    case OP_DISCARD:
        blk_aio_pdiscard(st->blk, r->offset, r->bytes, req_done, r);
        break;
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int verify_all(Stress *st, const char *when)
{
    const int64_t chunk = 1 << 20;
    uint8_t *buf = malloc((size_t)chunk);

    for (int64_t off = 0; off < st->len && buf; off += chunk) {
        int64_t n = st->len - off < chunk ? st->len - off : chunk;
        int ret = blk_pread(st->blk, off, n, buf, 0);

        if (ret < 0) {
            fprintf(stderr, "shadow-stress: %s: read at %" PRId64 ": %s\n",
                    when, off, strerror(-ret));
            free(buf);
            return -1;
        }
        if (memcmp(buf, st->shadow + off, (size_t)n)) {
            report_mismatch(st, when, off, buf, n);
            free(buf);
            return -1;
        }
    }
    free(buf);
    return 0;
}

static BlockBackend *open_image(const char *path, const char *fmt, int flags)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(opts, "driver", fmt);
    blk = blk_new_open(path, opts, flags, &err);
    if (!blk) {
        fprintf(stderr, "shadow-stress: %s\n", error_get_pretty(err));
        error_free(err);
    }
    return blk;
}

static int make_base(const char *path, int64_t size, uint64_t seed)
{
    const int64_t chunk = 1 << 20;
    uint8_t *buf = malloc((size_t)chunk);
    uint64_t s = seed ^ 0x5bd1e995u;
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    int ret = 0;

    if (fd < 0 || !buf || ftruncate(fd, size) < 0) {
        perror(path);
        ret = -1;
        goto out;
    }
    for (int64_t off = 0; off < size; off += chunk) {
        int64_t n = size - off < chunk ? size - off : chunk;
        if (rnd(&s) % 4 == 0) {
            continue;           /* a hole */
        }
        fill_random(buf, (size_t)n, rnd(&s));
        if (pwrite(fd, buf, (size_t)n, off) != n) {
            perror(path);
            ret = -1;
            goto out;
        }
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return ret;
}

static int load_base(Stress *st, const char *path)
{
    int fd = open(path, O_RDONLY);
    int64_t off = 0;

    if (fd < 0) {
        perror(path);
        return -1;
    }
    while (off < st->len) {
        ssize_t n = pread(fd, st->shadow + off, (size_t)(st->len - off), off);
        if (n < 0) {
            perror(path);
            close(fd);
            return -1;
        }
        if (n == 0) {
            break;              /* the rest stays zero */
        }
        off += n;
    }
    close(fd);
    return 0;
}

/* A size with an optional k, M or G suffix; -1 when malformed. */
static int64_t parse_size(const char *str)
{
    char *end;
    long long v = strtoll(str, &end, 0);
    int shift = 0;

    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (end == str || *end || v < 0 || v > (INT64_MAX >> shift)) {
        return -1;
    }
    return (int64_t)v << shift;
}

static void usage(void)
{
    fprintf(stderr, "usage: shadow-stress [-b BASE [-g SIZE]] [-f FMT] [-c CACHE] "
            "[-i ENGINE] [-q QD] [-m BYTES] [-t SECONDS] [-n OPS] [-s SEED] "
            "[-o SHADOW] IMAGE\n"
            "       shadow-stress -b BASE -g SIZE [-s SEED]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *base = NULL, *fmt = "qcow2", *cache = "writeback";
    const char *engine = "threads", *out = NULL, *path;
    int64_t gen_size = 0;
    double seconds = 10, t0, elapsed;
    long max_ops = 0, issued = 0;
    uint64_t seed = (uint64_t)time(NULL) * 2654435761u;
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    static Stress st;
    AioContext *ctx;
    int c, i, ret = 1;

    st.qd = 64;
    st.max_bytes = 4 << 20;
    while ((c = getopt(argc, argv, "b:g:f:c:i:q:m:t:n:s:o:")) != -1) {
        switch (c) {
        case 'b': base = optarg; break;
        case 'g': gen_size = parse_size(optarg); break;
        case 'f': fmt = optarg; break;
        case 'c': cache = optarg; break;
        case 'i': engine = optarg; break;
        case 'q': st.qd = atoi(optarg); break;
        case 'm': st.max_bytes = parse_size(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'n': max_ops = atol(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'o': out = optarg; break;
        default: usage();
        }
    }
    if ((optind != argc - 1 && !(gen_size && optind == argc)) ||
        st.qd < 1 || st.qd > MAX_QD ||
        st.max_bytes < SECTOR || (gen_size && !base) || gen_size < 0) {
        usage();
    }
    path = argv[optind];
    if (!strcmp(cache, "none")) {
        flags |= BDRV_O_NOCACHE;
    } else if (strcmp(cache, "writeback")) {
        usage();
    }
    if (!strcmp(engine, "native")) {
        flags |= BDRV_O_NATIVE_AIO;
    } else if (!strcmp(engine, "io_uring")) {
        flags |= BDRV_O_IO_URING;
    } else if (strcmp(engine, "threads")) {
        usage();
    }
    st.rng = seed | 1;
    printf("seed %" PRIu64 "\n", seed);
    if (gen_size && make_base(base, gen_size, seed) < 0) {
        return 1;
    }
    if (!path) {
        return 0;
    }

    ctx = qemu_get_aio_context();
    st.blk = open_image(path, fmt, flags);
    if (!st.blk) {
        return 1;
    }
    st.len = blk_getlength(st.blk);
    if (st.len < SECTOR) {
        fprintf(stderr, "shadow-stress: image too small\n");
        goto out;
    }
    st.shadow = calloc(1, (size_t)st.len);
    st.busy = calloc(1, (size_t)(st.len / SECTOR + 1));
    if (!st.shadow || !st.busy) {
        fprintf(stderr, "shadow-stress: no memory for the shadow\n");
        goto out;
    }
    if (base && load_base(&st, base) < 0) {
        goto out;
    }
    if (verify_all(&st, "initial contents") < 0) {
        goto out;
    }
    for (i = 0; i < st.qd; i++) {
        st.reqs[i].st = &st;
    }

    t0 = now_s();
    while (!st.failed) {
        bool more = max_ops ? issued < max_ops : now_s() - t0 < seconds;

        if (!more && st.in_flight == 0) {
            break;
        }
        for (i = 0; more && i < st.qd; i++) {
            if (!st.reqs[i].busy && submit(&st, &st.reqs[i])) {
                issued++;
                more = max_ops ? issued < max_ops : more;
            }
        }
        aio_poll(ctx, st.in_flight > 0);
    }
    while (st.in_flight > 0) {
        aio_poll(ctx, true);
    }
    elapsed = now_s() - t0;
    if (st.failed) {
        goto out;
    }
    if (blk_flush(st.blk) < 0) {
        fprintf(stderr, "shadow-stress: final flush failed\n");
        goto out;
    }
    if (verify_all(&st, "final contents") < 0) {
        goto out;
    }
    blk_unref(st.blk);
    st.blk = open_image(path, fmt, flags);
    if (!st.blk || verify_all(&st, "contents after reopening") < 0) {
        goto out;
    }

    printf("%.1f s, %ld requests in flight at most\n", elapsed, (long)st.qd);
    for (i = 0; i < OP__MAX; i++) {
        printf("  %-17s %9ld requests %12" PRIu64 " bytes\n", op_names[i],
               st.ops[i], st.bytes[i]);
    }
    printf("  sectors zeroed by discard: %ld\n", st.zero_sectors_after_discard);
    if (out) {
        int fd = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0 || write(fd, st.shadow, (size_t)st.len) != st.len) {
            perror(out);
            if (fd >= 0) {
                close(fd);
            }
            goto out;
        }
        close(fd);
    }
    printf("all reads matched the shadow\n");
    ret = 0;
out:
    if (st.blk) {
        blk_unref(st.blk);
    }
    for (i = 0; i < MAX_QD; i++) {
        free(st.reqs[i].buf);
    }
    free(st.shadow);
    free(st.busy);
    return ret;
}
