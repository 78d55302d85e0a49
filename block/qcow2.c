/*
 * coblock — the qcow2 format driver
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * This file holds the driver table and what is not specific to one
 * metadata structure: opening (header, extensions, snapshot and bitmap
 * directories, options), the request paths, create, truncate and the
 * information callbacks.  See qcow2.h for the split and the locking rule.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/qcow2.h"

/* Feature names written into new images (and used in messages when an
 * image has no table of its own). */
static const struct {
    uint8_t type;
    uint8_t bit;
    const char *name;
} qcow2_feature_names[] = {
    { QCOW2_FEAT_TYPE_INCOMPAT, 0, "dirty bit" },
    { QCOW2_FEAT_TYPE_INCOMPAT, 1, "corrupt bit" },
    { QCOW2_FEAT_TYPE_INCOMPAT, 2, "external data file" },
    { QCOW2_FEAT_TYPE_INCOMPAT, 3, "compression type" },
    { QCOW2_FEAT_TYPE_INCOMPAT, 4, "extended L2 entries" },
    { QCOW2_FEAT_TYPE_COMPAT, 0, "lazy refcounts" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, 0, "bitmaps" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, 1, "raw external data" },
};

/* ------------------------------------------------------------------------
 * File access
 * ------------------------------------------------------------------------ */

void qcow2_file_wrote(BDRVQcow2State *s, uint64_t offset, uint64_t bytes)
{
    uint64_t end = offset + bytes;

    if (end > s->file_size) {
        s->file_size = end;
    }
    if (end > s->file_virgin_offset) {
        s->file_virgin_offset = end;
    }
    if (end > s->file_real_end) {
        s->file_real_end = end;
    }
}

/* The most extend_file reserves in one step. */
#define QCOW2_EXTEND_STEP_MAX (32 * MiB)

/*
 * Make the file at least @end bytes long, ahead of writes into new
 * clusters past its end: a direct write that extends a file is done
 * synchronously by Linux file systems (io_submit waits for it), one that
 * lands inside the file is not, and a buffered write into allocated space
 * is cheaper than one into a hole.  The file grows in steps of an eighth
 * of its size, at least 1 MiB (or a cluster) and at most
 * QCOW2_EXTEND_STEP_MAX, so that a growing image makes few allocation
 * calls (each one waits for the writes in progress on the file), never
 * below what is allocated (writes may be in flight up to there), with
 * space allocated (reading as zeroes, not holes: new clusters then look
 * to the file's block status as QEMU's zero-filled ones do), and is cut
 * back to what it holds when the image is closed.  Called with s->lock
 * held; failure only costs speed.
 */
static void coroutine_fn extend_file(BlockDriverState *bs, uint64_t start,
                                     uint64_t end)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t step = MAX((uint64_t)MiB, (uint64_t)s->cluster_size);
    uint64_t target, tail;

    step = MAX(step, QEMU_ALIGN_DOWN(MIN(s->file_size / 8,
                                         (uint64_t)QCOW2_EXTEND_STEP_MAX),
                                     (uint64_t)MiB));

    if (end <= s->file_size) {
        return;
    }
    target = ROUND_UP(MAX(end, s->alloc_end << s->cluster_bits), step);
    /*
     * Between the end of the file and @start lie clusters allocated
     * before, written (or to be written) in part only, such as the host
     * cluster of compressed data: that gap stays a hole, as in QEMU's
     * files, so only the new clusters [@start, @end) and the space past
     * everything allocated are reserved (zero ranges only ever grow the
     * file; nobody else writes either part).
     */
    tail = MAX(end, s->alloc_end << s->cluster_bits);
    if (start > s->file_size && start < end &&
        bdrv_co_pwrite_zeroes(bs->file, (int64_t)start, (int64_t)(end - start),
                              BDRV_REQ_NO_FALLBACK) == 0 &&
        (tail >= target ||
         bdrv_co_pwrite_zeroes(bs->file, (int64_t)tail,
                               (int64_t)(target - tail),
                               BDRV_REQ_NO_FALLBACK) == 0)) {
        s->file_size = tail >= target ? end : target;
        return;
    }
    if (bdrv_co_truncate(bs->file, (int64_t)target, false,
                         PREALLOC_MODE_FALLOC, 0, NULL) == 0 ||
        bdrv_co_truncate(bs->file, (int64_t)target, false, PREALLOC_MODE_OFF,
                         0, NULL) == 0) {
        s->file_size = target;
    }
}

/* Reads past the end of the file return zeroes, as a regular file would
 * if it were longer: metadata near the end may legitimately not have been
 * written out in full (for instance a short L1 table). */
int coroutine_fn qcow2_file_pread(BlockDriverState *bs, uint64_t offset,
                                  uint64_t bytes, void *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t avail = offset < s->file_size ? s->file_size - offset : 0;
    uint64_t n = MIN(avail, bytes);
    int ret;

    if (n) {
        ret = bdrv_co_pread(bs->file, (int64_t)offset, (int64_t)n, buf, 0);
        if (ret < 0) {
            return ret;
        }
    }
    if (n < bytes) {
        memset((uint8_t *)buf + n, 0, bytes - n);
    }
    return 0;
}

static int coroutine_fn qcow2_file_preadv(BlockDriverState *bs,
                                          uint64_t offset, uint64_t bytes,
                                          QEMUIOVector *qiov,
                                          size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t avail = offset < s->file_size ? s->file_size - offset : 0;
    uint64_t n = MIN(avail, bytes);
    int ret;

    if (n) {
        ret = bdrv_co_preadv_part(bs->file, (int64_t)offset, (int64_t)n,
                                  qiov, qiov_offset, 0);
        if (ret < 0) {
            return ret;
        }
    }
    if (n < bytes) {
        qemu_iovec_memset(qiov, qiov_offset + n, 0, bytes - n);
    }
    return 0;
}

int coroutine_fn qcow2_file_pwrite(BlockDriverState *bs, uint64_t offset,
                                   uint64_t bytes, const void *buf)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (offset > INT64_MAX || bytes > INT64_MAX - offset) {
        return -EFBIG;
    }
    ret = bdrv_co_pwrite(bs->file, (int64_t)offset, (int64_t)bytes, buf, 0);
    if (ret == 0) {
        qcow2_file_wrote(s, offset, bytes);
    } else {
        /* Part of it may have landed: that space is not fresh any more. */
        s->file_virgin_offset = MAX(s->file_virgin_offset, offset + bytes);
    }
    return ret;
}

int coroutine_fn qcow2_file_pwritev(BlockDriverState *bs, uint64_t offset,
                                    uint64_t bytes, QEMUIOVector *qiov,
                                    size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (offset > INT64_MAX || bytes > INT64_MAX - offset) {
        return -EFBIG;
    }
    ret = bdrv_co_pwritev_part(bs->file, (int64_t)offset, (int64_t)bytes,
                               qiov, qiov_offset, 0);
    if (ret == 0) {
        qcow2_file_wrote(s, offset, bytes);
    } else {
        /* Part of it may have landed: that space is not fresh any more. */
        s->file_virgin_offset = MAX(s->file_virgin_offset, offset + bytes);
    }
    return ret;
}

/* ------------------------------------------------------------------------
 * Header
 * ------------------------------------------------------------------------ */

/* The fixed part of the header as it is now (QCOW2_V3_HEADER_SIZE bytes;
 * version 2 uses the first 72).  Backing fields are left as zero; the
 * caller fills them in. */
void qcow2_build_fixed_header(BDRVQcow2State *s, uint8_t *h)
{
    memset(h, 0, QCOW2_V3_HEADER_SIZE);
    q2_st32(h, QCOW2_MAGIC);
    q2_st32(h + QCOW2_HDR_VERSION, s->version);
    q2_st32(h + QCOW2_HDR_CLUSTER_BITS, (uint32_t)s->cluster_bits);
    q2_st64(h + QCOW2_HDR_SIZE, s->size);
    q2_st32(h + QCOW2_HDR_L1_SIZE, s->l1_size);
    q2_st64(h + QCOW2_HDR_L1_OFFSET, s->l1_table_offset);
    q2_st64(h + QCOW2_HDR_REFTABLE_OFFSET, s->refcount_table_offset);
    q2_st32(h + QCOW2_HDR_REFTABLE_CLUSTERS, s->refcount_table_clusters);
    q2_st32(h + QCOW2_HDR_NB_SNAPSHOTS, s->nb_snapshots);
    q2_st64(h + QCOW2_HDR_SNAPSHOTS_OFFSET, s->snapshots_offset);
    if (s->version >= 3) {
        q2_st64(h + QCOW2_HDR_INCOMPAT, s->incompatible_features);
        q2_st64(h + QCOW2_HDR_COMPAT, s->compatible_features);
        q2_st64(h + QCOW2_HDR_AUTOCLEAR, s->autoclear_features);
        q2_st32(h + QCOW2_HDR_REFCOUNT_ORDER, (uint32_t)s->refcount_order);
        q2_st32(h + QCOW2_HDR_HEADER_LENGTH, QCOW2_V3_HEADER_SIZE +
                s->unknown_header_fields_size);
        h[QCOW2_HDR_COMPRESSION_TYPE] = s->compression_type;
    }
}

int coroutine_fn qcow2_write_header_field(BlockDriverState *bs, int offset,
                                          int len)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t h[QCOW2_V3_HEADER_SIZE];

    assert(offset >= 0 && len > 0 && offset + len <= QCOW2_V3_HEADER_SIZE);
    assert(offset != QCOW2_HDR_BACKING_OFFSET &&
           offset != QCOW2_HDR_BACKING_SIZE);
    if (s->version < 3 && offset + len > QCOW2_V2_HEADER_SIZE) {
        /* Version 2 has no feature fields: nothing to record. */
        return 0;
    }
    qcow2_build_fixed_header(s, h);
    return qcow2_file_pwrite(bs, (uint64_t)offset, (uint64_t)len, h + offset);
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Append a header extension to @buf at *@pos; false if it does not fit. */
static bool put_ext(uint8_t *buf, size_t size, size_t *pos, uint32_t type,
                    const void *data, uint32_t len)
{
    size_t need = 8 + align8(len);

    if (*pos > size || size - *pos < need) {
        return false;
    }
    q2_st32(buf + *pos, type);
    q2_st32(buf + *pos + 4, len);
    memcpy(buf + *pos + 8, data, len);
    memset(buf + *pos + 8 + len, 0, align8(len) - len);
    *pos += need;
    return true;
}

/*
 * Lay out the header cluster from @s into @buf (@size bytes, one cluster,
 * zeroed here): fixed fields, preserved unknown fields, the backing
 * format, the feature name table (version 3, clusters over 4 KiB),
 * preserved extensions, the end marker and the backing file name.
 * Returns 0 or -ENOSPC if it does not fit.
 */
static int build_header_cluster(BDRVQcow2State *s, const char *backing_file,
                                const char *backing_fmt, uint8_t *buf,
                                size_t size)
{
    size_t pos;
    Qcow2UnknownExt *ext;
    size_t backing_len = backing_file ? strlen(backing_file) : 0;

    memset(buf, 0, size);
    qcow2_build_fixed_header(s, buf);
    if (s->version >= 3) {
        pos = QCOW2_V3_HEADER_SIZE;
        if (s->unknown_header_fields_size) {
            memcpy(buf + pos, s->unknown_header_fields,
                   s->unknown_header_fields_size);
        }
        pos += s->unknown_header_fields_size;
    } else {
        pos = QCOW2_V2_HEADER_SIZE;
    }

    if (backing_len && backing_fmt && backing_fmt[0] &&
        !put_ext(buf, size, &pos, QCOW2_EXT_BACKING_FORMAT, backing_fmt,
                 (uint32_t)strlen(backing_fmt))) {
        return -ENOSPC;
    }
    /* Like QEMU, no feature name table in clusters of 4 KiB or less: it
     * would leave little room for the backing file name. */
    if (s->version >= 3 && size > 4096) {
        uint8_t table[ARRAY_SIZE(qcow2_feature_names) * QCOW2_FEAT_ENTRY_SIZE];
        memset(table, 0, sizeof(table));
        for (size_t i = 0; i < ARRAY_SIZE(qcow2_feature_names); i++) {
            uint8_t *e = table + i * QCOW2_FEAT_ENTRY_SIZE;
            e[0] = qcow2_feature_names[i].type;
            e[1] = qcow2_feature_names[i].bit;
            memcpy(e + 2, qcow2_feature_names[i].name,
                   strlen(qcow2_feature_names[i].name));
        }
        if (!put_ext(buf, size, &pos, QCOW2_EXT_FEATURE_TABLE, table,
                     sizeof(table))) {
            return -ENOSPC;
        }
    }
    QTAILQ_FOREACH(ext, &s->unknown_exts, next) {
        if (!put_ext(buf, size, &pos, ext->type, ext->data, ext->len)) {
            return -ENOSPC;
        }
    }
    /* End marker (zeroes). */
    if (size - pos < 8) {
        return -ENOSPC;
    }
    pos += 8;
    if (backing_len) {
        if (backing_len > QCOW2_MAX_BACKING_NAME || size - pos < backing_len) {
            return -ENOSPC;
        }
        memcpy(buf + pos, backing_file, backing_len);
        q2_st64(buf + QCOW2_HDR_BACKING_OFFSET, pos);
        q2_st32(buf + QCOW2_HDR_BACKING_SIZE, (uint32_t)backing_len);
    }
    return 0;
}

/* Rewrite the header cluster from the in-memory state. */
int coroutine_fn qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *buf = qemu_try_memalign(4096, s->cluster_size);
    int ret;

    if (!buf) {
        return -ENOMEM;
    }
    ret = build_header_cluster(s, bs->backing_file, bs->backing_format, buf,
                               s->cluster_size);
    if (ret == 0) {
        ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_MAIN_HEADER, 0,
                                            s->cluster_size);
    }
    if (ret == 0) {
        ret = qcow2_file_pwrite(bs, 0, s->cluster_size, buf);
    }
    qemu_vfree(buf);
    return ret;
}

int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    assert(s->version >= 3);
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return 0;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    ret = qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, 8);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        /* We do not know whether the bit is on disk: keep it set in
         * memory, which only makes us more careful. */
        return ret;
    }
    return 0;
}

int coroutine_fn qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_flush_metadata(bs);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    ret = qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, 8);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    }
    return ret;
}

int coroutine_fn qcow2_mark_consistent(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        return 0;
    }
    s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
    ret = qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, 8);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
    }
    return ret;
}

/* ------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------ */

/* The names of the incompatible features in @mask, for the refusal
 * message: from the image's own table, else ours, else "Unknown
 * incompatible feature: <hex of what is left>". */
static char *feature_mask_names(BDRVQcow2State *s, uint64_t mask)
{
    char *out = qemu_xstrdup("");
    uint64_t left = mask;

    for (int bit = 0; bit < 64; bit++) {
        const char *name = NULL;
        char tname[QCOW2_FEAT_NAME_SIZE + 1];

        if (!(mask & (UINT64_C(1) << bit))) {
            continue;
        }
        for (uint32_t i = 0; s->feature_table &&
             i + QCOW2_FEAT_ENTRY_SIZE <= s->feature_table_len;
             i += QCOW2_FEAT_ENTRY_SIZE) {
            const uint8_t *e = s->feature_table + i;
            if (e[0] == QCOW2_FEAT_TYPE_INCOMPAT && e[1] == bit) {
                memcpy(tname, e + 2, QCOW2_FEAT_NAME_SIZE);
                tname[QCOW2_FEAT_NAME_SIZE] = 0;
                name = tname;
                break;
            }
        }
        if (!name) {
            continue;
        }
        {
            char *n = qemu_xasprintf("%s%s%s", out, *out ? ", " : "", name);
            free(out);
            out = n;
        }
        left &= ~(UINT64_C(1) << bit);
    }
    if (left) {
        char *n = qemu_xasprintf("%s%sUnknown incompatible feature: %" PRIx64,
                                 out, *out ? ", " : "", left);
        free(out);
        out = n;
    }
    return out;
}

static void free_unknown_exts(BDRVQcow2State *s)
{
    while (!QTAILQ_EMPTY(&s->unknown_exts)) {
        Qcow2UnknownExt *e = QTAILQ_FIRST(&s->unknown_exts);
        QTAILQ_REMOVE(&s->unknown_exts, e, next);
        free(e->data);
        free(e);
    }
}

/* Parse the header extensions in @buf[start, end). */
static int read_extensions(BlockDriverState *bs, const uint8_t *buf,
                           uint64_t start, uint64_t end, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t pos = start;
    while (pos < end) {
        uint32_t type, len;

        if (end - pos < 8) {
            error_setg(errp, "Header extension too large");
            return -EINVAL;
        }
        type = q2_ld32(buf + pos);
        len = q2_ld32(buf + pos + 4);
        pos += 8;
        if (len > end - pos) {
            error_setg(errp, "Header extension too large");
            return -EINVAL;
        }
        switch (type) {
        case QCOW2_EXT_END:
            return 0;

        case QCOW2_EXT_BACKING_FORMAT:
            if (len >= QCOW2_MAX_BACKING_FMT) {
                error_setg(errp, "ERROR: ext_backing_format: len=%" PRIu32
                           " too large (>=%d)", len, QCOW2_MAX_BACKING_FMT);
                return -EINVAL;
            }
            memcpy(bs->backing_format, buf + pos, len);
            bs->backing_format[len] = 0;
            /* An embedded NUL would make the name ambiguous. */
            if (strlen(bs->backing_format) != len) {
                error_setg(errp, "Invalid backing file format name");
                return -EINVAL;
            }
            break;

        case QCOW2_EXT_FEATURE_TABLE:
            free(s->feature_table);
            s->feature_table = qemu_try_malloc(len ? len : 1);
            if (!s->feature_table) {
                error_setg(errp, "Could not allocate memory");
                return -ENOMEM;
            }
            memcpy(s->feature_table, buf + pos, len);
            s->feature_table_len = len;
            break;

        case QCOW2_EXT_CRYPTO:
            error_setg(errp, "CRYPTO header extension only expected with "
                       "LUKS encryption method");
            return -EINVAL;

        case QCOW2_EXT_BITMAPS:
            if (len != 24) {
                error_setg(errp, "bitmaps_ext: Invalid extension length");
                return -EINVAL;
            }
            if ((s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) &&
                q2_ld32(buf + pos + 4) != 0) {
                error_setg(errp, "bitmaps_ext: Reserved field is not zero");
                return -EINVAL;
            }
            /* Without the autoclear bit the bitmaps are stale, but their
             * clusters are still in use; either way the extension is
             * written back as it is. */
            s->has_bitmaps_ext = true;
            s->bitmaps_consistent =
                s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS;
            s->nb_bitmaps = q2_ld32(buf + pos);
            s->bitmap_directory_size = q2_ld64(buf + pos + 8);
            s->bitmap_directory_offset = q2_ld64(buf + pos + 16);
            goto unknown;

        default:
        unknown: {
            Qcow2UnknownExt *e = qemu_new0(Qcow2UnknownExt, 1);
            e->type = type;
            e->len = len;
            e->data = qemu_try_malloc(len ? len : 1);
            if (!e->data) {
                free(e);
                error_setg(errp, "Could not allocate memory");
                return -ENOMEM;
            }
            memcpy(e->data, buf + pos, len);
            /* Keep the image's order. */
            QTAILQ_INSERT_TAIL(&s->unknown_exts, e, next);
            break;
        }
        }
        pos += align8(len);
    }
    return 0;
}

/* Validate a metadata table's place in the file: aligned, inside the
 * range a host offset may have, not overlapping the header. */
static bool table_offset_valid(BDRVQcow2State *s, uint64_t offset,
                               uint64_t entries, size_t entry_len,
                               uint64_t max_bytes)
{
    uint64_t bytes;

    if (entries > max_bytes / entry_len) {
        return false;
    }
    bytes = entries * entry_len;
    if (offset_into_cluster(s, offset)) {
        return false;
    }
    if (bytes && offset < s->cluster_size) {
        return false;
    }
    return range_within(offset, bytes, INT64_MAX);
}

static int read_snapshots(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t pos = 0;
    uint8_t *buf = NULL;
    uint64_t max_read;
    int ret;

    if (!s->nb_snapshots) {
        return 0;
    }
    /* The table's size is only known after parsing it; read what the
     * limit allows (and the file holds). */
    if (s->snapshots_offset >= s->file_size) {
        error_setg(errp, "Snapshot table offset invalid");
        return -EINVAL;
    }
    max_read = MIN(QCOW2_MAX_SNAPSHOT_TABLE, s->file_size - s->snapshots_offset);
    buf = qemu_try_malloc(max_read ? max_read : 1);
    s->snapshots = qemu_try_malloc0(sizeof(Qcow2Snapshot) * s->nb_snapshots);
    if (!buf || !s->snapshots) {
        free(buf);
        error_setg(errp, "Could not allocate memory");
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, (int64_t)s->snapshots_offset,
                     (int64_t)max_read, buf, 0);
    if (ret < 0) {
        free(buf);
        error_setg_errno(errp, -ret, "Failed to read snapshot table");
        return ret;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        uint32_t extra, id_len, name_len;

        pos = align8(pos);
        if (pos > max_read || max_read - pos < 40) {
            goto too_large;
        }
        sn->l1_table_offset = q2_ld64(buf + pos);
        sn->l1_size = q2_ld32(buf + pos + 8);
        id_len = q2_ld16(buf + pos + 12);
        name_len = q2_ld16(buf + pos + 14);
        sn->date_sec = q2_ld32(buf + pos + 16);
        sn->date_nsec = q2_ld32(buf + pos + 20);
        sn->vm_clock_nsec = q2_ld64(buf + pos + 24);
        sn->vm_state_size = q2_ld32(buf + pos + 32);
        extra = q2_ld32(buf + pos + 36);
        if (extra > QCOW2_MAX_SNAPSHOT_EXTRA) {
            error_setg(errp, "Too much extra metadata in snapshot table "
                       "entry %" PRIu32, i);
            free(buf);
            return -EFBIG;
        }
        pos += 40;
        if (max_read - pos < (uint64_t)extra + id_len + name_len) {
            goto too_large;
        }
        if (extra >= 16) {
            sn->vm_state_size = q2_ld64(buf + pos);
            sn->disk_size = q2_ld64(buf + pos + 8);
        } else {
            sn->disk_size = s->size;
        }
        sn->icount = extra >= 24 ? q2_ld64(buf + pos + 16) : UINT64_MAX;
        pos += extra;
        sn->id_str = qemu_xstrndup((const char *)buf + pos, id_len);
        pos += id_len;
        sn->name = qemu_xstrndup((const char *)buf + pos, name_len);
        pos += name_len;

        /* A broken snapshot does not keep the active image from being
         * used: check reports it, nothing else looks at its tables. */
        sn->l1_invalid = !table_offset_valid(s, sn->l1_table_offset,
                                             sn->l1_size, 8,
                                             QCOW2_MAX_L1_BYTES);
    }
    s->snapshots_size = align8(pos);
    free(buf);
    return 0;

too_large:
    free(buf);
    error_setg(errp, "Snapshot table too large");
    return -EFBIG;
}

/* Validate the bitmap directory (for overlap checks and `check`). */
static int read_bitmaps(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *dir;
    uint64_t pos = 0;
    int ret;

    if (!s->has_bitmaps_ext) {
        return 0;
    }
    if (!s->bitmaps_consistent) {
        /* Stale bitmaps: track their clusters if the directory makes
         * sense, and otherwise ignore them. */
        Error *local = NULL;
        s->bitmaps_consistent = true;
        ret = read_bitmaps(bs, &local);
        s->bitmaps_consistent = false;
        if (ret < 0) {
            error_free(local);
            s->has_bitmaps_ext = false;
            for (uint32_t i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
                free(s->bitmaps[i].name);
            }
            free(s->bitmaps);
            s->bitmaps = NULL;
        }
        return 0;
    }
    if (s->nb_bitmaps == 0) {
        error_setg(errp, "found bitmaps extension with zero bitmaps");
        return -EINVAL;
    }
    if (s->nb_bitmaps > QCOW2_MAX_BITMAPS) {
        error_setg(errp, "bitmaps_ext: Image has %" PRIu32 " bitmaps, exceeding "
                   "the QEMU supported maximum of %d", s->nb_bitmaps,
                   QCOW2_MAX_BITMAPS);
        return -EINVAL;
    }
    if (s->bitmap_directory_size > QCOW2_MAX_BITMAP_DIRECTORY) {
        error_setg(errp, "bitmaps_ext: bitmap directory size (%" PRIu64
                   ") exceeds the maximum supported size (%d)",
                   s->bitmap_directory_size, QCOW2_MAX_BITMAP_DIRECTORY);
        return -EINVAL;
    }
    if (!table_offset_valid(s, s->bitmap_directory_offset,
                            s->bitmap_directory_size, 1,
                            QCOW2_MAX_BITMAP_DIRECTORY)) {
        error_setg(errp, "bitmaps_ext: Invalid bitmap directory offset");
        return -EINVAL;
    }
    dir = qemu_try_malloc(s->bitmap_directory_size ? s->bitmap_directory_size
                                                    : 1);
    s->bitmaps = qemu_try_malloc0(sizeof(Qcow2Bitmap) * s->nb_bitmaps);
    if (!dir || !s->bitmaps) {
        free(dir);
        error_setg(errp, "Could not allocate memory");
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, (int64_t)s->bitmap_directory_offset,
                     (int64_t)s->bitmap_directory_size, dir, 0);
    if (ret < 0) {
        free(dir);
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        return ret;
    }
    for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
        Qcow2Bitmap *bm = &s->bitmaps[i];
        uint32_t name_size, extra;

        if (pos > s->bitmap_directory_size ||
            s->bitmap_directory_size - pos < 24) {
            goto broken;
        }
        bm->table_offset = q2_ld64(dir + pos);
        bm->table_size = q2_ld32(dir + pos + 8);
        bm->flags = q2_ld32(dir + pos + 12);
        bm->granularity_bits = dir[pos + 17];
        name_size = q2_ld16(dir + pos + 18);
        extra = q2_ld32(dir + pos + 20);
        pos += 24;
        if (name_size == 0 || extra > s->bitmap_directory_size ||
            s->bitmap_directory_size - pos < (uint64_t)name_size + extra) {
            goto broken;
        }
        pos += extra;
        bm->name = qemu_xstrndup((const char *)dir + pos, name_size);
        pos = align8(pos + name_size);
        if (!table_offset_valid(s, bm->table_offset, bm->table_size, 8,
                                QCOW2_MAX_L1_BYTES) ||
            bm->table_offset < s->cluster_size) {
            error_setg(errp, "Bitmap '%s' doesn't satisfy the constraints",
                       bm->name);
            free(dir);
            return -EINVAL;
        }
    }
    free(dir);
    return 0;

broken:
    free(dir);
    error_setg(errp, "bitmaps_ext: Invalid bitmap directory");
    return -EINVAL;
}

/* ---- open options ---- */

static const char *const overlap_bit_names[QCOW2_OL_MAX_BITNR] = {
    "main-header", "active-l1", "active-l2", "refcount-table",
    "refcount-block", "snapshot-table", "inactive-l1", "inactive-l2",
    "bitmap-directory",
};

static int parse_overlap_template(const char *v, int *mode, Error **errp)
{
    if (!strcmp(v, "none")) {
        *mode = 0;
    } else if (!strcmp(v, "constant")) {
        *mode = QCOW2_OL_CONSTANT;
    } else if (!strcmp(v, "cached")) {
        *mode = QCOW2_OL_CACHED;
    } else if (!strcmp(v, "all")) {
        *mode = QCOW2_OL_ALL;
    } else {
        error_setg(errp, "Unsupported value '%s' for qcow2 option "
                   "'overlap-check'. Allowed are any of the following: "
                   "none, constant, cached, all", v);
        return -EINVAL;
    }
    return 0;
}

static int read_cache_sizes(BlockDriverState *bs, QDict *options,
                            Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Error *err = NULL;
    bool has_l2 = qdict_haskey(options, "l2-cache-size");
    bool has_rc = qdict_haskey(options, "refcount-cache-size");
    bool has_all = qdict_haskey(options, "cache-size");
    bool has_entry = qdict_haskey(options, "l2-cache-entry-size");
    uint64_t l2 = bdrv_opt_take_size(options, "l2-cache-size", 0, &err);
    uint64_t rc = err ? 0 : bdrv_opt_take_size(options, "refcount-cache-size",
                                               0, &err);
    uint64_t all = err ? 0 : bdrv_opt_take_size(options, "cache-size", 0, &err);
    uint64_t entry = err ? 0 :
        bdrv_opt_take_size(options, "l2-cache-entry-size",
                           MIN(s->cluster_size, QCOW2_DEFAULT_L2_SLICE), &err);
    uint64_t min_rc = (uint64_t)QCOW2_MIN_REFCOUNT_CACHE_CLUSTERS *
                      s->cluster_size;
    uint64_t max_l2 = ROUND_UP(MAX(DIV_ROUND_UP(s->size, s->cluster_size), 1)
                               * 8, s->cluster_size);
    int64_t interval;

    if (err) {
        error_propagate(errp, err);
        return -EINVAL;
    }
    interval = bdrv_opt_take_int(options, "cache-clean-interval", 600, &err);
    if (err) {
        error_propagate(errp, err);
        return -EINVAL;
    }
    if (interval < 0 || interval > UINT32_MAX) {
        error_setg(errp, "Cache clean interval too big");
        return -EINVAL;
    }

    if (has_all && has_l2 && has_rc) {
        error_setg(errp, "cache-size, l2-cache-size and refcount-cache-size "
                   "may not be set at the same time");
        return -EINVAL;
    }
    if (has_all) {
        if (has_l2 && l2 > all) {
            error_setg(errp, "l2-cache-size may not exceed cache-size");
            return -EINVAL;
        }
        if (has_rc && rc > all) {
            error_setg(errp, "refcount-cache-size may not exceed cache-size");
            return -EINVAL;
        }
        if (has_l2) {
            rc = all - l2;
        } else if (has_rc) {
            l2 = all - rc;
        } else {
            l2 = MIN(max_l2, all > min_rc ? all - min_rc : 0);
            rc = all - l2;
        }
    } else {
        if (!has_l2) {
            l2 = MIN(max_l2, QCOW2_DEFAULT_L2_CACHE_MAX);
        }
        if (!has_rc) {
            rc = min_rc;
        }
    }
    if (entry < 512 || entry > s->cluster_size || !is_power_of_2(entry)) {
        error_setg(errp, "L2 cache entry size must be a power of two between "
                   "512 and the cluster size (%" PRIu32 ")", s->cluster_size);
        return -EINVAL;
    }
    if (l2 > INT32_MAX) {
        l2 = INT32_MAX;
    }
    /* Never more than the image's tables need. */
    l2 = MIN(l2, max_l2);
    if (!has_entry && l2 >= max_l2) {
        /* Everything fits: whole tables are as good as slices. */
        entry = s->cluster_size;
    }
    rc = MAX(rc, min_rc);
    rc = MIN(rc, MAX(min_rc, (uint64_t)32 * MiB));

    s->l2_cache_entry_size = (uint32_t)entry;
    s->l2_cache_bytes = MAX(l2, entry * QCOW2_MIN_L2_CACHE_ENTRIES);
    s->refcount_cache_bytes = rc;
    return 0;
}

static int read_runtime_options(BlockDriverState *bs, QDict *options,
                                int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Error *err = NULL;
    char *tmpl;
    int mode = QCOW2_OL_CACHED;
    int ret;

    ret = read_cache_sizes(bs, options, errp);
    if (ret < 0) {
        return ret;
    }

    s->use_lazy_refcounts =
        bdrv_opt_take_bool(options, "lazy-refcounts",
                           s->compatible_features &
                           QCOW2_COMPAT_LAZY_REFCOUNTS, &err);
    if (err) {
        error_propagate(errp, err);
        return -EINVAL;
    }
    if (s->use_lazy_refcounts && s->version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least "
                   "qemu 1.1 compatibility level");
        return -EINVAL;
    }

    s->discard_passthrough[QCOW2_DISCARD_NEVER] = false;
    s->discard_passthrough[QCOW2_DISCARD_ALWAYS] = true;
    s->discard_passthrough[QCOW2_DISCARD_REQUEST] =
        bdrv_opt_take_bool(options, "pass-discard-request",
                           flags & BDRV_O_UNMAP, &err);
    if (!err) {
        s->discard_passthrough[QCOW2_DISCARD_SNAPSHOT] =
            bdrv_opt_take_bool(options, "pass-discard-snapshot", true, &err);
    }
    if (!err) {
        s->discard_passthrough[QCOW2_DISCARD_OTHER] =
            bdrv_opt_take_bool(options, "pass-discard-other", false, &err);
    }
    if (err) {
        error_propagate(errp, err);
        return -EINVAL;
    }

    /* overlap-check: a template name, possibly refined per structure. */
    tmpl = bdrv_opt_take_str(options, "overlap-check");
    if (!tmpl) {
        tmpl = bdrv_opt_take_str(options, "overlap-check.template");
    } else {
        char *t2 = bdrv_opt_take_str(options, "overlap-check.template");
        if (t2 && strcmp(t2, tmpl)) {
            error_setg(errp, "Conflicting values for qcow2 options "
                       "'overlap-check' ('%s') and 'overlap-check.template' "
                       "('%s')", tmpl, t2);
            free(t2);
            free(tmpl);
            return -EINVAL;
        }
        free(t2);
    }
    if (tmpl) {
        ret = parse_overlap_template(tmpl, &mode, errp);
        free(tmpl);
        if (ret < 0) {
            return ret;
        }
    }
    for (int i = 0; i < QCOW2_OL_MAX_BITNR; i++) {
        char key[64];
        snprintf(key, sizeof(key), "overlap-check.%s", overlap_bit_names[i]);
        if (qdict_haskey(options, key)) {
            bool on = bdrv_opt_take_bool(options, key, mode & (1 << i), &err);
            if (err) {
                error_propagate(errp, err);
                return -EINVAL;
            }
            mode = on ? (mode | (1 << i)) : (mode & ~(1 << i));
        }
    }
    s->overlap_check = mode;
    return 0;
}

/* ---- the open sequence ---- */

typedef struct Qcow2OpenCo {
    BlockDriverState *bs;
    int ret;
    Error *err;
    bool done;
} Qcow2OpenCo;

/* Work that needs coroutine context at the end of a read-write open:
 * clearing autoclear bits, repairing a dirty image. */
static void coroutine_fn qcow2_open_rw_entry(void *opaque)
{
    Qcow2OpenCo *oc = opaque;
    BlockDriverState *bs = oc->bs;
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    if (s->version >= 3 &&
        (s->autoclear_features & ~QCOW2_AUTOCLEAR_SUPPORTED)) {
        s->autoclear_features &= QCOW2_AUTOCLEAR_SUPPORTED;
        s->bitmaps_consistent = false;
        ret = qcow2_write_header_field(bs, QCOW2_HDR_AUTOCLEAR, 8);
        if (ret == 0) {
            ret = bdrv_co_flush(bs->file->bs);
        }
        if (ret < 0) {
            error_setg_errno(&oc->err, -ret, "Could not update qcow2 header");
            goto out;
        }
    }
    if ((s->incompatible_features & QCOW2_INCOMPAT_DIRTY) &&
        !(bs->open_flags & BDRV_O_CHECK)) {
        BdrvCheckResult result;
        memset(&result, 0, sizeof(result));
        ret = qcow2_co_check_locked(bs, &result,
                                    BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
        if (ret == 0 && result.check_errors) {
            ret = -EIO;
        }
        if (ret < 0) {
            error_setg_errno(&oc->err, -ret, "Could not repair dirty image");
            goto out;
        }
        /* Lazy refcounts stay in use if asked for; otherwise the repaired
         * image is clean. */
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(&oc->err, -ret, "Could not repair dirty image");
            goto out;
        }
    }
out:
    qemu_co_mutex_unlock(&s->lock);
    oc->ret = ret;
    oc->done = true;
}

static void qcow2_free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    qcow2_cache_destroy(s->l2_cache);
    s->l2_cache = NULL;
    qcow2_cache_destroy(s->refcount_cache);
    s->refcount_cache = NULL;
    qcow2_refcount_close(bs);
    free(s->l1_table);
    s->l1_table = NULL;
    for (uint32_t i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        free(s->snapshots[i].id_str);
        free(s->snapshots[i].name);
    }
    free(s->snapshots);
    s->snapshots = NULL;
    for (uint32_t i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
        free(s->bitmaps[i].name);
    }
    free(s->bitmaps);
    s->bitmaps = NULL;
    free(s->unknown_header_fields);
    s->unknown_header_fields = NULL;
    free(s->feature_table);
    s->feature_table = NULL;
    free_unknown_exts(s);
    qcow2_cluster_set_free(&s->l2_clusters);
    qcow2_cluster_set_free(&s->refblock_clusters);
    qcow2_cluster_set_free(&s->inactive_l2_clusters);
    qemu_vfree(s->zero_cluster);
    s->zero_cluster = NULL;
}

/* Inactive L2 tables, for overlap-check=all. */
static int load_inactive_l2(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        uint64_t *l1;
        int ret;

        if (!sn->l1_size || sn->l1_invalid) {
            continue;
        }
        l1 = qemu_try_malloc((size_t)sn->l1_size * 8);
        if (!l1) {
            error_setg(errp, "Could not allocate memory");
            return -ENOMEM;
        }
        ret = bdrv_pread(bs->file, (int64_t)sn->l1_table_offset,
                         (int64_t)sn->l1_size * 8, l1, 0);
        if (ret < 0) {
            free(l1);
            error_setg_errno(errp, -ret, "Failed to read snapshot L1 table");
            return ret;
        }
        for (uint32_t j = 0; j < sn->l1_size; j++) {
            uint64_t off = q2_ld64(&l1[j]) & L1E_OFFSET_MASK;
            if (off && !offset_into_cluster(s, off)) {
                qcow2_cluster_set_add(&s->inactive_l2_clusters,
                                      off >> s->cluster_bits);
            }
        }
        free(l1);
    }
    return 0;
}

static int qcow2_open(BlockDriverState *bs, QDict *options, int flags,
                      Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t fixed[QCOW2_V3_HEADER_SIZE];
    uint8_t *hbuf = NULL;
    int64_t flen;
    uint64_t backing_offset;
    uint32_t backing_size, crypt_method;
    uint64_t l1_bytes, min_l1;
    uint64_t ext_end;
    int ret;

    memset(s, 0, sizeof(*s));
    s->bs = bs;
    qemu_co_mutex_init(&s->lock);
    qemu_co_queue_init(&s->io_drained);
    QLIST_INIT(&s->inflight);
    QTAILQ_INIT(&s->unknown_exts);
    qcow2_cluster_set_init(&s->l2_clusters);
    qcow2_cluster_set_init(&s->refblock_clusters);
    qcow2_cluster_set_init(&s->inactive_l2_clusters);

    flen = bdrv_getlength(bs->file->bs);
    if (flen < 0) {
        error_setg_errno(errp, (int)-flen, "Could not get the file size");
        return (int)flen;
    }
    s->file_size = (uint64_t)flen;
    s->file_real_end = (uint64_t)flen;
    s->file_virgin_offset = (uint64_t)flen;

    memset(fixed, 0, sizeof(fixed));
    ret = bdrv_pread(bs->file, 0, MIN((int64_t)sizeof(fixed), flen), fixed, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    if (q2_ld32(fixed) != QCOW2_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return -EINVAL;
    }
    s->version = q2_ld32(fixed + QCOW2_HDR_VERSION);
    if (s->version < 2 || s->version > 3) {
        error_setg(errp, "Unsupported qcow2 version %" PRIu32, s->version);
        return -ENOTSUP;
    }
    {
        uint32_t cb = q2_ld32(fixed + QCOW2_HDR_CLUSTER_BITS);
        if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS) {
            error_setg(errp, "Unsupported cluster size: 2^%" PRIu32, cb);
            return -EINVAL;
        }
        s->cluster_bits = (int)cb;
    }
    s->cluster_size = 1u << s->cluster_bits;
    s->cluster_mask = s->cluster_size - 1;
    s->alloc_end = size_to_clusters(s, s->file_size);

    if (s->version == 2) {
        s->header_length = QCOW2_V2_HEADER_SIZE;
        s->refcount_order = 4;
    } else {
        s->incompatible_features = q2_ld64(fixed + QCOW2_HDR_INCOMPAT);
        s->compatible_features = q2_ld64(fixed + QCOW2_HDR_COMPAT);
        s->autoclear_features = q2_ld64(fixed + QCOW2_HDR_AUTOCLEAR);
        s->refcount_order = (int)MIN(q2_ld32(fixed + QCOW2_HDR_REFCOUNT_ORDER),
                                     64u);
        s->header_length = q2_ld32(fixed + QCOW2_HDR_HEADER_LENGTH);
        if (s->header_length < QCOW2_V3_MIN_HEADER) {
            error_setg(errp, "qcow2 header too short");
            return -EINVAL;
        }
    }
    if (s->header_length > s->cluster_size) {
        error_setg(errp, "qcow2 header exceeds cluster size");
        return -EINVAL;
    }

    /* The whole header cluster (what the file holds of it). */
    hbuf = qemu_try_malloc(s->cluster_size);
    if (!hbuf) {
        error_setg(errp, "Could not allocate memory");
        return -ENOMEM;
    }
    memset(hbuf, 0, s->cluster_size);
    ret = bdrv_pread(bs->file, 0, MIN((int64_t)s->cluster_size, flen), hbuf, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        goto fail;
    }

    if (s->header_length > QCOW2_V3_HEADER_SIZE) {
        s->unknown_header_fields_size = s->header_length - QCOW2_V3_HEADER_SIZE;
        s->unknown_header_fields = qemu_xmalloc(s->unknown_header_fields_size);
        memcpy(s->unknown_header_fields, hbuf + QCOW2_V3_HEADER_SIZE,
               s->unknown_header_fields_size);
    }

    backing_offset = q2_ld64(fixed + QCOW2_HDR_BACKING_OFFSET);
    backing_size = q2_ld32(fixed + QCOW2_HDR_BACKING_SIZE);
    if (backing_offset > s->cluster_size) {
        error_setg(errp, "Invalid backing file offset");
        ret = -EINVAL;
        goto fail;
    }
    ext_end = backing_offset ? backing_offset : s->cluster_size;
    if (ext_end < s->header_length) {
        ext_end = s->header_length;
    }
    ret = read_extensions(bs, hbuf, s->header_length, ext_end, errp);
    if (ret < 0) {
        goto fail;
    }

    if (s->incompatible_features & ~QCOW2_INCOMPAT_SUPPORTED) {
        char *names = feature_mask_names(s, s->incompatible_features &
                                            ~QCOW2_INCOMPAT_SUPPORTED);
        error_setg(errp, "Unsupported qcow2 feature(s): %s", names);
        free(names);
        ret = -ENOTSUP;
        goto fail;
    }
    /* A corrupt image is written to only to be repaired (check -r). */
    if ((s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        (flags & BDRV_O_RDWR) && !(flags & BDRV_O_CHECK)) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened "
                   "read/write");
        ret = -EACCES;
        goto fail;
    }
    if (s->refcount_order > 6) {
        error_setg(errp, "Reference count entry width too large; may not "
                   "exceed 64 bits");
        ret = -EINVAL;
        goto fail;
    }
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                      : (UINT64_C(1) << s->refcount_bits) - 1;
    s->refblock_bits = s->cluster_bits + 3 - s->refcount_order;
    s->refblock_size = 1u << s->refblock_bits;

    if (s->header_length > QCOW2_HDR_COMPRESSION_TYPE) {
        s->compression_type = hbuf[QCOW2_HDR_COMPRESSION_TYPE];
    }
    if (s->compression_type > QCOW2_COMPRESSION_ZSTD) {
        error_setg(errp, "qcow2: unknown compression type: %u",
                   s->compression_type);
        ret = -EINVAL;
        goto fail;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        if (s->compression_type == QCOW2_COMPRESSION_ZLIB) {
            error_setg(errp, "qcow2: Compression type incompatible feature "
                       "bit must not be set");
            ret = -EINVAL;
            goto fail;
        }
    } else if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must be set");
        ret = -EINVAL;
        goto fail;
    }
    if (!qcow2_compression_supported(s->compression_type)) {
        error_setg(errp, "qcow2: %s compression is not supported by this "
                   "build", s->compression_type == QCOW2_COMPRESSION_ZSTD ?
                   "zstd" : "zlib");
        ret = -ENOTSUP;
        goto fail;
    }

    crypt_method = q2_ld32(fixed + QCOW2_HDR_CRYPT_METHOD);
    if (crypt_method > 2) {
        error_setg(errp, "Unsupported encryption method %" PRIu32,
                   crypt_method);
        ret = -EINVAL;
        goto fail;
    }
    if (crypt_method) {
        error_setg(errp, "Unsupported qcow2 feature(s): %s encryption",
                   crypt_method == 1 ? "AES" : "LUKS");
        ret = -ENOTSUP;
        goto fail;
    }

    s->l2_bits = s->cluster_bits - 3;
    s->l2_size = 1u << s->l2_bits;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (UINT64_C(1) << (s->cluster_bits - 8)) - 1;
    s->coffset_mask = (UINT64_C(1) << s->csize_shift) - 1;

    s->size = q2_ld64(fixed + QCOW2_HDR_SIZE);
    if (s->size > INT64_MAX) {
        error_setg(errp, "Could not refresh total sector count: File too large");
        ret = -EFBIG;
        goto fail;
    }

    /* Refcount table. */
    s->refcount_table_offset = q2_ld64(fixed + QCOW2_HDR_REFTABLE_OFFSET);
    s->refcount_table_clusters = q2_ld32(fixed + QCOW2_HDR_REFTABLE_CLUSTERS);
    if (s->refcount_table_clusters == 0) {
        error_setg(errp, "Image does not contain a reference count table");
        ret = -EINVAL;
        goto fail;
    }
    if ((uint64_t)s->refcount_table_clusters >
        QCOW2_MAX_REFTABLE_BYTES >> s->cluster_bits) {
        error_setg(errp, "Reference count table too large");
        ret = -EINVAL;
        goto fail;
    }
    if (!table_offset_valid(s, s->refcount_table_offset,
                            (uint64_t)s->refcount_table_clusters <<
                            s->cluster_bits, 1, QCOW2_MAX_REFTABLE_BYTES)) {
        error_setg(errp, "Reference count table offset invalid");
        ret = -EINVAL;
        goto fail;
    }

    /* Snapshot table. */
    s->nb_snapshots = q2_ld32(fixed + QCOW2_HDR_NB_SNAPSHOTS);
    s->snapshots_offset = q2_ld64(fixed + QCOW2_HDR_SNAPSHOTS_OFFSET);
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
        error_setg(errp, "Snapshot table too large");
        ret = -EINVAL;
        goto fail;
    }
    if (offset_into_cluster(s, s->snapshots_offset) ||
        (s->nb_snapshots && (s->snapshots_offset < s->cluster_size ||
                             s->snapshots_offset > INT64_MAX))) {
        error_setg(errp, "Snapshot table offset invalid");
        ret = -EINVAL;
        goto fail;
    }

    /* Active L1 table. */
    s->l1_size = q2_ld32(fixed + QCOW2_HDR_L1_SIZE);
    s->l1_table_offset = q2_ld64(fixed + QCOW2_HDR_L1_OFFSET);
    if ((uint64_t)s->l1_size > QCOW2_MAX_L1_BYTES / 8) {
        error_setg(errp, "Active L1 table too large");
        ret = -EFBIG;
        goto fail;
    }
    min_l1 = size_to_l1(s->cluster_bits, s->size);
    if (min_l1 > INT32_MAX) {
        error_setg(errp, "Image is too big");
        ret = -EFBIG;
        goto fail;
    }
    s->l1_vm_state_index = (uint32_t)min_l1;
    if (s->l1_size < min_l1) {
        error_setg(errp, "L1 table is too small");
        ret = -EINVAL;
        goto fail;
    }
    if (offset_into_cluster(s, s->l1_table_offset) ||
        (s->l1_size && !table_offset_valid(s, s->l1_table_offset, s->l1_size,
                                           8, QCOW2_MAX_L1_BYTES))) {
        error_setg(errp, "Active L1 table offset invalid");
        ret = -EINVAL;
        goto fail;
    }
    /* Past what a request can address, the table cannot be read (QEMU's
     * block layer refuses the read the same way). */
    if (s->l1_size &&
        s->l1_table_offset + (uint64_t)s->l1_size * 8 > QCOW2_MAX_IO_END) {
        error_setg_errno(errp, EIO, "Could not read L1 table");
        ret = -EIO;
        goto fail;
    }
    l1_bytes = ROUND_UP((uint64_t)s->l1_size * 8, 512);
    s->l1_table = qemu_try_malloc0(l1_bytes ? l1_bytes : 8);
    if (!s->l1_table) {
        error_setg(errp, "Could not allocate L1 table");
        ret = -ENOMEM;
        goto fail;
    }
    if (s->l1_size) {
        uint64_t avail = s->l1_table_offset < s->file_size ?
                         s->file_size - s->l1_table_offset : 0;
        uint64_t n = MIN(avail, (uint64_t)s->l1_size * 8);
        if (n) {
            ret = bdrv_pread(bs->file, (int64_t)s->l1_table_offset,
                             (int64_t)n, s->l1_table, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not read L1 table");
                goto fail;
            }
        }
        for (uint32_t i = 0; i < s->l1_size; i++) {
            uint64_t e = q2_ld64(&s->l1_table[i]);
            uint64_t off = e & L1E_OFFSET_MASK;
            s->l1_table[i] = e;
            if (off && !offset_into_cluster(s, off)) {
                qcow2_cluster_set_add(&s->l2_clusters, off >> s->cluster_bits);
            }
        }
    }

    /* Backing file name. */
    if (backing_offset) {
        if (backing_size > QCOW2_MAX_BACKING_NAME ||
            backing_size > s->cluster_size - backing_offset) {
            error_setg(errp, "Backing file name too long");
            ret = -EINVAL;
            goto fail;
        }
        memcpy(bs->backing_file, hbuf + backing_offset, backing_size);
        bs->backing_file[backing_size] = 0;
        if (strlen(bs->backing_file) != backing_size) {
            error_setg(errp, "Invalid backing file name");
            ret = -EINVAL;
            goto fail;
        }
    } else {
        bs->backing_file[0] = 0;
        bs->backing_format[0] = 0;
    }

    ret = read_snapshots(bs, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = read_bitmaps(bs, errp);
    if (ret < 0) {
        goto fail;
    }

    ret = read_runtime_options(bs, options, flags, errp);
    if (ret < 0) {
        goto fail;
    }
    if (s->overlap_check & QCOW2_OL_INACTIVE_L2) {
        ret = load_inactive_l2(bs, errp);
        if (ret < 0) {
            goto fail;
        }
    }

    ret = qcow2_refcount_init(bs, errp);
    if (ret < 0) {
        goto fail;
    }
    s->l2_slice_size = s->l2_cache_entry_size / 8;
    s->l2_slice_bits = ctz64(s->l2_slice_size);
    s->l2_cache = qcow2_cache_create(bs, (int)(s->l2_cache_bytes /
                                                s->l2_cache_entry_size),
                                     s->l2_cache_entry_size, "l2");
    s->refcount_cache = qcow2_cache_create(bs, (int)(s->refcount_cache_bytes /
                                                      s->cluster_size),
                                           s->cluster_size, "refcount");
    s->zero_cluster = qemu_try_memalign(4096, s->cluster_size);
    if (!s->l2_cache || !s->refcount_cache || !s->zero_cluster) {
        error_setg(errp, "Could not allocate metadata caches");
        ret = -ENOMEM;
        goto fail;
    }
    memset(s->zero_cluster, 0, s->cluster_size);

    bs->total_bytes = (int64_t)s->size;
    bs->supported_write_flags = BDRV_REQ_WRITE_COMPRESSED;
    bs->supported_zero_flags = s->version >= 3 ?
                               (BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) : 0;
    bs->supported_truncate_flags = BDRV_REQ_ZERO_WRITE;

    if (flags & BDRV_O_RDWR) {
        Qcow2OpenCo oc = { .bs = bs };
        bdrv_run_co(bdrv_get_aio_context(bs), qcow2_open_rw_entry, &oc,
                    &oc.done);
        if (oc.ret < 0) {
            error_propagate(errp, oc.err);
            ret = oc.ret;
            goto fail;
        }
    }

    free(hbuf);
    return 0;

fail:
    free(hbuf);
    qcow2_free_state(bs);
    return ret;
}

static int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    (void)filename;
    if (buf_size >= 8 && q2_ld32(buf) == QCOW2_MAGIC && q2_ld32(buf + 4) >= 2) {
        return 100;
    }
    return 0;
}

typedef struct Qcow2CloseCo {
    BlockDriverState *bs;
    bool done;
} Qcow2CloseCo;

static void coroutine_fn qcow2_close_entry(void *opaque)
{
    Qcow2CloseCo *cc = opaque;
    BlockDriverState *bs = cc->bs;
    BDRVQcow2State *s = bs->opaque;

    qemu_co_mutex_lock(&s->lock);
    if (!(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        /* As QEMU: each cache written back and synced, a failure named
         * (the data it held is lost with the node). */
        int ret = qcow2_process_pending_frees(bs), r;

        r = qcow2_cache_flush(bs, s->l2_cache);
        if (r < 0) {
            error_report("Failed to flush the L2 table cache: %s", strerror(-r));
            ret = ret ? ret : r;
        }
        r = qcow2_cache_flush(bs, s->refcount_cache);
        if (r < 0) {
            error_report("Failed to flush the refcount block cache: %s",
                         strerror(-r));
            ret = ret ? ret : r;
        }
        if (ret == 0 && (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) &&
            s->use_lazy_refcounts) {
            qcow2_mark_clean(bs);
        }
    }
    /* Give back what extend_file added past the last write. */
    if (s->file_size > s->file_real_end &&
        bdrv_co_truncate(bs->file, (int64_t)s->file_real_end, true,
                         PREALLOC_MODE_OFF, 0, NULL) == 0) {
        s->file_size = s->file_real_end;
    }
    qemu_co_mutex_unlock(&s->lock);
    cc->done = true;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!bs->read_only && s->l2_cache) {
        Qcow2CloseCo cc = { .bs = bs };
        bdrv_run_co(bdrv_get_aio_context(bs), qcow2_close_entry, &cc,
                    &cc.done);
    }
    qcow2_free_state(bs);
}

static void qcow2_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    (void)errp;
    bs->bl.pdiscard_alignment = s->cluster_size;
    bs->bl.pwrite_zeroes_alignment = s->cluster_size;
    bs->bl.opt_transfer = MAX(bs->bl.opt_transfer, (int64_t)s->cluster_size);
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* Unallocated clusters: the backing file, zeroes past its end. */
static int coroutine_fn read_backing(BlockDriverState *bs, uint64_t offset,
                                     uint64_t bytes, QEMUIOVector *qiov,
                                     size_t qoff)
{
    uint64_t n = 0;

    if (bs->backing) {
        int64_t blen = bdrv_getlength(bs->backing->bs);
        int ret;
        if (blen < 0) {
            return (int)blen;
        }
        if (offset < (uint64_t)blen) {
            n = MIN(bytes, (uint64_t)blen - offset);
            bdrv_debug_event(bs->file->bs, BLKDBG_READ_BACKING_AIO);
            ret = bdrv_co_preadv_part(bs->backing, (int64_t)offset,
                                      (int64_t)n, qiov, qoff, 0);
            if (ret < 0) {
                return ret;
            }
        }
    }
    if (n < bytes) {
        qemu_iovec_memset(qiov, qoff + n, 0, bytes - n);
    }
    return 0;
}

/* Read and decompress the cluster described by compressed L2 entry
 * @entry into @out (one cluster). */
static int coroutine_fn read_compressed_cluster(BlockDriverState *bs,
                                                uint64_t entry, uint8_t *out)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset, csize;
    uint8_t *in;
    ssize_t r;
    int ret;

    qcow2_parse_compressed(s, entry, &coffset, &csize);
    /* csize <= 2 clusters by construction of the descriptor. */
    in = qemu_try_malloc(csize);
    if (!in) {
        return -ENOMEM;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_READ_COMPRESSED);
    ret = qcow2_file_pread(bs, coffset, csize, in);
    if (ret < 0) {
        free(in);
        return ret;
    }
    r = qcow2_co_decompress(bs, out, s->cluster_size, in, csize);
    free(in);
    return r < 0 ? (int)r : 0;
}

static int coroutine_fn read_compressed(BlockDriverState *bs, uint64_t entry,
                                        uint64_t offset, uint64_t bytes,
                                        QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *out = qemu_try_malloc(s->cluster_size);
    int ret;

    if (!out) {
        return -ENOMEM;
    }
    ret = read_compressed_cluster(bs, entry, out);
    if (ret == 0) {
        qemu_iovec_from_buf(qiov, qoff, out + offset_into_cluster(s, offset),
                            bytes);
    }
    free(out);
    return ret;
}

static int coroutine_fn qcow2_read_part(BlockDriverState *bs, uint64_t offset,
                                        uint64_t bytes, QEMUIOVector *qiov,
                                        size_t qoff)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    if (s->dead) {
        return -ENOMEDIUM;
    }
    while (bytes) {
        uint64_t cur = bytes, host = 0;
        Qcow2ClusterType type = QCOW2_CLUSTER_UNALLOCATED;
        unsigned epoch = 0;
        bool counted = false;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type, NULL);
        if (ret == 0 && (type == QCOW2_CLUSTER_NORMAL ||
                         type == QCOW2_CLUSTER_COMPRESSED)) {
            qcow2_io_begin(s, &epoch);
            counted = true;
        }
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }
        switch (type) {
        case QCOW2_CLUSTER_UNALLOCATED:
            ret = read_backing(bs, offset, cur, qiov, qoff);
            break;
        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            qemu_iovec_memset(qiov, qoff, 0, cur);
            break;
        case QCOW2_CLUSTER_NORMAL:
            bdrv_debug_event(bs->file->bs, BLKDBG_READ_AIO);
            ret = qcow2_file_preadv(bs, host, cur, qiov, qoff);
            break;
        case QCOW2_CLUSTER_COMPRESSED:
            ret = read_compressed(bs, host, offset, cur, qiov, qoff);
            break;
        }
        if (counted) {
            qcow2_io_end(s, epoch);
        }
        if (ret < 0) {
            return ret;
        }
        offset += cur;
        qoff += cur;
        bytes -= cur;
    }
    return 0;
}

static int coroutine_fn qcow2_co_preadv(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    (void)flags;
    return qcow2_read_part(bs, (uint64_t)offset, (uint64_t)bytes, qiov, 0);
}

/* ------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------ */

static int coroutine_fn prepare_write(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    if (s->dead) {
        return -ENOMEDIUM;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        return -EIO;
    }
    if (s->use_lazy_refcounts &&
        !(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_mark_dirty(bs);
        qemu_co_mutex_unlock(&s->lock);
    }
    return ret;
}

/* Does guest [offset, offset + bytes) of a cluster being replaced read as
 * zeroes without looking at data? */
static bool cow_source_is_zero(BlockDriverState *bs, Qcow2ClusterType type)
{
    return type == QCOW2_CLUSTER_ZERO_PLAIN ||
           type == QCOW2_CLUSTER_ZERO_ALLOC ||
           (type == QCOW2_CLUSTER_UNALLOCATED && !bs->backing);
}

/*
 * Copy offload (copy_range_to): the data of a write comes from a range of
 * a protocol node instead of memory.  The write path then carries
 * qiov == NULL and uses qoff as the position in that range: the bytes
 * for guest offset (start + qoff) are at src_offset + qoff of @src.
 */
typedef struct Qcow2CopySource {
    BlockDriverState *src;
    int64_t src_offset;
} Qcow2CopySource;

/* Like qcow2_file_pwritev, for data that the file copies itself. */
static int coroutine_fn qcow2_file_copy_to(BlockDriverState *bs,
                                           uint64_t offset, uint64_t bytes,
                                           const Qcow2CopySource *copy,
                                           size_t qoff)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (offset > INT64_MAX || bytes > INT64_MAX - offset) {
        return -EFBIG;
    }
    ret = bdrv_co_copy_range_to(bs->file, (int64_t)offset, copy->src,
                                copy->src_offset + (int64_t)qoff,
                                (int64_t)bytes, 0);
    if (ret == 0) {
        qcow2_file_wrote(s, offset, bytes);
    } else {
        s->file_virgin_offset = MAX(s->file_virgin_offset, offset + bytes);
    }
    return ret;
}

/* The data step of a write: from memory or, with @copy, by the file. */
static int coroutine_fn write_data(BlockDriverState *bs, uint64_t host,
                                   uint64_t bytes, QEMUIOVector *qiov,
                                   size_t qoff, const Qcow2CopySource *copy)
{
    if (copy) {
        return qcow2_file_copy_to(bs, host, bytes, copy, qoff);
    }
    return qcow2_file_pwritev(bs, host, bytes, qiov, qoff);
}

/*
 * Add the copy-on-write part [guest, guest + len) of a new cluster to
 * @v.  Returns 1 if nothing needs writing (zeroes over a virgin host
 * cluster), 0 if added, -errno.  *@buf receives an allocated buffer the
 * caller frees.
 */
static int coroutine_fn add_cow_region(BlockDriverState *bs, uint64_t guest,
                                       uint64_t len, Qcow2ClusterType type,
                                       bool virgin, QEMUIOVector *v,
                                       uint8_t **buf)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUIOVector rq;
    int ret;

    *buf = NULL;
    if (cow_source_is_zero(bs, type)) {
        if (virgin) {
            return 1;
        }
        qemu_iovec_add(v, s->zero_cluster, len);
        return 0;
    }
    *buf = qemu_try_memalign(4096, len);
    if (!*buf) {
        return -ENOMEM;
    }
    qemu_iovec_init_buf(&rq, *buf, len);
    ret = qcow2_read_part(bs, guest, len, &rq, 0);
    if (ret < 0) {
        return ret;
    }
    if (virgin && buffer_is_zero(*buf, len)) {
        return 1;
    }
    qemu_iovec_add(v, *buf, len);
    return 0;
}

/*
 * Write guest [offset, offset + cur) into new clusters (or, for
 * preallocated zero clusters we own, into the clusters they already
 * have), copying the untouched parts of the first and last cluster.
 * Called with s->lock held; returns with it released.  Returns @cur or
 * -errno.
 */
static int64_t coroutine_fn alloc_write(BlockDriverState *bs, uint64_t offset,
                                        uint64_t cur, QEMUIOVector *qiov,
                                        size_t qoff, Qcow2ClusterType type,
                                        uint64_t old_host, bool copied,
                                        const Qcow2CopySource *copy)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t guest_start = start_of_cluster(s, offset);
    uint64_t guest_end = ROUND_UP(offset + cur, (uint64_t)s->cluster_size);
    uint64_t n = (guest_end - guest_start) >> s->cluster_bits;
    uint64_t head = offset - guest_start;
    uint64_t tail = guest_end - (offset + cur);
    bool reuse = type == QCOW2_CLUSTER_ZERO_ALLOC && copied;
    bool virgin;
    uint64_t host_start, write_start;
    Qcow2InflightAlloc a;
    QEMUIOVector v;
    uint8_t *head_buf = NULL, *tail_buf = NULL;
    uint64_t *slice;
    uint32_t idx;
    int ret;

    if (reuse) {
        host_start = start_of_cluster(s, old_host);
    } else {
        int64_t r;
        /* The L2 table first (the layout QEMU produces: table, then the
         * data it maps). */
        ret = qcow2_get_l2_slice_for_write(bs, guest_start, &slice, &idx);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
        qcow2_cache_put(s->l2_cache, (void **)&slice);
        r = qcow2_alloc_clusters(bs, n << s->cluster_bits);
        if (r < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return r;
        }
        host_start = (uint64_t)r;
        extend_file(bs, host_start, host_start + (n << s->cluster_bits));
        /* The new clusters belong to the file from now on, written or not
         * (QEMU zero-fills them: the file keeps them at close). */
        s->file_real_end = MAX(s->file_real_end,
                               host_start + (n << s->cluster_bits));
    }
    virgin = !reuse && host_start >= s->file_virgin_offset;
    qcow2_inflight_add(s, &a, guest_start >> s->cluster_bits, n);
    /* Fresh clusters that need no copy: only the owner's data is written
     * to them, so other writes of the same clusters can go in parallel. */
    a.joinable = virgin && cow_source_is_zero(bs, type);
    a.host_start = host_start;
    a.data_start = offset;
    a.data_end = offset + cur;
    qemu_co_mutex_unlock(&s->lock);

    /* One vectored write: [COW head][guest data][COW tail].  A copied
     * range starts on a cluster boundary (no head): the file copies the
     * data, and a tail, which only the last cluster of the image can
     * have, is written after it. */
    qemu_iovec_init(&v, (qiov ? qiov->niov : 0) + 2);
    write_start = host_start;
    ret = 0;
    if (head || tail) {
        bdrv_debug_event(bs->file->bs, BLKDBG_COW_READ);
    }
    if (copy) {
        assert(!head);
        ret = qcow2_pre_write_overlap_check(bs, 0, host_start, cur + tail);
        if (ret == 0) {
            bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
            ret = qcow2_file_copy_to(bs, host_start, cur, copy, qoff);
        }
        if (ret == 0 && tail) {
            ret = add_cow_region(bs, offset + cur, tail, type, virgin, &v,
                                 &tail_buf);
            if (ret == 0) {
                ret = qcow2_file_pwritev(bs, host_start + cur, v.size, &v, 0);
            } else if (ret == 1) {
                ret = 0;
            }
        }
    } else if (head) {
        ret = add_cow_region(bs, guest_start, head, type, virgin, &v,
                             &head_buf);
        if (ret == 1) {
            write_start += head;
            ret = 0;
        }
    }
    if (ret == 0 && !copy) {
        qemu_iovec_concat(&v, qiov, qoff, cur);
        if (tail) {
            ret = add_cow_region(bs, offset + cur, tail, type, virgin, &v,
                                 &tail_buf);
            if (ret == 1) {
                ret = 0;
            }
        }
        if (ret == 0) {
            ret = qcow2_pre_write_overlap_check(bs, 0, write_start, v.size);
        }
        if (ret == 0) {
            /* The copied regions go in the same request as the data:
             * QEMU names such a merged write write_aio too. */
            bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
            ret = qcow2_file_pwritev(bs, write_start, v.size, &v, 0);
        }
    }
    qemu_iovec_destroy(&v);
    qemu_vfree(head_buf);
    qemu_vfree(tail_buf);

    qemu_co_mutex_lock(&s->lock);
    if (ret < 0) {
        goto fail;
    }

    /* Link: the refcounts (unless lazy) and the data reach the disk
     * before the L2 entries that expose them. */
    if (!s->use_lazy_refcounts && !reuse) {
        ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
        if (ret < 0) {
            goto fail;
        }
    }
    qcow2_cache_depends_on_flush(s->l2_cache);
    ret = qcow2_get_l2_slice_for_write(bs, guest_start, &slice, &idx);
    if (ret < 0) {
        goto fail;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t old = q2_ld64(&slice[idx + i]);
        Qcow2ClusterType t;
        q2_st64(&slice[idx + i], (host_start + (i << s->cluster_bits)) |
                QCOW2_OFLAG_COPIED);
        if (!reuse && qcow2_classify_l2_entry(s, old, &t)) {
            int r = qcow2_free_entry_storage(bs, old, t, QCOW2_DISCARD_OTHER);
            if (r < 0 && ret == 0) {
                ret = r;
            }
        }
    }
    qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
    qcow2_cache_put(s->l2_cache, (void **)&slice);
    a.result = 1;
    qcow2_inflight_remove(s, &a);
    /* Joined requests read a.result: keep it alive until they have. */
    while (a.joiners) {
        qemu_co_queue_wait(&a.owner_wait, &s->lock);
    }
    if (ret == 0) {
        ret = qcow2_maybe_process_frees(bs);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret < 0 ? ret : (int64_t)cur;

fail:
    a.result = ret;
    qcow2_inflight_remove(s, &a);
    /* Joined requests may still be writing into the clusters. */
    while (a.joiners) {
        qemu_co_queue_wait(&a.owner_wait, &s->lock);
    }
    if (!reuse) {
        /* Nothing points at the new clusters. */
        qcow2_free_clusters(bs, host_start, n << s->cluster_bits,
                            QCOW2_DISCARD_NEVER);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * If [offset, offset + *bytes) starts in clusters that an allocation in
 * flight makes and may be joined (see Qcow2InflightAlloc), return it with
 * *bytes limited to its clusters.  Called with s->lock held.
 */
static Qcow2InflightAlloc *find_joinable(BDRVQcow2State *s, uint64_t offset,
                                         uint64_t *bytes)
{
    uint64_t cluster = offset >> s->cluster_bits;
    Qcow2InflightAlloc *a;

    QLIST_FOREACH(a, &s->inflight, next) {
        uint64_t end;
        if (cluster < a->first_cluster ||
            cluster >= a->first_cluster + a->nb_clusters) {
            continue;
        }
        if (!a->joinable || a->result) {
            return NULL;
        }
        end = MIN(offset + *bytes,
                  (a->first_cluster + a->nb_clusters) << s->cluster_bits);
        if (offset < a->data_end && a->data_start < end) {
            return NULL;
        }
        *bytes = end - offset;
        return a;
    }
    return NULL;
}

/* Write into the clusters of allocation @a, then wait until it is linked.
 * Called with s->lock held; returns with it released: the bytes written,
 * or -EAGAIN if the allocation failed (the caller starts over). */
static int64_t coroutine_fn join_alloc(BlockDriverState *bs,
                                       Qcow2InflightAlloc *a, uint64_t offset,
                                       uint64_t bytes, QEMUIOVector *qiov,
                                       size_t qoff,
                                       const Qcow2CopySource *copy)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host = a->host_start +
                    (offset - (a->first_cluster << s->cluster_bits));
    int result;
    int ret;

    a->joiners++;
    qemu_co_mutex_unlock(&s->lock);
    bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
    ret = write_data(bs, host, bytes, qiov, qoff, copy);
    qemu_co_mutex_lock(&s->lock);
    while (!a->result) {
        qemu_co_queue_wait(&a->waiters, &s->lock);
    }
    result = a->result;
    if (--a->joiners == 0) {
        qemu_co_queue_restart_all(&a->owner_wait);
    }
    qemu_co_mutex_unlock(&s->lock);
    if (result < 0) {
        return -EAGAIN;
    }
    return ret < 0 ? ret : (int64_t)bytes;
}

/* Write a piece of [offset, offset + bytes): in place if the clusters are
 * ours, else through alloc_write.  Returns the bytes written or -errno. */
static int64_t coroutine_fn write_piece(BlockDriverState *bs, uint64_t offset,
                                        uint64_t bytes, QEMUIOVector *qiov,
                                        size_t qoff,
                                        const Qcow2CopySource *copy)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, nb, cur, host;
    Qcow2ClusterType type;
    bool copied;
    unsigned epoch;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    for (;;) {
        uint32_t slice_index = offset_to_l2_slice_index(s, offset);
        uint64_t jbytes = bytes;
        Qcow2InflightAlloc *a = find_joinable(s, offset, &jbytes);

        if (a) {
            int64_t r = join_alloc(bs, a, offset, jbytes, qiov, qoff, copy);
            if (r != -EAGAIN) {
                return r;
            }
            qemu_co_mutex_lock(&s->lock);
            continue;
        }
        first = offset >> s->cluster_bits;
        nb = MIN(size_to_clusters(s, offset_into_cluster(s, offset) + bytes),
                 s->l2_slice_size - slice_index);
        if (!qcow2_inflight_wait(s, first, &nb)) {
            break;
        }
    }
    cur = MIN(bytes, (nb << s->cluster_bits) - offset_into_cluster(s, offset));
    ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type, &copied);
    if (ret < 0) {
        qemu_co_mutex_unlock(&s->lock);
        return ret;
    }
    if (type == QCOW2_CLUSTER_NORMAL && copied) {
        /* Data is written before the L2 entry that exposes it: a cluster
         * wholly past the end of the file is a broken entry. */
        if (start_of_cluster(s, host) >=
            ROUND_UP(s->file_size, (uint64_t)s->cluster_size)) {
            qcow2_signal_corruption(bs, true, -1, -1, "Data cluster offset %#"
                                    PRIx64 " is beyond the end of the image "
                                    "file", start_of_cluster(s, host));
            qemu_co_mutex_unlock(&s->lock);
            return -EIO;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, host, cur);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
        qcow2_io_begin(s, &epoch);
        qemu_co_mutex_unlock(&s->lock);
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
        ret = write_data(bs, host, cur, qiov, qoff, copy);
        qcow2_io_end(s, epoch);
        return ret < 0 ? ret : (int64_t)cur;
    }
    return alloc_write(bs, offset, cur, qiov, qoff, type, host, copied, copy);
}

static int coroutine_fn write_compressed(BlockDriverState *bs, uint64_t offset,
                                         uint64_t bytes, QEMUIOVector *qiov,
                                         size_t qoff);

static int coroutine_fn qcow2_write_part(BlockDriverState *bs, uint64_t offset,
                                         uint64_t bytes, QEMUIOVector *qiov,
                                         size_t qoff,
                                         const Qcow2CopySource *copy)
{
    while (bytes) {
        int64_t n = write_piece(bs, offset, bytes, qiov, qoff, copy);
        if (n < 0) {
            return (int)n;
        }
        offset += (uint64_t)n;
        qoff += (size_t)n;
        bytes -= (uint64_t)n;
    }
    return 0;
}

static int coroutine_fn qcow2_co_pwritev(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes, QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    int ret = prepare_write(bs);

    if (ret < 0) {
        return ret;
    }
    if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        return write_compressed(bs, (uint64_t)offset, (uint64_t)bytes, qiov, 0);
    }
    return qcow2_write_part(bs, (uint64_t)offset, (uint64_t)bytes, qiov, 0,
                            NULL);
}

/* ---- copy offload ---- */

/* Source side: data clusters are ranges of the file; anything else
 * (zeroes, the backing file, compressed data) is for reads. */
static int coroutine_fn qcow2_co_copy_range_from(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvChild *dst,
                                                 int64_t dst_offset,
                                                 BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->dead) {
        return -ENOMEDIUM;
    }
    while (bytes > 0) {
        uint64_t cur = (uint64_t)bytes, host = 0;
        Qcow2ClusterType type = QCOW2_CLUSTER_UNALLOCATED;
        unsigned epoch = 0;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_get_host_offset(bs, (uint64_t)offset, &cur, &host, &type,
                                    NULL);
        if (ret == 0 && type == QCOW2_CLUSTER_NORMAL) {
            qcow2_io_begin(s, &epoch);
        }
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }
        if (type != QCOW2_CLUSTER_NORMAL) {
            return -ENOTSUP;
        }
        if (host > s->file_size || cur > s->file_size - host) {
            /* Past the end of the file: reads fill in the zeroes. */
            ret = -ENOTSUP;
        } else {
            ret = bdrv_co_copy_range_from(bs->file, (int64_t)host, dst,
                                          dst_offset, (int64_t)cur, flags);
        }
        qcow2_io_end(s, epoch);
        if (ret < 0) {
            return ret;
        }
        offset += (int64_t)cur;
        dst_offset += (int64_t)cur;
        bytes -= (int64_t)cur;
    }
    return 0;
}

/* Destination side: whole clusters (or up to the end of the image), so
 * that no copy-on-write head is needed; written as a write would be,
 * with the file copying the data into place before it is linked. */
static int coroutine_fn qcow2_co_copy_range_to(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BlockDriverState *src,
                                               int64_t src_offset,
                                               BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2CopySource copy = { .src = src, .src_offset = src_offset };
    int ret;

    (void)flags;    /* FUA is emulated by the core */
    if (offset_into_cluster(s, (uint64_t)offset) ||
        (offset_into_cluster(s, (uint64_t)bytes) &&
         (uint64_t)(offset + bytes) != s->size)) {
        return -ENOTSUP;
    }
    ret = prepare_write(bs);
    if (ret < 0) {
        return ret;
    }
    return qcow2_write_part(bs, (uint64_t)offset, (uint64_t)bytes, NULL, 0,
                            &copy);
}

/* ---- compressed clusters ---- */

static int coroutine_fn write_compressed_cluster(BlockDriverState *bs,
                                                 uint64_t offset,
                                                 uint64_t len,
                                                 QEMUIOVector *qiov,
                                                 size_t qoff)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *in = qemu_try_malloc(s->cluster_size);
    uint8_t *out = qemu_try_malloc(s->cluster_size);
    uint64_t cluster = offset >> s->cluster_bits;
    uint64_t nb = 1, cur = s->cluster_size, host, entry;
    Qcow2ClusterType type;
    Qcow2InflightAlloc a;
    ssize_t clen;
    int64_t coffset;
    uint64_t *slice;
    uint32_t idx;
    int ret;

    if (!in || !out) {
        ret = -ENOMEM;
        goto out;
    }
    memset(in, 0, s->cluster_size);
    qemu_iovec_to_buf(qiov, qoff, in, len);
    /* Compressed data must be smaller than a cluster to be worth it. */
    clen = qcow2_co_compress(bs, out, s->cluster_size - 1, in,
                             s->cluster_size);
    if (clen == -ENOSPC) {
        ret = qcow2_write_part(bs, offset, len, qiov, qoff, NULL);
        goto out;
    }
    if (clen < 0) {
        ret = (int)clen;
        goto out;
    }

    qemu_co_mutex_lock(&s->lock);
    while (qcow2_inflight_wait(s, cluster, &nb)) {
        nb = 1;
    }
    /* The L2 table before the data (the layout QEMU produces). */
    ret = qcow2_get_l2_slice_for_write(bs, offset, &slice, &idx);
    if (ret == 0) {
        qcow2_cache_put(s->l2_cache, (void **)&slice);
        ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type, NULL);
    }
    if (ret == 0 && type != QCOW2_CLUSTER_UNALLOCATED &&
        type != QCOW2_CLUSTER_ZERO_PLAIN) {
        /* As in QEMU: compression never overwrites allocated data. */
        ret = -EIO;
    }
    if (ret < 0) {
        qemu_co_mutex_unlock(&s->lock);
        goto out;
    }
    coffset = qcow2_alloc_bytes(bs, (uint64_t)clen);
    if (coffset < 0) {
        ret = (int)coffset;
        qemu_co_mutex_unlock(&s->lock);
        goto out;
    }
    /* A fresh host cluster inside the space extend_file reserved ahead:
     * give the reservation back for it, so that what the compressed data
     * leaves of it unused is a hole, as in a file grown by the write
     * itself (QEMU's layout; block status and the sparse-file detection
     * see the file the same way).  Nobody else writes this cluster until
     * the lock is dropped; failure only costs space. */
    if (!offset_into_cluster(s, (uint64_t)coffset) &&
        (uint64_t)coffset >= s->file_real_end &&
        (uint64_t)coffset < s->file_size) {
        bdrv_co_pdiscard(bs->file, coffset,
                         (int64_t)MIN((uint64_t)s->cluster_size,
                                      s->file_size - (uint64_t)coffset));
    }
    qcow2_inflight_add(s, &a, cluster, 1);
    qemu_co_mutex_unlock(&s->lock);

    ret = qcow2_pre_write_overlap_check(bs, 0, (uint64_t)coffset,
                                        (uint64_t)clen);
    if (ret == 0) {
        /* QEMU's order of events (it sets the L2 entry in its cache
         * before the data write; the entry is set here after it, the
         * safer way, but a blkdebug rule sees the same sequence). */
        bdrv_debug_event(bs->file->bs, BLKDBG_L2_UPDATE_COMPRESSED);
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_COMPRESSED);
        ret = qcow2_file_pwrite(bs, (uint64_t)coffset, (uint64_t)clen, out);
    }

    qemu_co_mutex_lock(&s->lock);
    if (ret == 0 && !s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
    }
    if (ret == 0) {
        qcow2_cache_depends_on_flush(s->l2_cache);
        ret = qcow2_get_l2_slice_for_write(bs, offset, &slice, &idx);
    }
    if (ret < 0) {
        qcow2_free_clusters(bs, (uint64_t)coffset, (uint64_t)clen,
                            QCOW2_DISCARD_NEVER);
        qcow2_inflight_remove(s, &a);
        qemu_co_mutex_unlock(&s->lock);
        goto out;
    }
    entry = qcow2_make_compressed_entry(s, (uint64_t)coffset, (uint64_t)clen);
    q2_st64(&slice[idx], entry);
    qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
    qcow2_cache_put(s->l2_cache, (void **)&slice);
    qcow2_inflight_remove(s, &a);
    qemu_co_mutex_unlock(&s->lock);
    ret = 0;
out:
    free(in);
    free(out);
    return ret;
}

static int coroutine_fn write_compressed(BlockDriverState *bs, uint64_t offset,
                                         uint64_t bytes, QEMUIOVector *qiov,
                                         size_t qoff)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset_into_cluster(s, offset)) {
        return -EINVAL;
    }
    while (bytes) {
        uint64_t len = MIN(bytes, (uint64_t)s->cluster_size);
        int ret;
        if (len < s->cluster_size && offset + len != s->size) {
            return -EINVAL;
        }
        ret = write_compressed_cluster(bs, offset, len, qiov, qoff);
        if (ret < 0) {
            return ret;
        }
        offset += len;
        qoff += len;
        bytes -= len;
    }
    return 0;
}

/* ---- zeroes and discards ---- */

/* Does [offset, offset + bytes) read as zeroes already, through the
 * whole backing chain?  The range is clipped to the image; 1, 0 or -errno. */
static int coroutine_fn range_reads_zero(BlockDriverState *bs,
                                         uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset >= s->size) {
        return 1;
    }
    bytes = MIN(bytes, s->size - offset);
    while (bytes) {
        int64_t pnum = 0;
        int ret = bdrv_co_block_status_above(bs, NULL, true, (int64_t)offset,
                                             (int64_t)bytes, &pnum, NULL,
                                             NULL, NULL);
        if (ret < 0) {
            return ret;
        }
        if (!(ret & BDRV_BLOCK_ZERO) || pnum <= 0) {
            return 0;
        }
        offset += (uint64_t)pnum;
        bytes -= MIN(bytes, (uint64_t)pnum);
    }
    return 1;
}

/*
 * Zero writes, as QEMU does them: whole clusters get the zero flag
 * (keeping their host cluster unless MAY_UNMAP; a compressed one is always
 * released), with an L2 table allocated where there was none.  A partial
 * cluster (the generic layer hands those over one at a time) is done the
 * same way when the rest of it reads as zeroes already and it holds no
 * data of this layer; otherwise -ENOTSUP lets the generic layer write
 * zero buffers.  Version 2 has no zero flag: always -ENOTSUP.
 */
static int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = (uint64_t)offset;
    uint64_t end = (uint64_t)offset + (uint64_t)bytes;
    uint64_t head = offset_into_cluster(s, start);
    uint64_t tail = ROUND_UP(end, (uint64_t)s->cluster_size) - end;
    int ret;

    if (s->version < 3) {
        return -ENOTSUP;
    }
    if (end == s->size) {
        tail = 0;
    }
    if (head || tail) {
        uint64_t cur = s->cluster_size, host;
        Qcow2ClusterType type;

        assert(head + (uint64_t)bytes + tail <= s->cluster_size);
        ret = range_reads_zero(bs, start - head, head);
        if (ret > 0) {
            ret = range_reads_zero(bs, end, tail);
        }
        if (ret <= 0) {
            return ret < 0 ? ret : -ENOTSUP;
        }
        ret = prepare_write(bs);
        if (ret < 0) {
            return ret;
        }
        start -= head;
        end = start + s->cluster_size;
        qemu_co_mutex_lock(&s->lock);
        /* Look again: another write may have come in meanwhile, and one
         * still allocating the cluster must be linked before we look. */
        for (;;) {
            uint64_t nb = 1;
            if (!qcow2_inflight_wait(s, start >> s->cluster_bits, &nb)) {
                break;
            }
        }
        ret = qcow2_get_host_offset(bs, start, &cur, &host, &type, NULL);
        if (ret < 0 || (type != QCOW2_CLUSTER_UNALLOCATED &&
                        type != QCOW2_CLUSTER_ZERO_PLAIN &&
                        type != QCOW2_CLUSTER_ZERO_ALLOC)) {
            qemu_co_mutex_unlock(&s->lock);
            return ret < 0 ? ret : -ENOTSUP;
        }
    } else {
        ret = prepare_write(bs);
        if (ret < 0) {
            return ret;
        }
        end = ROUND_UP(end, (uint64_t)s->cluster_size);
        qemu_co_mutex_lock(&s->lock);
    }
    ret = qcow2_zero_clusters(bs, start, end - start, flags);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs,
                                          int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = ROUND_UP((uint64_t)offset, (uint64_t)s->cluster_size);
    uint64_t end = (uint64_t)offset + (uint64_t)bytes;
    int ret;

    if (s->version < 3 && bs->backing) {
        /* Nothing can make these clusters read as zero: keep them. */
        return 0;
    }
    ret = prepare_write(bs);
    if (ret < 0) {
        return ret;
    }
    end = end == s->size ? ROUND_UP(end, (uint64_t)s->cluster_size)
                         : start_of_cluster(s, end);
    if (end <= start) {
        return 0;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_discard_clusters(bs, start, end - start, false,
                                 QCOW2_DISCARD_REQUEST);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_flush(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (bs->read_only || s->dead) {
        return 0;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_process_pending_frees(bs);
    if (ret == 0) {
        ret = qcow2_cache_write(bs, s->l2_cache);
    }
    /* With lazy refcounts the image is marked dirty and the refcounts
     * may stay behind until it is closed (as QEMU does): only the L2
     * tables, which the data needs, are written back. */
    if (ret == 0 && !s->use_lazy_refcounts) {
        ret = qcow2_cache_write(bs, s->refcount_cache);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * Was the image preallocated with preallocation=metadata, or does the file
 * otherwise lack space under many of the clusters in use?  Then a normal
 * cluster may well read as zeroes, and block status asks the file.  The
 * test (the one QEMU applies, so that both report the same map): the
 * clusters with a refcount are at least 10/9 of, and 2 more than, what the
 * file has allocated.  Looked at once, by the first block status query
 * that wants zeroes.  Called with s->lock held.
 */
static void coroutine_fn detect_sparse_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t alloc;
    uint64_t real, threshold, in_use = 0;
    uint64_t nb = size_to_clusters(s, s->file_size);

    if (s->sparse_file_checked) {
        return;
    }
    s->sparse_file_checked = true;
    alloc = bdrv_get_allocated_file_size(bs->file->bs);
    if (alloc < 0) {
        return;
    }
    real = (uint64_t)alloc >> s->cluster_bits;
    threshold = MAX(real * 10 / 9, real + 2);
    for (uint64_t c = 0; c < nb && in_use < threshold; c++) {
        uint64_t rc;
        if (qcow2_get_refcount(bs, c, &rc) < 0) {
            return;
        }
        in_use += rc > 0;
    }
    s->sparse_file = in_use >= threshold;
}

static int coroutine_fn qcow2_co_block_status(BlockDriverState *bs,
                                              bool want_zero, int64_t offset,
                                              int64_t bytes, int64_t *pnum,
                                              int64_t *map,
                                              BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cur = (uint64_t)bytes, host;
    Qcow2ClusterType type;
    int status = 0;
    int ret;

    if (s->dead) {
        return -ENOMEDIUM;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_get_host_offset(bs, (uint64_t)offset, &cur, &host, &type,
                                NULL);
    if (ret == 0 && want_zero && type == QCOW2_CLUSTER_NORMAL) {
        detect_sparse_file(bs);
    }
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = (int64_t)cur;
    switch (type) {
    case QCOW2_CLUSTER_UNALLOCATED:
        break;
    case QCOW2_CLUSTER_ZERO_PLAIN:
        status = BDRV_BLOCK_ZERO;
        break;
    case QCOW2_CLUSTER_ZERO_ALLOC:
        status = BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
        *map = (int64_t)host;
        *file = bs->file->bs;
        break;
    case QCOW2_CLUSTER_NORMAL:
        status = BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
        *map = (int64_t)host;
        *file = bs->file->bs;
        /* In a file with holes (preallocation=metadata, punched
         * clusters) the file says whether the cluster reads as zeroes, as
         * QEMU reports it. */
        if (want_zero && s->sparse_file) {
            status |= BDRV_BLOCK_RECURSE;
        }
        break;
    case QCOW2_CLUSTER_COMPRESSED:
        status = BDRV_BLOCK_DATA;
        break;
    }
    return status;
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    return (int64_t)s->size;
}

static int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

typedef struct Qcow2CheckCo {
    BlockDriverState *bs;
    BdrvCheckResult *res;
    BdrvCheckMode fix;
    int ret;
} Qcow2CheckCo;

static int coroutine_fn qcow2_co_check(BlockDriverState *bs,
                                       BdrvCheckResult *result,
                                       BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_co_check_locked(bs, result, fix);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ------------------------------------------------------------------------
 * Preallocation, truncate
 * ------------------------------------------------------------------------ */

/*
 * Give every unallocated guest cluster of [start, end) a host cluster
 * (normal L2 entries over space that reads as zeroes), and make the file
 * cover them as @mode asks.  Called with s->lock held.
 */
static int coroutine_fn preallocate(BlockDriverState *bs, uint64_t start,
                                    uint64_t end, PreallocMode mode,
                                    Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host_end = 0;
    uint64_t offset = start_of_cluster(s, start);
    int ret = 0;

    if (offset_into_cluster(s, start)) {
        /* The old last cluster, partly inside the image: a new host
         * cluster for it must keep what the guest sees in its first part
         * (the backing file's data), so it goes through the write path,
         * which copies that part, with zeroes for the rest. */
        uint64_t cur = s->cluster_size - offset_into_cluster(s, start);
        uint64_t host;
        Qcow2ClusterType type;

        ret = qcow2_get_host_offset(bs, start, &cur, &host, &type, NULL);
        if (ret < 0) {
            goto fail;
        }
        if (type == QCOW2_CLUSTER_UNALLOCATED ||
            type == QCOW2_CLUSTER_ZERO_PLAIN) {
            QEMUIOVector qiov;
            uint64_t len = MIN(ROUND_UP(start, (uint64_t)s->cluster_size),
                               end) - start;

            qemu_iovec_init_buf(&qiov, s->zero_cluster, len);
            qemu_co_mutex_unlock(&s->lock);
            ret = qcow2_write_part(bs, start, len, &qiov, 0, NULL);
            qemu_co_mutex_lock(&s->lock);
            if (ret < 0) {
                goto fail;
            }
        }
    }
    if (!s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
        if (ret < 0) {
            goto fail;
        }
    }
    while (offset < end) {
        uint32_t slice_index = offset_to_l2_slice_index(s, offset);
        uint64_t nb = MIN(size_to_clusters(s, end - offset),
                          s->l2_slice_size - slice_index);
        uint64_t *slice;
        uint32_t idx;
        uint64_t i = 0;

        ret = qcow2_get_l2_slice_for_write(bs, offset, &slice, &idx);
        if (ret < 0) {
            goto fail;
        }
        while (i < nb) {
            uint64_t run = 0;
            int64_t hoff;

            while (i + run < nb) {
                uint64_t e = q2_ld64(&slice[idx + i + run]);
                Qcow2ClusterType t;
                if (!qcow2_classify_l2_entry(s, e, &t) ||
                    (t != QCOW2_CLUSTER_UNALLOCATED &&
                     t != QCOW2_CLUSTER_ZERO_PLAIN)) {
                    break;
                }
                run++;
            }
            if (!run) {
                i++;
                continue;
            }
            hoff = qcow2_alloc_clusters(bs, run << s->cluster_bits);
            if (hoff < 0) {
                qcow2_cache_put(s->l2_cache, (void **)&slice);
                ret = (int)hoff;
                goto fail;
            }
            if ((uint64_t)hoff < s->file_virgin_offset) {
                /* Reused space may hold old data. */
                bdrv_debug_event(bs->file->bs, BLKDBG_CLUSTER_ALLOC_SPACE);
                ret = bdrv_co_pwrite_zeroes(bs->file, hoff,
                                            (int64_t)(run << s->cluster_bits),
                                            0);
                if (ret < 0) {
                    qcow2_cache_put(s->l2_cache, (void **)&slice);
                    qcow2_free_clusters(bs, (uint64_t)hoff,
                                        run << s->cluster_bits,
                                        QCOW2_DISCARD_NEVER);
                    goto fail;
                }
                qcow2_file_wrote(s, (uint64_t)hoff, run << s->cluster_bits);
            }
            for (uint64_t k = 0; k < run; k++) {
                q2_st64(&slice[idx + i + k],
                        ((uint64_t)hoff + (k << s->cluster_bits)) |
                        QCOW2_OFLAG_COPIED);
            }
            qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
            host_end = MAX(host_end, (uint64_t)hoff + (run << s->cluster_bits));
            i += run;
        }
        qcow2_cache_put(s->l2_cache, (void **)&slice);
        offset += nb << s->cluster_bits;
    }

    /* The clusters exist in the file (holes for metadata mode). */
    if (host_end > s->file_size) {
        PreallocMode fmode = mode == PREALLOC_MODE_METADATA ? PREALLOC_MODE_OFF
                                                            : mode;
        Error *err = NULL;
        ret = bdrv_co_truncate(bs->file, (int64_t)host_end, false, fmode, 0,
                               &err);
        if (ret < 0) {
            error_propagate(errp, err);
            return ret;
        }
        s->file_size = host_end;
    }
    s->file_real_end = MAX(s->file_real_end, host_end);
    ret = qcow2_flush_metadata(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 metadata");
    }
    return ret;

fail:
    error_setg_errno(errp, -ret, "Preallocation failed");
    return ret;
}

/*
 * Make the grown area [old, new_size) read as zeroes whatever lies below
 * it (a longer backing file): zero clusters from the first whole cluster
 * on, explicit zeroes in the rest of the old last cluster.  Version 2
 * images have no zero clusters and refuse, as QEMU does.  Called with
 * s->lock held (dropped for the data write).
 */
static int coroutine_fn zero_grown_area(BlockDriverState *bs, uint64_t old,
                                        uint64_t new_size, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t zero_start = ROUND_UP(old, (uint64_t)s->cluster_size);
    int ret;

    if (new_size > zero_start) {
        ret = s->version < 3 ? -ENOTSUP :
              qcow2_zero_clusters(bs, zero_start,
                                  ROUND_UP(new_size, (uint64_t)s->cluster_size)
                                  - zero_start, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to zero out new clusters");
            return ret;
        }
    }
    if (zero_start > old) {
        uint64_t len = MIN(zero_start, new_size) - old;
        QEMUIOVector qiov;

        /* len < cluster_size: s->zero_cluster holds enough zeroes. */
        qemu_iovec_init_buf(&qiov, s->zero_cluster, len);
        qemu_co_mutex_unlock(&s->lock);
        ret = qcow2_write_part(bs, old, len, &qiov, 0, NULL);
        qemu_co_mutex_lock(&s->lock);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to zero out the new area");
            return ret;
        }
    }
    return 0;
}

static int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset,
                                          bool exact, PreallocMode prealloc,
                                          BdrvRequestFlags flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old = s->size;
    uint64_t new_size = (uint64_t)offset;
    uint8_t sz[8];
    int ret;

    (void)exact;
    (void)flags;
    if (offset < 0) {
        error_setg(errp, "Invalid image size specified");
        return -EINVAL;
    }
    if (!QEMU_IS_ALIGNED(new_size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "The new size must be a multiple of 512");
        return -EINVAL;
    }
    if ((unsigned)prealloc >= PREALLOC_MODE__MAX) {
        error_setg(errp, "Unsupported preallocation mode");
        return -ENOTSUP;
    }
    if (s->nb_snapshots) {
        error_setg(errp, "Can't resize an image which has snapshots");
        return -ENOTSUP;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        error_setg(errp, "Image is corrupt; cannot be resized");
        return -EIO;
    }
    if (new_size < old && prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Preallocation can't be used for shrinking an image");
        return -EINVAL;
    }
    if (size_to_l1(s->cluster_bits, new_size) > QCOW2_MAX_L1_BYTES / 8) {
        error_setg(errp, "The image size is too large for file format "
                   "'qcow2' (try using a larger cluster size)");
        return -EFBIG;
    }
    if (s->use_lazy_refcounts) {
        ret = prepare_write(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not mark image dirty");
            return ret;
        }
    }

    qemu_co_mutex_lock(&s->lock);
    if (new_size < old) {
        uint64_t first = ROUND_UP(new_size, (uint64_t)s->cluster_size);
        uint64_t last = ROUND_UP(old, (uint64_t)s->cluster_size);
        int64_t end;

        if (last > first) {
            ret = qcow2_discard_clusters(bs, first, last - first, true,
                                         QCOW2_DISCARD_ALWAYS);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to discard cropped "
                                 "clusters");
                goto out;
            }
        }
        ret = qcow2_process_pending_frees(bs);
        if (ret == 0) {
            ret = qcow2_shrink_l1_table(bs, size_to_l1(s->cluster_bits,
                                                       new_size));
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to reduce the number of L2 "
                             "tables");
            goto out;
        }
        ret = qcow2_flush_metadata(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the metadata");
            goto out;
        }
        end = qcow2_get_last_cluster_end(bs);
        if (end > 0 && (uint64_t)end != s->file_size) {
            /* The file ends with the last cluster in use, as QEMU leaves
             * it (best effort: a longer file only wastes space). */
            if (bdrv_co_truncate(bs->file, end, false, PREALLOC_MODE_OFF, 0,
                                 NULL) == 0) {
                s->file_size = (uint64_t)end;
                s->file_real_end = (uint64_t)end;
                s->file_virgin_offset = MIN(s->file_virgin_offset,
                                            (uint64_t)end);
            }
        }
    } else if (new_size > old) {
        ret = qcow2_grow_l1_table(bs, size_to_l1(s->cluster_bits, new_size),
                                  true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to grow the L1 table");
            goto out;
        }
        if (prealloc == PREALLOC_MODE_FALLOC ||
            prealloc == PREALLOC_MODE_FULL) {
            /* The refcount table moves past everything in use first,
             * sized for the new clusters, and the data follows it: the
             * layout QEMU gives a preallocated image or resize. */
            uint64_t used = MAX(s->alloc_end,
                                size_to_clusters(s, s->file_size));
            uint64_t more = size_to_clusters(s, new_size - old) + 2 +
                            size_to_l1(s->cluster_bits, new_size);
            uint64_t limit = QCOW2_MAX_HOST_OFFSET >> s->cluster_bits;

            ret = 0;
            if (used < limit && more < limit - used) {
                ret = qcow2_relocate_refcount_table(bs, (used + more) <<
                                                        s->cluster_bits);
            }
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Preallocation failed");
                goto out;
            }
        }
        if (prealloc != PREALLOC_MODE_OFF) {
            ret = preallocate(bs, old, new_size, prealloc, errp);
            if (ret < 0) {
                goto out;
            }
        }
        /* falloc and full give the new area fresh (or zeroed) clusters
         * that read as zeroes, the old last cluster included; metadata
         * and off leave it to zero clusters, as QEMU does. */
        if ((flags & BDRV_REQ_ZERO_WRITE) &&
            (prealloc == PREALLOC_MODE_OFF ||
             prealloc == PREALLOC_MODE_METADATA)) {
            ret = zero_grown_area(bs, old, new_size, errp);
            if (ret < 0) {
                goto out;
            }
        }
    }
    s->size = new_size;
    s->l1_vm_state_index = (uint32_t)size_to_l1(s->cluster_bits, new_size);
    q2_st64(sz, new_size);
    ret = qcow2_file_pwrite(bs, QCOW2_HDR_SIZE, 8, sz);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        goto out;
    }
    bs->total_bytes = (int64_t)new_size;
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ------------------------------------------------------------------------
 * Information
 * ------------------------------------------------------------------------ */

/* The VM state area starts at the first L1 entry beyond the disk, in the
 * guest address space: it is read and written through the same mapping
 * as the disk's data, in clusters the L1 table covers past the disk's end. */
static int vmstate_offset(BlockDriverState *bs, int64_t pos, size_t bytes,
                          uint64_t *offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t base = (uint64_t)s->l1_vm_state_index <<
                    (s->cluster_bits + s->l2_bits);
    uint64_t start, end;

    if (pos < 0 || CHECKED_ADD(base, (uint64_t)pos, &start) ||
        CHECKED_ADD(start, (uint64_t)bytes, &end) || end > INT64_MAX) {
        return -EIO;
    }
    *offset = start;
    return 0;
}

static int coroutine_fn qcow2_load_vmstate(BlockDriverState *bs,
                                           QEMUIOVector *qiov, int64_t pos)
{
    uint64_t offset;
    int ret = vmstate_offset(bs, pos, qiov->size, &offset);

    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_VMSTATE_LOAD);
    return qcow2_read_part(bs, offset, qiov->size, qiov, 0);
}

static int coroutine_fn qcow2_save_vmstate(BlockDriverState *bs,
                                           QEMUIOVector *qiov, int64_t pos)
{
    uint64_t offset;
    int ret = vmstate_offset(bs, pos, qiov->size, &offset);

    if (ret < 0) {
        return ret;
    }
    ret = prepare_write(bs);
    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_VMSTATE_SAVE);
    return qcow2_write_part(bs, offset, qiov->size, qiov, 0, NULL);
}

static int qcow2_snapshot_list(BlockDriverState *bs,
                               QEMUSnapshotInfo **psn_tab)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUSnapshotInfo *tab;

    *psn_tab = NULL;
    if (!s->nb_snapshots) {
        return 0;
    }
    /* nb_snapshots is bounded at open (65536). */
    tab = qemu_try_malloc0(sizeof(*tab) * s->nb_snapshots);
    if (!tab) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        const Qcow2Snapshot *sn = &s->snapshots[i];
        QEMUSnapshotInfo *si = &tab[i];

        snprintf(si->id_str, sizeof(si->id_str), "%s", sn->id_str);
        snprintf(si->name, sizeof(si->name), "%s", sn->name);
        si->vm_state_size = sn->vm_state_size;
        si->date_sec = sn->date_sec;
        si->date_nsec = sn->date_nsec;
        si->vm_clock_nsec = sn->vm_clock_nsec;
        si->icount = sn->icount;
    }
    *psn_tab = tab;
    return (int)s->nb_snapshots;
}

static int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = (int)s->cluster_size;
    bdi->vm_state_offset = (int64_t)((uint64_t)s->l1_vm_state_index <<
                                     (s->cluster_bits + s->l2_bits));
    bdi->is_dirty = s->incompatible_features & QCOW2_INCOMPAT_DIRTY;
    return 0;
}

static ImageInfoSpecific *qcow2_get_specific_info(BlockDriverState *bs,
                                                  Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    ImageInfoSpecific *info = qemu_new0(ImageInfoSpecific, 1);
    QDict *d = qdict_new();

    (void)errp;
    info->type = qemu_xstrdup("qcow2");
    info->data = d;
    qdict_put_str(d, "compat", s->version >= 3 ? "1.1" : "0.10");
    qdict_put_str(d, "compression-type",
                  s->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd"
                                                                : "zlib");
    if (s->version >= 3) {
        qdict_put_bool(d, "lazy-refcounts",
                       s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    }
    /* Persistent bitmaps, as long as they are consistent (a read-write
     * open clears their autoclear bit).  Arrays are flattened into
     * "bitmaps.N.field" keys; an empty flags list cannot be expressed that
     * way and is left out. */
    if (s->has_bitmaps_ext && s->bitmaps_consistent && s->bitmaps) {
        for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
            const Qcow2Bitmap *bm = &s->bitmaps[i];
            char key[64];
            int nflags = 0;

            if (bm->flags & 1) {
                snprintf(key, sizeof(key), "bitmaps.%" PRIu32 ".flags.%d", i,
                         nflags++);
                qdict_put_str(d, key, "in-use");
            }
            if (bm->flags & 2) {
                snprintf(key, sizeof(key), "bitmaps.%" PRIu32 ".flags.%d", i,
                         nflags++);
                qdict_put_str(d, key, "auto");
            }
            snprintf(key, sizeof(key), "bitmaps.%" PRIu32 ".name", i);
            qdict_put_str(d, key, bm->name);
            snprintf(key, sizeof(key), "bitmaps.%" PRIu32 ".granularity", i);
            qdict_put_int(d, key, bm->granularity_bits < 63 ?
                          (int64_t)1 << bm->granularity_bits : 0);
        }
    }
    qdict_put_int(d, "refcount-bits", s->refcount_bits);
    if (s->version >= 3) {
        qdict_put_bool(d, "corrupt",
                       s->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
        qdict_put_bool(d, "extended-l2", false);
    }
    return info;
}

/* ------------------------------------------------------------------------
 * Backing file, make_empty
 * ------------------------------------------------------------------------ */

typedef struct Qcow2HeaderCo {
    BlockDriverState *bs;
    int ret;
    bool done;
} Qcow2HeaderCo;

static void coroutine_fn update_header_entry(void *opaque)
{
    Qcow2HeaderCo *hc = opaque;
    BDRVQcow2State *s = hc->bs->opaque;

    qemu_co_mutex_lock(&s->lock);
    hc->ret = qcow2_update_header(hc->bs);
    if (hc->ret == 0) {
        hc->ret = bdrv_co_flush(hc->bs->file->bs);
    }
    qemu_co_mutex_unlock(&s->lock);
    hc->done = true;
}

static int qcow2_change_backing_file(BlockDriverState *bs,
                                     const char *backing_file,
                                     const char *backing_fmt)
{
    char old_file[sizeof(bs->backing_file)];
    char old_fmt[sizeof(bs->backing_format)];
    Qcow2HeaderCo hc = { .bs = bs };

    if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
        return -EINVAL;
    }
    if (backing_fmt && strlen(backing_fmt) >= QCOW2_MAX_BACKING_FMT) {
        return -EINVAL;
    }
    if (backing_fmt && !backing_file) {
        return -EINVAL;
    }
    memcpy(old_file, bs->backing_file, sizeof(old_file));
    memcpy(old_fmt, bs->backing_format, sizeof(old_fmt));
    snprintf(bs->backing_file, sizeof(bs->backing_file), "%s",
             backing_file ? backing_file : "");
    snprintf(bs->backing_format, sizeof(bs->backing_format), "%s",
             backing_fmt ? backing_fmt : "");
    bdrv_run_co(bdrv_get_aio_context(bs), update_header_entry, &hc, &hc.done);
    if (hc.ret < 0) {
        memcpy(bs->backing_file, old_file, sizeof(old_file));
        memcpy(bs->backing_format, old_fmt, sizeof(old_fmt));
    }
    return hc.ret;
}

static void coroutine_fn make_empty_entry(void *opaque)
{
    Qcow2HeaderCo *hc = opaque;
    BlockDriverState *bs = hc->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = (uint64_t)s->l1_size << (s->cluster_bits + s->l2_bits);

    hc->ret = prepare_write(bs);
    if (hc->ret == 0) {
        qemu_co_mutex_lock(&s->lock);
        hc->ret = qcow2_discard_clusters(bs, 0, end, true,
                                         QCOW2_DISCARD_SNAPSHOT);
        if (hc->ret == 0) {
            hc->ret = qcow2_flush_metadata(bs);
        }
        qemu_co_mutex_unlock(&s->lock);
    }
    hc->done = true;
}

static int qcow2_make_empty(BlockDriverState *bs)
{
    Qcow2HeaderCo hc = { .bs = bs };

    bdrv_run_co(bdrv_get_aio_context(bs), make_empty_entry, &hc, &hc.done);
    return hc.ret;
}

/* ------------------------------------------------------------------------
 * Create
 * ------------------------------------------------------------------------ */

static const QemuOptsList qcow2_create_opts = {
    .name = "qcow2-create-opts",
    .desc = {
        { "encryption", QEMU_OPT_BOOL, "Encrypt the image with format 'aes'. "
          "(Deprecated in favor of encrypt.format=aes)", NULL },
        { "encrypt.format", QEMU_OPT_STRING,
          "Encrypt the image, format choices: 'aes', 'luks'", NULL },
        { "encrypt.key-secret", QEMU_OPT_STRING,
          "ID of secret providing qcow AES key or LUKS passphrase", NULL },
        { "encrypt.cipher-alg", QEMU_OPT_STRING,
          "Name of encryption cipher algorithm", NULL },
        { "encrypt.cipher-mode", QEMU_OPT_STRING,
          "Name of encryption cipher mode", NULL },
        { "encrypt.ivgen-alg", QEMU_OPT_STRING,
          "Name of IV generator algorithm", NULL },
        { "encrypt.ivgen-hash-alg", QEMU_OPT_STRING,
          "Name of IV generator hash algorithm", NULL },
        { "encrypt.hash-alg", QEMU_OPT_STRING,
          "Name of encryption hash algorithm", NULL },
        { "encrypt.iter-time", QEMU_OPT_NUMBER,
          "Time to spend in PBKDF in milliseconds", NULL },
        { "cluster_size", QEMU_OPT_SIZE, "qcow2 cluster size", "65536" },
        { "extended_l2", QEMU_OPT_BOOL, "Extended L2 tables", "off" },
        { "preallocation", QEMU_OPT_STRING, "Preallocation mode (allowed "
          "values: off, metadata, falloc, full)", NULL },
        { "compression_type", QEMU_OPT_STRING, "Compression method used for "
          "image cluster compression", "zlib" },
        { "size", QEMU_OPT_SIZE, "Virtual disk size", NULL },
        { "compat", QEMU_OPT_STRING,
          "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },
        { "backing_file", QEMU_OPT_STRING, "File name of a base image", NULL },
        { "backing_fmt", QEMU_OPT_STRING, "Image format of the base image",
          NULL },
        { "data_file", QEMU_OPT_STRING, "File name of an external data file",
          NULL },
        { "data_file_raw", QEMU_OPT_BOOL, "The external data file must stay "
          "valid as a raw image", NULL },
        { "lazy_refcounts", QEMU_OPT_BOOL, "Postpone refcount updates", "off" },
        { "refcount_bits", QEMU_OPT_NUMBER,
          "Width of a reference count entry in bits", "16" },
        { NULL, QEMU_OPT_STRING, NULL, NULL },
    },
};

static const QemuOptsList qcow2_amend_opts = {
    .name = "qcow2-amend-opts",
    .desc = {
        { "encrypt.keyslot", QEMU_OPT_NUMBER,
          "Select a single keyslot to modify explicitly", NULL },
        { "encrypt.state", QEMU_OPT_STRING,
          "Select new state of affected keyslots (active/inactive)", NULL },
        { "encrypt.old-secret", QEMU_OPT_STRING,
          "Select all keyslots that match this password", NULL },
        { "encrypt.new-secret", QEMU_OPT_STRING,
          "New secret to set in the matching keyslots. Empty string to erase",
          NULL },
        { "encrypt.iter-time", QEMU_OPT_NUMBER,
          "Time to spend in PBKDF in milliseconds", NULL },
        { "size", QEMU_OPT_SIZE, "Virtual disk size", NULL },
        { "compat", QEMU_OPT_STRING,
          "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },
        { "backing_file", QEMU_OPT_STRING, "File name of a base image", NULL },
        { "backing_fmt", QEMU_OPT_STRING, "Image format of the base image",
          NULL },
        { "data_file", QEMU_OPT_STRING, "File name of an external data file",
          NULL },
        { "data_file_raw", QEMU_OPT_BOOL, "The external data file must stay "
          "valid as a raw image", NULL },
        { "lazy_refcounts", QEMU_OPT_BOOL, "Postpone refcount updates", "off" },
        { "refcount_bits", QEMU_OPT_NUMBER,
          "Width of a reference count entry in bits", "16" },
        { NULL, QEMU_OPT_STRING, NULL, NULL },
    },
};

/* Parsed and validated creation parameters. */
typedef struct Qcow2CreateParams {
    uint64_t size;
    int version;
    int cluster_bits;
    int refcount_order;
    bool lazy_refcounts;
    uint8_t compression_type;
    PreallocMode prealloc;
    const char *backing_file;
    const char *backing_fmt;
} Qcow2CreateParams;

static int parse_compat(const char *compat, int *version, Error **errp)
{
    if (!compat || !strcmp(compat, "1.1") || !strcmp(compat, "v3")) {
        *version = 3;
    } else if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
        *version = 2;
    } else {
        error_setg(errp, "Parameter 'version' does not accept value '%s'",
                   compat);
        return -EINVAL;
    }
    return 0;
}

static int parse_refcount_bits(uint64_t bits, int version, int *order,
                               Error **errp)
{
    if (bits > 64 || !is_power_of_2(bits)) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    if (version < 3 && bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    *order = ctz64(bits);
    return 0;
}

static int parse_create_opts(QemuOpts *opts, Qcow2CreateParams *p,
                             Error **errp)
{
    const char *str;
    uint64_t cluster_size;
    int ret;

    memset(p, 0, sizeof(*p));
    ret = parse_compat(qemu_opt_get(opts, "compat"), &p->version, errp);
    if (ret < 0) {
        return ret;
    }
    if (qemu_opt_get_bool(opts, "encryption", false) ||
        qemu_opt_get(opts, "encrypt.format")) {
        error_setg(errp, "Unsupported qcow2 feature(s): encryption");
        return -ENOTSUP;
    }
    if (qemu_opt_get(opts, "data_file") ||
        qemu_opt_get_bool(opts, "data_file_raw", false)) {
        error_setg(errp, "Unsupported qcow2 feature(s): external data file");
        return -ENOTSUP;
    }
    if (qemu_opt_get_bool(opts, "extended_l2", false)) {
        error_setg(errp, "Unsupported qcow2 feature(s): extended L2 entries");
        return -ENOTSUP;
    }

    cluster_size = qemu_opt_get_size(opts, "cluster_size", 65536);
    if (!is_power_of_2(cluster_size) || cluster_size < 512 ||
        cluster_size > (UINT64_C(1) << QCOW2_MAX_CLUSTER_BITS)) {
        error_setg(errp, "Cluster size must be a power of two between 512 and "
                   "2048k");
        return -EINVAL;
    }
    p->cluster_bits = ctz64(cluster_size);

    ret = parse_refcount_bits(qemu_opt_get_number(opts, "refcount_bits", 16),
                              p->version, &p->refcount_order, errp);
    if (ret < 0) {
        return ret;
    }

    str = qemu_opt_get(opts, "preallocation");
    p->prealloc = PREALLOC_MODE_OFF;
    if (str && !bdrv_prealloc_mode_parse(str, &p->prealloc)) {
        error_setg(errp, "Parameter 'preallocation' does not accept value "
                   "'%s'", str);
        return -EINVAL;
    }

    str = qemu_opt_get(opts, "compression_type");
    if (!str || !strcmp(str, "zlib")) {
        p->compression_type = QCOW2_COMPRESSION_ZLIB;
    } else if (!strcmp(str, "zstd")) {
        p->compression_type = QCOW2_COMPRESSION_ZSTD;
    } else {
        error_setg(errp, "Parameter 'compression-type' does not accept value "
                   "'%s'", str);
        return -EINVAL;
    }
    if (p->compression_type != QCOW2_COMPRESSION_ZLIB && p->version < 3) {
        error_setg(errp, "Non-zlib compression type is only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }

    p->lazy_refcounts = qemu_opt_get_bool(opts, "lazy_refcounts", false);
    if (p->lazy_refcounts && p->version < 3) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                   "level 1.1 and above (use version=v3 or greater)");
        return -EINVAL;
    }

    p->backing_file = qemu_opt_get(opts, "backing_file");
    p->backing_fmt = qemu_opt_get(opts, "backing_fmt");
    if (p->backing_fmt && !p->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing file");
        return -EINVAL;
    }
    if (p->backing_file && p->prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                   "the same time if extended_l2 is on");
        return -EINVAL;
    }
    if (p->backing_file && strlen(p->backing_file) > QCOW2_MAX_BACKING_NAME) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    if (p->backing_fmt && strlen(p->backing_fmt) >= QCOW2_MAX_BACKING_FMT) {
        error_setg(errp, "Backing format name too long");
        return -EINVAL;
    }

    p->size = ROUND_UP(qemu_opt_get_size(opts, "size", 0), BDRV_SECTOR_SIZE);
    if (p->size > QCOW2_MAX_IO_END) {
        /* What resizing the new image to that size says in QEMU. */
        error_setg(errp, "Could not resize image: offset(%" PRIu64 ") exceeds "
                   "maximum(%" PRIu64 ")", p->size, QCOW2_MAX_IO_END);
        return -EINVAL;
    }
    if (p->size > INT64_MAX ||
        size_to_l1(p->cluster_bits, p->size) > QCOW2_MAX_L1_BYTES / 8) {
        error_setg(errp, "The image size is too large for file format 'qcow2' "
                   "(try using a larger cluster size)");
        return -EFBIG;
    }
    return 0;
}

/* The empty image: header, a one-cluster refcount table at cluster 1, a
 * refcount block at cluster 2 accounting for clusters 0-2, no L1 table
 * yet (growing the image to its size adds it). */
static uint8_t *build_empty_image(const Qcow2CreateParams *p, size_t *len)
{
    BDRVQcow2State st;
    uint32_t cs = 1u << p->cluster_bits;
    uint8_t *buf = qemu_try_memalign(4096, (size_t)3 * cs);

    if (!buf) {
        return NULL;
    }
    memset(&st, 0, sizeof(st));
    QTAILQ_INIT(&st.unknown_exts);
    st.version = (uint32_t)p->version;
    st.cluster_bits = p->cluster_bits;
    st.refcount_table_offset = cs;
    st.refcount_table_clusters = 1;
    st.refcount_order = p->refcount_order;
    st.compression_type = p->compression_type;
    if (p->compression_type != QCOW2_COMPRESSION_ZLIB) {
        st.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
    }
    if (p->lazy_refcounts) {
        st.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    }
    if (build_header_cluster(&st, NULL, NULL, buf, cs) < 0) {
        qemu_vfree(buf);
        return NULL;
    }
    memset(buf + cs, 0, (size_t)2 * cs);
    q2_st64(buf + cs, (uint64_t)2 * cs);
    for (int i = 0; i < 3; i++) {
        qcow2_refblock_set(buf + 2 * (size_t)cs, (uint64_t)i,
                           p->refcount_order, 1);
    }
    *len = (size_t)3 * cs;
    return buf;
}

/* Create the protocol file with the protocol's own options (size 0). */
static int create_protocol_file(const char *filename, QemuOpts *opts,
                                Error **errp)
{
    const BlockDriver *proto = bdrv_find_protocol(filename, errp);
    QemuOpts *popts;
    const QDict *vals;
    int ret;

    if (!proto) {
        return -EINVAL;
    }
    if (!proto->create_opts) {
        return bdrv_create_file(filename, NULL, errp);
    }
    popts = qemu_opts_create(proto->create_opts);
    vals = qemu_opts_values(opts);
    for (const QDictEntry *e = qdict_first(vals); e; e = qdict_next(vals, e)) {
        const char *key = qdict_entry_key(e);
        bool known = false;
        if (!strcmp(key, "size") || !strcmp(key, "preallocation")) {
            continue;
        }
        for (const QemuOptDesc *d = proto->create_opts->desc; d->name; d++) {
            if (!strcmp(d->name, key)) {
                known = true;
                break;
            }
        }
        if (known && !qemu_opt_set(popts, key, qdict_entry_value(e), errp)) {
            qemu_opts_del(popts);
            return -EINVAL;
        }
    }
    qemu_opt_set_number(popts, "size", 0);
    ret = bdrv_create_file(filename, popts, errp);
    qemu_opts_del(popts);
    return ret;
}

/* Always called in coroutine context (bdrv_create runs it in one). */
static int coroutine_fn qcow2_co_create(BlockDriver *drv, const char *filename,
                                        QemuOpts *opts, Error **errp)
{
    Qcow2CreateParams p;
    BlockBackend *blk;
    QDict *o;
    uint8_t *buf;
    size_t len;
    int ret;

    (void)drv;
    /* As QEMU: the file first, then the options are checked; a failure
     * from here on deletes the file. */
    ret = create_protocol_file(filename, opts, errp);
    if (ret < 0) {
        return ret;
    }
    ret = parse_create_opts(opts, &p, errp);
    if (ret < 0) {
        goto fail;
    }

    blk = blk_new_open(filename, NULL, BDRV_O_RDWR | BDRV_O_PROTOCOL, errp);
    if (!blk) {
        ret = -EIO;
        goto fail;
    }
    buf = build_empty_image(&p, &len);
    if (!buf) {
        blk_unref(blk);
        error_setg(errp, "Could not allocate memory");
        ret = -ENOMEM;
        goto fail;
    }
    /* The BlockBackend only writes inside the file: size it first. */
    ret = blk_co_truncate(blk, (int64_t)len, false, PREALLOC_MODE_OFF, 0,
                          NULL);
    if (ret == 0) {
        ret = blk_co_pwrite(blk, 0, (int64_t)len, buf, 0);
    }
    if (ret == 0) {
        ret = blk_co_flush(blk);
    }
    qemu_vfree(buf);
    blk_unref(blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 header");
        goto fail;
    }

    o = qdict_new();
    qdict_put_str(o, "driver", "qcow2");
    blk = blk_new_open(filename, o, BDRV_O_RDWR | BDRV_O_RESIZE |
                       BDRV_O_NO_BACKING, errp);
    if (!blk) {
        ret = -EIO;
        goto fail;
    }
    ret = blk_co_truncate(blk, (int64_t)p.size, false, p.prealloc, 0, errp);
    if (ret == 0 && p.backing_file) {
        ret = bdrv_change_backing_file(blk_bs(blk), p.backing_file,
                                       p.backing_fmt, errp);
    }
    blk_unref(blk);
    if (ret == 0) {
        return 0;
    }
fail:
    bdrv_delete_file(filename, NULL);
    return ret;
}

/* ------------------------------------------------------------------------
 * Measure
 * ------------------------------------------------------------------------ */

/*
 * Metadata clusters of a fully allocated image of @size bytes: the header,
 * the L2 tables and the L1 table for the whole disk, and the refcount
 * blocks and table that count all of that plus the data and themselves.
 */
static uint64_t metadata_clusters(uint64_t size, int cluster_bits,
                                  int refcount_order)
{
    uint64_t cs = UINT64_C(1) << cluster_bits;
    uint64_t data = DIV_ROUND_UP(size, cs);
    uint64_t l2 = DIV_ROUND_UP(data, cs / 8);
    uint64_t l1 = DIV_ROUND_UP(l2 * 8, cs);
    uint64_t entries = UINT64_C(1) << (cluster_bits + 3 - refcount_order);
    uint64_t fixed = 1 + l1 + l2 + data;
    uint64_t blocks = 0, table = 0;

    for (;;) {
        uint64_t nb = DIV_ROUND_UP(fixed + blocks + table, entries);
        uint64_t nt = DIV_ROUND_UP(nb * 8, cs);
        if (nb == blocks && nt == table) {
            break;
        }
        blocks = nb;
        table = nt;
    }
    return 1 + l1 + l2 + blocks + table;
}

static BlockMeasureInfo *qcow2_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                       Error **errp)
{
    Qcow2CreateParams p;
    BlockMeasureInfo *info;
    uint64_t cs, size, data = 0;
    int ret;

    ret = parse_create_opts(opts, &p, errp);
    if (ret < 0) {
        return NULL;
    }
    cs = UINT64_C(1) << p.cluster_bits;
    if (in_bs) {
        int64_t len = bdrv_getlength(in_bs);
        uint64_t counted_end = 0;

        if (len < 0) {
            error_setg_errno(errp, (int)-len, "Unable to get image virtual_size");
            return NULL;
        }
        size = ROUND_UP((uint64_t)len, BDRV_SECTOR_SIZE);
        /* Every cluster that holds data (not zeroes) in the input. */
        for (uint64_t off = 0; off < (uint64_t)len;) {
            int64_t pnum = 0;
            int st = bdrv_block_status_above(in_bs, NULL, (int64_t)off,
                                             len - (int64_t)off, &pnum, NULL,
                                             NULL, NULL);
            if (st < 0) {
                error_setg_errno(errp, -st, "Unable to get block status");
                return NULL;
            }
            if (pnum <= 0) {
                break;
            }
            if (!(st & BDRV_BLOCK_ZERO) && (st & BDRV_BLOCK_DATA) &&
                (st & BDRV_BLOCK_ALLOCATED)) {
                uint64_t first = MAX(off & ~(cs - 1), counted_end);
                uint64_t end = ROUND_UP(off + (uint64_t)pnum, cs);
                if (end > first) {
                    data += end - first;
                    counted_end = end;
                }
            }
            off += (uint64_t)pnum;
        }
    } else {
        size = p.size;
    }
    info = qemu_new0(BlockMeasureInfo, 1);
    /* Persistent bitmaps would be copied from a qcow2 source into a v3
     * image; this driver copies none (the source's are not counted). */
    info->has_bitmaps = in_bs && p.version >= 3 && in_bs->drv &&
                        !strcmp(in_bs->drv->format_name, "qcow2");
    info->bitmaps = 0;
    info->fully_allocated = (metadata_clusters(size, p.cluster_bits,
                                               p.refcount_order) << p.cluster_bits)
                            + ROUND_UP(size, cs);
    if (p.prealloc == PREALLOC_MODE_FULL || p.prealloc == PREALLOC_MODE_FALLOC) {
        info->required = info->fully_allocated;
    } else {
        info->required = (metadata_clusters(size, p.cluster_bits,
                                            p.refcount_order) << p.cluster_bits)
                         + data;
    }
    return info;
}

/* ------------------------------------------------------------------------
 * Amend
 * ------------------------------------------------------------------------ */

/* Version 2 has no zero flag: turn zero clusters of the active tables
 * into unallocated ones (no backing file) or clusters of zeroes. */
static int coroutine_fn expand_zero_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t slice_span = (uint64_t)s->l2_slice_size << s->cluster_bits;
    int ret;

    if (!s->use_lazy_refcounts) {
        ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
        if (ret < 0) {
            return ret;
        }
    }
    qcow2_cache_depends_on_flush(s->l2_cache);
    for (uint64_t i = 0; i < s->l1_size; i++) {
        if (!(s->l1_table[i] & L1E_OFFSET_MASK)) {
            continue;
        }
        for (uint64_t j = 0; j < s->l2_size / s->l2_slice_size; j++) {
            uint64_t guest = (i << (s->l2_bits + s->cluster_bits)) +
                             j * slice_span;
            uint64_t *slice;
            uint32_t idx;

            ret = qcow2_get_l2_slice_for_write(bs, guest, &slice, &idx);
            if (ret < 0) {
                return ret;
            }
            for (uint32_t k = 0; k < s->l2_slice_size; k++) {
                uint64_t e = q2_ld64(&slice[k]);
                Qcow2ClusterType t;
                uint64_t host;

                if (!qcow2_classify_l2_entry(s, e, &t) ||
                    (t != QCOW2_CLUSTER_ZERO_PLAIN &&
                     t != QCOW2_CLUSTER_ZERO_ALLOC)) {
                    continue;
                }
                if (t == QCOW2_CLUSTER_ZERO_PLAIN && !bs->backing) {
                    q2_st64(&slice[k], 0);
                    qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
                    continue;
                }
                if (t == QCOW2_CLUSTER_ZERO_ALLOC &&
                    (e & QCOW2_OFLAG_COPIED)) {
                    host = e & L2E_OFFSET_MASK;
                } else {
                    int64_t r = qcow2_alloc_clusters(bs, s->cluster_size);
                    if (r < 0) {
                        qcow2_cache_put(s->l2_cache, (void **)&slice);
                        return (int)r;
                    }
                    host = (uint64_t)r;
                    if (t == QCOW2_CLUSTER_ZERO_ALLOC) {
                        ret = qcow2_free_deferred(bs, e & L2E_OFFSET_MASK,
                                                  s->cluster_size,
                                                  QCOW2_DISCARD_OTHER);
                        if (ret < 0) {
                            qcow2_cache_put(s->l2_cache, (void **)&slice);
                            return ret;
                        }
                    }
                }
                ret = qcow2_pre_write_overlap_check(bs, 0, host,
                                                    s->cluster_size);
                if (ret == 0) {
                    ret = qcow2_file_pwrite(bs, host, s->cluster_size,
                                            s->zero_cluster);
                }
                if (ret < 0) {
                    qcow2_cache_put(s->l2_cache, (void **)&slice);
                    return ret;
                }
                q2_st64(&slice[k], host | QCOW2_OFLAG_COPIED);
                qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
            }
            qcow2_cache_put(s->l2_cache, (void **)&slice);
        }
    }
    return qcow2_flush_metadata(bs);
}

/* Does any active L2 entry describe a compressed cluster? */
static int coroutine_fn has_compressed_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t slice_bytes = (uint64_t)s->l2_slice_size * 8;

    for (uint64_t i = 0; i < s->l1_size; i++) {
        uint64_t off = s->l1_table[i] & L1E_OFFSET_MASK;
        if (!off || (s->l1_table[i] & L1E_RESERVED_MASK) ||
            offset_into_cluster(s, off)) {
            continue;
        }
        for (uint64_t j = 0; j < s->l2_size / s->l2_slice_size; j++) {
            uint64_t *slice;
            bool found = false;
            int ret = qcow2_cache_get(bs, s->l2_cache, off + j * slice_bytes,
                                      (void **)&slice);
            if (ret < 0) {
                return ret;
            }
            for (uint32_t k = 0; k < s->l2_slice_size; k++) {
                if (q2_ld64(&slice[k]) & QCOW2_OFLAG_COMPRESSED) {
                    found = true;
                    break;
                }
            }
            qcow2_cache_put(s->l2_cache, (void **)&slice);
            if (found) {
                return 1;
            }
        }
    }
    return 0;
}

static int coroutine_fn amend_downgrade(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->nb_snapshots) {
        error_setg(errp, "Cannot downgrade an image with internal snapshots");
        return -ENOTSUP;
    }
    if (s->has_bitmaps_ext) {
        error_setg(errp, "Cannot downgrade an image with bitmaps");
        return -ENOTSUP;
    }
    if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
        ret = has_compressed_clusters(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read the L2 tables");
            return ret;
        }
        if (ret) {
            error_setg(errp, "Cannot downgrade an image with zstd compression "
                       "type and existing compressed clusters");
            return -ENOTSUP;
        }
    }
    ret = qcow2_mark_clean(bs);
    if (ret == 0) {
        ret = expand_zero_clusters(bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to turn zero into regular "
                         "clusters");
        return ret;
    }
    s->version = 2;
    s->compression_type = QCOW2_COMPRESSION_ZLIB;
    s->incompatible_features = 0;
    s->compatible_features = 0;
    s->autoclear_features = 0;
    s->use_lazy_refcounts = false;
    free(s->unknown_header_fields);
    s->unknown_header_fields = NULL;
    s->unknown_header_fields_size = 0;
    bs->supported_zero_flags = 0;
    ret = qcow2_update_header(bs);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image header");
    }
    return ret;
}

typedef struct AmendCo {
    BlockDriverState *bs;
    int new_version;
    int new_order;          /* -1: unchanged */
    int lazy;               /* -1: unchanged */
    bool has_size;
    uint64_t size;
    Error *err;
    int ret;
    bool done;
} AmendCo;

static void coroutine_fn amend_entry(void *opaque)
{
    AmendCo *a = opaque;
    BlockDriverState *bs = a->bs;
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    if (a->new_version > (int)s->version) {
        s->version = 3;
        s->refcount_order = 4;
        bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
        ret = qcow2_update_header(bs);
        if (ret == 0) {
            ret = bdrv_co_flush(bs->file->bs);
        }
        if (ret < 0) {
            error_setg_errno(&a->err, -ret, "Failed to update the image "
                             "header");
            goto out;
        }
    }
    if (a->new_order >= 0 && a->new_order != s->refcount_order) {
        ret = qcow2_change_refcount_order(bs, a->new_order, &a->err);
        if (ret < 0) {
            goto out;
        }
    }
    if (a->lazy >= 0 &&
        a->lazy != !!(s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS)) {
        if (a->lazy) {
            s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
        } else {
            ret = qcow2_mark_clean(bs);
            s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
        }
        if (ret == 0) {
            ret = qcow2_write_header_field(bs, QCOW2_HDR_COMPAT, 8);
        }
        if (ret == 0) {
            ret = bdrv_co_flush(bs->file->bs);
        }
        if (ret < 0) {
            error_setg_errno(&a->err, -ret, "Failed to update the image "
                             "header");
            goto out;
        }
        s->use_lazy_refcounts = a->lazy;
    }
    qemu_co_mutex_unlock(&s->lock);
    if (a->has_size && a->size != s->size) {
        ret = qcow2_co_truncate(bs, (int64_t)a->size, false,
                                PREALLOC_MODE_OFF, 0, &a->err);
        if (ret < 0) {
            goto done;
        }
        bs->total_bytes = (int64_t)s->size;
    }
    qemu_co_mutex_lock(&s->lock);
    if (a->new_version < (int)s->version) {
        ret = amend_downgrade(bs, &a->err);
    }
out:
    qemu_co_mutex_unlock(&s->lock);
done:
    a->ret = ret;
    a->done = true;
}

static int qcow2_amend(BlockDriverState *bs, QemuOpts *opts, bool force,
                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    AmendCo a = { .bs = bs, .new_version = (int)s->version, .new_order = -1,
                  .lazy = -1 };
    const QDict *vals = qemu_opts_values(opts);
    const char *compat = qemu_opt_get(opts, "compat");

    (void)force;
    for (const QDictEntry *e = qdict_first(vals); e; e = qdict_next(vals, e)) {
        if (!strncmp(qdict_entry_key(e), "encrypt.", 8)) {
            error_setg(errp, "Can't amend encryption options - encryption not "
                       "present");
            return -EINVAL;
        }
    }
    if (compat) {
        if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
            a.new_version = 2;
        } else if (!strcmp(compat, "1.1") || !strcmp(compat, "v3")) {
            a.new_version = 3;
        } else {
            error_setg(errp, "Unknown compatibility level %s", compat);
            return -EINVAL;
        }
    }
    if (qemu_opt_has(opts, "backing_file") || qemu_opt_has(opts, "backing_fmt")) {
        error_setg(errp, "Cannot amend the backing file");
        error_append_hint(errp, "You can use 'qemu-img rebase' instead.\n");
        return -EINVAL;
    }
    if (qemu_opt_has(opts, "data_file")) {
        error_setg(errp, "data-file can only be set for images that use an "
                   "external data file");
        return -EINVAL;
    }
    if (qemu_opt_has(opts, "data_file_raw")) {
        error_setg(errp, "data-file-raw cannot be set on existing images");
        return -EINVAL;
    }
    if (qemu_opt_has(opts, "refcount_bits")) {
        uint64_t bits = qemu_opt_get_number(opts, "refcount_bits", 16);
        if (bits > 64 || !is_power_of_2(bits)) {
            error_setg(errp, "Refcount width must be a power of two and may "
                       "not exceed 64 bits");
            return -EINVAL;
        }
        if (bits != 16 && a.new_version < 3) {
            error_setg(errp, "Refcount widths other than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
            return -EINVAL;
        }
        a.new_order = ctz64(bits);
    } else if (a.new_version < 3 && s->refcount_order != 4) {
        error_setg(errp, "compat=0.10 requires refcount_bits=16");
        return -EINVAL;
    }
    if (qemu_opt_has(opts, "lazy_refcounts")) {
        a.lazy = qemu_opt_get_bool(opts, "lazy_refcounts", false);
        if (a.lazy && a.new_version < 3) {
            error_setg(errp, "Lazy refcounts only supported with "
                       "compatibility level 1.1 and above (use compat=1.1 or "
                       "greater)");
            return -EINVAL;
        }
    }
    if (qemu_opt_has(opts, "size")) {
        a.has_size = true;
        a.size = qemu_opt_get_size(opts, "size", 0);
        if (s->nb_snapshots && s->version < 3 && a.size != s->size) {
            error_setg(errp, "Can't resize a v2 image which has snapshots");
            return -ENOTSUP;
        }
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    bdrv_run_co(bdrv_get_aio_context(bs), amend_entry, &a, &a.done);
    if (a.ret < 0) {
        if (a.err) {
            error_propagate(errp, a.err);
        } else {
            error_setg_errno(errp, -a.ret, "Failed to amend the image");
        }
    }
    return a.ret;
}

/* ------------------------------------------------------------------------
 * The driver
 * ------------------------------------------------------------------------ */

const BlockDriver bdrv_qcow2 = {
    .struct_size            = sizeof(BlockDriver),
    .api_version            = BLOCK_DRIVER_API_VERSION,
    .format_name            = "qcow2",
    .instance_size          = sizeof(BDRVQcow2State),
    .is_format              = true,
    .supports_backing       = true,

    .probe                  = qcow2_probe,
    .open                   = qcow2_open,
    .close                  = qcow2_close,
    .refresh_limits         = qcow2_refresh_limits,
    .create                 = qcow2_co_create,
    .create_opts            = &qcow2_create_opts,
    .amend                  = qcow2_amend,
    .amend_opts             = &qcow2_amend_opts,

    .preadv                 = qcow2_co_preadv,
    .pwritev                = qcow2_co_pwritev,
    .pwrite_zeroes          = qcow2_co_pwrite_zeroes,
    .pdiscard               = qcow2_co_pdiscard,
    .flush                  = qcow2_co_flush,
    .block_status           = qcow2_co_block_status,
    .truncate               = qcow2_co_truncate,
    .copy_range_from        = qcow2_co_copy_range_from,
    .copy_range_to          = qcow2_co_copy_range_to,
    .snapshot_list          = qcow2_snapshot_list,

    .getlength              = qcow2_getlength,
    .get_allocated_file_size = qcow2_get_allocated_file_size,
    .get_info               = qcow2_get_info,
    .get_specific_info      = qcow2_get_specific_info,
    .check                  = qcow2_co_check,
    .change_backing_file    = qcow2_change_backing_file,
    .make_empty             = qcow2_make_empty,
    .load_vmstate           = qcow2_load_vmstate,
    .save_vmstate           = qcow2_save_vmstate,
    .measure                = qcow2_measure,

    .supported_write_flags  = BDRV_REQ_WRITE_COMPRESSED,
    .supported_zero_flags   = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
};
