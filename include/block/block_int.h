/*
 * coblock — the block driver interface and the node structure
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The driver contract
 * -------------------
 * One byte-based, vectored callback per verb.  The generic layer
 * (block/io.c) calls them only through the bdrv_* wrappers, which
 * guarantee that a driver sees:
 *   - requests inside the image (offset + bytes <= length, unless the
 *     driver sets BlockDriver.growable for writes),
 *   - offsets and lengths aligned to bs->bl.request_alignment,
 *   - no request longer than bs->bl.max_transfer (when set),
 *   - only the request flags it listed in supported_write_flags /
 *     supported_zero_flags (the rest are emulated: FUA by a flush, zero
 *     writes by writing zero buffers unless NO_FALLBACK),
 *   - an I/O vector of exactly @bytes bytes.
 * and they require that the driver returns 0 or -errno (never a positive
 * value for success; block_status returns flags).  I/O callbacks are
 * coroutine_fn and run in the node's AioContext.
 *
 * Open/create/truncate/check report through Error **errp; a driver must
 * set it whenever it returns failure there.
 *
 * Registration: a driver is a `const BlockDriver` with
 * .struct_size = sizeof(BlockDriver) and .api_version =
 * BLOCK_DRIVER_API_VERSION, listed in block/drivers.c.  bdrv_register()
 * refuses a driver with an unknown version or without a required
 * callback, naming the missing callback.  The core keeps its own zeroed
 * copy of the struct, so a driver built against an older (smaller)
 * BlockDriver reads as NULL for the newer fields.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include "util/osdep.h"
#include "util/queue.h"
#include <coblock/block.h>
#include "block/block.h"

#define BLOCK_DRIVER_API_VERSION 1

/* ---- permissions (image locking) ---- */
/* Same bits as QEMU, so that the byte-range locks interoperate. */
enum {
    BLK_PERM_CONSISTENT_READ = 0x01,
    BLK_PERM_WRITE           = 0x02,
    BLK_PERM_WRITE_UNCHANGED = 0x04,
    BLK_PERM_RESIZE          = 0x08,
    BLK_PERM_ALL             = 0x0f,
};

/* ---- block status ---- */
#define BDRV_BLOCK_DATA         0x01  /* reads return data from this layer or below */
#define BDRV_BLOCK_ZERO         0x02  /* reads return zeroes */
#define BDRV_BLOCK_OFFSET_VALID 0x04  /* *map is the host offset in *file */
#define BDRV_BLOCK_RAW          0x08  /* driver: ask *file for the real answer */
#define BDRV_BLOCK_ALLOCATED    0x10  /* allocated in this layer (not the backing) */
#define BDRV_BLOCK_EOF          0x20  /* the range reaches the end of the image */
#define BDRV_BLOCK_RECURSE      0x40  /* driver: also ask *file whether it reads as zero */

/* ---- limits ---- */
typedef struct BlockLimits {
    uint32_t request_alignment;     /* bytes; 1 = any */
    int64_t max_transfer;           /* 0 = no limit */
    int64_t opt_transfer;
    uint32_t pdiscard_alignment;    /* 0 = request_alignment */
    int64_t max_pdiscard;
    uint32_t pwrite_zeroes_alignment;
    int64_t max_pwrite_zeroes;
    size_t min_mem_alignment;       /* buffers below this must be bounced */
    size_t opt_mem_alignment;
    int max_iov;
} BlockLimits;

/* ---- information for qemu-img info / check / measure ---- */
typedef struct BlockDriverInfo {
    int cluster_size;               /* 0 if the format has none */
    int64_t vm_state_offset;
    bool is_dirty;
} BlockDriverInfo;

/* Format-specific information: a type name and an ordered, typed QDict
 * whose keys are the JSON member names (e.g. "lazy-refcounts"). */
typedef struct ImageInfoSpecific {
    char *type;
    QDict *data;
} ImageInfoSpecific;
void image_info_specific_free(ImageInfoSpecific *info);

typedef struct BlockFragInfo {
    uint64_t allocated_clusters;
    uint64_t total_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
} BlockFragInfo;

typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    BlockFragInfo bfi;
} BdrvCheckResult;

typedef enum {
    BDRV_FIX_LEAKS = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

typedef struct BlockMeasureInfo {
    uint64_t required;
    uint64_t fully_allocated;
    bool has_bitmaps;
    uint64_t bitmaps;
} BlockMeasureInfo;

/* An internal snapshot, as qemu-img info lists it. */
struct QEMUSnapshotInfo {
    char id_str[128];
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;                /* UINT64_MAX: not recorded */
};

/* ---- creation options (qemu-img create -o, amend -o) ---- */
typedef enum QemuOptType {
    QEMU_OPT_STRING,
    QEMU_OPT_BOOL,
    QEMU_OPT_NUMBER,
    QEMU_OPT_SIZE,
} QemuOptType;

typedef struct QemuOptDesc {
    const char *name;
    QemuOptType type;
    const char *help;
    const char *def_value_str;      /* NULL: no default */
} QemuOptDesc;

/* A NULL-name-terminated list of descriptors. */
typedef struct QemuOptsList {
    const char *name;
    QemuOptDesc desc[48];
} QemuOptsList;

/* Values for a QemuOptsList, kept in the order they were set. */
typedef struct QemuOpts QemuOpts;

QemuOpts *qemu_opts_create(const QemuOptsList *list);
void qemu_opts_del(QemuOpts *opts);
/* Parse "a=b,c=d" into @opts; unknown names fail with "Invalid parameter
 * 'x'"; values are checked against the descriptor's type. */
bool qemu_opts_do_parse(QemuOpts *opts, const char *params, Error **errp);
bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp);
void qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val);
bool qemu_opt_has(const QemuOpts *opts, const char *name);
/* The value set, else NULL (defaults are not applied by qemu_opt_get). */
const char *qemu_opt_get(const QemuOpts *opts, const char *name);
/* The value set, else the descriptor's default, else @def. */
bool qemu_opt_get_bool(const QemuOpts *opts, const char *name, bool def);
uint64_t qemu_opt_get_size(const QemuOpts *opts, const char *name, uint64_t def);
uint64_t qemu_opt_get_number(const QemuOpts *opts, const char *name, uint64_t def);
const char *qemu_opt_get_str(const QemuOpts *opts, const char *name);
void qemu_opt_unset(QemuOpts *opts, const char *name);
const QemuOptsList *qemu_opts_list(const QemuOpts *opts);
/* Iterate over the values that were set, in order. */
const QDict *qemu_opts_values(const QemuOpts *opts);
/* Concatenate two lists (entries of @b whose name is already in @a are
 * left out); the caller frees the result. */
QemuOptsList *qemu_opts_append(const QemuOptsList *a, const QemuOptsList *b);
/* "Supported options:" listing as printed by qemu-img -o help. */
void qemu_opts_print_help(const QemuOptsList *list, bool print_caption);

/* ---- debug events (blkdebug) ---- */
/* Points in the drivers and the generic layer that a blkdebug node below
 * can react to (inject an error into the next request, change state,
 * suspend the request).  The names are QEMU's, so that blkdebug
 * configuration files work with both.  The name table in block/block.c
 * is checked against this enum at compile time. */
typedef enum BlkdebugEvent {
    BLKDBG_L1_UPDATE,
    BLKDBG_L1_GROW_ALLOC_TABLE,
    BLKDBG_L1_GROW_WRITE_TABLE,
    BLKDBG_L1_GROW_ACTIVATE_TABLE,
    BLKDBG_L2_LOAD,
    BLKDBG_L2_UPDATE,
    BLKDBG_L2_UPDATE_COMPRESSED,
    BLKDBG_L2_ALLOC_COW_READ,
    BLKDBG_L2_ALLOC_WRITE,
    BLKDBG_READ_AIO,
    BLKDBG_READ_BACKING_AIO,
    BLKDBG_READ_COMPRESSED,
    BLKDBG_WRITE_AIO,
    BLKDBG_WRITE_COMPRESSED,
    BLKDBG_VMSTATE_LOAD,
    BLKDBG_VMSTATE_SAVE,
    BLKDBG_COW_READ,
    BLKDBG_COW_WRITE,
    BLKDBG_REFTABLE_LOAD,
    BLKDBG_REFTABLE_GROW,
    BLKDBG_REFTABLE_UPDATE,
    BLKDBG_REFBLOCK_LOAD,
    BLKDBG_REFBLOCK_UPDATE,
    BLKDBG_REFBLOCK_UPDATE_PART,
    BLKDBG_REFBLOCK_ALLOC,
    BLKDBG_REFBLOCK_ALLOC_HOOKUP,
    BLKDBG_REFBLOCK_ALLOC_WRITE,
    BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS,
    BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE,
    BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE,
    BLKDBG_CLUSTER_ALLOC,
    BLKDBG_CLUSTER_ALLOC_BYTES,
    BLKDBG_CLUSTER_FREE,
    BLKDBG_FLUSH_TO_OS,
    BLKDBG_FLUSH_TO_DISK,
    BLKDBG_PWRITEV_RMW_HEAD,
    BLKDBG_PWRITEV_RMW_AFTER_HEAD,
    BLKDBG_PWRITEV_RMW_TAIL,
    BLKDBG_PWRITEV_RMW_AFTER_TAIL,
    BLKDBG_PWRITEV,
    BLKDBG_PWRITEV_ZERO,
    BLKDBG_PWRITEV_DONE,
    BLKDBG_EMPTY_IMAGE_PREPARE,
    BLKDBG_L1_SHRINK_WRITE_TABLE,
    BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS,
    BLKDBG_COR_WRITE,
    BLKDBG_CLUSTER_ALLOC_SPACE,
    BLKDBG_NONE,
    BLKDBG__MAX,
} BlkdebugEvent;

/* "l2_update" for BLKDBG_L2_UPDATE; NULL out of range. */
const char *bdrv_debug_event_name(BlkdebugEvent ev);
/* The event called @name, or -1. */
int bdrv_debug_event_lookup(const char *name);

/* Tell @bs (usually a format's bs->file->bs) that @ev is about to
 * happen.  A node whose driver has no debug_event callback ignores it
 * (one pointer test); NULL @bs is allowed.  May yield when a breakpoint
 * suspends the request, so only coroutine callers get suspended. */
void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent ev);

/* qemu-io's break / remove_break / resume / wait_break: act on the first
 * node down the file chain from @bs whose driver handles breakpoints.
 * -ENOTSUP when there is none, -ENOENT for an unknown event or tag. */
int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag);
int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag);
int bdrv_debug_resume(BlockDriverState *bs, const char *tag);
bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag);
/* Is there a node below @bs that handles breakpoints? */
bool bdrv_debug_has_breakpoints(BlockDriverState *bs);

/* ---- the driver ---- */

typedef struct BlockDriver BlockDriver;
typedef struct BdrvChild BdrvChild;

struct BlockDriver {
    size_t struct_size;             /* sizeof(BlockDriver) */
    unsigned api_version;           /* BLOCK_DRIVER_API_VERSION */

    const char *format_name;        /* "qcow2", "raw", "file", "null-co" */
    size_t instance_size;           /* bs->opaque */

    bool is_format;                 /* sits over a protocol child "file" */
    bool is_filter;                 /* passes I/O to one child unchanged */
    const char *protocol_name;      /* "file", "null-co": filename prefix */
    bool supports_backing;          /* format with a backing file */
    bool growable;                  /* writes may extend the image */
    bool shares_writes;             /* a format without metadata of its own
                                     * (raw): others may write the file too */
    bool has_variable_length;       /* ask getlength each time */

    /* Probing: a score (0 = not mine, 100 = certain) for the first bytes of
     * a file.  Formats only. */
    int (*probe)(const uint8_t *buf, int buf_size, const char *filename);

    /* Split a protocol filename ("null-co://", "nbd://h/e") into options. */
    void (*parse_filename)(const char *filename, QDict *options, Error **errp);

    /* Required.  Formats find their protocol child in bs->file (opened by
     * the core before open is called).  Options the driver consumes must
     * be deleted from @options; what is left is an error. */
    int (*open)(BlockDriverState *bs, QDict *options, int flags, Error **errp);
    void (*close)(BlockDriverState *bs);

    /* Set bs->bl (the core preset request_alignment to 1 and inherited
     * what a format's child allows). */
    void (*refresh_limits)(BlockDriverState *bs, Error **errp);

    /* Protocol drivers: take or release image locks for the permissions
     * the node needs (@perm) and lets others have (@shared). */
    int (*set_perm)(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                    Error **errp);

    /* Create an image (may run in a coroutine: it may do I/O). */
    int coroutine_fn (*create)(BlockDriver *drv, const char *filename,
                               QemuOpts *opts, Error **errp);
    const QemuOptsList *create_opts;
    /* Change options of an existing image (qemu-img amend). */
    int (*amend)(BlockDriverState *bs, QemuOpts *opts, bool force, Error **errp);
    const QemuOptsList *amend_opts;

    /* I/O.  preadv is required. */
    int coroutine_fn (*preadv)(BlockDriverState *bs, int64_t offset,
                               int64_t bytes, QEMUIOVector *qiov,
                               BdrvRequestFlags flags);
    int coroutine_fn (*pwritev)(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags);
    int coroutine_fn (*pwrite_zeroes)(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags);
    int coroutine_fn (*pdiscard)(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes);
    /* Make written data stable: formats write back their caches to
     * bs->file (the core then flushes the children); protocols sync. */
    int coroutine_fn (*flush)(BlockDriverState *bs);
    /* Status of [offset, offset + bytes): returns BDRV_BLOCK_* flags or
     * -errno, with *pnum > 0 bytes that share it, *map / *file when
     * OFFSET_VALID.  @want_zero: the caller wants precise ZERO answers
     * (slow checks allowed), not only allocation. */
    int coroutine_fn (*block_status)(BlockDriverState *bs, bool want_zero,
                                     int64_t offset, int64_t bytes,
                                     int64_t *pnum, int64_t *map,
                                     BlockDriverState **file);
    int coroutine_fn (*truncate)(BlockDriverState *bs, int64_t offset,
                                 bool exact, PreallocMode prealloc,
                                 BdrvRequestFlags flags, Error **errp);

    /* Copy offload (optional): move bytes from one chain to another
     * without bringing them into memory, e.g. with copy_file_range(2).
     * Both sides see aligned ranges inside their node, as for preadv and
     * pwritev (max_transfer does not apply).  -ENOTSUP means "not this
     * range, not this way": the caller then reads and writes instead,
     * so a driver may return it after copying part of the range.
     *
     * Source side: [offset, offset + bytes) of @bs goes to @dst at
     * @dst_offset.  A format passes its host ranges on with
     * bdrv_co_copy_range_from() on its file child; a protocol hands
     * itself as the source to bdrv_co_copy_range_to(@dst, ...). */
    int coroutine_fn (*copy_range_from)(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, BdrvChild *dst,
                                        int64_t dst_offset,
                                        BdrvRequestFlags write_flags);
    /* Destination side: write [offset, offset + bytes) of @bs with the
     * bytes at @src_offset of the protocol node @src.  A format maps
     * (allocating as a write would) and passes on with
     * bdrv_co_copy_range_to() on its file child; a protocol copies when
     * it can reach @src's data itself (a node of its own driver). */
    int coroutine_fn (*copy_range_to)(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, BlockDriverState *src,
                                      int64_t src_offset,
                                      BdrvRequestFlags flags);

    /* Whether copy_range_to on @bs is done by the storage (reflinks, a
     * copy on a file server) rather than by the kernel moving page-cache
     * pages, which is no cheaper than reading and writing.  Protocols
     * with copy_range_to answer; formats leave it out and their file
     * child answers (bdrv_copy_range_offloads). */
    bool (*copy_range_offloads)(BlockDriverState *bs);

    /* Required for protocols; formats default to their own answer. */
    int64_t (*getlength)(BlockDriverState *bs);
    /* Bytes used on the host ("disk size"), or -ENOTSUP / -errno. */
    int64_t (*get_allocated_file_size)(BlockDriverState *bs);
    int (*get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    ImageInfoSpecific *(*get_specific_info)(BlockDriverState *bs, Error **errp);
    int coroutine_fn (*check)(BlockDriverState *bs, BdrvCheckResult *result,
                              BdrvCheckMode fix);
    BlockMeasureInfo *(*measure)(QemuOpts *opts, BlockDriverState *in_bs,
                                 Error **errp);
    /* Rewrite the backing file name and format in the image header. */
    int (*change_backing_file)(BlockDriverState *bs, const char *backing_file,
                               const char *backing_fmt);
    /* Drop all data of this layer (qemu-img commit without -d). */
    int (*make_empty)(BlockDriverState *bs);
    /* The VM state area (a snapshot's saved RAM and devices, outside the
     * guest-visible disk): @qiov->size bytes at byte @pos of the area.
     * Drivers without one leave these NULL (-ENOTSUP; filters pass the
     * request to their child). */
    int coroutine_fn (*load_vmstate)(BlockDriverState *bs, QEMUIOVector *qiov,
                                     int64_t pos);
    int coroutine_fn (*save_vmstate)(BlockDriverState *bs, QEMUIOVector *qiov,
                                     int64_t pos);

    /* Flags the driver honours itself. */
    unsigned supported_write_flags;     /* FUA, WRITE_COMPRESSED */
    unsigned supported_zero_flags;      /* FUA, MAY_UNMAP, NO_FALLBACK */
    unsigned supported_truncate_flags;  /* ZERO_WRITE */

    /* Options that change what the guest sees (raw's offset and size, a
     * file's filename): a node opened with any of them beyond a plain
     * filename is shown as a json: filename.  NULL-terminated. */
    const char *const *strong_runtime_opts;

    /* Filters that open their own children (blkdebug): the core passes
     * the filename and options through like a protocol's and opens no
     * "file" child; the driver sets bs->file itself. */
    bool opens_children;

    /* Debug events and breakpoints (blkdebug). */
    void (*debug_event)(BlockDriverState *bs, BlkdebugEvent ev);
    int (*debug_breakpoint)(BlockDriverState *bs, const char *event,
                            const char *tag);
    int (*debug_remove_breakpoint)(BlockDriverState *bs, const char *tag);
    int (*debug_resume)(BlockDriverState *bs, const char *tag);
    bool (*debug_is_suspended)(BlockDriverState *bs, const char *tag);

    /* Protocols: delete the file @filename names (a format's create that
     * fails after the file was made removes it, as QEMU does).  0 or
     * -errno with *errp set. */
    int (*delete_file)(const char *filename, Error **errp);

    /* Formats with internal snapshots: a malloc'ed array of them in
     * *psn_tab (NULL when there are none); returns the count or -errno. */
    int (*snapshot_list)(BlockDriverState *bs, QEMUSnapshotInfo **psn_tab);
};

/* Register a driver (a private copy is kept).  Returns 0, or -EINVAL and
 * an error naming what is wrong (unknown version, missing callback). */
int bdrv_register(const BlockDriver *drv, Error **errp);
/* Make the built-in drivers available (idempotent). */
void bdrv_init(void);
const BlockDriver *bdrv_find_format(const char *format_name);
/* A preallocation mode's name as options spell it ("off", "metadata",
 * "falloc", "full"; "?" for anything else), and the reverse: false if
 * @str names no mode. */
const char *bdrv_prealloc_mode_name(PreallocMode mode);
bool bdrv_prealloc_mode_parse(const char *str, PreallocMode *mode);
/* Iterate over the registered drivers (NULL starts). */
const BlockDriver *bdrv_next_driver(const BlockDriver *prev);

/* ---- the node graph ---- */

struct BdrvChild {
    BlockDriverState *bs;           /* the child node */
    BlockDriverState *parent;
    char *name;                     /* "file", "backing", "image" */
    QLIST_ENTRY(BdrvChild) next;
};

typedef struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    bool is_write;
    /* Region that must not overlap another request while this one runs
     * (read-modify-write padding); bytes 0 = not serialising. */
    int64_t overlap_offset;
    int64_t overlap_bytes;
    Coroutine *co;
    CoQueue wait_queue;             /* requests waiting for this one */
    QLIST_ENTRY(BdrvTrackedRequest) list;
} BdrvTrackedRequest;

typedef enum BlockdevDetectZeroes {
    BLOCKDEV_DETECT_ZEROES_OFF,
    BLOCKDEV_DETECT_ZEROES_ON,
    BLOCKDEV_DETECT_ZEROES_UNMAP,
} BlockdevDetectZeroes;

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;                   /* drv->instance_size bytes */
    AioContext *aio_context;
    int refcnt;

    int open_flags;
    bool read_only;
    bool force_share;
    bool probed;                    /* the format was guessed, not given */
    uint64_t perm, shared_perm;     /* what this node holds / lets others do */

    char filename[4096];            /* as opened, for messages */
    char exact_filename[4096];      /* empty when options say more than a name */
    char backing_file[4096];        /* from the image header */
    char backing_format[64];
    char auto_backing_file[4096];   /* resolved backing path */
    char node_name[64];
    QDict *options;                 /* what the node was opened with */

    BdrvChild *file;
    BdrvChild *backing;
    QLIST_HEAD(, BdrvChild) children;

    BlockLimits bl;
    unsigned supported_write_flags;
    unsigned supported_zero_flags;
    unsigned supported_truncate_flags;
    BlockdevDetectZeroes detect_zeroes;

    int64_t total_bytes;            /* cached length, -1 = ask the driver */

    /* ---- generic I/O path state (home thread only) ---- */
    QLIST_HEAD(, BdrvTrackedRequest) tracked_requests;
    unsigned serialising_in_flight;
    unsigned in_flight;
    CoQueue drain_queue;            /* not used by drivers */
    bool draining;

    /* Flush generations: write_gen counts completed writes; a flush that
     * starts at write_gen == flushed_gen has nothing to do.  Concurrent
     * flushes wait for the active one and then re-check. */
    unsigned write_gen;
    unsigned flushed_gen;
    bool active_flush;
    CoQueue flush_queue;
    int flush_error;                /* sticky: a failed flush fails all later ones */
};

/* ---- helpers for drivers ---- */

/* Change what a protocol node holds (@perm) and lets others have
 * (@shared), taking or dropping its image locks.  The core calls this
 * after open; tests use it to act as a format with metadata would. */
int bdrv_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                  Error **errp);

/* True if probing @buf would pick a format other than raw (raw uses this
 * to refuse writes that would turn a probed raw image into another
 * format). */
bool bdrv_probe_is_not_raw(const uint8_t *buf, int len, const char *filename);

/* The first child of a filter or format that holds the data of @bs, for
 * block status and filename refresh. */
BlockDriverState *bdrv_filter_bs(BlockDriverState *bs);
BlockDriverState *bdrv_backing_bs(BlockDriverState *bs);

/* Open @filename (or the options in @options) as a child called
 * @child_name of @parent.  Takes ownership of @options. */
/* A filter's "image" child (blkdebug, log-writes): the file @image, or
 * what the "image." options @image_opts (always consumed) name, which
 * win when they give a filename or a driver. */
BdrvChild *bdrv_open_image_child(BlockDriverState *parent, const char *image,
                                 QDict *image_opts, int flags, Error **errp);
BdrvChild *bdrv_open_child(const char *filename, QDict *options,
                           const char *child_name, BlockDriverState *parent,
                           int flags, bool protocol_only, Error **errp);
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);

/* Drivers that keep AIO engines need the node's context. */
static inline AioContext *bdrv_get_aio_context(BlockDriverState *bs)
{
    return bs->aio_context;
}

/* Option helpers: take @key out of @options and parse it; a bad value
 * sets *errp with QEMU's wording ("Parameter 'x' expects ..."). */
/* The value of @key (caller frees) or NULL; the key is removed. */
char *bdrv_opt_take_str(QDict *options, const char *key);
bool bdrv_opt_take_bool(QDict *options, const char *key, bool def, Error **errp);
uint64_t bdrv_opt_take_size(QDict *options, const char *key, uint64_t def,
                            Error **errp);
int64_t bdrv_opt_take_int(QDict *options, const char *key, int64_t def,
                          Error **errp);

#endif /* BLOCK_BLOCK_INT_H */
