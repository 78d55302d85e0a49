/*
 * coblock — qemu-io: the commands
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every command is a function taking the open image (NULL for the
 * commands that work without one) and its words, argv[0] being the name
 * as typed.  The dispatcher checks, in this order, that an image is open,
 * the number of words and the write permission, then calls the command.
 * A command returns 0 or a negative errno value; the value only decides
 * qemu-io's exit status, what the user sees is printed by the command.
 *
 * Output goes to stdout through stdio, diagnostics to stderr, exactly
 * where QEMU's qemu-io puts them, so that mixed output (2>&1) comes out
 * in the same order.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/block_int.h"
#include "qemu-img/qemu-io.h"
#include "qemu-img/qemu-io-help.h"
#include "qemu-img/tool-common.h"

#include <signal.h>

/* The largest request the block layer takes in one go (INT_MAX rounded
 * down to a sector). */
#define QEMUIO_MAX_REQUEST  INT64_C(2147483136)
/* -m: buffers start this far past an aligned address. */
#define MISALIGN_OFFSET     16
/* Buffers are filled with this before a read, so that bytes a driver did
 * not touch are visible with -v. */
#define READ_FILL_BYTE      0xab
#define WRITE_FILL_BYTE     0xcd

BlockBackend *qemuio_blk;
bool qemuio_quit;
bool qemuio_image_opts;
bool qemuio_misalign;

static void report_prefix(void)
{
    const char *prog = error_get_progname();

    if (prog && *prog) {
        fprintf(stderr, "%s: ", prog);
    }
}

void qemuio_error(const char *fmt, ...)
{
    va_list ap;

    report_prefix();
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void qemuio_warn(const char *fmt, ...)
{
    va_list ap;

    report_prefix();
    fputs("warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void qemuio_report_err(Error *err)
{
    const char *hint = error_get_hint(err);

    qemuio_error("%s", error_get_pretty(err));
    if (hint) {
        fputs(hint, stderr);
    }
    error_free(err);
}

enum {
    CMD_NOFILE_OK = 1 << 0,     /* runs without an open image */
    CMD_WRITE     = 1 << 1,     /* needs a writable image */
};

typedef int CmdFunc(BlockBackend *blk, int argc, char **argv);

typedef struct CmdInfo {
    const char *name;
    const char *altname;
    CmdFunc *func;
    int argmin;
    int argmax;                 /* -1: no limit */
    unsigned flags;
    const char *args;           /* synopsis of the arguments, may be NULL */
    const char *oneline;
    const char *help;           /* extended help, may be NULL */
} CmdInfo;

static const CmdInfo *find_command(const char *name);

/* ------------------------------------------------------------------ */
/* Formatting */

/* A size the way qemu-io prints it: "512 bytes", "64 KiB", "1.500 MiB",
 * "28.018268 bytes" (for rates).  Three decimals above 1 KiB, six below;
 * a fraction of exactly ".000" is left out. */
static void format_size(double value, char *buf, size_t size)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {
        { 1152921504606846976.0, " EiB" },
        { 1125899906842624.0, " PiB" },
        { 1099511627776.0, " TiB" },
        { 1073741824.0, " GiB" },
        { 1048576.0, " MiB" },
        { 1024.0, " KiB" },
    };
    const char *suffix = " bytes";
    char num[64];
    char *dot;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(units); i++) {
        if (value >= units[i].unit) {
            break;
        }
    }
    if (i < ARRAY_SIZE(units)) {
        suffix = units[i].suffix;
        snprintf(num, sizeof(num), "%.3f", value / units[i].unit);
    } else {
        snprintf(num, sizeof(num), "%f", value);
    }
    dot = strstr(num, ".000");
    if (dot) {
        *dot = '\0';
    }
    if (strlen(num) + strlen(suffix) < size) {
        strcpy(buf, num);
        strcat(buf, suffix);
    } else if (size) {
        buf[0] = '\0';
    }
}

/* Elapsed time: "00.42 sec" below a second, else "H:MM:SS.cc"; always
 * the latter in machine-readable form. */
static void format_time(int64_t ns, bool machine, char *buf, size_t size)
{
    uint64_t secs = (uint64_t)ns / 1000000000u;
    unsigned centi = (unsigned)(((uint64_t)ns % 1000000000u) / 10000000u);

    if (!machine && secs == 0) {
        snprintf(buf, size, "%02u.%02u sec", 0u, centi);
    } else {
        snprintf(buf, size, "%" PRIu64 ":%02u:%02u.%02u", secs / 3600,
                 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60), centi);
    }
}

static void print_report(const char *op, int64_t ns, int64_t offset,
                         int64_t count, int64_t total, int ops, bool machine)
{
    double secs = (double)ns / 1e9;
    char time_buf[64];

    if (secs <= 0) {
        secs = 1e-9;
    }
    format_time(ns, machine, time_buf, sizeof(time_buf));
    if (machine) {
        printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, ops, time_buf,
               (double)total / secs, ops / secs);
    } else {
        char size_buf[64], rate_buf[64];

        printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
               op, total, count, offset);
        format_size((double)total, size_buf, sizeof(size_buf));
        format_size((double)total / secs, rate_buf, sizeof(rate_buf));
        printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n",
               size_buf, ops, time_buf, rate_buf, ops / secs);
    }
}

/* Hex and ASCII, 16 bytes a line, labelled with the image offset. */
static void dump_buffer(const uint8_t *buf, int64_t offset, int64_t len)
{
    int64_t i, j;

    for (i = 0; i < len; i += 16) {
        int64_t n = MIN(16, len - i);

        printf("%08" PRIx64 ":  ", (uint64_t)(offset + i));
        for (j = 0; j < n; j++) {
            printf("%02x ", buf[i + j]);
        }
        printf(" ");
        for (j = 0; j < n; j++) {
            uint8_t c = buf[i + j];
            putchar((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z') ? c : '.');
        }
        printf("\n");
    }
}

/* ------------------------------------------------------------------ */
/* Argument parsing */

/* A byte count or offset with an optional size suffix ("64k", "1.5M",
 * "0x200"); 0 or -EINVAL / -ERANGE. */
static int parse_number(const char *s, int64_t *value)
{
    uint64_t v;
    bool hex_suffix;
    int ret = tool_parse_size(s, &v, &hex_suffix);

    if (hex_suffix) {
        qemuio_warn("Using a multiplier suffix on hex numbers is deprecated:"
                    " %s", s);
    }
    if (ret < 0) {
        return ret;
    }
    if (v > INT64_MAX) {
        return -ERANGE;
    }
    *value = (int64_t)v;
    return 0;
}

static void print_number_error(int err, const char *arg)
{
    switch (err) {
    case -EINVAL:
        printf("Parsing error: non-numeric argument,"
               " or extraneous/unrecognized suffix -- %s\n", arg);
        break;
    case -ERANGE:
        printf("Parsing error: argument too large -- %s\n", arg);
        break;
    default:
        printf("Parsing error: %s -- %s\n", strerror(-err), arg);
        break;
    }
}

/* Parse @s into *@value, or say why not and return the error. */
static int get_number(const char *s, int64_t *value)
{
    int ret = parse_number(s, value);

    if (ret < 0) {
        print_number_error(ret, s);
    }
    return ret;
}

/* A pattern byte: 0..255 in C notation (decimal, 0x hex, 0 octal). */
static int get_pattern(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 0);
    if (end == s || *end || errno || v < 0 || v > 0xff) {
        printf("%s is not a valid pattern byte\n", s);
        return -1;
    }
    return (int)v;
}

static void print_usage(const CmdInfo *ct);

static int usage_error(const char *name)
{
    print_usage(find_command(name));
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Buffers */

typedef struct IOBuf {
    void *mem;
    uint8_t *buf;
} IOBuf;

static bool iobuf_alloc(IOBuf *b, int64_t len, int fill)
{
    size_t extra = qemuio_misalign ? MISALIGN_OFFSET : 0;
    size_t total = (size_t)len + extra;

    b->mem = qemu_try_memalign(4096, total ? total : 1);
    if (!b->mem) {
        b->buf = NULL;
        return false;
    }
    b->buf = (uint8_t *)b->mem + extra;
    memset(b->buf, fill, (size_t)len);
    return true;
}

static void iobuf_free(IOBuf *b)
{
    qemu_vfree(b->mem);
    b->mem = NULL;
    b->buf = NULL;
}

/* Fill @len bytes with the contents of @path, repeated as often as
 * needed.  Reports a failure on stderr. */
static bool iobuf_from_file(IOBuf *b, int64_t len, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t got = 0, want = (size_t)len;

    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return false;
    }
    if (!iobuf_alloc(b, len, 0)) {
        fclose(f);
        fprintf(stderr, "%s: %s\n", path, strerror(ENOMEM));
        return false;
    }
    while (got < want) {
        size_t n = fread(b->buf + got, 1, want - got, f);
        if (n == 0) {
            break;
        }
        got += n;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno ? errno : EIO));
        fclose(f);
        iobuf_free(b);
        return false;
    }
    fclose(f);
    if (got == 0) {
        /* Also for a length of 0: nothing was read. */
        fprintf(stderr, "%s: file is empty\n", path);
        iobuf_free(b);
        return false;
    }
    for (size_t pos = got; pos < want; pos += MIN(got, want - pos)) {
        memcpy(b->buf + pos, b->buf, MIN(got, want - pos));
    }
    return true;
}

/* Buffers for a vector request: one piece per length argument. */
typedef struct IOVecBuf {
    IOBuf mem;
    QEMUIOVector qiov;
} IOVecBuf;

static int iovec_create(IOVecBuf *v, char **args, int nr, int fill)
{
    int64_t total = 0, *lens = qemu_new(int64_t, nr ? nr : 1);
    int64_t pos = 0;
    int i;

    for (i = 0; i < nr; i++) {
        int64_t len;
        int ret = parse_number(args[i], &len);

        if (ret < 0) {
            print_number_error(ret, args[i]);
            free(lens);
            return ret;
        }
        if (len > QEMUIO_MAX_REQUEST) {
            printf("Argument '%s' exceeds maximum size %" PRId64 "\n",
                   args[i], QEMUIO_MAX_REQUEST);
            free(lens);
            return -EINVAL;
        }
        if (total > QEMUIO_MAX_REQUEST - len) {
            printf("The total number of bytes exceed the maximum size %"
                   PRId64 "\n", QEMUIO_MAX_REQUEST);
            free(lens);
            return -EINVAL;
        }
        lens[i] = len;
        total += len;
    }
    if (!iobuf_alloc(&v->mem, total, fill)) {
        free(lens);
        return -ENOMEM;
    }
    qemu_iovec_init(&v->qiov, nr);
    for (i = 0; i < nr; i++) {
        qemu_iovec_add(&v->qiov, v->mem.buf + pos, (size_t)lens[i]);
        pos += lens[i];
    }
    free(lens);
    return 0;
}

static void iovec_free(IOVecBuf *v)
{
    qemu_iovec_destroy(&v->qiov);
    iobuf_free(&v->mem);
}

/* Run the completion callbacks that are ready (non-blocking). */
void qemuio_deliver_completions(BlockBackend *blk)
{
    AioContext *ctx = blk_get_aio_context(blk);

    while (aio_poll(ctx, false)) {
        /* keep going while something ran */
    }
}

/*
 * Synchronous requests run as a coroutine of the image's context, the way
 * QEMU's qemu-io runs them, because when the loop runs decides when the
 * completions of asynchronous requests are printed:
 *   - a request that finishes without waiting (null-co) runs no loop
 *     iteration, so completions stay pending;
 *   - a request that waits runs the loop until it is done; completions
 *     that arrived meanwhile are printed before its own result.  (QEMU
 *     calls such callbacks straight from the completion; coblock from a
 *     bottom half, which may still be pending when the wait ends: it runs
 *     here.)
 */
typedef struct SyncRequest SyncRequest;
struct SyncRequest {
    int coroutine_fn (*fn)(SyncRequest *r);
    BlockBackend *blk;
    int64_t offset;
    int64_t bytes;
    void *buf;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    PreallocMode prealloc;
    Error **errp;
    int ret;
    bool done;
};

static void coroutine_fn sync_request_entry(void *opaque)
{
    SyncRequest *r = opaque;

    r->ret = r->fn(r);
    r->done = true;
}

static int run_sync(SyncRequest *r)
{
    AioContext *ctx = blk_get_aio_context(r->blk);

    r->done = false;
    aio_co_enter(ctx, qemu_coroutine_create(sync_request_entry), r);
    if (r->done) {
        return r->ret;
    }
    while (!r->done) {
        aio_poll(ctx, true);
    }
    qemuio_deliver_completions(r->blk);
    return r->ret;
}

static int coroutine_fn co_pread(SyncRequest *r)
{
    return blk_co_pread(r->blk, r->offset, r->bytes, r->buf, r->flags);
}

static int coroutine_fn co_pwrite(SyncRequest *r)
{
    return blk_co_pwrite(r->blk, r->offset, r->bytes, r->buf, r->flags);
}

static int coroutine_fn co_preadv(SyncRequest *r)
{
    return blk_co_preadv(r->blk, r->offset, r->bytes, r->qiov, r->flags);
}

static int coroutine_fn co_pwritev(SyncRequest *r)
{
    return blk_co_pwritev(r->blk, r->offset, r->bytes, r->qiov, r->flags);
}

static int coroutine_fn co_pwrite_zeroes(SyncRequest *r)
{
    return blk_co_pwrite_zeroes(r->blk, r->offset, r->bytes, r->flags);
}

static int coroutine_fn co_pdiscard(SyncRequest *r)
{
    return blk_co_pdiscard(r->blk, r->offset, r->bytes);
}

static int coroutine_fn co_load_vmstate(SyncRequest *r)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, r->buf, (size_t)r->bytes);
    return blk_co_load_vmstate(r->blk, r->offset, &qiov);
}

static int coroutine_fn co_save_vmstate(SyncRequest *r)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, r->buf, (size_t)r->bytes);
    return blk_co_save_vmstate(r->blk, r->offset, &qiov);
}

static int coroutine_fn co_flush(SyncRequest *r)
{
    return blk_co_flush(r->blk);
}

static int coroutine_fn co_truncate(SyncRequest *r)
{
    return blk_co_truncate(r->blk, r->offset, false, r->prealloc, 0, r->errp);
}

static int do_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                    void *buf)
{
    SyncRequest r = { .fn = co_pread, .blk = blk, .offset = offset,
                      .bytes = bytes, .buf = buf };
    return run_sync(&r);
}

static int do_load_vmstate(BlockBackend *blk, int64_t pos, int64_t bytes,
                           void *buf)
{
    SyncRequest r = { .fn = co_load_vmstate, .blk = blk, .offset = pos,
                      .bytes = bytes, .buf = buf };
    return run_sync(&r);
}

static int do_save_vmstate(BlockBackend *blk, int64_t pos, int64_t bytes,
                           void *buf)
{
    SyncRequest r = { .fn = co_save_vmstate, .blk = blk, .offset = pos,
                      .bytes = bytes, .buf = buf };
    return run_sync(&r);
}

static int do_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                     void *buf, BdrvRequestFlags flags)
{
    SyncRequest r = { .fn = co_pwrite, .blk = blk, .offset = offset,
                      .bytes = bytes, .buf = buf, .flags = flags };
    return run_sync(&r);
}

static int do_preadv(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov)
{
    SyncRequest r = { .fn = co_preadv, .blk = blk, .offset = offset,
                      .bytes = (int64_t)qiov->size, .qiov = qiov };
    return run_sync(&r);
}

static int do_pwritev(BlockBackend *blk, int64_t offset, QEMUIOVector *qiov,
                      BdrvRequestFlags flags)
{
    SyncRequest r = { .fn = co_pwritev, .blk = blk, .offset = offset,
                      .bytes = (int64_t)qiov->size, .qiov = qiov,
                      .flags = flags };
    return run_sync(&r);
}

static int do_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                            BdrvRequestFlags flags)
{
    SyncRequest r = { .fn = co_pwrite_zeroes, .blk = blk, .offset = offset,
                      .bytes = bytes, .flags = flags };
    return run_sync(&r);
}

static int do_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    SyncRequest r = { .fn = co_pdiscard, .blk = blk, .offset = offset,
                      .bytes = bytes };
    return run_sync(&r);
}

static int do_flush(BlockBackend *blk)
{
    SyncRequest r = { .fn = co_flush, .blk = blk };
    return run_sync(&r);
}

static int do_truncate(BlockBackend *blk, int64_t offset, PreallocMode prealloc,
                       Error **errp)
{
    SyncRequest r = { .fn = co_truncate, .blk = blk, .offset = offset,
                      .prealloc = prealloc, .errp = errp };
    return run_sync(&r);
}

static int64_t now_ns(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

/* First byte of @buf[0, len) that is not @pattern, or -1. */
static bool buffer_matches(const uint8_t *buf, int64_t len, int pattern)
{
    int64_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] != pattern) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* read */

static int read_f(BlockBackend *blk, int argc, char **argv)
{
    bool Cflag = false, qflag = false, vflag = false, Pflag = false;
    bool bflag = false, sflag = false, lflag = false;
    int64_t offset, count, pattern_offset = 0, pattern_count = 0;
    int pattern = 0, c, ret;
    int64_t t1, t2;
    IOBuf b;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "bCl:pP:qs:v")) != -1) {
        switch (c) {
        case 'b':
            bflag = true;
            break;
        case 'C':
            Cflag = true;
            break;
        case 'l':
            lflag = true;
            if (get_number(g.optarg, &pattern_count) < 0) {
                return -EINVAL;
            }
            break;
        case 'p':
            break;
        case 'P':
            Pflag = true;
            pattern = get_pattern(g.optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            qflag = true;
            break;
        case 's':
            sflag = true;
            if (get_number(g.optarg, &pattern_offset) < 0) {
                return -EINVAL;
            }
            break;
        case 'v':
            vflag = true;
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    if (g.optind != argc - 2) {
        return usage_error(argv[0]);
    }
    if (get_number(argv[g.optind], &offset) < 0 ||
        get_number(argv[g.optind + 1], &count) < 0) {
        return -EINVAL;
    }
    if (count > QEMUIO_MAX_REQUEST) {
        printf("length cannot exceed %" PRId64 ", given %s\n",
               QEMUIO_MAX_REQUEST, argv[g.optind + 1]);
        return -EINVAL;
    }
    if (!Pflag && (lflag || sflag)) {
        return usage_error(argv[0]);
    }
    if (!lflag) {
        pattern_count = count - pattern_offset;
    }
    if (pattern_offset > count || pattern_count < 0 ||
        pattern_count > count - pattern_offset) {
        printf("pattern verification range exceeds end of read data\n");
        return -EINVAL;
    }
    if (bflag) {
        if (offset & 0x1ff) {
            printf("%" PRId64 " is not a sector-aligned value for 'offset'\n",
                   offset);
            return -EINVAL;
        }
        if (count & 0x1ff) {
            printf("%" PRId64 " is not a sector-aligned value for 'count'\n",
                   count);
            return -EINVAL;
        }
    }

    if (!iobuf_alloc(&b, count, READ_FILL_BYTE)) {
        printf("read failed: %s\n", strerror(ENOMEM));
        return -ENOMEM;
    }
    t1 = now_ns();
    if (bflag) {
        ret = do_load_vmstate(blk, offset, count, b.buf);
    } else {
        ret = do_pread(blk, offset, count, b.buf);
    }
    t2 = now_ns();
    if (ret < 0) {
        printf("read failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (Pflag && !buffer_matches(b.buf + pattern_offset, pattern_count,
                                 pattern)) {
        printf("Pattern verification failed at offset %" PRId64 ", %"
               PRId64 " bytes\n", offset + pattern_offset, pattern_count);
        ret = -EINVAL;
    }
    if (qflag) {
        goto out;
    }
    if (vflag) {
        dump_buffer(b.buf, offset, count);
    }
    print_report("read", t2 - t1, offset, count, count, 1, Cflag);
out:
    iobuf_free(&b);
    return ret;
}

/* ------------------------------------------------------------------ */
/* readv, writev */

static int readv_f(BlockBackend *blk, int argc, char **argv)
{
    bool Cflag = false, qflag = false, vflag = false, Pflag = false;
    int pattern = 0, c, ret;
    int64_t offset, t1, t2;
    IOVecBuf v;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "CP:qv")) != -1) {
        switch (c) {
        case 'C':
            Cflag = true;
            break;
        case 'P':
            Pflag = true;
            pattern = get_pattern(g.optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            qflag = true;
            break;
        case 'v':
            vflag = true;
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    if (g.optind > argc - 2) {
        return usage_error(argv[0]);
    }
    if (get_number(argv[g.optind], &offset) < 0) {
        return -EINVAL;
    }
    ret = iovec_create(&v, &argv[g.optind + 1], argc - g.optind - 1,
                       READ_FILL_BYTE);
    if (ret < 0) {
        return ret;
    }
    t1 = now_ns();
    ret = do_preadv(blk, offset, &v.qiov);
    t2 = now_ns();
    if (ret < 0) {
        printf("readv failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (Pflag && !buffer_matches(v.mem.buf, (int64_t)v.qiov.size, pattern)) {
        printf("Pattern verification failed at offset %" PRId64 ", %zu bytes\n",
               offset, v.qiov.size);
        ret = -EINVAL;
    }
    if (qflag) {
        goto out;
    }
    if (vflag) {
        dump_buffer(v.mem.buf, offset, (int64_t)v.qiov.size);
    }
    print_report("read", t2 - t1, offset, (int64_t)v.qiov.size,
                 (int64_t)v.qiov.size, 1, Cflag);
out:
    iovec_free(&v);
    return ret;
}

static int writev_f(BlockBackend *blk, int argc, char **argv)
{
    bool Cflag = false, qflag = false;
    int pattern = WRITE_FILL_BYTE, c, ret;
    BdrvRequestFlags flags = 0;
    int64_t offset, t1, t2;
    IOVecBuf v;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "CfqP:")) != -1) {
        switch (c) {
        case 'C':
            Cflag = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'q':
            qflag = true;
            break;
        case 'P':
            pattern = get_pattern(g.optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    if (g.optind > argc - 2) {
        return usage_error(argv[0]);
    }
    if (get_number(argv[g.optind], &offset) < 0) {
        return -EINVAL;
    }
    ret = iovec_create(&v, &argv[g.optind + 1], argc - g.optind - 1, pattern);
    if (ret < 0) {
        return ret;
    }
    t1 = now_ns();
    ret = do_pwritev(blk, offset, &v.qiov, flags);
    t2 = now_ns();
    if (ret < 0) {
        printf("writev failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (!qflag) {
        print_report("wrote", t2 - t1, offset, (int64_t)v.qiov.size,
                     (int64_t)v.qiov.size, 1, Cflag);
    }
out:
    iovec_free(&v);
    return ret;
}

/* ------------------------------------------------------------------ */
/* write */

static int write_f(BlockBackend *blk, int argc, char **argv)
{
    bool Cflag = false, qflag = false, bflag = false, cflag = false;
    bool zflag = false, Pflag = false, sflag = false, nflag = false;
    bool uflag = false, fflag = false;
    const char *file_name = NULL;
    int pattern = WRITE_FILL_BYTE, c, ret;
    int64_t offset, count, t1, t2;
    IOBuf b = { NULL, NULL };
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "bcCfnpP:qs:uz")) != -1) {
        switch (c) {
        case 'b':
            bflag = true;
            break;
        case 'c':
            cflag = true;
            break;
        case 'C':
            Cflag = true;
            break;
        case 'f':
            fflag = true;
            break;
        case 'n':
            nflag = true;
            break;
        case 'p':
            break;
        case 'P':
            Pflag = true;
            pattern = get_pattern(g.optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            qflag = true;
            break;
        case 's':
            sflag = true;
            file_name = g.optarg;
            break;
        case 'u':
            uflag = true;
            break;
        case 'z':
            zflag = true;
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    if (g.optind != argc - 2) {
        return usage_error(argv[0]);
    }
    if (bflag && zflag) {
        printf("-b and -z cannot be specified at the same time\n");
        return -EINVAL;
    }
    if ((int)zflag + (int)Pflag + (int)sflag > 1) {
        printf("Only one of -z, -P, and -s can be specified at the same time\n");
        return -EINVAL;
    }
    if (fflag && (bflag || cflag)) {
        printf("-f and -b or -c cannot be specified at the same time\n");
        return -EINVAL;
    }
    if (nflag && !zflag) {
        printf("-n requires -z to be specified\n");
        return -EINVAL;
    }
    if (uflag && !zflag) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    if (get_number(argv[g.optind], &offset) < 0 ||
        get_number(argv[g.optind + 1], &count) < 0) {
        return -EINVAL;
    }
    if (count > QEMUIO_MAX_REQUEST && !nflag) {
        printf("length cannot exceed %" PRId64 " without -n, given %s\n",
               QEMUIO_MAX_REQUEST, argv[g.optind + 1]);
        return -EINVAL;
    }
    if (bflag || cflag) {
        if (offset & 0x1ff) {
            printf("%" PRId64 " is not a sector-aligned value for 'offset'\n",
                   offset);
            return -EINVAL;
        }
        if (count & 0x1ff) {
            printf("%" PRId64 " is not a sector-aligned value for 'count'\n",
                   count);
            return -EINVAL;
        }
    }

    if (!zflag) {
        if (sflag) {
            if (!iobuf_from_file(&b, count, file_name)) {
                return -EINVAL;
            }
        } else if (!iobuf_alloc(&b, count, pattern)) {
            printf("write failed: %s\n", strerror(ENOMEM));
            return -ENOMEM;
        }
    }

    t1 = now_ns();
    if (zflag) {
        BdrvRequestFlags flags = 0;
        if (fflag) {
            flags |= BDRV_REQ_FUA;
        }
        if (uflag) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
        if (nflag) {
            flags |= BDRV_REQ_NO_FALLBACK;
        }
        ret = do_pwrite_zeroes(blk, offset, count, flags);
    } else if (bflag) {
        ret = do_save_vmstate(blk, offset, count, b.buf);
    } else if (cflag) {
        ret = do_pwrite(blk, offset, count, b.buf, BDRV_REQ_WRITE_COMPRESSED);
    } else {
        ret = do_pwrite(blk, offset, count, b.buf, fflag ? BDRV_REQ_FUA : 0);
    }
    t2 = now_ns();
    if (ret < 0) {
        printf("write failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (!qflag) {
        print_report("wrote", t2 - t1, offset, count, count, 1, Cflag);
    }
out:
    iobuf_free(&b);
    return ret;
}

/* ------------------------------------------------------------------ */
/* aio_read, aio_write, aio_flush */

typedef struct AioRequest {
    BlockBackend *blk;
    IOVecBuf v;
    int64_t offset;
    int64_t bytes;
    int64_t t1;
    bool write;
    bool Cflag, qflag, vflag, Pflag, zflag;
    int pattern;
} AioRequest;

static void aio_request_free(AioRequest *req)
{
    if (!req->zflag) {
        iovec_free(&req->v);
    }
    free(req);
}

static void aio_read_done(void *opaque, int ret)
{
    AioRequest *req = opaque;
    int64_t t2 = now_ns();

    if (ret < 0) {
        printf("readv failed: %s\n", strerror(-ret));
        goto out;
    }
    if (req->Pflag && !buffer_matches(req->v.mem.buf, req->bytes,
                                      req->pattern)) {
        printf("Pattern verification failed at offset %" PRId64 ", %"
               PRId64 " bytes\n", req->offset, req->bytes);
    }
    if (req->qflag) {
        goto out;
    }
    if (req->vflag) {
        dump_buffer(req->v.mem.buf, req->offset, req->bytes);
    }
    print_report("read", t2 - req->t1, req->offset, req->bytes, req->bytes,
                 1, req->Cflag);
out:
    aio_request_free(req);
}

static void aio_write_done(void *opaque, int ret)
{
    AioRequest *req = opaque;
    int64_t t2 = now_ns();

    if (ret < 0) {
        printf("aio_write failed: %s\n", strerror(-ret));
        goto out;
    }
    if (!req->qflag) {
        print_report("wrote", t2 - req->t1, req->offset, req->bytes,
                     req->bytes, 1, req->Cflag);
    }
out:
    aio_request_free(req);
}

static int aio_read_f(BlockBackend *blk, int argc, char **argv)
{
    AioRequest *req = qemu_new0(AioRequest, 1);
    int c, ret;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "CP:iqv")) != -1) {
        switch (c) {
        case 'C':
            req->Cflag = true;
            break;
        case 'P':
            req->Pflag = true;
            req->pattern = get_pattern(g.optarg);
            if (req->pattern < 0) {
                free(req);
                return -EINVAL;
            }
            break;
        case 'i':
            printf("injecting invalid read request\n");
            free(req);
            return 0;
        case 'q':
            req->qflag = true;
            break;
        case 'v':
            req->vflag = true;
            break;
        default:
            free(req);
            return usage_error(argv[0]);
        }
    }
    if (g.optind > argc - 2) {
        free(req);
        return usage_error(argv[0]);
    }
    if (get_number(argv[g.optind], &req->offset) < 0) {
        free(req);
        return -EINVAL;
    }
    ret = iovec_create(&req->v, &argv[g.optind + 1], argc - g.optind - 1,
                       READ_FILL_BYTE);
    if (ret < 0) {
        free(req);
        return ret;
    }
    req->blk = blk;
    req->bytes = (int64_t)req->v.qiov.size;
    req->t1 = now_ns();
    blk_aio_preadv(blk, req->offset, &req->v.qiov, 0, aio_read_done, req);
    return 0;
}

static int aio_write_f(BlockBackend *blk, int argc, char **argv)
{
    AioRequest *req = qemu_new0(AioRequest, 1);
    BdrvRequestFlags flags = 0;
    bool uflag = false;
    int c, ret;
    ToolGetopt g;

    req->pattern = WRITE_FILL_BYTE;
    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "CfiqP:uz")) != -1) {
        switch (c) {
        case 'C':
            req->Cflag = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'i':
            printf("injecting invalid write request\n");
            free(req);
            return 0;
        case 'q':
            req->qflag = true;
            break;
        case 'P':
            req->pattern = get_pattern(g.optarg);
            if (req->pattern < 0) {
                free(req);
                return -EINVAL;
            }
            break;
        case 'u':
            uflag = true;
            break;
        case 'z':
            req->zflag = true;
            break;
        default:
            free(req);
            return usage_error(argv[0]);
        }
    }
    if (g.optind > argc - 2) {
        free(req);
        return usage_error(argv[0]);
    }
    if (req->zflag && g.optind != argc - 2) {
        printf("-z supports only a single length parameter\n");
        free(req);
        return -EINVAL;
    }
    if (uflag && !req->zflag) {
        printf("-u requires -z to be specified\n");
        free(req);
        return -EINVAL;
    }
    if (get_number(argv[g.optind], &req->offset) < 0) {
        free(req);
        return -EINVAL;
    }
    req->blk = blk;
    req->write = true;
    if (req->zflag) {
        if (get_number(argv[g.optind + 1], &req->bytes) < 0) {
            free(req);
            return -EINVAL;
        }
        if (uflag) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
        req->t1 = now_ns();
        blk_aio_pwrite_zeroes(blk, req->offset, req->bytes, flags,
                              aio_write_done, req);
        return 0;
    }
    ret = iovec_create(&req->v, &argv[g.optind + 1], argc - g.optind - 1,
                       req->pattern);
    if (ret < 0) {
        free(req);
        return ret;
    }
    req->bytes = (int64_t)req->v.qiov.size;
    req->t1 = now_ns();
    blk_aio_pwritev(blk, req->offset, &req->v.qiov, flags, aio_write_done, req);
    return 0;
}

static int aio_flush_f(BlockBackend *blk, int argc, char **argv)
{
    blk_drain(blk);
    return 0;
}

static int flush_f(BlockBackend *blk, int argc, char **argv)
{
    return do_flush(blk);
}

/* ------------------------------------------------------------------ */
/* discard, truncate, length */

static int discard_f(BlockBackend *blk, int argc, char **argv)
{
    bool Cflag = false, qflag = false;
    int64_t offset, bytes, t1, t2;
    int c, ret;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "Cq")) != -1) {
        switch (c) {
        case 'C':
            Cflag = true;
            break;
        case 'q':
            qflag = true;
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    if (g.optind != argc - 2) {
        return usage_error(argv[0]);
    }
    if (get_number(argv[g.optind], &offset) < 0 ||
        get_number(argv[g.optind + 1], &bytes) < 0) {
        return -EINVAL;
    }
    if (bytes > QEMUIO_MAX_REQUEST) {
        printf("length cannot exceed %" PRId64 ", given %s\n",
               QEMUIO_MAX_REQUEST, argv[g.optind + 1]);
        return -EINVAL;
    }
    t1 = now_ns();
    ret = do_pdiscard(blk, offset, bytes);
    t2 = now_ns();
    if (ret < 0) {
        printf("discard failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!qflag) {
        print_report("discard", t2 - t1, offset, bytes, bytes, 1, Cflag);
    }
    return 0;
}

static int truncate_f(BlockBackend *blk, int argc, char **argv)
{
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    Error *err = NULL;
    int64_t offset;
    int c, ret;
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "m:")) != -1) {
        switch (c) {
        case 'm':
            if (!bdrv_prealloc_mode_parse(g.optarg, &prealloc)) {
                qemuio_error("Invalid preallocation mode '%s'", g.optarg);
                return -EINVAL;
            }
            break;
        default:
            return usage_error(argv[0]);
        }
    }
    /* Words after the size are ignored. */
    if (g.optind >= argc) {
        return usage_error(argv[0]);
    }
    ret = parse_number(argv[g.optind], &offset);
    if (ret < 0) {
        /* QEMU names the first word after the command here, whichever
         * word it was that did not parse. */
        print_number_error(ret, argv[1]);
        return ret;
    }
    ret = do_truncate(blk, offset, prealloc, &err);
    if (ret < 0) {
        qemuio_report_err(err);
        return ret;
    }
    return 0;
}

static int length_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t size = blk_getlength(blk);
    char buf[64];

    if (size < 0) {
        printf("getlength: %s\n", strerror((int)-size));
        return (int)size;
    }
    format_size((double)size, buf, sizeof(buf));
    printf("%s\n", buf);
    return 0;
}

/* ------------------------------------------------------------------ */
/* info, alloc, map */

/* Print format-specific information: one "key: value" line per entry,
 * dashes in keys shown as spaces, nested objects (dotted keys) as
 * indented blocks and list elements as "[N]:". */
static void dump_specific_info(const QDict *data)
{
    /* The path components of the previous key, to print headers only
     * when entering a new object. */
    char prev[16][128];
    int prev_depth = 0;
    const QDictEntry *e;

    for (e = qdict_first(data); e; e = qdict_next(data, e)) {
        const char *key = qdict_entry_key(e);
        char parts[16][128];
        int depth = 0, i, common = 0;
        const char *p = key;

        while (depth < 16) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            if (n >= sizeof(parts[0])) {
                n = sizeof(parts[0]) - 1;
            }
            memcpy(parts[depth], p, n);
            parts[depth][n] = '\0';
            depth++;
            if (!dot) {
                break;
            }
            p = dot + 1;
        }
        while (common < depth - 1 && common < prev_depth - 1 &&
               !strcmp(parts[common], prev[common])) {
            common++;
        }
        for (i = 0; i < depth; i++) {
            const char *name = parts[i];
            bool is_index = *name && strspn(name, "0123456789") == strlen(name);
            int indent = 4 * (i + 1);

            if (i < common) {
                continue;
            }
            printf("%*s", indent, "");
            if (is_index) {
                printf("[%s]:", name);
            } else {
                for (const char *q = name; *q; q++) {
                    putchar(*q == '-' ? ' ' : *q);
                }
                printf(":");
            }
            if (i == depth - 1) {
                printf(" %s\n", qdict_entry_value(e));
            } else {
                printf("\n");
            }
        }
        memcpy(prev, parts, sizeof(parts[0]) * (size_t)depth);
        prev_depth = depth;
    }
}

static int info_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverInfo bdi;
    ImageInfoSpecific *spec;
    Error *err = NULL;
    char buf[64];

    int ret;

    printf("format name: %s\n", bdrv_get_format_name(bs));
    /* A protocol driver names itself a second time, as its protocol. */
    if (bs->drv && bs->drv->protocol_name) {
        printf("format name: %s\n", bs->drv->protocol_name);
    }
    memset(&bdi, 0, sizeof(bdi));
    ret = bdrv_get_info(bs, &bdi);
    if (ret < 0) {
        /* Without driver information the command stops after the format
         * name and fails. */
        return ret;
    }
    format_size((double)bdi.cluster_size, buf, sizeof(buf));
    printf("cluster size: %s\n", buf);
    format_size((double)bdi.vm_state_offset, buf, sizeof(buf));
    printf("vm state offset: %s\n", buf);

    spec = bdrv_get_specific_info(bs, &err);
    if (err) {
        qemuio_report_err(err);
        return -EIO;
    }
    if (spec) {
        printf("Format specific information:\n");
        if (spec->data) {
            dump_specific_info(spec->data);
        }
        image_info_specific_free(spec);
    }
    return 0;
}

static int alloc_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t offset, start, remaining, count = BDRV_SECTOR_SIZE;
    int64_t sum_alloc = 0, num;
    char buf[64];
    int ret;

    if (get_number(argv[1], &offset) < 0) {
        return -EINVAL;
    }
    if (argc == 3 && get_number(argv[2], &count) < 0) {
        return -EINVAL;
    }
    start = offset;
    remaining = count;
    while (remaining) {
        ret = bdrv_is_allocated(bs, offset, remaining, &num);
        if (ret < 0) {
            printf("is_allocated failed: %s\n", strerror(-ret));
            return ret;
        }
        offset += num;
        remaining -= num;
        if (ret) {
            sum_alloc += num;
        }
        if (num == 0) {
            /* The end of the image. */
            count -= remaining;
            remaining = 0;
        }
    }
    format_size((double)start, buf, sizeof(buf));
    printf("%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n",
           sum_alloc, count, buf);
    return 0;
}

/* Allocation status of [offset, offset + bytes) in the image itself (not
 * its backing chain, as in QEMU), merged over as many extents as share
 * it: 1, 0, or -errno. */
static int map_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum)
{
    int64_t num, sum;
    int ret, first;

    ret = bdrv_is_allocated(bs, offset, bytes, &num);
    if (ret < 0) {
        return ret;
    }
    first = ret;
    sum = num;
    offset += num;
    bytes -= num;
    while (bytes > 0 && num > 0) {
        ret = bdrv_is_allocated(bs, offset, bytes, &num);
        if (ret < 0) {
            return ret;
        }
        if (ret != first || num == 0) {
            break;
        }
        sum += num;
        offset += num;
        bytes -= num;
    }
    *pnum = sum;
    return first;
}

static int map_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t offset = 0, length, num;
    char s1[64], s2[64];
    int ret;

    length = blk_getlength(blk);
    if (length < 0) {
        qemuio_error("Failed to query image length: %s", strerror((int)-length));
        return (int)length;
    }
    while (offset < length) {
        ret = map_status(bs, offset, length - offset, &num);
        if (ret < 0) {
            qemuio_error("Failed to get allocation status: %s", strerror(-ret));
            return ret;
        }
        if (num == 0) {
            qemuio_error("Unexpected end of image");
            return -EIO;
        }
        format_size((double)num, s1, sizeof(s1));
        format_size((double)offset, s2, sizeof(s2));
        printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n",
               s1, (uint64_t)num, ret ? "    allocated" : "not allocated",
               s2, (uint64_t)offset);
        offset += num;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sleep, sigraise, abort */

static void sleep_expired(void *opaque)
{
    *(bool *)opaque = true;
}

static int sleep_f(BlockBackend *blk, int argc, char **argv)
{
    AioContext *ctx = qemu_get_current_aio_context();
    bool expired = false;
    int64_t start, deadline;
    QEMUTimer *timer;
    char *end;
    long ms;

    errno = 0;
    ms = strtol(argv[1], &end, 0);
    if (ms < 0 || *end != '\0' || end == argv[1] || errno) {
        printf("%s is not a valid number\n", argv[1]);
        return -EINVAL;
    }
    /* Run the loop meanwhile: asynchronous requests complete. */
    timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, sleep_expired, &expired);
    start = now_ns();
    if ((int64_t)ms > (INT64_MAX - start) / 1000000) {
        deadline = INT64_MAX;       /* practically forever */
    } else {
        deadline = start + (int64_t)ms * 1000000;
    }
    timer_mod(timer, deadline);
    while (!expired) {
        aio_poll(ctx, true);
    }
    timer_free(timer);
    return 0;
}

static int sigraise_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t sig;

    if (get_number(argv[1], &sig) < 0) {
        return -EINVAL;
    }
#ifdef NSIG
    if (sig > NSIG) {
#else
    if (sig > 64) {
#endif
        printf("signal argument '%s' is too large to be a valid signal\n",
               argv[1]);
        return -EINVAL;
    }
    /* raise() does not flush stdio; what was printed so far must be seen. */
    fflush(stdout);
    fflush(stderr);
    raise((int)sig);
    return 0;
}

static int abort_f(BlockBackend *blk, int argc, char **argv)
{
    abort();
}

/* ------------------------------------------------------------------ */
/* Breakpoints (blkdebug) */

static int break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_breakpoint(blk_bs(blk), argv[1], argv[2]);

    if (ret < 0) {
        printf("Could not set breakpoint: %s\n", strerror(-ret));
    }
    return ret;
}

static int remove_break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_remove_breakpoint(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not remove breakpoint %s: %s\n", argv[1], strerror(-ret));
    }
    return ret;
}

static int resume_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_resume(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not resume request: %s\n", strerror(-ret));
    }
    return ret;
}

/* Runs the loop until a request is suspended under the tag (forever if
 * none ever is, as QEMU's does).  Without a blkdebug node nothing can be
 * suspended: that is reported instead of waiting forever. */
static int wait_break_f(BlockBackend *blk, int argc, char **argv)
{
    AioContext *ctx = blk_get_aio_context(blk);

    if (!bdrv_debug_has_breakpoints(blk_bs(blk))) {
        printf("Could not wait for breakpoint %s: %s\n", argv[1],
               strerror(ENOTSUP));
        return -ENOTSUP;
    }
    while (!bdrv_debug_is_suspended(blk_bs(blk), argv[1])) {
        aio_poll(ctx, true);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* reopen */

static int reopen_f(BlockBackend *blk, int argc, char **argv)
{
    const char *cache = NULL;
    bool ro = false, rw = false;
    int flags = 0, c, ret;
    bool writethrough;
    QDict *opts = qdict_new();
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "c:o:rw")) != -1) {
        switch (c) {
        case 'c':
            if (bdrv_parse_cache_mode(g.optarg, &flags, &writethrough) < 0) {
                qemuio_error("Invalid cache option: %s", g.optarg);
                qdict_unref(opts);
                return -EINVAL;
            }
            cache = g.optarg;
            break;
        case 'o':
            if (!qemuio_parse_options(opts, g.optarg)) {
                qdict_unref(opts);
                return -EINVAL;
            }
            break;
        case 'r':
            if (rw) {
                qemuio_error("Only one -r/-w option may be given");
                qdict_unref(opts);
                return -EINVAL;
            }
            ro = true;
            break;
        case 'w':
            if (ro) {
                qemuio_error("Only one -r/-w option may be given");
                qdict_unref(opts);
                return -EINVAL;
            }
            rw = true;
            break;
        default:
            qdict_unref(opts);
            return usage_error(argv[0]);
        }
    }
    if (g.optind != argc) {
        qdict_unref(opts);
        return usage_error(argv[0]);
    }
    if ((ro || rw) && qdict_haskey(opts, "read-only")) {
        qemuio_error("Cannot set both -r/-w and 'read-only'");
        qdict_unref(opts);
        return -EINVAL;
    }
    ret = qemuio_reopen(ro ? -1 : rw ? 1 : 0, cache, opts);
    qdict_unref(opts);
    return ret;
}

/* ------------------------------------------------------------------ */
/* open, close, quit, help */

/* Split "a=b,c=d" (",," is a literal comma) into @opts.  An element
 * without '=' is a deprecated boolean: "x" means x=on, "nox" x=off. */
bool qemuio_parse_options(QDict *opts, const char *str)
{
    const char *p = str;

    while (*p) {
        size_t len = strlen(p) + 1;
        char *elem = qemu_xmalloc(len), *o = elem;
        char *eq;

        while (*p) {
            if (*p == ',') {
                if (p[1] == ',') {
                    *o++ = ',';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            *o++ = *p++;
        }
        *o = '\0';
        eq = strchr(elem, '=');
        if (eq) {
            *eq = '\0';
            qdict_put_str(opts, elem, eq + 1);
        } else if (*elem) {
            const char *name = elem, *value = "on";
            if (!strncmp(elem, "no", 2)) {
                name = elem + 2;
                value = "off";
            }
            qemuio_warn("short-form boolean option '%s' deprecated", elem);
            fprintf(stderr, "Please use %s=%s instead\n", name, value);
            qdict_put_str(opts, name, value);
        }
        free(elem);
    }
    return true;
}

static int open_f(BlockBackend *blk, int argc, char **argv)
{
    int flags = BDRV_O_UNMAP, c;
    bool readonly = false, writethrough = true, force_share = false;
    QDict *opts = qdict_new();
    ToolGetopt g;

    tool_getopt_init(&g);
    while ((c = tool_getopt(&g, argc, argv, "snCro:ki:t:d:U")) != -1) {
        switch (c) {
        case 's':
            flags |= QEMUIO_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'C':
            flags |= BDRV_O_COPY_ON_READ;
            break;
        case 'r':
            readonly = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 't':
            if (bdrv_parse_cache_mode(g.optarg, &flags, &writethrough) < 0) {
                qemuio_error("Invalid cache option: %s", g.optarg);
                qdict_unref(opts);
                return -EINVAL;
            }
            break;
        case 'd':
            if (bdrv_parse_discard_flags(g.optarg, &flags) < 0) {
                qemuio_error("Invalid discard option: %s", g.optarg);
                qdict_unref(opts);
                return -EINVAL;
            }
            break;
        case 'i':
            if (bdrv_parse_aio(g.optarg, &flags) < 0) {
                qemuio_error("Invalid aio option: %s", g.optarg);
                qdict_unref(opts);
                return -EINVAL;
            }
            break;
        case 'o':
            if (!qemuio_parse_options(opts, g.optarg)) {
                qdict_unref(opts);
                return -EINVAL;
            }
            break;
        case 'U':
            force_share = true;
            break;
        default:
            qdict_unref(opts);
            return usage_error(argv[0]);
        }
    }
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }
    if (qemuio_image_opts && g.optind == argc - 1) {
        /* With --image-opts, the path is an option string too. */
        if (!qemuio_parse_options(opts, argv[g.optind])) {
            qdict_unref(opts);
            return -EINVAL;
        }
        return qemuio_open(NULL, opts, flags, writethrough, force_share) ?
               -EINVAL : 0;
    }
    if (g.optind == argc - 1) {
        return qemuio_open(argv[g.optind], opts, flags, writethrough,
                           force_share) ? -EINVAL : 0;
    }
    if (g.optind == argc) {
        return qemuio_open(NULL, opts, flags, writethrough, force_share) ?
               -EINVAL : 0;
    }
    qdict_unref(opts);
    return usage_error(argv[0]);
}

static int close_f(BlockBackend *blk, int argc, char **argv)
{
    qemuio_close();
    return 0;
}

static int quit_f(BlockBackend *blk, int argc, char **argv)
{
    qemuio_quit = true;
    return 0;
}

static int help_f(BlockBackend *blk, int argc, char **argv);

/* ------------------------------------------------------------------ */
/* The table, in the order help lists it */

static const CmdInfo commands[] = {
    { "abort", NULL, abort_f, 0, 0, CMD_NOFILE_OK, NULL,
      "simulate a program crash using abort(3)", NULL },
    { "aio_flush", NULL, aio_flush_f, 0, 0, 0, NULL,
      "completes all outstanding aio requests", NULL },
    { "aio_read", NULL, aio_read_f, 2, -1, 0,
      "[-Ciqv] [-P pattern] off len [len..]",
      "asynchronously reads a number of bytes", help_aio_read },
    { "aio_write", NULL, aio_write_f, 2, -1, CMD_WRITE,
      "[-Cfiquz] [-P pattern] off len [len..]",
      "asynchronously writes a number of bytes", help_aio_write },
    { "alloc", "a", alloc_f, 1, 2, 0, "offset [count]",
      "checks if offset is allocated in the file", NULL },
    { "break", NULL, break_f, 2, 2, 0, "event tag",
      "sets a breakpoint on event and tags the stopped request as tag", NULL },
    { "close", "c", close_f, 0, 0, 0, NULL,
      "close the current open file", NULL },
    { "discard", "d", discard_f, 2, -1, CMD_WRITE, "[-Cq] off len",
      "discards a number of bytes at a specified offset", help_discard },
    { "flush", "f", flush_f, 0, 0, 0, NULL,
      "flush all in-core file state to disk", NULL },
    { "help", "?", help_f, 0, 1, CMD_NOFILE_OK, "[command]",
      "help for one or all commands", NULL },
    { "info", "i", info_f, 0, 0, 0, NULL,
      "prints information about the current file", NULL },
    { "length", "l", length_f, 0, 0, 0, NULL,
      "gets the length of the current file", NULL },
    { "map", NULL, map_f, 0, 0, 0, "",
      "prints the allocated areas of a file", NULL },
    { "open", "o", open_f, 1, -1, CMD_NOFILE_OK,
      "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
      "open the file specified by path", help_open },
    { "quit", "q", quit_f, 0, -1, CMD_NOFILE_OK, NULL,
      "exit the program", NULL },
    { "read", "r", read_f, 2, -1, 0,
      "[-abCqv] [-P pattern [-s off] [-l len]] off len",
      "reads a number of bytes at a specified offset", help_read },
    { "readv", NULL, readv_f, 2, -1, 0,
      "[-Cqv] [-P pattern] off len [len..]",
      "reads a number of bytes at a specified offset", help_readv },
    { "remove_break", NULL, remove_break_f, 1, 1, 0, "tag",
      "remove a breakpoint by tag", NULL },
    { "reopen", NULL, reopen_f, 0, -1, 0,
      "[(-r|-w)] [-c cache] [-o options]",
      "reopens an image with new options", help_reopen },
    { "resume", NULL, resume_f, 1, 1, 0, "tag",
      "resumes the request tagged as tag", NULL },
    { "sigraise", NULL, sigraise_f, 1, 1, CMD_NOFILE_OK, "signal",
      "raises a signal", help_sigraise },
    { "sleep", NULL, sleep_f, 1, 1, CMD_NOFILE_OK, NULL,
      "waits for the given value in milliseconds", NULL },
    { "truncate", "t", truncate_f, 1, 3, CMD_WRITE, "[-m prealloc_mode] off",
      "truncates the current file at the given offset", NULL },
    { "wait_break", NULL, wait_break_f, 1, 1, 0, "tag",
      "waits for the suspension of a request", NULL },
    { "write", "w", write_f, 2, -1, CMD_WRITE,
      "[-bcCfnquz] [-P pattern | -s source_file] off len",
      "writes a number of bytes at a specified offset", help_write },
    { "writev", NULL, writev_f, 2, -1, CMD_WRITE,
      "[-Cfq] [-P pattern] off len [len..]",
      "writes a number of bytes at a specified offset", help_writev },
};

static const CmdInfo *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(commands[i].name, name) ||
            (commands[i].altname && !strcmp(commands[i].altname, name))) {
            return &commands[i];
        }
    }
    return NULL;
}

/* The synopsis line, under the name the user typed. */
static void print_oneline_as(const CmdInfo *ct, const char *name)
{
    printf("%s ", name);
    if (ct->args) {
        printf("%s ", ct->args);
    }
    printf("-- %s\n", ct->oneline);
}

static void print_oneline(const CmdInfo *ct)
{
    print_oneline_as(ct, ct->name);
}

static void print_usage(const CmdInfo *ct)
{
    if (ct) {
        print_oneline(ct);
    }
}

static int help_f(BlockBackend *blk, int argc, char **argv)
{
    const CmdInfo *ct;
    size_t i;

    if (argc == 1) {
        for (i = 0; i < ARRAY_SIZE(commands); i++) {
            print_oneline(&commands[i]);
        }
        printf("\nUse 'help commandname' for extended help.\n");
        return 0;
    }
    ct = find_command(argv[1]);
    if (!ct) {
        printf("command %s not found\n", argv[1]);
        return -EINVAL;
    }
    print_oneline_as(ct, argv[1]);
    if (ct->help) {
        fputs(ct->help, stdout);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The dispatcher */

static int run_command(const CmdInfo *ct, int argc, char **argv)
{
    BlockBackend *blk = qemuio_blk;
    int args = argc - 1;

    if (!blk && !(ct->flags & CMD_NOFILE_OK)) {
        fprintf(stderr, "no file open, try 'help open'\n");
        return -EINVAL;
    }
    if (args < ct->argmin || (ct->argmax != -1 && args > ct->argmax)) {
        if (ct->argmax == -1) {
            fprintf(stderr, "bad argument count %d to %s, expected at least"
                    " %d arguments\n", args, argv[0], ct->argmin);
        } else if (ct->argmin == ct->argmax) {
            fprintf(stderr, "bad argument count %d to %s, expected %d"
                    " arguments\n", args, argv[0], ct->argmin);
        } else {
            fprintf(stderr, "bad argument count %d to %s, expected between"
                    " %d and %d arguments\n", args, argv[0], ct->argmin,
                    ct->argmax);
        }
        return -EINVAL;
    }
    if ((ct->flags & CMD_WRITE) && blk && blk_is_read_only(blk)) {
        qemuio_error("Block node is read-only");
        return -EPERM;
    }
    return ct->func(blk, argc, argv);
}

int qemuio_command(const char *cmdline)
{
    char *line = qemu_xstrdup(cmdline);
    char **argv = qemu_new(char *, strlen(cmdline) / 2 + 2);
    const CmdInfo *ct;
    int argc = 0, ret = 0;
    char *p = line;

    /* Words are separated by spaces only. */
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        argv[argc++] = p;
        while (*p && *p != ' ') {
            p++;
        }
        if (*p) {
            *p++ = '\0';
        }
    }
    argv[argc] = NULL;

    if (argc > 0) {
        ct = find_command(argv[0]);
        if (ct) {
            ret = run_command(ct, argc, argv);
        } else {
            fprintf(stderr, "command \"%s\" not found\n", argv[0]);
            ret = -EINVAL;
        }
    }
    free(argv);
    free(line);
    return ret;
}
