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

int qemuio_open(const char *name, QDict *opts, int flags, bool writethrough,
                bool force_share)
{
    Error *err = NULL;
    BlockBackend *blk;

    if (qemuio_blk) {
        error_report("file open already, try 'help close'");
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
            error_report("-U conflicts with image options");
            qdict_unref(opts);
            return 1;
        }
        qdict_del(opts, "force-share");
        flags |= BDRV_O_FORCE_SHARE;
    }
    if (flags & QEMUIO_O_SNAPSHOT) {
        error_report("can't open%s%s: %s", name ? " device " : "",
                     name ? name : "",
                     "Temporary snapshots (-s) are not supported");
        qdict_unref(opts);
        return 1;
    }
    if (flags & QEMUIO_O_COPY_ON_READ) {
        warn_report("copy-on-read is not supported, -C is ignored");
        flags &= ~QEMUIO_O_COPY_ON_READ;
    }

    blk = blk_new_open_noprefix(name, opts, flags, &err);
    if (!blk) {
        error_prepend(&err, "can't open%s%s: ", name ? " device " : "",
                      name ? name : "");
        error_report_err(err);
        return 1;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    qemuio_blk = blk;
    return 0;
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
                warn_report("trace event '%s' does not exist", pattern);
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
    error_report("Parameter 'qom-type' does not accept value '%.*s'",
                 (int)len, type);
    exit(1);
}

/* Read a line of any length from @f; NULL at the end of input. */
static char *read_line(FILE *f)
{
    size_t cap = 256, len = 0;
    char *buf = qemu_xmalloc(cap);
    int c;

    while ((c = getc(f)) != EOF) {
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

static int command_loop(char **cmds, int ncmds)
{
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
        line = read_line(stdin);
        if (!line) {
            break;
        }
        if (qemuio_command(line) < 0) {
            failed = 1;
        }
        free(line);
    }
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
            flags |= QEMUIO_O_COPY_ON_READ;
            break;
        case 'd':
            if (bdrv_parse_discard_flags(g.optarg, &flags) < 0) {
                error_report("Invalid discard option: %s", g.optarg);
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
                error_report("Invalid aio option: %s", g.optarg);
                exit(1);
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(g.optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", g.optarg);
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
        error_report("--image-opts and -f are mutually exclusive");
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
    free(cmds);
    fflush(stdout);
    return ret;
}
