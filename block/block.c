/*
 * coblock — the node graph: driver registry, opening, probing, options,
 * backing chains, creation
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Opening a node, in order:
 *   1. "json:{...}" filenames become options; generic options (read-only,
 *      cache.*, discard, detect-zeroes, force-share, node-name) become
 *      open flags and node fields;
 *   2. the driver: "driver" if given; a protocol when BDRV_O_PROTOCOL or
 *      when the filename has a protocol prefix and no format is wanted;
 *      otherwise the protocol node is opened first and the formats are
 *      probed on its first bytes (raw when nothing else claims it);
 *   3. a format gets its protocol child "file" (the probed node, or one
 *      opened from the "file.*" options and the filename);
 *   4. the driver's open consumes its options; whatever is left is an
 *      error naming the first unknown option;
 *   5. limits are refreshed, permissions applied (protocol nodes take
 *      their image locks), and the backing chain is opened, read-only,
 *      with loop detection and a depth bound.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "util/cutils.h"
#include "util/qdict-json.h"
#include "block/block_int.h"
#ifdef _WIN32
#include "util/win32-error.h"
#endif

#include <sys/stat.h>

/* How much of a file format probing reads. */
#define BLOCK_PROBE_BUF_SIZE 2048

/* ---- driver registry ---- */

static BlockDriver *registered[32];
static int nregistered;

static const char *const required_all[] = { "open", "preadv" };

int bdrv_register(const BlockDriver *drv, Error **errp)
{
    BlockDriver *copy;
    int i;

    if (!drv->format_name || !drv->format_name[0]) {
        error_setg(errp, "block driver without a name");
        return -EINVAL;
    }
    if (drv->api_version != BLOCK_DRIVER_API_VERSION) {
        error_setg(errp, "block driver '%s' was built for driver API version %u, "
                   "this library has version %u", drv->format_name,
                   drv->api_version, BLOCK_DRIVER_API_VERSION);
        return -EINVAL;
    }
    if (drv->struct_size == 0 || drv->struct_size > sizeof(BlockDriver)) {
        error_setg(errp, "block driver '%s' has a driver structure of %zu bytes, "
                   "this library knows %zu", drv->format_name,
                   drv->struct_size, sizeof(BlockDriver));
        return -EINVAL;
    }
    if (!drv->open) {
        error_setg(errp, "block driver '%s' lacks required callback '%s'",
                   drv->format_name, required_all[0]);
        return -EINVAL;
    }
    if (!drv->preadv) {
        error_setg(errp, "block driver '%s' lacks required callback '%s'",
                   drv->format_name, required_all[1]);
        return -EINVAL;
    }
    if (!drv->is_format && !drv->is_filter && !drv->getlength) {
        error_setg(errp, "block driver '%s' lacks required callback '%s'",
                   drv->format_name, "getlength");
        return -EINVAL;
    }
    for (i = 0; i < nregistered; i++) {
        if (!strcmp(registered[i]->format_name, drv->format_name)) {
            error_setg(errp, "block driver '%s' is already registered",
                       drv->format_name);
            return -EEXIST;
        }
    }
    if (nregistered == (int)ARRAY_SIZE(registered)) {
        error_setg(errp, "too many block drivers");
        return -ENOSPC;
    }
    /* Our own copy: fields a smaller (older) struct lacks read as zero. */
    copy = qemu_xmalloc0(sizeof(*copy));
    memcpy(copy, drv, drv->struct_size);
    registered[nregistered++] = copy;
    return 0;
}

extern const BlockDriver *const bdrv_builtin_drivers[];

void bdrv_init(void)
{
    static int done;
    int i;

    if (qatomic_xchg(&done, 1)) {
        return;
    }
    for (i = 0; bdrv_builtin_drivers[i]; i++) {
        Error *err = NULL;
        if (bdrv_register(bdrv_builtin_drivers[i], &err) < 0) {
            /* A broken built-in driver is a bug of this build. */
            qemu_abort("%s", error_get_pretty(err));
        }
    }
}

static const char *const prealloc_mode_names[PREALLOC_MODE__MAX] = {
    [PREALLOC_MODE_OFF] = "off",
    [PREALLOC_MODE_METADATA] = "metadata",
    [PREALLOC_MODE_FALLOC] = "falloc",
    [PREALLOC_MODE_FULL] = "full",
};

const char *bdrv_prealloc_mode_name(PreallocMode mode)
{
    return (unsigned)mode < PREALLOC_MODE__MAX ? prealloc_mode_names[mode]
                                                : "?";
}

bool bdrv_prealloc_mode_parse(const char *str, PreallocMode *mode)
{
    for (int i = 0; i < PREALLOC_MODE__MAX; i++) {
        if (!strcmp(str, prealloc_mode_names[i])) {
            *mode = (PreallocMode)i;
            return true;
        }
    }
    return false;
}

const BlockDriver *bdrv_find_format(const char *format_name)
{
    int i;

    bdrv_init();
    for (i = 0; i < nregistered; i++) {
        if (!strcmp(registered[i]->format_name, format_name)) {
            return registered[i];
        }
    }
    return NULL;
}

const BlockDriver *bdrv_next_driver(const BlockDriver *prev)
{
    int i;

    bdrv_init();
    if (!prev) {
        return nregistered ? registered[0] : NULL;
    }
    for (i = 0; i < nregistered - 1; i++) {
        if (registered[i] == prev) {
            return registered[i + 1];
        }
    }
    return NULL;
}

static bool is_protocol_driver(const BlockDriver *drv)
{
    return !drv->is_format && !drv->is_filter;
}

/* Opened like a protocol: the driver gets the filename and opens its
 * children itself (protocols, and filters such as blkdebug). */
static bool opens_own_children(const BlockDriver *drv)
{
    return is_protocol_driver(drv) || drv->opens_children;
}

/* "proto:..." with a known protocol prefix, else NULL.  A filename with
 * a slash before the colon is a path, not a URI. */
static const BlockDriver *find_protocol_prefix(const char *filename)
{
    const char *colon = strchr(filename, ':');
    size_t len;
    int i;

    if (!colon) {
        return NULL;
    }
#ifdef _WIN32
    if (colon == filename + 1) {
        return NULL;        /* drive letter */
    }
#endif
    len = (size_t)(colon - filename);
    if (memchr(filename, '/', len)) {
        return NULL;
    }
    bdrv_init();
    for (i = 0; i < nregistered; i++) {
        const char *p = registered[i]->protocol_name;
        if (p && strlen(p) == len && !strncmp(p, filename, len)) {
            return registered[i];
        }
    }
    return NULL;
}

const BlockDriver *bdrv_find_protocol(const char *filename, Error **errp)
{
    const BlockDriver *drv = filename ? find_protocol_prefix(filename) : NULL;
    const char *colon;

    if (drv) {
        return drv;
    }
    colon = filename ? strchr(filename, ':') : NULL;
    if (colon && !memchr(filename, '/', (size_t)(colon - filename))
#ifdef _WIN32
        && colon != filename + 1
#endif
        && strncmp(filename, "json:", 5)) {
        error_setg(errp, "Unknown protocol '%.*s'", (int)(colon - filename),
                   filename);
        return NULL;
    }
    drv = bdrv_find_format("file");
    if (!drv) {
        error_setg(errp, "no 'file' protocol driver in this build");
    }
    return drv;
}

/* The format whose probe scores highest on @buf; raw scores 1, so there
 * always is an answer when raw is built in. */
static const BlockDriver *bdrv_probe_all(const uint8_t *buf, int len,
                                         const char *filename)
{
    const BlockDriver *best = NULL;
    int best_score = 0, i;

    bdrv_init();
    for (i = 0; i < nregistered; i++) {
        const BlockDriver *drv = registered[i];
        if (drv->probe) {
            int score = drv->probe(buf, len, filename);
            if (score > best_score) {
                best_score = score;
                best = drv;
            }
        }
    }
    return best;
}

/* Used by raw to refuse writes that would make sector 0 probe as another
 * format. */
bool bdrv_probe_is_not_raw(const uint8_t *buf, int len, const char *filename)
{
    const BlockDriver *drv = bdrv_probe_all(buf, len, filename);
    return drv && strcmp(drv->format_name, "raw") != 0;
}

static bool probe_warnings;

void bdrv_enable_probe_warnings(void)
{
    probe_warnings = true;
}

/* ---- option helpers ---- */

char *bdrv_opt_take_str(QDict *options, const char *key)
{
    const char *v = qdict_get_try_str(options, key);
    char *copy = v ? qemu_xstrdup(v) : NULL;

    qdict_del(options, key);
    return copy;
}

bool bdrv_opt_take_bool(QDict *options, const char *key, bool def, Error **errp)
{
    bool v = qdict_get_bool_opt(options, key, def, errp);
    qdict_del(options, key);
    return v;
}

uint64_t bdrv_opt_take_size(QDict *options, const char *key, uint64_t def,
                            Error **errp)
{
    /* qdict_get_size_opt words the error as QEMU, hint included. */
    uint64_t v = qdict_get_size_opt(options, key, def, errp);

    qdict_del(options, key);
    return v;
}

int64_t bdrv_opt_take_int(QDict *options, const char *key, int64_t def,
                          Error **errp)
{
    int64_t v = qdict_get_int_opt(options, key, def, errp);
    qdict_del(options, key);
    return v;
}

int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
    if (!strcmp(mode, "off") || !strcmp(mode, "none")) {
        *writethrough = false;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "directsync")) {
        *writethrough = true;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *writethrough = false;
        *flags |= BDRV_O_NO_FLUSH;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return -EINVAL;
    }
    return 0;
}

int bdrv_parse_aio(const char *mode, int *flags)
{
    *flags &= ~(BDRV_O_NATIVE_AIO | BDRV_O_IO_URING);
    if (!strcmp(mode, "threads")) {
        /* the default */
    } else if (!strcmp(mode, "native")) {
        *flags |= BDRV_O_NATIVE_AIO;
    } else if (!strcmp(mode, "io_uring")) {
        *flags |= BDRV_O_IO_URING;
    } else {
        return -EINVAL;
    }
    return 0;
}

int bdrv_parse_discard_flags(const char *mode, int *flags)
{
    *flags &= ~BDRV_O_UNMAP;
    if (!strcmp(mode, "off") || !strcmp(mode, "ignore")) {
        /* nothing */
    } else if (!strcmp(mode, "on") || !strcmp(mode, "unmap")) {
        *flags |= BDRV_O_UNMAP;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* Turn the generic options into flags and node fields; they are removed
 * from @options.  Child options ("file.cache.direct") are inherited by
 * the child only through its own flags. */
static int parse_generic_options(QDict *options, int *flags,
                                 BlockdevDetectZeroes *dz, char *node_name,
                                 size_t node_name_len, Error **errp)
{
    Error *local_err = NULL;
    const char *v;
    bool b;

    if (qdict_haskey(options, "read-only")) {
        b = bdrv_opt_take_bool(options, "read-only", false, &local_err);
        if (local_err) {
            goto fail;
        }
        if (b) {
            *flags &= ~BDRV_O_RDWR;
        } else {
            *flags |= BDRV_O_RDWR;
        }
    }
    if (qdict_haskey(options, "auto-read-only")) {
        bdrv_opt_take_bool(options, "auto-read-only", false, &local_err);
        if (local_err) {
            goto fail;
        }
    }
    if (qdict_haskey(options, "force-share")) {
        b = bdrv_opt_take_bool(options, "force-share", false, &local_err);
        if (local_err) {
            goto fail;
        }
        if (b) {
            *flags |= BDRV_O_FORCE_SHARE;
        } else {
            *flags &= ~BDRV_O_FORCE_SHARE;
        }
    }
    if (qdict_haskey(options, "cache.direct")) {
        b = bdrv_opt_take_bool(options, "cache.direct", false, &local_err);
        if (local_err) {
            goto fail;
        }
        *flags = b ? (*flags | BDRV_O_NOCACHE) : (*flags & ~BDRV_O_NOCACHE);
    }
    if (qdict_haskey(options, "cache.no-flush")) {
        b = bdrv_opt_take_bool(options, "cache.no-flush", false, &local_err);
        if (local_err) {
            goto fail;
        }
        *flags = b ? (*flags | BDRV_O_NO_FLUSH) : (*flags & ~BDRV_O_NO_FLUSH);
    }
    v = qdict_get_try_str(options, "discard");
    if (v) {
        if (bdrv_parse_discard_flags(v, flags) < 0) {
            error_setg(errp, "Invalid discard option");
            return -EINVAL;
        }
        qdict_del(options, "discard");
    }
    v = qdict_get_try_str(options, "detect-zeroes");
    if (v) {
        if (!strcmp(v, "off")) {
            *dz = BLOCKDEV_DETECT_ZEROES_OFF;
        } else if (!strcmp(v, "on")) {
            *dz = BLOCKDEV_DETECT_ZEROES_ON;
        } else if (!strcmp(v, "unmap")) {
            *dz = BLOCKDEV_DETECT_ZEROES_UNMAP;
        } else {
            error_setg(errp, "Parameter 'detect-zeroes' does not accept value '%s'", v);
            return -EINVAL;
        }
        qdict_del(options, "detect-zeroes");
    }
    v = qdict_get_try_str(options, "node-name");
    if (v) {
        snprintf(node_name, node_name_len, "%s", v);
        qdict_del(options, "node-name");
    }
    return 0;

fail:
    error_propagate(errp, local_err);
    return -EINVAL;
}

/* ---- nodes ---- */

static BlockDriverState *bdrv_new(void)
{
    BlockDriverState *bs = qemu_xmalloc0(sizeof(*bs));

    bs->refcnt = 1;
    bs->total_bytes = -1;
    bs->aio_context = qemu_get_current_aio_context();
    if (!bs->aio_context) {
        bs->aio_context = qemu_get_aio_context();
    }
    QLIST_INIT(&bs->children);
    QLIST_INIT(&bs->tracked_requests);
    qemu_co_queue_init(&bs->drain_queue);
    qemu_co_queue_init(&bs->flush_queue);
    return bs;
}

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

static void bdrv_close(BlockDriverState *bs)
{
    BdrvChild *child, *next;

    if (bs->drv) {
        bdrv_drain(bs);
        if (bs->drv->close) {
            bs->drv->close(bs);
        }
        bs->drv = NULL;
    }
    QLIST_FOREACH_SAFE(child, &bs->children, next, next) {
        bdrv_unref_child(bs, child);
    }
    bs->file = NULL;
    bs->backing = NULL;
    free(bs->opaque);
    bs->opaque = NULL;
    qdict_unref(bs->options);
    bs->options = NULL;
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        bdrv_close(bs);
        free(bs);
    }
}

static BdrvChild *bdrv_attach_child(BlockDriverState *parent,
                                    BlockDriverState *child_bs,
                                    const char *name)
{
    BdrvChild *child = qemu_xmalloc0(sizeof(*child));

    child->bs = child_bs;
    child->parent = parent;
    child->name = qemu_xstrdup(name);
    QLIST_INSERT_HEAD(&parent->children, child, next);
    return child;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    if (!child) {
        return;
    }
    QLIST_REMOVE(child, next);
    if (parent->file == child) {
        parent->file = NULL;
    }
    if (parent->backing == child) {
        parent->backing = NULL;
    }
    bdrv_unref(child->bs);
    free(child->name);
    free(child);
}

BlockDriverState *bdrv_filter_bs(BlockDriverState *bs)
{
    if (bs->drv && bs->drv->is_filter && bs->file) {
        return bs->file->bs;
    }
    return NULL;
}

BlockDriverState *bdrv_backing_bs(BlockDriverState *bs)
{
    return bs->backing ? bs->backing->bs : NULL;
}

/*
 * Permissions (QEMU's bits, so that the locks protocol drivers take
 * interoperate with QEMU's).  What a protocol node asks for depends on
 * what sits on it:
 *   - nothing, or a format that keeps no metadata of its own in the file
 *     (raw): read, plus write when writable; everything is shared, as
 *     several users may write a raw image at once;
 *   - a format with metadata (qcow2): read, plus write and resize when
 *     writable; others may only read, since a second writer or a resize
 *     would corrupt the metadata;
 *   - force-share: read only, nothing refused (and protocols take no
 *     locks at all).
 * A protocol node starts with the first policy when it is opened and is
 * tightened by its format once the format has opened.
 */
static void bdrv_compute_perms(BlockDriverState *proto, const BlockDriver *format,
                               uint64_t *perm, uint64_t *shared)
{
    bool writable = !proto->read_only;

    if (proto->force_share) {
        *perm = BLK_PERM_CONSISTENT_READ;
        *shared = BLK_PERM_ALL;
    } else if (!format || format->shares_writes) {
        *perm = BLK_PERM_CONSISTENT_READ | (writable ? BLK_PERM_WRITE : 0);
        *shared = BLK_PERM_ALL;
    } else {
        *perm = BLK_PERM_CONSISTENT_READ |
                (writable ? BLK_PERM_WRITE | BLK_PERM_RESIZE : 0);
        *shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    }
}

int bdrv_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                  Error **errp)
{
    if (bs->drv && bs->drv->set_perm) {
        int ret = bs->drv->set_perm(bs, perm, shared, errp);
        if (ret < 0) {
            return ret;
        }
    }
    bs->perm = perm;
    bs->shared_perm = shared;
    return 0;
}

/* Apply the permissions @proto needs under @format (NULL: opened alone). */
static int bdrv_apply_perms(BlockDriverState *proto, const BlockDriver *format,
                            Error **errp)
{
    uint64_t perm, shared;

    bdrv_compute_perms(proto, format, &perm, &shared);
    if (perm == proto->perm && shared == proto->shared_perm) {
        return 0;
    }
    return bdrv_set_perm(proto, perm, shared, errp);
}

static void bdrv_refresh_limits(BlockDriverState *bs, Error **errp)
{
    memset(&bs->bl, 0, sizeof(bs->bl));
    bs->bl.request_alignment = 1;
    bs->bl.min_mem_alignment = 1;
    bs->bl.opt_mem_alignment = 1;
    bs->bl.max_iov = 1024;
    if (bs->file) {
        /* A format inherits its protocol's buffer needs. */
        bs->bl.min_mem_alignment = bs->file->bs->bl.min_mem_alignment;
        bs->bl.opt_mem_alignment = bs->file->bs->bl.opt_mem_alignment;
        bs->bl.opt_transfer = bs->file->bs->bl.opt_transfer;
        bs->bl.max_iov = bs->file->bs->bl.max_iov;
    }
    if (bs->drv->refresh_limits) {
        bs->drv->refresh_limits(bs, errp);
    }
    if (!bs->bl.request_alignment || !is_power_of_2(bs->bl.request_alignment)) {
        bs->bl.request_alignment = 1;
    }
}

/* The files of a backing chain being opened, outermost first, for loop
 * detection. */
typedef struct OpenChain {
    const struct OpenChain *parent;
    uint64_t dev, ino;
    bool have_id;
    int depth;
} OpenChain;

static bool file_identity(const char *filename, uint64_t *dev, uint64_t *ino)
{
#ifdef _WIN32
    /* The C library's stat() has no inode numbers on Windows (st_ino is
     * 0 for every file, which would make any backing file a "loop"): ask
     * for the volume serial number and the file index instead. */
    BY_HANDLE_FILE_INFORMATION info;
    wchar_t *wname;
    HANDLE h;
    BOOL ok;

    if (!filename || !(wname = win32_utf8_to_wide(filename))) {
        return false;
    }
    h = CreateFileW(wname, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(wname);
    if (h == INVALID_HANDLE_VALUE) {
        return false;
    }
    ok = GetFileInformationByHandle(h, &info);
    CloseHandle(h);
    if (!ok) {
        return false;
    }
    *dev = info.dwVolumeSerialNumber;
    *ino = ((uint64_t)info.nFileIndexHigh << 32) | info.nFileIndexLow;
    return true;
#else
    struct stat st;

    if (!filename || stat(filename, &st) != 0) {
        return false;
    }
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return true;
#endif
}

static BlockDriverState *bdrv_open_inherit(const char *filename, QDict *options,
                                           int flags, const OpenChain *chain,
                                           Error **errp);

/* Read the first bytes of @file and pick a format. */
static const BlockDriver *probe_format(BlockDriverState *file,
                                       const char *filename, Error **errp)
{
    uint8_t *buf;
    int64_t len = bdrv_getlength(file);
    BdrvChild tmp = { .bs = file };
    const BlockDriver *drv;
    int ret, n;

    if (len < 0) {
        error_setg_errno(errp, -len, "Could not determine image size");
        return NULL;
    }
    n = (int)MIN(len, BLOCK_PROBE_BUF_SIZE);
    buf = qemu_xmalloc0(BLOCK_PROBE_BUF_SIZE);
    if (n > 0) {
        ret = bdrv_pread(&tmp, 0, n, buf, 0);
        if (ret < 0) {
            free(buf);
            error_setg_errno(errp, -ret, "Could not read image for determining its format");
            return NULL;
        }
    }
    drv = bdrv_probe_all(buf, n, filename);
    free(buf);
    if (!drv) {
        error_setg(errp, "Could not determine image format: No compatible driver found");
    }
    return drv;
}

static void check_leftover_options(BlockDriverState *bs, QDict *options,
                                   Error **errp)
{
    const QDictEntry *e = qdict_first(options);

    if (!e) {
        return;
    }
    if (opens_own_children(bs->drv)) {
        error_setg(errp, "Block protocol '%s' doesn't support the option '%s'",
                   bs->drv->format_name, qdict_entry_key(e));
    } else {
        error_setg(errp, "Block format '%s' does not support the option '%s'",
                   bs->drv->format_name, qdict_entry_key(e));
    }
}

static int open_backing_chain(BlockDriverState *bs, QDict *backing_opts,
                              int flags, const OpenChain *chain, Error **errp);

static BlockDriverState *bdrv_open_inherit(const char *filename, QDict *options,
                                           int flags, const OpenChain *chain,
                                           Error **errp)
{
    BlockDriverState *bs = NULL, *file_bs = NULL;
    const BlockDriver *drv = NULL;
    QDict *file_opts = NULL, *backing_opts = NULL;
    BlockdevDetectZeroes dz = BLOCKDEV_DETECT_ZEROES_OFF;
    char node_name[64] = "";
    char *driver_name = NULL, *json_filename = NULL;
    bool probed = false, no_backing = false;
    OpenChain link;
    Error *local_err = NULL;
    int ret;

    bdrv_init();
    if (!options) {
        options = qdict_new();
    }

    /* 1. json: filenames and generic options */
    if (filename && !strncmp(filename, "json:", 5)) {
        bool not_object;
        QDict *json = qdict_parse_json_value(filename + 5, &not_object,
                                             &local_err);
        if (!json) {
            error_propagate(errp, local_err);
            if (!not_object) {
                error_prepend(errp, "Could not parse the JSON options: ");
            }
            goto fail;
        }
        qdict_join(options, json, false);
        qdict_unref(json);
        json_filename = qemu_xstrdup(filename);
        filename = NULL;
    }
    if (!filename) {
        filename = qdict_get_try_str(options, "filename");
        /* Keep "filename" for the protocol driver, which consumes it. */
    }
    if (parse_generic_options(options, &flags, &dz, node_name,
                              sizeof(node_name), errp) < 0) {
        goto fail;
    }
    if (flags & BDRV_O_FORCE_SHARE) {
        if (flags & BDRV_O_RDWR) {
            error_setg(errp, "force-share=on can only be used with read-only images");
            goto fail;
        }
    }
    qdict_extract_subqdict(options, &file_opts, "file");
    qdict_extract_subqdict(options, &backing_opts, "backing");
    if (qdict_haskey(options, "backing")) {
        if (qdict_get_type(options, "backing") == QTYPE_QNULL ||
            !strcmp(qdict_get_try_str(options, "backing"), "")) {
            no_backing = true;
        } else {
            /* A node reference: we have no named nodes to refer to. */
            error_setg(errp, "Cannot reference an existing block device with "
                       "additional options or a new filename");
            goto fail;
        }
        qdict_del(options, "backing");
    }
    driver_name = bdrv_opt_take_str(options, "driver");

    /* 2. which driver */
    if (driver_name) {
        drv = bdrv_find_format(driver_name);
        if (!drv) {
            error_setg(errp, "Unknown driver '%s'", driver_name);
            goto fail;
        }
    } else if (flags & BDRV_O_PROTOCOL) {
        drv = bdrv_find_protocol(filename, errp);
        if (!drv) {
            goto fail;
        }
    } else if (!filename && !qdict_size(file_opts)) {
        error_setg(errp, "Must specify either driver or file");
        goto fail;
    }
    if (drv && !opens_own_children(drv) && !filename && !qdict_size(file_opts)) {
        error_setg(errp, "A block device must be specified for \"file\"");
        goto fail;
    }

    bs = bdrv_new();
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->force_share = !!(flags & BDRV_O_FORCE_SHARE);
    bs->detect_zeroes = dz;
    snprintf(bs->node_name, sizeof(bs->node_name), "%s", node_name);
    if (filename) {
        snprintf(bs->filename, sizeof(bs->filename), "%s", filename);
    }

    /* 3. a format needs its protocol child */
    if (!drv || !opens_own_children(drv)) {
        const char *file_filename = qdict_get_try_str(file_opts, "filename");
        const char *child_name = filename;
        QDict *child_opts = file_opts;

        if (file_filename) {
            child_name = NULL;  /* the options name the file */
        }
        file_opts = NULL;
        file_bs = bdrv_open_inherit(child_name, child_opts,
                                    (flags | BDRV_O_PROTOCOL) &
                                    ~(BDRV_O_NO_BACKING | BDRV_O_COPY_ON_READ),
                                    NULL, errp);
        if (!file_bs) {
            goto fail;
        }
        if ((flags & BDRV_O_RDWR) && file_bs->read_only) {
            /* A writable format over a file the options made read-only
             * (file.read-only=on). */
            error_setg(errp, "Block node is read-only");
            goto fail;
        }
        if (!bs->filename[0]) {
            snprintf(bs->filename, sizeof(bs->filename), "%s", file_bs->filename);
        }
        if (!drv) {
            drv = probe_format(file_bs, bs->filename, errp);
            if (!drv) {
                goto fail;
            }
            probed = true;
            if (probe_warnings && (flags & BDRV_O_RDWR) &&
                !strcmp(drv->format_name, "raw")) {
                fprintf(stderr, "WARNING: Image format was not specified for '%s' "
                        "and probing guessed raw.\n"
                        "         Automatically detecting the format is dangerous "
                        "for raw images, write operations on block 0 will be "
                        "restricted.\n"
                        "         Specify the 'raw' format explicitly to remove "
                        "the restrictions.\n", bs->filename);
            }
        }
        bs->file = bdrv_attach_child(bs, file_bs, "file");
        file_bs = NULL;
    } else {
        /* A protocol: the filename goes to the driver as an option. */
        if (filename && !qdict_haskey(options, "filename")) {
            if (drv->parse_filename && find_protocol_prefix(filename) == drv) {
                drv->parse_filename(filename, options, &local_err);
                if (local_err) {
                    error_propagate(errp, local_err);
                    goto fail;
                }
            } else {
                qdict_put_str(options, "filename", filename);
            }
        }
        if (qdict_size(file_opts) && !drv->opens_children) {
            error_setg(errp, "Block protocol '%s' doesn't support the option '%s'",
                       drv->format_name, qdict_entry_key(qdict_first(file_opts)));
            goto fail;
        }
    }

    /* 4. the driver's open.  Copy-on-read writes to the node it is
     * enabled on (only that one: children are opened without it), so a
     * read-only node refuses it before the driver reads anything. */
    if ((flags & BDRV_O_COPY_ON_READ) && !(flags & BDRV_O_RDWR)) {
        error_setg(errp, "Can't use copy-on-read on read-only device");
        goto fail;
    }
    bs->drv = drv;
    bs->probed = probed;
    bs->options = qdict_clone(options);
    if (drv->instance_size) {
        bs->opaque = qemu_xmalloc0(drv->instance_size);
    }
    bs->supported_write_flags = drv->supported_write_flags;
    bs->supported_zero_flags = drv->supported_zero_flags;
    bs->supported_truncate_flags = drv->supported_truncate_flags;
    bdrv_refresh_limits(bs, NULL);
    ret = drv->open(bs, options, flags, &local_err);
    if (ret < 0) {
        if (local_err) {
            error_propagate(errp, local_err);
        } else {
            error_setg_errno(errp, -ret, "Could not open '%s'", bs->filename);
        }
        bs->drv = NULL;     /* close must not run */
        goto fail;
    }
    check_leftover_options(bs, options, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        goto fail;
    }
    if (bdrv_getlength(bs) == -EFBIG) {
        error_setg_errno(errp, EFBIG, "Could not refresh total sector count");
        goto fail;
    }
    if (bs->read_only == false && !(flags & BDRV_O_RDWR)) {
        bs->read_only = true;
    }

    if (!bs->filename[0] && json_filename) {
        snprintf(bs->filename, sizeof(bs->filename), "%s", json_filename);
    }

    /* 5. limits, permissions, backing chain */
    bdrv_refresh_limits(bs, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        goto fail;
    }
    if (is_protocol_driver(drv) && bdrv_apply_perms(bs, NULL, errp) < 0) {
        goto fail;
    }
    if (bs->file && is_protocol_driver(bs->file->bs->drv) &&
        bdrv_apply_perms(bs->file->bs, drv, errp) < 0) {
        goto fail;
    }
    if (drv->supports_backing && bs->backing_file[0] && !no_backing &&
        !(flags & BDRV_O_NO_BACKING)) {
        link.parent = chain;
        link.depth = chain ? chain->depth + 1 : 0;
        link.have_id = bs->file && file_identity(bs->file->bs->filename,
                                                 &link.dev, &link.ino);
        ret = open_backing_chain(bs, backing_opts, flags, &link, errp);
        backing_opts = NULL;
        if (ret < 0) {
            goto fail;
        }
    }

    qdict_unref(options);
    qdict_unref(file_opts);
    qdict_unref(backing_opts);
    free(driver_name);
    free(json_filename);
    return bs;

fail:
    bdrv_unref(file_bs);
    bdrv_unref(bs);
    qdict_unref(options);
    qdict_unref(file_opts);
    qdict_unref(backing_opts);
    free(driver_name);
    free(json_filename);
    return NULL;
}

BlockDriverState *bdrv_open(const char *filename, QDict *options, int flags,
                            Error **errp)
{
    return bdrv_open_inherit(filename, options, flags, NULL, errp);
}

/* Does @path lie on the chain already being opened? */
static bool chain_has(const OpenChain *chain, uint64_t dev, uint64_t ino)
{
    for (; chain; chain = chain->parent) {
        if (chain->have_id && chain->dev == dev && chain->ino == ino) {
            return true;
        }
    }
    return false;
}

/* Would @path, opened again as a backing file of @bs (with @bs's open
 * @flags), fail to take its image locks?  Sets *errp then (the lock
 * error and its hint). */
static bool backing_lock_conflict(BlockDriverState *bs, const char *path,
                                  int flags, Error **errp)
{
    const BlockDriver *fmt = bs->backing_format[0]
                             ? bdrv_find_format(bs->backing_format) : NULL;
    int pflags = (flags & ~(BDRV_O_RDWR | BDRV_O_NO_BACKING | BDRV_O_CHECK |
                            BDRV_O_COPY_ON_READ)) | BDRV_O_PROTOCOL;
    BlockDriverState *proto;
    bool conflict;

    if (!fmt) {
        fmt = bs->drv;
    }
    proto = bdrv_open_inherit(path, NULL, pflags, NULL, NULL);
    if (!proto) {
        return false;
    }
    conflict = is_protocol_driver(proto->drv) &&
               bdrv_apply_perms(proto, fmt, errp) < 0;
    bdrv_unref(proto);
    return conflict;
}

static int open_backing_chain(BlockDriverState *bs, QDict *backing_opts,
                              int flags, const OpenChain *chain, Error **errp)
{
    BlockDriverState *backing;
    char *path;
    uint64_t dev, ino;
    int bflags;

    if (!backing_opts) {
        backing_opts = qdict_new();
    }
    if (chain->depth >= BDRV_MAX_BACKING_DEPTH) {
        error_setg(errp, "Backing chain of '%s' is deeper than %d images",
                   bs->filename, BDRV_MAX_BACKING_DEPTH);
        qdict_unref(backing_opts);
        return -EINVAL;
    }
    if (path_is_absolute(bs->backing_file) || strchr(bs->backing_file, ':') ||
        !bs->file) {
        path = qemu_xstrdup(bs->backing_file);
    } else {
        path = path_combine(bs->file->bs->filename[0] ? bs->file->bs->filename
                                                      : bs->filename,
                            bs->backing_file);
    }
    snprintf(bs->auto_backing_file, sizeof(bs->auto_backing_file), "%s", path);

    if (file_identity(path, &dev, &ino) && chain_has(chain, dev, ino)) {
        /* QEMU opens the file again before it sees the loop, so where a
         * writer above holds the image's "write" lock, that open is
         * what fails.  Take the locks of a backing file on it to learn
         * whether it would, and report that first. */
        if (backing_lock_conflict(bs, path, flags, errp)) {
            error_prepend(errp, "Could not open backing file: ");
        } else {
            error_setg(errp, "Backing file '%s' creates an infinite loop", path);
        }
        qdict_unref(backing_opts);
        free(path);
        return -ELOOP;
    }
    if (bs->backing_format[0] && !qdict_haskey(backing_opts, "driver")) {
        qdict_put_str(backing_opts, "driver", bs->backing_format);
    }
    /* Backing files are read-only and inherit the cache mode. */
    bflags = (flags & ~(BDRV_O_RDWR | BDRV_O_NO_BACKING | BDRV_O_PROTOCOL |
                        BDRV_O_CHECK | BDRV_O_COPY_ON_READ)) |
             (flags & BDRV_O_FORCE_SHARE);
    backing = bdrv_open_inherit(qdict_haskey(backing_opts, "file.filename") ? NULL : path,
                                backing_opts, bflags, chain, errp);
    if (!backing) {
        error_prepend(errp, "Could not open backing file: ");
        free(path);
        return -EINVAL;
    }
    free(path);
    bs->backing = bdrv_attach_child(bs, backing, "backing");
    return 0;
}

int bdrv_open_backing_file(BlockDriverState *bs, QDict *options, int flags,
                           Error **errp)
{
    OpenChain link = { 0 };

    if (bs->backing || !bs->drv || !bs->drv->supports_backing ||
        !bs->backing_file[0]) {
        qdict_unref(options);
        return 0;
    }
    link.have_id = bs->file && file_identity(bs->file->bs->filename,
                                             &link.dev, &link.ino);
    return open_backing_chain(bs, options, flags, &link, errp);
}

BdrvChild *bdrv_open_child(const char *filename, QDict *options,
                           const char *child_name, BlockDriverState *parent,
                           int flags, bool protocol_only, Error **errp)
{
    BlockDriverState *bs;

    if (protocol_only) {
        flags |= BDRV_O_PROTOCOL;
    }
    /* Copy-on-read belongs to the node it was asked of (a filter's
     * child copying too would copy behind the filter's back). */
    flags &= ~BDRV_O_COPY_ON_READ;
    bs = bdrv_open(filename, options, flags, errp);
    if (!bs) {
        return NULL;
    }
    return bdrv_attach_child(parent, bs, child_name);
}

BdrvChild *bdrv_open_image_child(BlockDriverState *parent, const char *image,
                                 QDict *image_opts, int flags, Error **errp)
{
    if (!image && !qdict_size(image_opts)) {
        error_setg(errp, "A block device must be specified for \"image\"");
        qdict_unref(image_opts);
        return NULL;
    }
    if (qdict_haskey(image_opts, "filename") ||
        qdict_haskey(image_opts, "driver")) {
        image = NULL;
    }
    return bdrv_open_child(image, image_opts, "image", parent, flags, true,
                           errp);
}

/* ---- properties ---- */

const char *bdrv_get_format_name(BlockDriverState *bs)
{
    return bs->drv ? bs->drv->format_name : NULL;
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->total_bytes >= 0 && !bs->drv->has_variable_length) {
        return bs->total_bytes;
    }
    if (bs->drv->getlength) {
        int64_t len = bs->drv->getlength(bs);
        if (len < 0) {
            return len;
        }
        if (len > BDRV_MAX_LENGTH) {
            return -EFBIG;
        }
        /* Lengths are whole sectors, as in QEMU: a 77-byte raw file is a
         * 512-byte disk whose tail reads as zeroes. */
        len = QEMU_ALIGN_UP(len, (int64_t)BDRV_SECTOR_SIZE);
        if (!bs->drv->has_variable_length) {
            bs->total_bytes = len;
        }
        return len;
    }
    if (bs->file) {
        return bdrv_getlength(bs->file->bs);
    }
    return -ENOTSUP;
}

int64_t bdrv_get_allocated_file_size(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->drv->get_allocated_file_size) {
        return bs->drv->get_allocated_file_size(bs);
    }
    if (bs->file) {
        return bdrv_get_allocated_file_size(bs->file->bs);
    }
    return -ENOTSUP;
}

bool bdrv_is_read_only(BlockDriverState *bs)
{
    return bs->read_only;
}

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->get_info) {
        if (bs->drv->is_filter && bs->file) {
            return bdrv_get_info(bs->file->bs, bdi);
        }
        return -ENOTSUP;
    }
    return bs->drv->get_info(bs, bdi);
}

int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_tab)
{
    *psn_tab = NULL;
    if (!bs->drv || !bs->drv->snapshot_list) {
        return 0;
    }
    return bs->drv->snapshot_list(bs, psn_tab);
}

ImageInfoSpecific *bdrv_get_specific_info(BlockDriverState *bs, Error **errp)
{
    if (bs->drv && bs->drv->get_specific_info) {
        return bs->drv->get_specific_info(bs, errp);
    }
    return NULL;
}

void image_info_specific_free(ImageInfoSpecific *info)
{
    if (info) {
        free(info->type);
        qdict_unref(info->data);
        free(info);
    }
}

static bool is_strong_opt(const BlockDriver *drv, const char *key)
{
    const char *const *p;

    for (p = drv->strong_runtime_opts; p && *p; p++) {
        if (!strcmp(*p, key)) {
            return true;
        }
    }
    return false;
}

/* A node is shown by its plain filename when nothing but a filename
 * among the options it was opened with changes what the guest sees, and
 * the same holds for its protocol child. */
static bool node_is_plain(BlockDriverState *bs)
{
    const QDictEntry *e;

    for (e = bs->options ? qdict_first(bs->options) : NULL; e;
         e = qdict_next(bs->options, e)) {
        const char *key = qdict_entry_key(e);
        if (strcmp(key, "filename") && is_strong_opt(bs->drv, key)) {
            return false;
        }
    }
    return !bs->file || node_is_plain(bs->file->bs);
}

/* The strong options of @bs and its protocol child as dotted keys. */
static void collect_json_options(BlockDriverState *bs, QDict *out,
                                 const char *prefix)
{
    const QDictEntry *e;
    char *key;

    key = qemu_xasprintf("%sdriver", prefix);
    qdict_put_str(out, key, bs->drv->format_name);
    free(key);
    for (e = bs->options ? qdict_first(bs->options) : NULL; e;
         e = qdict_next(bs->options, e)) {
        if (is_strong_opt(bs->drv, qdict_entry_key(e))) {
            key = qemu_xasprintf("%s%s", prefix, qdict_entry_key(e));
            qdict_put_typed(out, key, qdict_entry_type(e), qdict_entry_value(e));
            free(key);
        }
    }
    if (bs->file) {
        char *sub = qemu_xasprintf("%sfile.", prefix);
        collect_json_options(bs->file->bs, out, sub);
        free(sub);
    }
}

char *bdrv_get_display_filename(BlockDriverState *bs)
{
    QDict *d;
    char *json, *ret;

    if (!bs->drv) {
        return qemu_xstrdup(bs->filename);
    }
    if (node_is_plain(bs)) {
        while (bs->file && bs->drv->is_format) {
            bs = bs->file->bs;
        }
        return qemu_xstrdup(bs->filename);
    }
    d = qdict_new();
    collect_json_options(bs, d, "");
    json = qdict_to_json(d);
    qdict_unref(d);
    ret = qemu_xasprintf("json:%s", json);
    free(json);
    return ret;
}

AioContext *bdrv_get_context(BlockDriverState *bs)
{
    return bs->aio_context;
}

/* ---- creation ---- */

typedef struct CreateCo {
    const BlockDriver *drv;
    const char *filename;
    QemuOpts *opts;
    Error **errp;
    int ret;
    bool done;
} CreateCo;

static void coroutine_fn bdrv_create_co_entry(void *opaque)
{
    CreateCo *cco = opaque;

    cco->ret = cco->drv->create((BlockDriver *)cco->drv, cco->filename,
                                cco->opts, cco->errp);
    cco->done = true;
}

int bdrv_create(const BlockDriver *drv, const char *filename, QemuOpts *opts,
                Error **errp)
{
    Error *local_err = NULL;
    CreateCo cco = {
        .drv = drv, .filename = filename, .opts = opts, .errp = &local_err,
    };

    if (!drv) {
        drv = bdrv_find_protocol(filename, errp);
        if (!drv) {
            return -ENOENT;
        }
        cco.drv = drv;
    }
    if (!drv->create) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   drv->format_name);
        return -ENOTSUP;
    }
    bdrv_run_co(qemu_get_current_aio_context() ? qemu_get_current_aio_context()
                                               : qemu_get_aio_context(),
                bdrv_create_co_entry, &cco, &cco.done);
    if (cco.ret < 0) {
        if (local_err) {
            error_propagate(errp, local_err);
        } else {
            error_setg_errno(errp, -cco.ret, "Could not create image");
        }
    }
    return cco.ret;
}

int bdrv_create_file(const char *filename, QemuOpts *opts, Error **errp)
{
    const BlockDriver *drv = bdrv_find_protocol(filename, errp);

    if (!drv) {
        return -ENOENT;
    }
    return bdrv_create(drv, filename, opts, errp);
}

int bdrv_delete_file(const char *filename, Error **errp)
{
    const BlockDriver *drv = bdrv_find_protocol(filename, errp);

    if (!drv) {
        return -ENOENT;
    }
    if (!drv->delete_file) {
        error_setg(errp, "Driver '%s' does not support image deletion",
                   drv->format_name);
        return -ENOTSUP;
    }
    return drv->delete_file(filename, errp);
}

/* ---- maintenance ---- */

int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, Error **errp)
{
    int ret;

    if (!bs->drv || !bs->drv->change_backing_file) {
        error_setg(errp, "Driver '%s' does not support changing the backing file",
                   bs->drv ? bs->drv->format_name : "?");
        return -ENOTSUP;
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EPERM;
    }
    ret = bs->drv->change_backing_file(bs, backing_file, backing_fmt);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not change the backing file to '%s'",
                         backing_file ? backing_file : "");
        return ret;
    }
    snprintf(bs->backing_file, sizeof(bs->backing_file), "%s",
             backing_file ? backing_file : "");
    snprintf(bs->backing_format, sizeof(bs->backing_format), "%s",
             backing_fmt ? backing_fmt : "");
    return 0;
}

int bdrv_make_empty(BlockDriverState *bs, Error **errp)
{
    int ret;

    if (!bs->drv || !bs->drv->make_empty) {
        error_setg(errp, "Driver '%s' does not support emptying the image",
                   bs->drv ? bs->drv->format_name : "?");
        return -ENOTSUP;
    }
    ret = bs->drv->make_empty(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to empty the image");
    }
    return ret;
}

int bdrv_amend_options(BlockDriverState *bs, QemuOpts *opts, bool force,
                       Error **errp)
{
    if (!bs->drv || !bs->drv->amend) {
        error_setg(errp, "Block driver '%s' does not support option amendment",
                   bs->drv ? bs->drv->format_name : "?");
        return -ENOTSUP;
    }
    return bs->drv->amend(bs, opts, force, errp);
}

BlockMeasureInfo *bdrv_measure(const BlockDriver *drv, QemuOpts *opts,
                               BlockDriverState *in_bs, Error **errp)
{
    if (!drv->measure) {
        error_setg(errp, "Format driver '%s' does not support size "
                   "measurement", drv->format_name);
        return NULL;
    }
    return drv->measure(opts, in_bs, errp);
}

/* ---- debug events ---- */

static const char *const debug_event_names[] = {
    [BLKDBG_L1_UPDATE] = "l1_update",
    [BLKDBG_L1_GROW_ALLOC_TABLE] = "l1_grow_alloc_table",
    [BLKDBG_L1_GROW_WRITE_TABLE] = "l1_grow_write_table",
    [BLKDBG_L1_GROW_ACTIVATE_TABLE] = "l1_grow_activate_table",
    [BLKDBG_L2_LOAD] = "l2_load",
    [BLKDBG_L2_UPDATE] = "l2_update",
    [BLKDBG_L2_UPDATE_COMPRESSED] = "l2_update_compressed",
    [BLKDBG_L2_ALLOC_COW_READ] = "l2_alloc_cow_read",
    [BLKDBG_L2_ALLOC_WRITE] = "l2_alloc_write",
    [BLKDBG_READ_AIO] = "read_aio",
    [BLKDBG_READ_BACKING_AIO] = "read_backing_aio",
    [BLKDBG_READ_COMPRESSED] = "read_compressed",
    [BLKDBG_WRITE_AIO] = "write_aio",
    [BLKDBG_WRITE_COMPRESSED] = "write_compressed",
    [BLKDBG_VMSTATE_LOAD] = "vmstate_load",
    [BLKDBG_VMSTATE_SAVE] = "vmstate_save",
    [BLKDBG_COW_READ] = "cow_read",
    [BLKDBG_COW_WRITE] = "cow_write",
    [BLKDBG_REFTABLE_LOAD] = "reftable_load",
    [BLKDBG_REFTABLE_GROW] = "reftable_grow",
    [BLKDBG_REFTABLE_UPDATE] = "reftable_update",
    [BLKDBG_REFBLOCK_LOAD] = "refblock_load",
    [BLKDBG_REFBLOCK_UPDATE] = "refblock_update",
    [BLKDBG_REFBLOCK_UPDATE_PART] = "refblock_update_part",
    [BLKDBG_REFBLOCK_ALLOC] = "refblock_alloc",
    [BLKDBG_REFBLOCK_ALLOC_HOOKUP] = "refblock_alloc_hookup",
    [BLKDBG_REFBLOCK_ALLOC_WRITE] = "refblock_alloc_write",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS] = "refblock_alloc_write_blocks",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE] = "refblock_alloc_write_table",
    [BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE] = "refblock_alloc_switch_table",
    [BLKDBG_CLUSTER_ALLOC] = "cluster_alloc",
    [BLKDBG_CLUSTER_ALLOC_BYTES] = "cluster_alloc_bytes",
    [BLKDBG_CLUSTER_FREE] = "cluster_free",
    [BLKDBG_FLUSH_TO_OS] = "flush_to_os",
    [BLKDBG_FLUSH_TO_DISK] = "flush_to_disk",
    [BLKDBG_PWRITEV_RMW_HEAD] = "pwritev_rmw_head",
    [BLKDBG_PWRITEV_RMW_AFTER_HEAD] = "pwritev_rmw_after_head",
    [BLKDBG_PWRITEV_RMW_TAIL] = "pwritev_rmw_tail",
    [BLKDBG_PWRITEV_RMW_AFTER_TAIL] = "pwritev_rmw_after_tail",
    [BLKDBG_PWRITEV] = "pwritev",
    [BLKDBG_PWRITEV_ZERO] = "pwritev_zero",
    [BLKDBG_PWRITEV_DONE] = "pwritev_done",
    [BLKDBG_EMPTY_IMAGE_PREPARE] = "empty_image_prepare",
    [BLKDBG_L1_SHRINK_WRITE_TABLE] = "l1_shrink_write_table",
    [BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS] = "l1_shrink_free_l2_clusters",
    [BLKDBG_COR_WRITE] = "cor_write",
    [BLKDBG_CLUSTER_ALLOC_SPACE] = "cluster_alloc_space",
    [BLKDBG_NONE] = "none",
};
_Static_assert(ARRAY_SIZE(debug_event_names) == BLKDBG__MAX,
               "every BlkdebugEvent needs a name");

const char *bdrv_debug_event_name(BlkdebugEvent ev)
{
    if ((unsigned)ev >= BLKDBG__MAX) {
        return NULL;
    }
    return debug_event_names[ev];
}

int bdrv_debug_event_lookup(const char *name)
{
    int i;

    for (i = 0; i < BLKDBG__MAX; i++) {
        if (!strcmp(debug_event_names[i], name)) {
            return i;
        }
    }
    return -1;
}

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent ev)
{
    if (bs && bs->drv && bs->drv->debug_event) {
        bs->drv->debug_event(bs, ev);
    }
}

/* The first node from @bs down the file/filter chain whose driver has
 * breakpoints. */
static BlockDriverState *debug_node(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->drv->debug_breakpoint) {
        bs = bs->file ? bs->file->bs : NULL;
    }
    return bs && bs->drv ? bs : NULL;
}

int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->debug_breakpoint(bs, event, tag) : -ENOTSUP;
}

int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->debug_remove_breakpoint(bs, tag) : -ENOTSUP;
}

int bdrv_debug_resume(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->debug_resume(bs, tag) : -ENOTSUP;
}

bool bdrv_debug_has_breakpoints(BlockDriverState *bs)
{
    return debug_node(bs) != NULL;
}

bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->debug_is_suspended(bs, tag) : false;
}
