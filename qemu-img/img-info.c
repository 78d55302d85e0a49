/*
 * coblock — qemu-img info and map
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "qemu-img/img.h"
#include "qemu-img/img-json.h"
#include "util/cutils.h"
#include "block/block_int.h"

#include <time.h>

/* ---- info ---- */

typedef struct ImageInfo {
    char *filename;
    const char *format;
    int64_t virtual_size;
    int64_t actual_size;        /* < 0: unknown */
    bool has_bdi;
    BlockDriverInfo bdi;
    char *backing_filename;     /* NULL: none */
    char *full_backing_filename;
    char *backing_format;       /* NULL: none */
    ImageInfoSpecific *specific;
    QEMUSnapshotInfo *snapshots;
    int nb_snapshots;
} ImageInfo;

static void image_info_free(ImageInfo *info)
{
    free(info->filename);
    free(info->backing_filename);
    free(info->full_backing_filename);
    free(info->backing_format);
    image_info_specific_free(info->specific);
    free(info->snapshots);
    memset(info, 0, sizeof(*info));
}

/* Where the backing file of @bs is, as a path usable from here; NULL when
 * it cannot be resolved (the caller then uses the name as it is). */
static char *full_backing_name(BlockDriverState *bs)
{
    const char *base;

    if (bs->auto_backing_file[0]) {
        return qemu_xstrdup(bs->auto_backing_file);
    }
    if (path_is_absolute(bs->backing_file) || strchr(bs->backing_file, ':')) {
        return qemu_xstrdup(bs->backing_file);
    }
    base = bs->file && bs->file->bs->filename[0] ? bs->file->bs->filename
                                                 : bs->filename;
    if (!strncmp(base, "json:", 5)) {
        return NULL;
    }
    return path_combine(base, bs->backing_file);
}

static int collect_image_info(BlockDriverState *bs, ImageInfo *info,
                              Error **errp)
{
    Error *err = NULL;

    memset(info, 0, sizeof(*info));
    info->filename = bdrv_get_display_filename(bs);
    info->format = bdrv_get_format_name(bs);
    info->virtual_size = bdrv_getlength(bs);
    if (info->virtual_size < 0) {
        error_setg_errno(errp, (int)-info->virtual_size,
                         "Can't get image size '%s'", info->filename);
        image_info_free(info);
        return -1;
    }
    info->actual_size = bdrv_get_allocated_file_size(bs);
    info->has_bdi = bdrv_get_info(bs, &info->bdi) >= 0;
    if (bs->backing_file[0]) {
        info->backing_filename = qemu_xstrdup(bs->backing_file);
        info->full_backing_filename = full_backing_name(bs);
        if (bs->backing_format[0]) {
            info->backing_format = qemu_xstrdup(bs->backing_format);
        }
    }
    /* As QEMU: snapshots that cannot be listed are left out. */
    info->nb_snapshots = bdrv_snapshot_list(bs, &info->snapshots);
    if (info->nb_snapshots < 0) {
        info->nb_snapshots = 0;
        free(info->snapshots);
        info->snapshots = NULL;
    }
    info->specific = bdrv_get_specific_info(bs, &err);
    if (err) {
        error_propagate(errp, err);
        image_info_free(info);
        return -1;
    }
    return 0;
}

/* Member order of format-specific data as QEMU prints it. */
static const char *const qcow2_data_order[] = {
    "compat", "compression-type", "lazy-refcounts", "bitmaps",
    "refcount-bits", "encrypt", "data-file", "data-file-raw", "corrupt",
    "extended-l2", NULL
};
static const char *const bitmap_order[] = {
    "flags", "name", "granularity", NULL
};

static JVal *specific_to_json(const ImageInfoSpecific *spec)
{
    JVal *data = spec->data ? jval_from_qdict(spec->data) : jobj_new();
    JVal *bitmaps;
    size_t i;

    if (!strcmp(spec->type, "qcow2")) {
        jobj_sort(data, qcow2_data_order);
        bitmaps = jobj_get(data, "bitmaps");
        for (i = 0; i < jval_count(bitmaps); i++) {
            jobj_sort(jval_item(bitmaps, i), bitmap_order);
        }
    }
    return data;
}

static JVal *snapshot_to_json(const QEMUSnapshotInfo *sn)
{
    JVal *o = jobj_new();

    if (sn->icount != UINT64_MAX) {
        jobj_add_uint(o, "icount", sn->icount);
    }
    jobj_add_int(o, "vm-clock-nsec", (int64_t)(sn->vm_clock_nsec % 1000000000));
    jobj_add_str(o, "name", sn->name);
    jobj_add_int(o, "date-sec", sn->date_sec);
    jobj_add_int(o, "date-nsec", sn->date_nsec);
    jobj_add_int(o, "vm-clock-sec", (int64_t)(sn->vm_clock_nsec / 1000000000));
    jobj_add_str(o, "id", sn->id_str);
    jobj_add_uint(o, "vm-state-size", sn->vm_state_size);
    return o;
}

static JVal *image_info_to_json(const ImageInfo *info)
{
    JVal *o = jobj_new();

    if (info->backing_format) {
        jobj_add_str(o, "backing-filename-format", info->backing_format);
    }
    if (info->nb_snapshots > 0) {
        JVal *arr = jarr_new();
        for (int i = 0; i < info->nb_snapshots; i++) {
            jarr_append(arr, snapshot_to_json(&info->snapshots[i]));
        }
        jobj_add(o, "snapshots", arr);
    }
    jobj_add_int(o, "virtual-size", info->virtual_size);
    jobj_add_str(o, "filename", info->filename);
    if (info->has_bdi && info->bdi.cluster_size) {
        jobj_add_int(o, "cluster-size", info->bdi.cluster_size);
    }
    jobj_add_str(o, "format", info->format);
    if (info->actual_size >= 0) {
        jobj_add_int(o, "actual-size", info->actual_size);
    }
    if (info->specific) {
        JVal *fs = jobj_new();
        jobj_add_str(fs, "type", info->specific->type);
        jobj_add(fs, "data", specific_to_json(info->specific));
        jobj_add(o, "format-specific", fs);
    }
    if (info->backing_filename) {
        jobj_add_str(o, "full-backing-filename",
                     info->full_backing_filename ? info->full_backing_filename
                                                 : info->backing_filename);
        jobj_add_str(o, "backing-filename", info->backing_filename);
    }
    if (info->has_bdi) {
        jobj_add_bool(o, "dirty-flag", info->bdi.is_dirty);
    }
    return o;
}

/* QEMU's "Snapshot list:" table: one line a snapshot, the date in local
 * time, the VM clock as hours:minutes:seconds.milliseconds. */
static void print_snapshot_list(const QEMUSnapshotInfo *sn, int n)
{
    printf("Snapshot list:\n");
    printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
           "VM CLOCK", "ICOUNT");
    for (int i = 0; i < n; i++) {
        char date[32] = "", clock[64], icount[32] = "";
        char *vmsize = size_to_str(sn[i].vm_state_size);
        time_t t = (time_t)sn[i].date_sec;
        struct tm tm;
        uint64_t secs = sn[i].vm_clock_nsec / 1000000000;

#ifdef _WIN32
        /* The Windows C library keeps localtime's result per thread. */
        const struct tm *ltm = localtime(&t);
        if (ltm) {
            tm = *ltm;
#else
        if (localtime_r(&t, &tm)) {
#endif
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        }
        snprintf(clock, sizeof(clock), "%02" PRIu64 ":%02u:%02u.%03u",
                 secs / 3600, (unsigned)((secs / 60) % 60),
                 (unsigned)(secs % 60),
                 (unsigned)((sn[i].vm_clock_nsec / 1000000) % 1000));
        if (sn[i].icount != UINT64_MAX) {
            snprintf(icount, sizeof(icount), "%" PRIu64, sn[i].icount);
        }
        printf("%-9s %-16s %8s%20s%13s%11s\n", sn[i].id_str, sn[i].name,
               vmsize, date, clock, icount);
        free(vmsize);
    }
}

static void print_image_info_human(const ImageInfo *info)
{
    char *vsize = size_to_str((uint64_t)info->virtual_size);

    printf("image: %s\n"
           "file format: %s\n"
           "virtual size: %s (%" PRId64 " bytes)\n",
           info->filename, info->format, vsize, info->virtual_size);
    free(vsize);
    if (info->actual_size >= 0) {
        char *dsize = size_to_str((uint64_t)info->actual_size);
        printf("disk size: %s\n", dsize);
        free(dsize);
    } else {
        printf("disk size: unavailable\n");
    }
    if (info->has_bdi && info->bdi.cluster_size) {
        printf("cluster_size: %d\n", info->bdi.cluster_size);
    }
    if (info->has_bdi && info->bdi.is_dirty) {
        printf("cleanly shut down: no\n");
    }
    if (info->backing_filename) {
        printf("backing file: %s", info->backing_filename);
        if (!info->full_backing_filename) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(info->backing_filename, info->full_backing_filename)) {
            printf(" (actual path: %s)", info->full_backing_filename);
        }
        printf("\n");
        if (info->backing_format) {
            printf("backing file format: %s\n", info->backing_format);
        }
    }
    if (info->nb_snapshots > 0) {
        print_snapshot_list(info->snapshots, info->nb_snapshots);
    }
    if (info->specific) {
        JVal *data = specific_to_json(info->specific);
        printf("Format specific information:\n");
        fflush(stdout);
        jval_print_human(stdout, data, 4);
        jval_free(data);
    }
}

/* Keys of files already shown, to stop at a loop. */
typedef struct Seen {
    char **names;
    size_t n;
} Seen;

static bool seen_add(Seen *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (!strcmp(s->names[i], name)) {
            return false;
        }
    }
    s->names = qemu_xrealloc(s->names, (s->n + 1) * sizeof(*s->names));
    s->names[s->n++] = qemu_xstrdup(name);
    return true;
}

static void seen_free(Seen *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->names[i]);
    }
    free(s->names);
}

int img_info(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "format", IMG_REQ_ARG, 'f' },
        { "output", IMG_REQ_ARG, OPT_OUTPUT },
        { "backing-chain", IMG_NO_ARG, OPT_BACKING_CHAIN },
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *output = NULL, *filename;
    bool chain = false, image_opts = false, force_share = false;
    OutputFormat ofmt = OFORMAT_HUMAN;
    JVal *list = NULL;
    char *cur_name = NULL, *cur_fmt = NULL;
    Seen seen = { 0 };
    ImageInfo *infos = NULL;
    int c, ret = 0, n = 0, i;

    img_getopt_init(&g, "info");
    while ((c = img_getopt(&g, argc, argv, ":f:hU", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_OUTPUT:
            output = g.optarg;
            break;
        case OPT_BACKING_CHAIN:
            chain = true;
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
    /* The whole chain is collected first: nothing is printed unless every
     * image could be opened. */
    cur_name = qemu_xstrdup(filename);
    cur_fmt = fmt ? qemu_xstrdup(fmt) : NULL;
    while (cur_name) {
        BlockBackend *blk;
        Error *err = NULL;

        if (!seen_add(&seen, cur_name)) {
            error_report("Backing file '%s' creates an infinite loop.", cur_name);
            ret = 1;
            break;
        }
        blk = img_open(image_opts, cur_name, cur_fmt,
                       BDRV_O_NO_BACKING | BDRV_O_NO_IO, false, false,
                       force_share);
        if (!blk) {
            ret = 1;
            break;
        }
        infos = qemu_xrealloc(infos, (n + 1) * sizeof(*infos));
        if (collect_image_info(blk_bs(blk), &infos[n], &err) < 0) {
            error_report_err(err);
            blk_unref(blk);
            ret = 1;
            break;
        }
        blk_unref(blk);
        free(cur_name);
        free(cur_fmt);
        cur_name = NULL;
        cur_fmt = NULL;
        if (chain && infos[n].backing_filename) {
            cur_name = qemu_xstrdup(infos[n].full_backing_filename
                                    ? infos[n].full_backing_filename
                                    : infos[n].backing_filename);
            cur_fmt = infos[n].backing_format
                      ? qemu_xstrdup(infos[n].backing_format) : NULL;
            image_opts = false;
        }
        n++;
    }
    if (!ret) {
        if (ofmt == OFORMAT_JSON && chain) {
            list = jarr_new();
            for (i = 0; i < n; i++) {
                jarr_append(list, image_info_to_json(&infos[i]));
            }
            jval_print(stdout, list);
            jval_free(list);
        } else if (ofmt == OFORMAT_JSON) {
            JVal *o = image_info_to_json(&infos[0]);
            jval_print(stdout, o);
            jval_free(o);
        } else {
            for (i = 0; i < n; i++) {
                if (i) {
                    printf("\n");
                }
                print_image_info_human(&infos[i]);
            }
        }
    }
    for (i = 0; i < n; i++) {
        image_info_free(&infos[i]);
    }
    free(infos);
    free(cur_name);
    free(cur_fmt);
    seen_free(&seen);
    return ret;
}

/* ---- map ---- */

typedef struct MapEntry {
    int64_t start, length;
    int64_t offset;
    bool has_offset;
    bool data, zero, present;
    int depth;
    const char *filename;       /* NULL: none (only with has_offset) */
} MapEntry;

/* Status of [offset, offset + bytes) of @bs, descending the backing chain
 * until a layer answers; the layer's depth is recorded. */
static int map_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            MapEntry *e)
{
    BlockDriverState *file = NULL;
    int64_t map = 0, pnum = 0;
    int depth = 0, ret;

    for (;;) {
        while (bdrv_filter_bs(bs)) {
            bs = bdrv_filter_bs(bs);
        }
        ret = bdrv_block_status(bs, offset, bytes, &pnum, &map, &file);
        if (ret < 0) {
            return ret;
        }
        if (pnum == 0) {
            /* Past the end of a shorter backing file: reads as zeroes. */
            pnum = bytes;
            ret = BDRV_BLOCK_ZERO;
            file = NULL;
            break;
        }
        if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
            break;
        }
        bytes = pnum;
        bs = bdrv_backing_bs(bs);
        if (!bs) {
            ret = 0;
            break;
        }
        depth++;
    }
    e->start = offset;
    e->length = pnum;
    e->data = !!(ret & BDRV_BLOCK_DATA);
    e->zero = !!(ret & BDRV_BLOCK_ZERO);
    e->present = !!(ret & BDRV_BLOCK_ALLOCATED);
    e->has_offset = !!(ret & BDRV_BLOCK_OFFSET_VALID);
    e->offset = map;
    e->depth = depth;
    e->filename = e->has_offset && file ? file->filename : NULL;
    return 0;
}

static bool map_entries_merge(const MapEntry *a, const MapEntry *b)
{
    if (a->data != b->data || a->zero != b->zero || a->present != b->present ||
        a->depth != b->depth || a->has_offset != b->has_offset) {
        return false;
    }
    if (a->has_offset && a->offset + a->length != b->offset) {
        return false;
    }
    if ((a->filename == NULL) != (b->filename == NULL)) {
        return false;
    }
    return !a->filename || !strcmp(a->filename, b->filename);
}

static int map_dump(const MapEntry *e, OutputFormat ofmt, bool first)
{
    if (ofmt == OFORMAT_HUMAN) {
        if (e->data && !e->has_offset) {
            error_report("File contains external, encrypted or compressed "
                         "clusters.");
            return -1;
        }
        if (e->data && e->has_offset) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   (uint64_t)e->start, (uint64_t)e->length,
                   (uint64_t)e->offset, e->filename ? e->filename : "");
        }
        return 0;
    }
    printf("%s{ \"start\": %" PRId64 ", \"length\": %" PRId64 ", "
           "\"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
           first ? "[" : ",\n", e->start, e->length, e->depth,
           e->present ? "true" : "false", e->zero ? "true" : "false",
           e->data ? "true" : "false");
    if (e->has_offset) {
        printf(", \"offset\": %" PRId64, e->offset);
    }
    printf("}");
    return 0;
}

int img_map(int argc, char **argv)
{
    static const ImgLongOpt longopts[] = {
        { "format", IMG_REQ_ARG, 'f' },
        { "output", IMG_REQ_ARG, OPT_OUTPUT },
        { "object", IMG_REQ_ARG, OPT_OBJECT },
        { "image-opts", IMG_NO_ARG, OPT_IMAGE_OPTS },
        { "force-share", IMG_NO_ARG, 'U' },
        { "start-offset", IMG_REQ_ARG, OPT_START_OFFSET },
        { "max-length", IMG_REQ_ARG, OPT_MAX_LENGTH },
        { NULL, 0, 0 }
    };
    ImgGetopt g;
    const char *fmt = NULL, *output = NULL, *filename;
    bool image_opts = false, force_share = false, first = true, have = false;
    OutputFormat ofmt = OFORMAT_HUMAN;
    int64_t start = 0, max_length = -1, length, end, offset;
    BlockBackend *blk;
    BlockDriverState *bs;
    MapEntry cur, next;
    int c, ret = 0;

    img_getopt_init(&g, "map");
    while ((c = img_getopt(&g, argc, argv, ":f:hU", longopts)) != -1) {
        switch (c) {
        case 'f':
            fmt = g.optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPT_OUTPUT:
            output = g.optarg;
            break;
        case OPT_START_OFFSET:
            start = img_cvtnum_full("start offset", g.optarg, 0, INT64_MAX);
            if (start < 0) {
                return 1;
            }
            break;
        case OPT_MAX_LENGTH:
            max_length = img_cvtnum_full("max length", g.optarg, 0, INT64_MAX);
            if (max_length < 0) {
                return 1;
            }
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
    blk = img_open(image_opts, filename, fmt, 0, false, false, force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);
    if (ofmt == OFORMAT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    }
    length = blk_getlength(blk);
    if (length < 0) {
        error_report("Failed to get size for '%s'", filename);
        blk_unref(blk);
        return 1;
    }
    if (max_length != -1) {
        end = start > length ? length
                             : start + MIN(max_length, length - MIN(start, length));
    } else {
        end = length;
    }

    for (offset = start; offset < end; offset += next.length) {
        int64_t n = MIN(1 * GiB, end - offset);

        if (map_block_status(bs, offset, n, &next) < 0) {
            error_report("Could not read file metadata: %s",
                         strerror(EIO));
            ret = 1;
            break;
        }
        assert(next.length > 0);
        if (have && map_entries_merge(&cur, &next)) {
            cur.length += next.length;
            continue;
        }
        if (have && map_dump(&cur, ofmt, first) < 0) {
            ret = 1;
            have = false;
            break;
        }
        if (have) {
            first = false;
        }
        cur = next;
        have = true;
    }
    if (have && !ret && map_dump(&cur, ofmt, first) < 0) {
        ret = 1;
    } else if (have && !ret) {
        first = false;
    }
    if (ofmt == OFORMAT_JSON && !ret && first) {
        /* Nothing in range: QEMU shows one empty entry at the start. */
        memset(&cur, 0, sizeof(cur));
        cur.start = start;
        map_dump(&cur, ofmt, true);
        first = false;
    }
    if (ofmt == OFORMAT_JSON && !first) {
        printf("]\n");
    }
    blk_unref(blk);
    return ret;
}
