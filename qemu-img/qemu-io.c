/*
 * coblock — qemu-io: a command-line disk exerciser
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Opens one image and runs commands on it: those given with -c, in
 * order, or else those read from standard input (prompting with
 * "qemu-io> ").  Exits with 1 if any command failed, else 0.  See
 * docs/qemu-io.1 and qemu-io-cmds.c.
 */
#include "util/osdep.h"
#include "block/block_int.h"
#include "util/cutils.h"

#include <signal.h>
#include "qemu-img/qemu-io.h"
#include "qemu-img/tool-common.h"

#define PROMPT "qemu-io> "

static const char usage_text[] =
    "Usage: qemu-io [OPTIONS]... [-c STRING]... [file]\n"
    "QEMU Disk exerciser\n"
    "\n"
    "  --object OBJECTDEF   define an object such as 'secret' for\n"
    "                       passwords and/or encryption keys\n"
    "  --image-opts         treat file as option string\n"
    "  -c, --cmd STRING     execute command with its arguments\n"
    "                       from the given string\n"
    "  -f, --format FMT     specifies the block driver to use\n"
    "  -r, --read-only      export read-only\n"
    "  -s, --snapshot       use snapshot file\n"
    "  -n, --nocache        disable host cache, short for -t none\n"
    "  -C, --copy-on-read   enable copy-on-read\n"
    "  -m, --misalign       misalign allocations for O_DIRECT\n"
    "  -k, --native-aio     use kernel AIO implementation\n"
    "                       (Linux only, prefer use of -i)\n"
    "  -i, --aio=MODE       use AIO mode (threads, native or io_uring)\n"
    "  -t, --cache=MODE     use the given cache mode for the image\n"
    "  -d, --discard=MODE   use the given discard mode for the image\n"
    "  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
    "                       specify tracing options\n"
    "                       see qemu-img(1) man page for full description\n"
    "  -U, --force-share    force shared permissions\n"
    "  -h, --help           display this help and exit\n"
    "  -V, --version        output version information and exit\n"
    "\n"
    "See 'qemu-io -c help' for information on available commands.\n"
    "\n"
    "See <https://qemu.org/contribute/report-a-bug> for how to report bugs.\n"
    "More information on the QEMU project at <https://qemu.org>.\n";

/* Scripts check the QEMU version they talk to; coblock's tools follow
 * QEMU 7.2. */
#define QEMU_COMPAT_VERSION "7.2.22"

static void usage(void)
{
    fputs(usage_text, stdout);
}

static void version(void)
{
    printf("qemu-io version " QEMU_COMPAT_VERSION " (coblock " PACKAGE_VERSION
           ")\nCopyright (C) 2026 The coblock authors\n");
}

/*
 * -s: the image is opened under a temporary qcow2 overlay, so that writes
 * go to the overlay and are forgotten at the end.  The overlay file is
 * removed at once (it stays open).
 */
static BlockBackend *open_snapshot(const char *name, QDict *opts, int flags,
                                   Error **errp)
{
#ifdef _WIN32
    error_setg(errp, "Temporary snapshots (-s) are not supported on Windows");
    if (opts) {
        qdict_unref(opts);
    }
    return NULL;
#else
    const BlockDriver *qcow2 = bdrv_find_format("qcow2");
    BlockBackend *base, *blk = NULL;
    QemuOpts *create_opts = NULL;
    char *backing = NULL, *format = NULL, *tmpl = NULL;
    const char *tmpdir = getenv("TMPDIR");
    int64_t size;
    QDict *overlay_opts;
    int fd;

    if (!qcow2) {
        error_setg(errp, "Temporary snapshots need the qcow2 driver");
        if (opts) {
            qdict_unref(opts);
        }
        return NULL;
    }
    /* The image itself, to learn its size, format and name. */
    base = blk_new_open_noprefix(name, opts,
                                 flags & ~(BDRV_O_RDWR | BDRV_O_COPY_ON_READ),
                                 errp);
    if (!base) {
        return NULL;
    }
    size = blk_getlength(base);
    format = qemu_xstrdup(blk_get_format_name(base));
    backing = bdrv_get_display_filename(blk_bs(base));
    blk_unref(base);
    if (!path_is_absolute(backing) && strncmp(backing, "json:", 5) &&
        !strstr(backing, "://")) {
        /* The overlay lives elsewhere: name the image absolutely. */
        char *abs = realpath(backing, NULL);
        if (abs) {
            free(backing);
            backing = abs;
        }
    }
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Could not get the image size");
        goto out;
    }

    tmpl = qemu_xasprintf("%s/vl.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/var/tmp");
    fd = mkstemp(tmpl);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not get temporary filename");
        goto out;
    }
    close(fd);

    create_opts = qemu_opts_create(qcow2->create_opts);
    qemu_opt_set_number(create_opts, "size", size);
    if (!qemu_opt_set(create_opts, "backing_file", backing, errp) ||
        !qemu_opt_set(create_opts, "backing_fmt", format, errp) ||
        bdrv_create(qcow2, tmpl, create_opts, errp) < 0) {
        unlink(tmpl);
        goto out;
    }
    overlay_opts = qdict_new();
    qdict_put_str(overlay_opts, "driver", "qcow2");
    blk = blk_new_open_noprefix(tmpl, overlay_opts, flags, errp);
    unlink(tmpl);
out:
    if (create_opts) {
        qemu_opts_del(create_opts);
    }
    free(tmpl);
    free(backing);
    free(format);
    return blk;
#endif
}

static void remember_open(const char *name, QDict *opts, int flags,
                          bool writethrough);

int qemuio_open(const char *name, QDict *opts, int flags, bool writethrough,
                bool force_share)
{
    Error *err = NULL;
    BlockBackend *blk;
    QDict *saved_opts;

    if (qemuio_blk) {
        qemuio_error("file open already, try 'help close'");
        qdict_unref(opts);
        return 1;
    }
    if (force_share) {
        const char *fs;

        if (!opts) {
            opts = qdict_new();
        }
        fs = qdict_get_try_str(opts, "force-share");
        if (fs && strcmp(fs, "on") && strcmp(fs, "true")) {
            qemuio_error("-U conflicts with image options");
            qdict_unref(opts);
            return 1;
        }
        qdict_del(opts, "force-share");
        flags |= BDRV_O_FORCE_SHARE;
    }
    if (flags & QEMUIO_O_SNAPSHOT) {
        flags &= ~QEMUIO_O_SNAPSHOT;
        blk = open_snapshot(name, opts, flags, &err);
        if (!blk) {
            error_prepend(&err, "can't open%s%s: ", name ? " device " : "",
                          name ? name : "");
            qemuio_report_err(err);
            return 1;
        }
        blk_set_enable_write_cache(blk, !writethrough);
        qemuio_blk = blk;
        /* reopen works on the overlay, which is gone from the file
         * system: it is not possible. */
        remember_open(NULL, NULL, -1, writethrough);
        return 0;
    }
    saved_opts = opts ? qdict_clone(opts) : NULL;
    blk = blk_new_open_noprefix(name, opts, flags, &err);
    if (!blk) {
        error_prepend(&err, "can't open%s%s: ", name ? " device " : "",
                      name ? name : "");
        qemuio_report_err(err);
        if (saved_opts) {
            qdict_unref(saved_opts);
        }
        return 1;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    qemuio_blk = blk;
    remember_open(name, saved_opts, flags, writethrough);
    return 0;
}

/* How the image was opened, for reopen. */
static struct {
    char *name;
    QDict *opts;
    int flags;
    bool writethrough;
} opened;

static void remember_open(const char *name, QDict *opts, int flags,
                          bool writethrough)
{
    free(opened.name);
    if (opened.opts) {
        qdict_unref(opened.opts);
    }
    opened.name = name ? qemu_xstrdup(name) : NULL;
    opened.opts = opts;
    opened.flags = flags;
    opened.writethrough = writethrough;
}

/*
 * An option that no driver of the image consumed is refused by the open
 * with "Block format 'raw' does not support the option 'foo'"; reopen
 * says what QEMU's says, that the option cannot be changed.
 */
static bool report_unchangeable(Error *err, const QDict *changed)
{
    const char *msg = error_get_pretty(err);
    const QDictEntry *e;

    if (!changed || (!strstr(msg, " does not support the option '") &&
                     !strstr(msg, " doesn't support the option '"))) {
        return false;
    }
    for (e = qdict_first(changed); e; e = qdict_next(changed, e)) {
        char *tail = qemu_xasprintf("the option '%s'", qdict_entry_key(e));
        size_t mlen = strlen(msg), tlen = strlen(tail);
        bool match = mlen >= tlen && !strcmp(msg + mlen - tlen, tail);

        free(tail);
        if (match) {
            qemuio_error("Cannot change the option '%s'", qdict_entry_key(e));
            error_free(err);
            return true;
        }
    }
    return false;
}

/* Open with the remembered name and @opts (taken), or NULL and a report
 * (@changed: the options reopen was asked to change, or NULL). */
static BlockBackend *open_again(QDict *opts, int flags, bool writethrough,
                                const QDict *changed)
{
    Error *err = NULL;
    BlockBackend *blk;

    blk = blk_new_open_noprefix(opened.name, opts, flags, &err);
    if (!blk) {
        if (!report_unchangeable(err, changed)) {
            qemuio_report_err(err);
        }
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

/* Is the boolean option @key of @opts set to on? */
static bool option_is_on(const QDict *opts, const char *key)
{
    const char *v = qdict_get_try_str(opts, key);

    return v && (!strcmp(v, "on") || !strcmp(v, "true"));
}

/* Would the image be read-only when opened with @flags and @opts? */
static bool reopen_is_read_only(int flags, const QDict *opts)
{
    if (qdict_get_try_str(opts, "read-only")) {
        return option_is_on(opts, "read-only");
    }
    return !(flags & BDRV_O_RDWR);
}

/* The node's name for messages: the one given with node-name, else one
 * generated the way QEMU generates them ("#block" and a number). */
static const char *node_display_name(BlockDriverState *bs)
{
    static char generated[32];
    static unsigned counter;

    if (bs->node_name[0]) {
        return bs->node_name;
    }
    snprintf(generated, sizeof(generated), "#block%u%02d", ++counter,
             rand() % 100);
    return generated;
}

int qemuio_reopen(int mode, const char *cache, QDict *opts)
{
    int flags = opened.flags;
    bool writethrough = opened.writethrough;
    QDict *merged;
    BlockBackend *blk;

    if (flags == -1) {
        qemuio_error("Cannot reopen an image opened with -s");
        return -ENOTSUP;
    }
    merged = opened.opts ? qdict_clone(opened.opts) : qdict_new();

    if (cache) {
        flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
        if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
            qemuio_error("Invalid cache option: %s", cache);
            qdict_unref(merged);
            return -EINVAL;
        }
    }
    if (mode < 0) {
        flags &= ~BDRV_O_RDWR;
    } else if (mode > 0) {
        flags |= BDRV_O_RDWR;
    }
    if (opts) {
        qdict_join(merged, opts, true);
    }
    if ((flags & BDRV_O_COPY_ON_READ) && reopen_is_read_only(flags, merged)) {
        qemuio_error("Can't set node '%s' to r/o with copy-on-read enabled",
                     node_display_name(blk_bs(qemuio_blk)));
        qdict_unref(merged);
        return -EINVAL;
    }
    if ((flags & BDRV_O_RDWR) &&
        (option_is_on(merged, "read-only") || option_is_on(merged, "file.read-only"))) {
        /* The image stays writable for its user: the option cannot
         * make a node under it read-only. */
        qemuio_error("Read-only block node '%s' cannot support read-write users",
                     node_display_name(blk_bs(qemuio_blk)));
        qdict_unref(merged);
        return -EINVAL;
    }

    /* Close, then open with the new settings; if that fails, the image
     * is opened again as it was. */
    blk_drain(qemuio_blk);
    blk_unref(qemuio_blk);
    qemuio_blk = NULL;
    blk = open_again(qdict_clone(merged), flags, writethrough, opts);
    if (blk) {
        qemuio_blk = blk;
        if (opened.opts) {
            qdict_unref(opened.opts);
        }
        opened.opts = merged;
        opened.flags = flags;
        opened.writethrough = writethrough;
        return 0;
    }
    qdict_unref(merged);
    qemuio_blk = open_again(opened.opts ? qdict_clone(opened.opts) : NULL,
                            opened.flags, opened.writethrough, NULL);
    return -EINVAL;
}

void qemuio_close(void)
{
    if (qemuio_blk) {
        blk_unref(qemuio_blk);
        qemuio_blk = NULL;
    }
}

/* -T: there are no trace events, so every event pattern matches none. */
static void parse_trace(const char *arg)
{
    char *copy = qemu_xstrdup(arg), *p = copy;

    while (p && *p) {
        char *comma = strchr(p, ',');
        if (comma) {
            *comma = '\0';
        }
        if (!strchr(p, '=') || !strncmp(p, "enable=", 7)) {
            const char *pattern = strchr(p, '=') ? p + 7 : p;
            if (*pattern && !strchr(pattern, '*') && !strchr(pattern, '?')) {
                qemuio_warn("trace event '%s' does not exist", pattern);
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    free(copy);
}

/* --object: no object type exists in coblock's tools. */
static void parse_object(const char *arg)
{
    const char *type = arg;
    size_t len;

    if (!strncmp(type, "qom-type=", 9)) {
        type += 9;
    }
    len = strcspn(type, ",");
    qemuio_error("Parameter 'qom-type' does not accept value '%.*s'",
                 (int)len, type);
    exit(1);
}

/*
 * Standard input, read a line at a time.  While no complete line is
 * there, the event loop runs, so that asynchronous requests complete
 * (and print) while qemu-io waits for the user, as QEMU's does.  The
 * descriptor is read directly (not through stdio), so that what poll()
 * says is all there is.
 */
typedef struct LineReader {
    char *buf;
    size_t len;
    size_t cap;
    bool eof;
} LineReader;

#ifndef _WIN32
#include <poll.h>

/* Wait until standard input is readable, running the loop meanwhile. */
static void wait_for_input(void)
{
    AioContext *ctx = qemuio_blk ? blk_get_aio_context(qemuio_blk) : NULL;
    int aio_fd = ctx ? aio_get_fd(ctx) : -1;

    for (;;) {
        struct pollfd fds[2] = {
            { .fd = STDIN_FILENO, .events = POLLIN },
            { .fd = aio_fd, .events = POLLIN },
        };
        int64_t timeout_ns = ctx ? aio_get_timeout_ns(ctx) : -1;
        int timeout_ms, n;

        if (aio_fd < 0) {
            return;     /* nothing to run: block in read() */
        }
        if (timeout_ns < 0) {
            timeout_ms = -1;
        } else {
            timeout_ms = (int)MIN((timeout_ns + 999999) / 1000000, INT_MAX);
        }
        n = poll(fds, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            return;
        }
        if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            return;
        }
        aio_dispatch(ctx);
    }
}

/* The next line without its newline (the caller frees it), or NULL at
 * the end of input. */
static char *next_line(LineReader *r)
{
    for (;;) {
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        char *line;
        ssize_t n;

        if (nl || (r->eof && r->len)) {
            size_t linelen = nl ? (size_t)(nl - r->buf) : r->len;
            size_t used = nl ? linelen + 1 : linelen;

            line = qemu_xstrndup(r->buf, linelen);
            memmove(r->buf, r->buf + used, r->len - used);
            r->len -= used;
            return line;
        }
        if (r->eof) {
            return NULL;
        }
        if (r->cap - r->len < 4096) {
            r->cap = r->cap ? r->cap * 2 : 8192;
            r->buf = qemu_xrealloc(r->buf, r->cap);
        }
        wait_for_input();
        n = read(STDIN_FILENO, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r->eof = true;
        } else {
            r->len += (size_t)n;
        }
    }
}
#else
static char *next_line(LineReader *r)
{
    size_t len = 0, cap = 256;
    char *buf = qemu_xmalloc(cap);
    int c;

    (void)r;
    while ((c = getchar()) != EOF) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = qemu_xrealloc(buf, cap);
        }
        if (c == '\n') {
            break;
        }
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
#endif

static int command_loop(char **cmds, int ncmds)
{
    LineReader reader = { NULL, 0, 0, false };
    int failed = 0;
    int i;

    if (ncmds) {
        for (i = 0; i < ncmds && !qemuio_quit; i++) {
            if (qemuio_command(cmds[i]) < 0) {
                failed = 1;
            }
        }
        return failed;
    }
    while (!qemuio_quit) {
        char *line;

        printf("%s", PROMPT);
        fflush(stdout);
        line = next_line(&reader);
        if (!line) {
            break;
        }
        /* Completions that arrived while the line was read come first,
         * as in QEMU, where they run in the same loop iteration. */
        if (qemuio_blk) {
            qemuio_deliver_completions(qemuio_blk);
        }
        if (qemuio_command(line) < 0) {
            failed = 1;
        }
        free(line);
    }
    free(reader.buf);
    return failed;
}

enum {
    OPTION_OBJECT = 256,
    OPTION_IMAGE_OPTS,
};

static const ToolOption long_options[] = {
    { "help", TOOL_NO_ARGUMENT, 'h' },
    { "version", TOOL_NO_ARGUMENT, 'V' },
    { "cmd", TOOL_REQUIRED_ARGUMENT, 'c' },
    { "format", TOOL_REQUIRED_ARGUMENT, 'f' },
    { "read-only", TOOL_NO_ARGUMENT, 'r' },
    { "snapshot", TOOL_NO_ARGUMENT, 's' },
    { "nocache", TOOL_NO_ARGUMENT, 'n' },
    { "copy-on-read", TOOL_NO_ARGUMENT, 'C' },
    { "misalign", TOOL_NO_ARGUMENT, 'm' },
    { "native-aio", TOOL_NO_ARGUMENT, 'k' },
    { "discard", TOOL_REQUIRED_ARGUMENT, 'd' },
    { "cache", TOOL_REQUIRED_ARGUMENT, 't' },
    { "trace", TOOL_REQUIRED_ARGUMENT, 'T' },
    { "object", TOOL_REQUIRED_ARGUMENT, OPTION_OBJECT },
    { "image-opts", TOOL_NO_ARGUMENT, OPTION_IMAGE_OPTS },
    { "force-share", TOOL_NO_ARGUMENT, 'U' },
    { "aio", TOOL_REQUIRED_ARGUMENT, 'i' },
    { NULL, 0, 0 },
};

int main(int argc, char **argv)
{
    int flags = BDRV_O_UNMAP, c, ret;
    bool readonly = false, writethrough = true, force_share = false;
    bool image_opts = false;
    const char *format = NULL;
    char **cmds = qemu_new(char *, argc);
    int ncmds = 0;
    QDict *opts = NULL;
    ToolGetopt g;

#ifndef _WIN32
    signal(SIGPIPE, SIG_IGN);
#endif
    error_set_progname(argv[0]);
    bdrv_init();
    bdrv_enable_probe_warnings();

    tool_getopt_init(&g);
    while ((c = tool_getopt_long(&g, argc, argv, "hVc:d:f:rsnCmki:t:T:U",
                                 long_options, NULL)) != -1) {
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
        case 'd':
            if (bdrv_parse_discard_flags(g.optarg, &flags) < 0) {
                qemuio_error("Invalid discard option: %s", g.optarg);
                exit(1);
            }
            break;
        case 'f':
            format = g.optarg;
            break;
        case 'c':
            cmds[ncmds++] = g.optarg;
            break;
        case 'r':
            readonly = true;
            break;
        case 'm':
            qemuio_misalign = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i':
            if (bdrv_parse_aio(g.optarg, &flags) < 0) {
                qemuio_error("Invalid aio option: %s", g.optarg);
                exit(1);
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(g.optarg, &flags, &writethrough) < 0) {
                qemuio_error("Invalid cache option: %s", g.optarg);
                exit(1);
            }
            break;
        case 'T':
            parse_trace(g.optarg);
            break;
        case 'V':
            version();
            exit(0);
        case 'h':
            usage();
            exit(0);
        case 'U':
            force_share = true;
            break;
        case OPTION_OBJECT:
            parse_object(g.optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            qemuio_image_opts = true;
            break;
        default:
            usage();
            exit(1);
        }
    }

    if (argc - g.optind > 1) {
        usage();
        exit(1);
    }
    if (image_opts && format) {
        qemuio_error("--image-opts and -f are mutually exclusive");
        exit(1);
    }
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }

    if (g.optind < argc) {
        const char *name = argv[g.optind];

        if (image_opts) {
            opts = qdict_new();
            if (!qemuio_parse_options(opts, name)) {
                qdict_unref(opts);
                exit(1);
            }
            if (qemuio_open(NULL, opts, flags, writethrough, force_share)) {
                exit(1);
            }
        } else {
            if (format) {
                opts = qdict_new();
                qdict_put_str(opts, "driver", format);
            }
            if (qemuio_open(name, opts, flags, writethrough, force_share)) {
                exit(1);
            }
        }
    }

    ret = command_loop(cmds, ncmds);

    /* Requests still in flight complete (and print) before the end. */
    qemuio_close();
    remember_open(NULL, NULL, 0, false);
    free(cmds);
    fflush(stdout);
    return ret;
}
