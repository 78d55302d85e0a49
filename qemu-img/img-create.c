/*
 * coblock — qemu-img create, amend, resize and measure
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "qemu-img/img.h"
#include "qemu-img/img-json.h"
#include "util/cutils.h"
#include "block/block_int.h"

/* ---- option lists ---- */

static const QemuOptDesc *find_desc(const QemuOptsList *list, const char *name)
{
    const QemuOptDesc *d;

    for (d = list->desc; d->name; d++) {
        if (!strcmp(d->name, name)) {
            return d;
        }
    }
    return NULL;
}

void img_print_formatting(const char *filename, const char *fmt,
                          const QemuOptsList *list, QemuOpts *opts)
{
    const QemuOptDesc *d;

    printf("Formatting '%s', fmt=%s", filename, fmt);
    for (d = list->desc; d->name; d++) {
        const char *v = qemu_opt_get(opts, d->name);

        if (!v) {
            if (d->def_value_str) {
                printf(" %s=%s", d->name, d->def_value_str);
            }
            continue;
        }
        /* Numbers are shown as parsed, other values as given. */
        if (d->type == QEMU_OPT_SIZE) {
            printf(" %s=%" PRIu64, d->name, qemu_opt_get_size(opts, d->name, 0));
        } else if (d->type == QEMU_OPT_NUMBER) {
            printf(" %s=%" PRIu64, d->name,
                   qemu_opt_get_number(opts, d->name, 0));
        } else {
            printf(" %s=%s", d->name, v);
        }
    }
    printf("\n");
    fflush(stdout);
}

/* The creation (or amendment) options of format @fmt, with those of the
 * protocol of @filename when a filename is given.  The caller frees the
 * list.  NULL (error reported) if the format is unknown. */
QemuOptsList *img_create_opts_list(const char *fmt, const char *filename,
                                   bool for_amend, Error **errp)
{
    const BlockDriver *drv = bdrv_find_format(fmt);
    const BlockDriver *proto = NULL;

    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return NULL;
    }
    if (for_amend) {
        if (!drv->amend_opts) {
            error_setg(errp, "Format driver '%s' does not support option "
                       "amendment", fmt);
            return NULL;
        }
        return qemu_opts_append(drv->amend_opts, NULL);
    }
    if (!drv->create_opts) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   fmt);
        return NULL;
    }
    if (filename) {
        proto = bdrv_find_protocol(filename, errp);
        if (!proto) {
            return NULL;
        }
        if (!proto->create_opts) {
            error_setg(errp, "Protocol driver '%s' does not support image "
                       "creation", proto->format_name);
            return NULL;
        }
    }
    return qemu_opts_append(drv->create_opts,
                            proto && proto != drv ? proto->create_opts : NULL);
}

int img_print_create_opts_help(const char *fmt, const char *filename,
                               bool for_amend)
{
    Error *err = NULL;
    QemuOptsList *list = img_create_opts_list(fmt, filename, for_amend, &err);

    if (!list) {
        error_report_err(err);
        return 1;
    }
    if (for_amend) {
        printf("Amend options for '%s':\n", fmt);
    } else if (filename) {
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", fmt);
    }
    qemu_opts_print_help(list, false);
    if (!filename && !for_amend) {
        printf("\nThe protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
    free(list);
    return 0;
}

/* ---- create ---- */

void img_round_size_opt(QemuOpts *opts)
{
    uint64_t size = qemu_opt_get_size(opts, "size", 0);

    /* Images are made of whole sectors, as with QEMU (whose drivers round
     * up when they create); the Formatting line shows the size asked. */
    if (size % BDRV_SECTOR_SIZE && size <= (uint64_t)INT64_MAX - BDRV_SECTOR_SIZE) {
        qemu_opt_set_number(opts, "size",
                            (int64_t)QEMU_ALIGN_UP(size, BDRV_SECTOR_SIZE));
    }
}

/* Open the backing file of a new image to learn its size; @filename is
 * the new image (relative backing names are relative to it). */
static int64_t backing_size(const char *filename, const char *backing,
                            const char *backing_fmt, char **detected_fmt,
                            Error **errp)
{
    char *path;
    QDict *opts = qdict_new();
    BlockBackend *blk;
    int64_t size;

    if (path_is_absolute(backing) || strchr(backing, ':')) {
        path = qemu_xstrdup(backing);
    } else {
        path = path_combine(filename, backing);
    }
    if (backing_fmt) {
        qdict_put_str(opts, "driver", backing_fmt);
    }
    blk = blk_new_open_noprefix(path, opts, BDRV_O_NO_BACKING | BDRV_O_NO_IO,
                                errp);
    free(path);
    if (!blk) {
        error_append_hint(errp, "Could not open backing image.\n");
        return -1;
    }
    size = blk_getlength(blk);
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Could not get size of '%s'",
                         backing);
    }
    *detected_fmt = qemu_xstrdup(blk_get_format_name(blk));
    blk_unref(blk);
    return size;
}

/* What bdrv_img_create does in QEMU: check the options, complete them
 * from the backing file, print the Formatting line, create. */
static int img_do_create(const char *filename, const char *fmt,
                         const char *base_filename, const char *base_fmt,
                         const char *options, int64_t img_size, bool unsafe,
                         bool quiet, Error **errp)
{
    const BlockDriver *drv;
    QemuOptsList *list;
    QemuOpts *opts;
    const char *backing, *backing_fmt;
    int ret = -1;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return -1;
    }
    list = img_create_opts_list(fmt, filename, false, errp);
    if (!list) {
        return -1;
    }
    opts = qemu_opts_create(list);
    if (options && !qemu_opts_do_parse(opts, options, errp)) {
        goto out;
    }
    if (img_size >= 0) {
        if (qemu_opt_has(opts, "size")) {
            error_setg(errp, "The image size must be specified only once");
            goto out;
        }
        qemu_opt_set_number(opts, "size", img_size);
    }
    if (base_filename) {
        if (!find_desc(list, "backing_file")) {
            error_setg(errp, "Backing file not supported for file format '%s'",
                       fmt);
            goto out;
        }
        qdict_put_str((QDict *)qemu_opts_values(opts), "backing_file",
                      base_filename);
    }
    if (base_fmt) {
        if (!find_desc(list, "backing_fmt")) {
            error_setg(errp, "Backing file format not supported for file "
                       "format '%s'", fmt);
            goto out;
        }
        qdict_put_str((QDict *)qemu_opts_values(opts), "backing_fmt", base_fmt);
    }

    backing = qemu_opt_get(opts, "backing_file");
    backing_fmt = qemu_opt_get(opts, "backing_fmt");
    if (backing) {
        if (!strcmp(filename, backing)) {
            error_setg(errp, "Error: Trying to create an image with the same "
                       "filename as the backing file");
            goto out;
        }
        if (!backing[0]) {
            error_setg(errp, "Expected backing file name, got empty string");
            goto out;
        }
    }
    if (backing && (!unsafe || !qemu_opt_has(opts, "size"))) {
        if (unsafe && !backing_fmt) {
            error_setg(errp, "Backing file specified without backing format");
            goto out;
        }
        if (!unsafe) {
            char *detected = NULL;
            int64_t size = backing_size(filename, backing, backing_fmt,
                                        &detected, errp);
            if (size < 0) {
                free(detected);
                goto out;
            }
            if (!backing_fmt) {
                error_setg(errp, "Backing file specified without backing format");
                error_append_hint(errp, "Detected format of %s.", detected);
                free(detected);
                goto out;
            }
            free(detected);
            if (!qemu_opt_has(opts, "size")) {
                qemu_opt_set_number(opts, "size", size);
            }
        }
    } else if (backing && !backing_fmt) {
        error_setg(errp, "Backing file specified without backing format");
        goto out;
    }
    if (!qemu_opt_has(opts, "size")) {
        error_setg(errp, "Image creation needs a size parameter");
        goto out;
    }
    if (!quiet) {
        img_print_formatting(filename, fmt, list, opts);
    }
    img_round_size_opt(opts);
    ret = bdrv_create(drv, filename, opts, errp);
out:
    qemu_opts_del(opts);
    free(list);
    return ret < 0 ? -1 : 0;
}

int img_create(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = "raw", *base_fmt = NULL, *base_filename = NULL;
    const char *filename;
    char *options = NULL;
    bool quiet = false, unsafe = false;
    int64_t img_size = -1;
    Error *err = NULL;
    int c;

    img_getopt_init(&g, "create");
    while ((c = img_getopt(&g, argc, argv, ":F:b:f:ho:qu", longopts)) != -1) {
        switch (c) {
        case 'F':
            base_fmt = g.optarg;
            break;
        case 'b':
            base_filename = g.optarg;
            break;
        case 'f':
            fmt = g.optarg;
            break;
        case 'o':
            options = img_add_option(options, g.optarg);
            break;
        case 'q':
            quiet = true;
            break;
        case 'u':
            unsafe = true;
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            free(options);
            return 1;
        }
    }
    if (img_options_want_help(options)) {
        int ret = img_print_create_opts_help(fmt, g.optind < argc ?
                                             argv[g.optind] : NULL, false);
        free(options);
        return ret;
    }
    if (g.optind >= argc) {
        img_error_exit("Expecting image file name");
    }
    filename = argv[g.optind++];
    if (g.optind < argc) {
        img_size = img_cvtnum_full("image size", argv[g.optind++], 0, INT64_MAX);
        if (img_size < 0) {
            free(options);
            return 1;
        }
    }
    if (g.optind != argc) {
        img_error_exit("Unexpected argument: %s", argv[g.optind]);
    }
    if (img_do_create(filename, fmt, base_filename, base_fmt, options,
                      img_size, unsafe, quiet, &err) < 0) {
        error_prepend(&err, "%s: ", filename);
        error_report_err(err);
        free(options);
        return 1;
    }
    free(options);
    return 0;
}

/* ---- resize ---- */

int img_resize(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "preallocation", IMG_REQ_ARG, OPT_PREALLOCATION },
        { "shrink", IMG_NO_ARG, OPT_SHRINK },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *size_arg, *filename, *p;
    bool quiet = false, image_opts = false, shrink = false;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    int relative = 0, c, ret;
    uint64_t n;
    int64_t total, cur;
    BlockBackend *blk;
    Error *err = NULL;

    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        img_help("resize");
    }
    /* The size is the last argument, taken out before the options are
     * parsed so that "-1G" is not mistaken for an option. */
    if (argc < 3) {
        img_error_exit("Not enough arguments");
    }
    size_arg = argv[--argc];

    img_getopt_init(&g, "resize");
    while ((c = img_getopt(&g, argc, argv, ":f:hq", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_PREALLOCATION:
            if (!bdrv_prealloc_mode_parse(g.optarg, &prealloc)) {
                error_report("Invalid preallocation mode '%s'", g.optarg);
                return 1;
            }
            break;
        case OPT_SHRINK:
            shrink = true;
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (g.optind != argc - 1) {
        img_error_exit("Expecting image file name and size");
    }
    filename = argv[g.optind];

    p = size_arg;
    if (*p == '+') {
        relative = 1;
        p++;
    } else if (*p == '-') {
        relative = -1;
        p++;
    }
    if (qemu_strtosz(p, NULL, &n) < 0) {
        error_report("Parameter 'size' expects a non-negative number below 2^64");
        fprintf(stderr, "Optional suffix k, M, G, T, P or E means kilo-, mega-, "
                "giga-, tera-, peta-\nand exabytes, respectively.\n");
        return 1;
    }
    if (n > INT64_MAX) {
        error_report("New image size must be positive");
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR | BDRV_O_RESIZE,
                   false, quiet, false);
    if (!blk) {
        return 1;
    }
    cur = blk_getlength(blk);
    if (cur < 0) {
        error_report("Failed to inquire current image length: %s",
                     strerror((int)-cur));
        blk_unref(blk);
        return 1;
    }
    if (relative > 0) {
        total = cur + (int64_t)n;
        if (total < cur) {
            total = -1;
        }
    } else if (relative < 0) {
        total = cur - (int64_t)n;
    } else {
        total = (int64_t)n;
    }
    if (total <= 0) {
        error_report("New image size must be positive");
        blk_unref(blk);
        return 1;
    }
    if (total <= cur && prealloc != PREALLOC_MODE_OFF) {
        error_report("Preallocation can only be used for growing images");
        blk_unref(blk);
        return 1;
    }
    if (total < cur && !shrink) {
        error_report("Use the --shrink option to perform a shrink operation.");
        warn_report("Shrinking an image will delete all data beyond the "
                    "shrunken image's end. Before performing such an "
                    "operation, make sure there is no important data there.");
        blk_unref(blk);
        return 1;
    }
    /* exact: a shrink must really shrink (a larger file is acceptable
     * only when growing) */
    ret = blk_truncate(blk, total, total < cur, prealloc, 0, &err);
    if (ret < 0) {
        error_report_err(err);
        blk_unref(blk);
        return 1;
    }
    qprintf(quiet, "Image resized.\n");
    blk_unref(blk);
    return 0;
}

/* ---- amend ---- */

int img_amend(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force", IMG_NO_ARG, OPT_FORCE },
        { "progress-json", IMG_OPT_ARG, OPT_PROGRESS_JSON },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *cache = "writeback", *filename;
    char *options = NULL;
    bool quiet = false, progress = false, image_opts = false, force = false;
    bool writethrough = false;
    int json_fd = -1, flags = BDRV_O_RDWR, c, ret = 0;
    BlockBackend *blk;
    BlockDriverState *bs;
    QemuOptsList *list = NULL;
    QemuOpts *opts = NULL;
    Error *err = NULL;

    img_getopt_init(&g, "amend");
    while ((c = img_getopt(&g, argc, argv, ":ho:f:t:pq", longopts)) != -1) {
        switch (c) {
        case 'o':
            options = img_add_option(options, g.optarg);
            break;
        case 'f':
            fmt = g.optarg;
            break;
        case 't':
            cache = g.optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_PROGRESS_JSON:
            json_fd = img_parse_progress_fd(g.optarg);
            if (json_fd < 0) {
                free(options);
                return 1;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            free(options);
            return 1;
        }
    }
    if (!options) {
        img_error_exit("Must specify options (-o)");
    }
    if (quiet) {
        progress = false;
    }
    filename = g.optind == argc - 1 ? argv[argc - 1] : NULL;
    if (fmt && img_options_want_help(options)) {
        ret = img_print_create_opts_help(fmt, NULL, true);
        free(options);
        return ret;
    }
    if (g.optind != argc - 1) {
        error_report("Expecting one image file name");
        free(options);
        return 1;
    }
    if (!img_parse_cache(cache, &flags, &writethrough, false)) {
        free(options);
        return 1;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet, false);
    if (!blk) {
        free(options);
        return 1;
    }
    bs = blk_bs(blk);
    fmt = bdrv_get_format_name(bs);
    if (img_options_want_help(options)) {
        ret = img_print_create_opts_help(fmt, NULL, true);
        goto out;
    }
    if (!bs->drv->amend || !bs->drv->amend_opts) {
        /* checked again by bdrv_amend_options; parsing needs the list */
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        ret = 1;
        goto out;
    }
    list = qemu_opts_append(bs->drv->amend_opts, NULL);
    opts = qemu_opts_create(list);
    if (!qemu_opts_do_parse(opts, options, &err)) {
        /* An option that only creation knows gets a hint. */
        const BlockDriver *drv = bs->drv;
        QemuOpts *copts = drv->create_opts ? qemu_opts_create(drv->create_opts)
                                           : NULL;
        Error *err2 = NULL;
        if (copts && qemu_opts_do_parse(copts, options, &err2)) {
            error_append_hint(&err, "This option is only supported for image "
                              "creation\n");
        }
        error_free(err2);
        qemu_opts_del(copts);
        error_report_err(err);
        ret = 1;
        goto out;
    }
    /* The driver's amend reports no progress: 0% then 100%. */
    img_progress_init(progress, json_fd, "amend", 1.0);
    if (bdrv_amend_options(bs, opts, force, &err) < 0) {
        img_progress_end(false);
        error_report_err(err);
        ret = 1;
        goto out;
    }
    img_progress_finish();
    img_progress_end(true);
out:
    qemu_opts_del(opts);
    free(list);
    blk_unref(blk);
    free(options);
    return ret;
}

/* ---- measure ---- */

int img_measure(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "output", IMG_REQ_ARG, OPT_OUTPUT },
        { "size", IMG_REQ_ARG, OPT_SIZE },
        { "force-share", IMG_NO_ARG, 'U' },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *out_fmt = "raw", *filename = NULL, *output = NULL;
    char *options = NULL;
    bool image_opts = false, force_share = false;
    OutputFormat ofmt = OFORMAT_HUMAN;
    int64_t img_size = -1;
    const BlockDriver *drv;
    BlockBackend *blk = NULL;
    QemuOptsList *list = NULL;
    QemuOpts *opts = NULL;
    BlockMeasureInfo *info = NULL;
    Error *err = NULL;
    int c, ret = 1;

    img_getopt_init(&g, "measure");
    while ((c = img_getopt(&g, argc, argv, ":hf:O:o:l:U", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'O':
            out_fmt = g.optarg;
            break;
        case 'o':
            options = img_add_option(options, g.optarg);
            break;
        case 'l':
            error_report("Internal snapshots are not supported");
            goto out;
        case 'U':
            force_share = true;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_OUTPUT:
            output = g.optarg;
            break;
        case OPT_SIZE:
            img_size = img_cvtnum_full("image size", g.optarg, 0, INT64_MAX);
            if (img_size < 0) {
                goto out;
            }
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            goto out;
        }
    }
    if (output) {
        ofmt = img_parse_output_format(output);
    }
    if (g.optind < argc) {
        filename = argv[g.optind];
    }
    if (argc - g.optind > 1) {
        error_report("At most one filename argument is allowed.");
        goto out;
    }
    if (!filename && img_size < 0) {
        error_report("Either --size N or one filename must be specified.");
        goto out;
    }
    if (filename && img_size >= 0) {
        error_report("--size N cannot be used together with a filename.");
        goto out;
    }
    if (filename) {
        blk = img_open(image_opts, filename, fmt, 0, false, false, force_share);
        if (!blk) {
            goto out;
        }
    }
    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (!drv->create_opts) {
        error_report("Format driver '%s' does not support image creation",
                     drv->format_name);
        goto out;
    }
    {
        const BlockDriver *proto = bdrv_find_format("file");
        list = qemu_opts_append(drv->create_opts,
                                proto ? proto->create_opts : NULL);
    }
    opts = qemu_opts_create(list);
    if (options && !qemu_opts_do_parse(opts, options, &err)) {
        error_report_err(err);
        error_report("Invalid options for file format '%s'", out_fmt);
        goto out;
    }
    if (img_size >= 0) {
        qemu_opt_set_number(opts, "size", img_size);
    }
    if (!drv->measure) {
        /* QEMU's wording, which bdrv_measure does not use */
        error_report("Block driver '%s' does not support size measurement",
                     out_fmt);
        goto out;
    }
    info = bdrv_measure(drv, opts, blk ? blk_bs(blk) : NULL, &err);
    if (!info) {
        error_report_err(err);
        goto out;
    }
    if (ofmt == OFORMAT_HUMAN) {
        printf("required size: %" PRIu64 "\n", info->required);
        printf("fully allocated size: %" PRIu64 "\n", info->fully_allocated);
        if (info->has_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info->bitmaps);
        }
    } else {
        JVal *o = jobj_new();
        if (info->has_bitmaps) {
            jobj_add_uint(o, "bitmaps", info->bitmaps);
        }
        jobj_add_uint(o, "required", info->required);
        jobj_add_uint(o, "fully-allocated", info->fully_allocated);
        jval_print(stdout, o);
        jval_free(o);
    }
    ret = 0;
out:
    free(info);
    qemu_opts_del(opts);
    free(list);
    blk_unref(blk);
    free(options);
    return ret;
}
