/*
 * coblock — qemu-img: main program, command table and common helpers
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The command line is "qemu-img [-h|-V|-T trace] COMMAND [options]
 * operands".  Global options stop at the first operand (the command);
 * the command's own argv starts with its name, so that messages quoting
 * argv[optind - 1] name the same word QEMU's do.
 */
#include "qemu-img/img.h"
#include "util/cutils.h"
#include "block/block_int.h"


static int img_unsupported(int argc, char **argv);

typedef struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
    const char *syntax;     /* after "qemu-img NAME " */
    const char *help;       /* what the options mean */
} ImgCmd;

/* The syntax lines are the command-line interface itself (the same
 * options as QEMU 7.2 accepts); the explanations are our own. */
static const ImgCmd img_cmds[] = {
    { "amend", img_amend,
      "[--image-opts] [-p] [--progress-json[=FD]] [-q] [-f fmt] [-t cache] "
      "[--force] -o options filename",
      "Change format options of an existing image in place, e.g.\n"
      "'-o compat=0.10' to downgrade a qcow2 image or 'refcount_bits=N'.\n"
      "  -o options   the options to change ('-o help' lists them)\n"
      "  --force      allow changes that may lose data\n" },
    { "bench", img_bench,
      "[-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] "
      "[-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] "
      "[-s buffer_size] [-S step_size] [-t cache] [-w] [-U] [--image-opts] "
      "filename",
      "Run a simple I/O benchmark against an image.\n"
      "  -c count     number of requests (default 75000)\n"
      "  -d depth     requests in flight (default 64)\n"
      "  -s size      request size (default 4 KiB), -S step between requests\n"
      "  -o offset    first offset; -w write instead of read\n"
      "  --pattern=N  byte written by -w (default 0)\n"
      "  --flush-interval=N  flush after every N writes; --no-drain keeps\n"
      "               requests running while flushing\n"
      "  -i aio       threads, native or io_uring; -n bypasses the host cache\n" },
    { "bitmap", img_unsupported,
      "(--merge SOURCE | --add | --remove | --clear | --enable | --disable)... "
      "[-b source_file [-F source_fmt]] [-g granularity] "
      "[--image-opts | -f fmt] filename bitmap",
      "Not supported: persistent bitmaps are not implemented.\n" },
    { "check", img_check,
      "[--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] "
      "[-T src_cache] [-U] filename",
      "Check the consistency of an image's metadata.  Exit status: 0 clean,\n"
      "1 the check could not be done, 2 corruptions, 3 leaked clusters only,\n"
      "63 the format cannot be checked.\n"
      "  -r leaks     repair leaked clusters; -r all: repair everything\n" },
    { "commit", img_commit,
      "[--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] "
      "[--progress-json[=FD]] filename",
      "Write the data of an overlay into its backing file (or into the\n"
      "deeper image 'base').\n"
      "  -d           keep the overlay's data (do not empty it afterwards)\n" },
    { "compare", img_compare,
      "[--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] "
      "[--progress-json[=FD]] [-q] [-s] [-U] filename1 filename2",
      "Compare the guest-visible contents of two images.  Exit status: 0\n"
      "identical, 1 different, 2 error.\n"
      "  -f / -F      formats of the first / second image\n"
      "  -s           strict: differing sizes or allocation also differ\n" },
    { "convert", img_convert,
      "[--image-opts] [--target-image-opts] [--target-is-zero] [-U] [-C] "
      "[-c] [-p] [--progress-json[=FD]] [-q] [-n] [-f fmt] [-t cache] "
      "[-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] "
      "[-o options] [-S sparse_size] [-m num_coroutines] [-W] "
      "filename [filename2 [...]] output_filename",
      "Copy one or more images (concatenated) into a new image.\n"
      "  -O fmt       output format (default raw); -o its creation options\n"
      "  -c           compress the output (qcow2)\n"
      "  -n           do not create the target, write into an existing one\n"
      "  --target-is-zero  with -n: the target reads as zeroes already\n"
      "  -B file      new backing file; only what differs from it is written\n"
      "  -S size      runs of zeroes of this size become holes (default 4k,\n"
      "               0 writes everything)\n"
      "  -m n         parallel workers (default 8); -W writes out of order\n" },
    { "create", img_create,
      "[-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] "
      "filename [size]",
      "Create a new image.\n"
      "  -f fmt       format (default raw); -o its options ('-o help')\n"
      "  -b file      backing file, -F its format; -u: do not open it\n" },
    { "dd", img_dd,
      "[--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] "
      "[count=blocks] [skip=blocks] if=input of=output",
      "Copy an image like dd(1).\n"
      "  bs=N         block size (default 512); count=N blocks to copy;\n"
      "  skip=N       input blocks to skip; if= input; of= output\n" },
    { "info", img_info,
      "[--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] "
      "filename",
      "Show an image's format, sizes and format-specific information.\n"
      "  --backing-chain  also show every image of the backing chain\n" },
    { "map", img_map,
      "[--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] "
      "[--output=ofmt] [-U] filename",
      "Show where each part of the guest disk is stored.\n" },
    { "measure", img_measure,
      "[--output=ofmt] [-O output_fmt] [-o options] [--size N | "
      "[--image-opts] [-f fmt] filename]",
      "Compute the host space an image of a given size, or a converted\n"
      "copy of an existing image, needs.\n" },
    { "snapshot", img_unsupported,
      "[--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | "
      "-d snapshot] filename",
      "Not supported: internal snapshots are not implemented.\n" },
    { "rebase", img_rebase,
      "[--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] "
      "[--progress-json[=FD]] [-u] -b backing_file [-F backing_fmt] "
      "filename",
      "Change the backing file of an image.  Without -u, data that differs\n"
      "between the old and the new backing file is copied into the image\n"
      "first, so that its contents stay the same; -u only rewrites the\n"
      "header.  An empty backing file name ('-b \"\"') makes the image\n"
      "stand alone.\n" },
    { "resize", img_resize,
      "[--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] "
      "filename [+ | -]size",
      "Change the virtual size of an image.  Shrinking needs --shrink.\n" },
    { NULL, NULL, NULL, NULL }
};

static const char common_help[] =
    "Common parameters:\n"
    "  filename     an image file name (with --image-opts: key=value options)\n"
    "  fmt          an image format; guessed from the contents when omitted\n"
    "  ofmt         'human' (default) or 'json'\n"
    "  cache        none, writeback, writethrough, directsync or unsafe\n"
    "  size         bytes, or with a suffix k, M, G, T, P or E (powers of 1024)\n"
    "  -q           quiet: print errors only\n"
    "  -p           show progress; --progress-json[=FD] writes it as JSON lines\n"
    "               to FD (default: standard error)\n"
    "  -U           open images read-only without taking locks\n";

static void print_version(void)
{
    printf("qemu-img version %s (coblock %s)\n", QEMU_IMG_COMPAT_VERSION,
           PACKAGE_VERSION);
    printf("Copyright (C) 2026 The coblock authors\n");
}

void img_help(const char *cmd)
{
    const ImgCmd *c;
    const BlockDriver *drv;

    print_version();
    if (cmd) {
        for (c = img_cmds; c->name; c++) {
            if (!strcmp(c->name, cmd)) {
                printf("usage: qemu-img %s %s\n\n%s\n%s", c->name, c->syntax,
                       c->help, common_help);
                exit(0);
            }
        }
    }
    printf("usage: qemu-img [standard options] command [command options]\n"
           "Disk image utility of coblock, command-line compatible with "
           "QEMU's.\n\n"
           "    '-h', '--help'       show this help and exit\n"
           "    '-V', '--version'    show the version and exit\n"
           "    '-T', '--trace'      accepted for compatibility, ignored\n\n"
           "Command syntax:\n");
    for (c = img_cmds; c->name; c++) {
        printf("  %s %s\n", c->name, c->syntax);
    }
    printf("\n%s\n'qemu-img COMMAND --help' explains the options of a command.\n"
           "\nSupported formats:", common_help);
    for (drv = bdrv_next_driver(NULL); drv; drv = bdrv_next_driver(drv)) {
        printf(" %s", drv->format_name);
    }
    printf("\n");
    exit(0);
}

void img_error_exit(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'qemu-img --help' for more information\n");
    exit(1);
}

/* Commands QEMU has and we do not: a clear message instead of "Command
 * not found". */
static int img_unsupported(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            img_help(argv[0]);
        }
    }
    error_report("'%s' is not supported by this qemu-img (%s)", argv[0],
                 !strcmp(argv[0], "snapshot") ? "no internal snapshots"
                                             : "no persistent bitmaps");
    return 1;
}

/* ---- option parsing ---- */

void img_getopt_init(ImgGetopt *g, const char *cmd)
{
    memset(g, 0, sizeof(*g));
    g->cmd = cmd;
    g->optind = 1;
    tool_getopt_init(&g->tg);
    g->tg.opterr = false;
}

int img_getopt(ImgGetopt *g, int argc, char **argv, const char *shortopts,
               const ImgLongOpt *longopts)
{
    ToolOption lo[40];
    int i = 0, c;

    assert(shortopts[0] == ':');
    if (longopts) {
        for (; longopts[i].name; i++) {
            assert(i + 2 < (int)ARRAY_SIZE(lo));
            lo[i].name = longopts[i].name;
            lo[i].has_arg = longopts[i].has_arg;
            lo[i].val = longopts[i].val;
        }
    }
    /* Every subcommand accepts --help. */
    lo[i].name = "help";
    lo[i].has_arg = TOOL_NO_ARGUMENT;
    lo[i].val = 'h';
    memset(&lo[i + 1], 0, sizeof(lo[0]));

    c = tool_getopt_long(&g->tg, argc, argv, shortopts, lo, NULL);
    g->optind = g->tg.optind;
    g->optarg = g->tg.optarg;
    switch (c) {
    case ':':
        img_error_exit("missing argument for option '%s'",
                       argv[g->tg.optind - 1]);
    case '?':
        img_error_exit("unrecognized option '%s'", argv[g->tg.optind - 1]);
    case 'h':
        img_help(g->cmd);
    default:
        return c;
    }
}

OutputFormat img_parse_output_format(const char *arg)
{
    if (!strcmp(arg, "json")) {
        return OFORMAT_JSON;
    }
    if (!strcmp(arg, "human")) {
        return OFORMAT_HUMAN;
    }
    error_report("--output must be used with human or json as argument.");
    exit(1);
}

void qprintf(bool quiet, const char *fmt, ...)
{
    va_list ap;

    if (quiet) {
        return;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* ---- numbers and options ---- */

int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max)
{
    uint64_t v;
    int ret = qemu_strtosz(value, NULL, &v);

    if (ret == -ERANGE || (ret == 0 && (v > (uint64_t)max || (int64_t)v < min))) {
        error_report("Invalid %s specified. Must be between %" PRId64
                     " and %" PRId64 ".", name, min, max);
        return -ERANGE;
    }
    if (ret < 0) {
        error_report("Invalid %s specified. You may use k, M, G, T, P or E "
                     "suffixes for", name);
        error_report("kilobytes, megabytes, gigabytes, terabytes, petabytes "
                     "and exabytes.");
        return ret;
    }
    return (int64_t)v;
}

int64_t img_cvtnum(const char *s)
{
    uint64_t v;

    if (qemu_strtosz(s, NULL, &v) < 0 || v > INT64_MAX) {
        return -1;
    }
    return (int64_t)v;
}

char *img_add_option(char *options, const char *arg)
{
    char *n;

    if (!options) {
        return qemu_xstrdup(arg);
    }
    n = qemu_xasprintf("%s,%s", options, arg);
    free(options);
    return n;
}

bool img_options_want_help(const char *options)
{
    const char *p = options;

    if (!options) {
        return false;
    }
    while (*p) {
        const char *end = p;
        size_t len;

        /* ",," is an escaped comma inside a value */
        while (*end && !(*end == ',' && end[1] != ',')) {
            end += (*end == ',' ? 2 : 1);
        }
        len = (size_t)(end - p);
        if ((len == 4 && !strncmp(p, "help", 4)) ||
            (len == 1 && *p == '?')) {
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     bool is_source)
{
    if (bdrv_parse_cache_mode(mode, flags, writethrough) < 0) {
        error_report("Invalid %scache option: %s", is_source ? "source " : "",
                     mode);
        return false;
    }
    return true;
}

/* ---- opening ---- */

BlockBackend *img_open_opts(bool image_opts, const char *filename,
                            const char *fmt, QDict *extra, int flags,
                            bool writethrough, bool quiet, bool force_share)
{
    QDict *options;
    BlockBackend *blk;
    Error *err = NULL;

    if (image_opts) {
        if (fmt) {
            error_report("--image-opts and --format are mutually exclusive");
            qdict_unref(extra);
            return NULL;
        }
        options = qdict_parse_keyval(filename, NULL, &err);
        if (!options) {
            error_report_err(err);
            qdict_unref(extra);
            return NULL;
        }
        if (extra) {
            qdict_join(options, extra, true);
            qdict_unref(extra);
        }
        if (force_share) {
            qdict_put_bool(options, "force-share", true);
        }
        blk = blk_new_open_noprefix(NULL, options, flags, &err);
    } else {
        options = extra ? extra : qdict_new();
        if (fmt) {
            qdict_put_str(options, "driver", fmt);
        }
        if (force_share) {
            qdict_put_bool(options, "force-share", true);
        }
        blk = blk_new_open_noprefix(filename, options, flags, &err);
    }
    if (!blk) {
        /* With the hint, if any (a lock failure's "Is another process
         * using the image [...]?"), as QEMU prints it. */
        error_prepend(&err, "Could not open '%s': ", filename);
        error_report_err(err);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    if ((flags & BDRV_O_RDWR) && blk_bs(blk)->probed &&
        !strcmp(blk_get_format_name(blk), "raw")) {
        /* The same warning as QEMU gives, on stderr, without a prefix. */
        fflush(stdout);
        fprintf(stderr, "WARNING: Image format was not specified for '%s' and "
                "probing guessed raw.\n"
                "         Automatically detecting the format is dangerous for "
                "raw images, write operations on block 0 will be restricted.\n"
                "         Specify the 'raw' format explicitly to remove the "
                "restrictions.\n", blk_bs(blk)->filename);
    }
    (void)quiet;
    return blk;
}

BlockBackend *img_open(bool image_opts, const char *filename, const char *fmt,
                       int flags, bool writethrough, bool quiet,
                       bool force_share)
{
    return img_open_opts(image_opts, filename, fmt, NULL, flags, writethrough,
                         quiet, force_share);
}

/* ---- main ---- */

/* -T/--trace: this build has no trace events.  A request for a named
 * event gets the warning QEMU gives for an unknown one; patterns, which
 * may legitimately match nothing, and the file options are accepted. */
static void trace_option(const char *arg)
{
    char *copy = qemu_xstrdup(arg), *save = NULL, *item;
    bool first = true;

    for (item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save), first = false) {
        const char *name = NULL;

        if (!strncmp(item, "enable=", 7)) {
            name = item + 7;
        } else if (first && !strchr(item, '=')) {
            name = item;
        }
        if (name && *name && !strpbrk(name, "*?")) {
            warn_report("trace event '%s' does not exist", name);
        }
    }
    free(copy);
}

int main(int argc, char **argv)
{
    static const ToolOption long_options[] = {
        { "help", TOOL_NO_ARGUMENT, 'h' },
        { "version", TOOL_NO_ARGUMENT, 'V' },
        { "trace", TOOL_REQUIRED_ARGUMENT, 'T' },
        { NULL, 0, 0 }
    };
    ToolGetopt g;
    const ImgCmd *cmd;
    const char *cmdname;
    int c;

    error_set_progname(argv[0]);
    bdrv_init();

    if (argc < 2) {
        img_error_exit("Not enough arguments");
    }
    tool_getopt_init(&g);
    g.opterr = false;
    while ((c = tool_getopt_long(&g, argc, argv, "+:hVT:", long_options,
                                 NULL)) != -1) {
        switch (c) {
        case ':':
            img_error_exit("missing argument for option '%s'",
                           argv[g.optind - 1]);
        case '?':
            img_error_exit("unrecognized option '%s'", argv[g.optind - 1]);
        case 'h':
            img_help(NULL);
        case 'V':
            print_version();
            return 0;
        case 'T':
            trace_option(g.optarg);
            break;
        }
    }
    if (g.optind >= argc) {
        return 0;
    }
    cmdname = argv[g.optind];
    argc -= g.optind;
    argv += g.optind;
    for (cmd = img_cmds; cmd->name; cmd++) {
        if (!strcmp(cmdname, cmd->name)) {
            return cmd->handler(argc, argv);
        }
    }
    img_error_exit("Command not found: %s", cmdname);
}
