/*
 * coblock — nbd-io: drive an image (an nbd:// URI, say) through the block
 * layer from the command line, for the interop tests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: nbd-io [-f FMT] [-r] FILENAME COMMAND [ARGS]... [-- COMMAND ...]
 *
 *   info                   size, protocol driver and display name
 *   dump FILE              read the whole image into FILE (8 requests in
 *                          flight, 1 MiB each)
 *   load FILE              write FILE over the start of the image
 *   map                    "OFFSET LENGTH zero|data|hole,zero|hole" lines,
 *                          from block status, merged
 *   write OFF LEN BYTE     fill with BYTE (suffix LEN with f for FUA)
 *   verify OFF LEN BYTE    fail unless the range holds BYTE
 *   zero OFF LEN [unmap|fast]
 *   discard OFF LEN
 *   flush
 *   stress N SEED          N concurrent random writes, then reads that
 *                          check them
 *
 * Errors go to stderr with the -errno text; the exit status is 1.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/block_int.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

static BlockBackend *blk;
static AioContext *ctx;

static int64_t num(const char *s)
{
    uint64_t v;

    if (qemu_strtosz(s, NULL, &v) < 0 || v > INT64_MAX) {
        fprintf(stderr, "nbd-io: bad number '%s'\n", s);
        exit(2);
    }
    return (int64_t)v;
}

static int fail(const char *what, int ret)
{
    fprintf(stderr, "nbd-io: %s: %s\n", what, strerror(-ret));
    return 1;
}

typedef struct Pending {
    int inflight;
    int error;
} Pending;

static void done_cb(void *opaque, int ret)
{
    Pending *p = opaque;

    p->inflight--;
    if (ret < 0 && !p->error) {
        p->error = ret;
    }
}

#define DUMP_CHUNK (1024 * 1024)
#define DUMP_DEPTH 8

/* One read of the dump: its buffer goes back to the pool when written. */
typedef struct DumpSlot {
    struct DumpState *st;
    uint8_t *buf;
    QEMUIOVector qiov;
    int64_t offset;
    bool busy;
} DumpSlot;

typedef struct DumpState {
    DumpSlot slots[DUMP_DEPTH];
    int fd;
    int inflight;
    int error;
} DumpState;

static void dump_done(void *opaque, int ret)
{
    DumpSlot *slot = opaque;
    DumpState *st = slot->st;

    if (ret == 0 && pwrite(st->fd, slot->buf, slot->qiov.size, slot->offset) !=
        (ssize_t)slot->qiov.size) {
        ret = -errno;
    }
    if (ret < 0 && !st->error) {
        st->error = ret;
    }
    slot->busy = false;
    st->inflight--;
}

/* Keep DUMP_DEPTH reads in flight, each written out as it completes. */
static int cmd_dump(const char *file)
{
    int64_t size = blk_getlength(blk), pos = 0;
    DumpState st;
    int i;

    memset(&st, 0, sizeof(st));
    st.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (st.fd < 0 || size < 0) {
        return fail(file, st.fd < 0 ? -errno : (int)size);
    }
    for (i = 0; i < DUMP_DEPTH; i++) {
        st.slots[i].st = &st;
        st.slots[i].buf = qemu_xmalloc(DUMP_CHUNK);
    }
    while ((pos < size && !st.error) || st.inflight) {
        for (i = 0; i < DUMP_DEPTH && pos < size && !st.error; i++) {
            DumpSlot *slot = &st.slots[i];
            int64_t len = MIN(DUMP_CHUNK, size - pos);

            if (slot->busy) {
                continue;
            }
            slot->busy = true;
            slot->offset = pos;
            qemu_iovec_init_buf(&slot->qiov, slot->buf, (size_t)len);
            st.inflight++;
            blk_aio_preadv(blk, pos, &slot->qiov, 0, dump_done, slot);
            pos += len;
        }
        if (st.inflight) {
            aio_poll(ctx, true);
        }
    }
    if (!st.error) {
        struct stat sb;

        /* A regular file gets the image's length (a hole at the end
         * leaves it short); /dev/null and pipes do not. */
        if (fstat(st.fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
            ftruncate(st.fd, size) < 0) {
            st.error = -errno;
        }
    }
    close(st.fd);
    for (i = 0; i < DUMP_DEPTH; i++) {
        free(st.slots[i].buf);
    }
    return st.error ? fail("dump", st.error) : 0;
}

static int cmd_load(const char *file)
{
    uint8_t *buf = qemu_xmalloc(DUMP_CHUNK);
    int64_t pos = 0;
    int fd = open(file, O_RDONLY), ret = 0;
    ssize_t n;

    if (fd < 0) {
        free(buf);
        return fail(file, -errno);
    }
    while ((n = read(fd, buf, DUMP_CHUNK)) > 0) {
        ret = blk_pwrite(blk, pos, n, buf, 0);
        if (ret < 0) {
            break;
        }
        pos += n;
    }
    close(fd);
    free(buf);
    if (n < 0) {
        return fail(file, -errno);
    }
    return ret < 0 ? fail("load", ret) : 0;
}

static const char *status_name(int st)
{
    bool zero = st & BDRV_BLOCK_ZERO, data = st & BDRV_BLOCK_DATA;

    return data ? (zero ? "zero" : "data") : (zero ? "hole,zero" : "hole");
}

static int cmd_map(void)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t size = blk_getlength(blk), pos = 0, start = 0;
    int last = -1;

    while (pos < size) {
        int64_t pnum;
        int st = bdrv_block_status_above(bs, NULL, pos, size - pos, &pnum,
                                         NULL, NULL, NULL);

        if (st < 0) {
            return fail("block status", st);
        }
        st &= BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO;
        if (last >= 0 && st != last) {
            printf("%" PRId64 " %" PRId64 " %s\n", start, pos - start,
                   status_name(last));
            start = pos;
        }
        last = st;
        pos += pnum;
    }
    if (last >= 0) {
        printf("%" PRId64 " %" PRId64 " %s\n", start, pos - start, status_name(last));
    }
    return 0;
}

static int cmd_write(int64_t off, const char *lenstr, int byte)
{
    size_t l = strlen(lenstr);
    bool fua = l && lenstr[l - 1] == 'f';
    char *copy = qemu_xstrndup(lenstr, fua ? l - 1 : l);
    int64_t len = num(copy);
    uint8_t *buf = qemu_xmalloc(len ? len : 1);
    int ret;

    free(copy);
    memset(buf, byte, len);
    ret = blk_pwrite(blk, off, len, buf, fua ? BDRV_REQ_FUA : 0);
    free(buf);
    return ret < 0 ? fail("write", ret) : 0;
}

static int cmd_verify(int64_t off, int64_t len, int byte)
{
    uint8_t *buf = qemu_xmalloc(len ? len : 1);
    int64_t i;
    int ret = blk_pread(blk, off, len, buf, 0);

    if (ret < 0) {
        free(buf);
        return fail("read", ret);
    }
    for (i = 0; i < len; i++) {
        if (buf[i] != byte) {
            fprintf(stderr, "nbd-io: byte at %" PRId64 " is 0x%02x, not 0x%02x\n",
                    off + i, buf[i], byte);
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}

/* A small deterministic generator, so that runs can be repeated. */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return rnd_state >> 33;
}

#define STRESS_MAX 256

static int cmd_stress(int n, uint64_t seed)
{
    int64_t size = blk_getlength(blk);
    static uint8_t *w[STRESS_MAX], *r[STRESS_MAX];
    static QEMUIOVector wq[STRESS_MAX], rq[STRESS_MAX];
    int64_t off[STRESS_MAX];
    size_t len[STRESS_MAX];
    Pending p = { 0 };
    int i, j;

    rnd_state = seed;
    if (n > STRESS_MAX || size < 64 * 1024 * n) {
        fprintf(stderr, "nbd-io: stress: image too small or N too large\n");
        return 2;
    }
    /* Disjoint slots of 64 KiB, random lengths and offsets inside. */
    for (i = 0; i < n; i++) {
        len[i] = 1 + rnd() % (64 * 1024);
        off[i] = (int64_t)i * 64 * 1024 + (int64_t)(rnd() % (64 * 1024 - len[i] + 1));
        w[i] = qemu_xmalloc(len[i]);
        r[i] = qemu_xmalloc(len[i]);
        for (j = 0; j < (int)len[i]; j++) {
            w[i][j] = (uint8_t)rnd();
        }
        qemu_iovec_init_buf(&wq[i], w[i], len[i]);
        qemu_iovec_init_buf(&rq[i], r[i], len[i]);
        p.inflight++;
        blk_aio_pwritev(blk, off[i], &wq[i], (i % 5) ? 0 : BDRV_REQ_FUA,
                        done_cb, &p);
    }
    while (p.inflight) {
        aio_poll(ctx, true);
    }
    for (i = n - 1; i >= 0 && !p.error; i--) {
        p.inflight++;
        blk_aio_preadv(blk, off[i], &rq[i], 0, done_cb, &p);
    }
    while (p.inflight) {
        aio_poll(ctx, true);
    }
    for (i = 0; i < n && !p.error; i++) {
        if (memcmp(w[i], r[i], len[i])) {
            fprintf(stderr, "nbd-io: stress: request %d read back wrong\n", i);
            p.error = -EIO;
        }
    }
    for (i = 0; i < n; i++) {
        free(w[i]);
        free(r[i]);
    }
    return p.error ? fail("stress", p.error) : 0;
}

static int run(int argc, char **argv)
{
    const char *c = argv[0];

#define NEED(k) do { if (argc != (k) + 1) { \
        fprintf(stderr, "nbd-io: %s takes %d arguments\n", c, k); return 2; } \
    } while (0)
    if (!strcmp(c, "info")) {
        BlockDriverState *bs = blk_bs(blk);
        BlockDriverState *proto = bs->file ? bs->file->bs : bs;

        NEED(0);
        printf("size %" PRId64 "\ndriver %s\nfilename %s\n", blk_getlength(blk),
               proto->drv->format_name, proto->filename);
        return 0;
    } else if (!strcmp(c, "dump")) {
        NEED(1);
        return cmd_dump(argv[1]);
    } else if (!strcmp(c, "load")) {
        NEED(1);
        return cmd_load(argv[1]);
    } else if (!strcmp(c, "map")) {
        NEED(0);
        return cmd_map();
    } else if (!strcmp(c, "write")) {
        NEED(3);
        return cmd_write(num(argv[1]), argv[2], (int)num(argv[3]));
    } else if (!strcmp(c, "verify")) {
        NEED(3);
        return cmd_verify(num(argv[1]), num(argv[2]), (int)num(argv[3]));
    } else if (!strcmp(c, "zero")) {
        BdrvRequestFlags f = 0;
        int ret;

        if (argc == 4 && !strcmp(argv[3], "unmap")) {
            f = BDRV_REQ_MAY_UNMAP;
        } else if (argc == 4 && !strcmp(argv[3], "fast")) {
            f = BDRV_REQ_NO_FALLBACK;
        } else {
            NEED(2);
        }
        ret = blk_pwrite_zeroes(blk, num(argv[1]), num(argv[2]), f);
        return ret < 0 ? fail("zero", ret) : 0;
    } else if (!strcmp(c, "discard")) {
        int ret;

        NEED(2);
        ret = blk_pdiscard(blk, num(argv[1]), num(argv[2]));
        return ret < 0 ? fail("discard", ret) : 0;
    } else if (!strcmp(c, "flush")) {
        int ret;

        NEED(0);
        ret = blk_flush(blk);
        return ret < 0 ? fail("flush", ret) : 0;
    } else if (!strcmp(c, "stress")) {
        NEED(2);
        return cmd_stress((int)num(argv[1]), (uint64_t)num(argv[2]));
    }
    fprintf(stderr, "nbd-io: unknown command '%s'\n", c);
    return 2;
#undef NEED
}

int main(int argc, char **argv)
{
    const char *fmt = "raw";
    int flags = BDRV_O_RDWR, i = 1, ret = 0;
    QDict *opts;
    Error *err = NULL;

    error_set_progname(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-f") && i + 1 < argc) {
            fmt = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "-r")) {
            flags = 0;
            i++;
        } else {
            break;
        }
    }
    if (argc - i < 2) {
        fprintf(stderr, "Usage: %s [-f FMT] [-r] FILENAME COMMAND [ARGS]... "
                "[-- COMMAND ...]\n", argv[0]);
        return 2;
    }
    bdrv_init();
    ctx = qemu_get_aio_context();
    opts = qdict_new();
    qdict_put_str(opts, "driver", fmt);
    blk = blk_new_open(argv[i], opts, flags, &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }
    i++;
    while (i < argc && ret == 0) {
        int j = i;

        while (j < argc && strcmp(argv[j], "--")) {
            j++;
        }
        ret = run(j - i, argv + i);
        i = j + 1;
    }
    blk_unref(blk);
    return ret;
}
