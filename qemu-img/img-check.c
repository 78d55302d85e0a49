/*
 * coblock — qemu-img check
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Exit status: 0 no problem, 1 the check itself failed (or hit internal
 * errors), 2 corruptions, 3 leaked clusters only, 63 the format has no
 * consistency check.
 */
#include "qemu-img/img.h"
#include "qemu-img/img-json.h"
#include "block/block_int.h"

typedef struct CheckReport {
    const char *filename;
    const char *format;
    BdrvCheckResult r;
} CheckReport;

static void dump_human(const CheckReport *c)
{
    const BdrvCheckResult *r = &c->r;

    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image "
                   "may corrupt it.\n", r->corruptions);
        }
        if (r->leaks) {
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   r->leaks);
        }
        if (r->check_errors) {
            printf("\n%d internal errors have occurred during the check.\n",
                   r->check_errors);
        }
    }
    if (r->bfi.total_clusters && r->bfi.allocated_clusters) {
        double total = (double)r->bfi.total_clusters;
        double alloc = (double)r->bfi.allocated_clusters;
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, "
               "%0.2f%% compressed clusters\n",
               r->bfi.allocated_clusters, r->bfi.total_clusters,
               alloc * 100.0 / total,
               (double)r->bfi.fragmented_clusters * 100.0 / alloc,
               (double)r->bfi.compressed_clusters * 100.0 / alloc);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", r->image_end_offset);
    }
}

static void dump_json(const CheckReport *c)
{
    const BdrvCheckResult *r = &c->r;
    JVal *o = jobj_new();

    if (r->image_end_offset) {
        jobj_add_int(o, "image-end-offset", r->image_end_offset);
    }
    if (r->bfi.compressed_clusters) {
        jobj_add_uint(o, "compressed-clusters", r->bfi.compressed_clusters);
    }
    if (r->bfi.total_clusters) {
        jobj_add_uint(o, "total-clusters", r->bfi.total_clusters);
    }
    if (r->corruptions) {
        jobj_add_int(o, "corruptions", r->corruptions);
    }
    if (r->corruptions_fixed) {
        jobj_add_int(o, "corruptions-fixed", r->corruptions_fixed);
    }
    jobj_add_int(o, "check-errors", r->check_errors);
    if (r->leaks) {
        jobj_add_int(o, "leaks", r->leaks);
    }
    if (r->leaks_fixed) {
        jobj_add_int(o, "leaks-fixed", r->leaks_fixed);
    }
    if (r->bfi.allocated_clusters) {
        jobj_add_uint(o, "allocated-clusters", r->bfi.allocated_clusters);
    }
    jobj_add_str(o, "filename", c->filename);
    jobj_add_str(o, "format", c->format);
    if (r->bfi.fragmented_clusters) {
        jobj_add_uint(o, "fragmented-clusters", r->bfi.fragmented_clusters);
    }
    jval_print(stdout, o);
    jval_free(o);
}

int img_check(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "format", IMG_REQ_ARG, 'f' },
        { "repair", IMG_REQ_ARG, 'r' },
        { "output", IMG_REQ_ARG, OPT_OUTPUT },
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *output = NULL, *cache = "writeback", *filename;
    bool quiet = false, image_opts = false, force_share = false;
    bool writethrough = false;
    OutputFormat ofmt = OFORMAT_HUMAN;
    int fix = 0, flags = BDRV_O_CHECK, c, ret;
    BlockBackend *blk;
    BlockDriverState *bs;
    CheckReport rep;
    char *display;

    img_getopt_init(&g, "check");
    while ((c = img_getopt(&g, argc, argv, ":hf:r:T:qU", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'r':
            flags |= BDRV_O_RDWR;
            if (!strcmp(g.optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(g.optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                img_error_exit("Unknown option value for -r (expecting 'leaks' "
                               "or 'all'): %s", g.optarg);
            }
            break;
        case 'T':
            cache = g.optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_OUTPUT:
            output = g.optarg;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (g.optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[g.optind];
    if (output) {
        ofmt = img_parse_output_format(output);
    }
    if (!img_parse_cache(cache, &flags, &writethrough, true)) {
        return 1;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    memset(&rep, 0, sizeof(rep));
    ret = bdrv_check(bs, &rep.r, fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        blk_unref(blk);
        return 63;
    }
    if (ret < 0) {
        error_report("Check failed: %s", strerror(-ret));
        blk_unref(blk);
        return 1;
    }
    if (rep.r.corruptions_fixed || rep.r.leaks_fixed) {
        int corr_fixed = rep.r.corruptions_fixed;
        int leaks_fixed = rep.r.leaks_fixed;

        if (ofmt == OFORMAT_HUMAN) {
            qprintf(quiet, "The following inconsistencies were found and "
                    "repaired:\n\n"
                    "    %d leaked clusters\n"
                    "    %d corruptions\n\n"
                    "Double checking the fixed image now...\n",
                    leaks_fixed, corr_fixed);
        }
        memset(&rep.r, 0, sizeof(rep.r));
        ret = bdrv_check(bs, &rep.r, 0);
        if (ret < 0) {
            error_report("Check failed: %s", strerror(-ret));
            blk_unref(blk);
            return 1;
        }
        rep.r.corruptions_fixed = corr_fixed;
        rep.r.leaks_fixed = leaks_fixed;
    }

    display = bdrv_get_display_filename(bs);
    rep.filename = display;
    rep.format = bdrv_get_format_name(bs);
    if (!quiet) {
        if (ofmt == OFORMAT_JSON) {
            dump_json(&rep);
        } else {
            dump_human(&rep);
        }
    }
    free(display);
    blk_unref(blk);

    if (rep.r.check_errors) {
        error_report("Check failed");
        return 1;
    }
    if (rep.r.corruptions) {
        return 2;
    }
    if (rep.r.leaks) {
        return 3;
    }
    return 0;
}
