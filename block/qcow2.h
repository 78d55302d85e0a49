/*
 * coblock — the qcow2 format driver: shared definitions
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The driver is split by concern:
 *   qcow2.c           open/close, header, options, the request paths,
 *                     create, truncate, info, amend, measure
 *   qcow2-cache.c     the L2-slice and refcount-block caches
 *   qcow2-refcount.c  refcount arithmetic, cluster allocation and freeing,
 *                     overlap checks, corruption events
 *   qcow2-cluster.c   guest-to-host mapping, L1/L2 updates, zero/discard
 *   qcow2-check.c     consistency check and repair
 *   qcow2-compress.c  deflate/zstd on worker threads
 *
 * Locking: one CoMutex (s->lock) protects all metadata: the L1 table, the
 * refcount table, both caches, the allocation state and the in-flight
 * allocation list.  It is never held across guest data I/O: a request
 * takes it to translate or allocate, drops it for the data transfer and
 * takes it again to link new clusters into the L2 table.  Functions that
 * require it say so with "Called with s->lock held".
 *
 * Every value read from the image is validated before use; see the
 * helpers at the end of this file.
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include "util/osdep.h"
#include "util/checked.h"
#include "util/queue.h"
#include "block/block_int.h"

/* ---- on-disk constants ---- */

#define QCOW2_MAGIC             0x514649fbU     /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS  9
#define QCOW2_MAX_CLUSTER_BITS  21
#define QCOW2_V2_HEADER_SIZE    72
#define QCOW2_V3_MIN_HEADER     104
#define QCOW2_V3_HEADER_SIZE    112     /* what we write: up to compression_type */
#define QCOW2_MAX_BACKING_NAME  1023
/* QEMU's backing_format field holds 16 bytes; longer names are refused the
 * same way so that images behave alike in both. */
#define QCOW2_MAX_BACKING_FMT   16

/* Implementation limits (shared with QEMU, so that every image one opens
 * the other opens too). */
#define QCOW2_MAX_L1_BYTES          (32 * MiB)
#define QCOW2_MAX_REFTABLE_BYTES    (8 * MiB)
#define QCOW2_MAX_SNAPSHOTS         65536
#define QCOW2_MAX_SNAPSHOT_EXTRA    1024
#define QCOW2_MAX_SNAPSHOT_TABLE    (64 * MiB)
#define QCOW2_MAX_BITMAPS           65535
#define QCOW2_MAX_BITMAP_DIRECTORY  67107840    /* 65535 entries of 1 KiB */
/* Host offsets in L1/L2 entries have 56 bits. */
#define QCOW2_MAX_HOST_OFFSET       (UINT64_C(1) << 56)
/* The end of what one request can address (QEMU's block layer limit). */
#define QCOW2_MAX_IO_END            ((UINT64_C(1) << 63) - (UINT64_C(1) << 30))

/* Header fields that are rewritten on their own. */
enum {
    QCOW2_HDR_VERSION           = 4,
    QCOW2_HDR_BACKING_OFFSET    = 8,
    QCOW2_HDR_BACKING_SIZE      = 16,
    QCOW2_HDR_CLUSTER_BITS      = 20,
    QCOW2_HDR_SIZE              = 24,
    QCOW2_HDR_CRYPT_METHOD      = 32,
    QCOW2_HDR_L1_SIZE           = 36,
    QCOW2_HDR_L1_OFFSET         = 40,
    QCOW2_HDR_REFTABLE_OFFSET   = 48,
    QCOW2_HDR_REFTABLE_CLUSTERS = 56,
    QCOW2_HDR_NB_SNAPSHOTS      = 60,
    QCOW2_HDR_SNAPSHOTS_OFFSET  = 64,
    QCOW2_HDR_INCOMPAT          = 72,
    QCOW2_HDR_COMPAT            = 80,
    QCOW2_HDR_AUTOCLEAR         = 88,
    QCOW2_HDR_REFCOUNT_ORDER    = 96,
    QCOW2_HDR_HEADER_LENGTH     = 100,
    QCOW2_HDR_COMPRESSION_TYPE  = 104,
};

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY        (UINT64_C(1) << 0)
#define QCOW2_INCOMPAT_CORRUPT      (UINT64_C(1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (UINT64_C(1) << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (UINT64_C(1) << 3)
#define QCOW2_INCOMPAT_EXTL2        (UINT64_C(1) << 4)
/* Bits this driver handles; the others make it refuse the image. */
#define QCOW2_INCOMPAT_SUPPORTED    (QCOW2_INCOMPAT_DIRTY | \
                                     QCOW2_INCOMPAT_CORRUPT | \
                                     QCOW2_INCOMPAT_COMPRESSION)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (UINT64_C(1) << 0)
#define QCOW2_AUTOCLEAR_BITMAPS     (UINT64_C(1) << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (UINT64_C(1) << 1)
/* Autoclear bits whose meaning we honour: none.  Bitmaps are not kept up
 * to date by this driver, so a read-write open clears their bit, which
 * tells other programs that the bitmaps are stale. */
#define QCOW2_AUTOCLEAR_SUPPORTED   0

/* Header extension types. */
#define QCOW2_EXT_END               0x00000000U
#define QCOW2_EXT_BACKING_FORMAT    0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE     0x6803f857U
#define QCOW2_EXT_BITMAPS           0x23852875U
#define QCOW2_EXT_CRYPTO            0x0537be77U
#define QCOW2_EXT_DATA_FILE         0x44415441U

/* Feature name table entries. */
#define QCOW2_FEAT_TYPE_INCOMPAT    0
#define QCOW2_FEAT_TYPE_COMPAT      1
#define QCOW2_FEAT_TYPE_AUTOCLEAR   2
#define QCOW2_FEAT_NAME_SIZE        46
#define QCOW2_FEAT_ENTRY_SIZE       48

#define QCOW2_COMPRESSION_ZLIB      0
#define QCOW2_COMPRESSION_ZSTD      1

/* L1 and L2 entries. */
#define QCOW2_OFLAG_COPIED          (UINT64_C(1) << 63)
#define QCOW2_OFLAG_COMPRESSED      (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO            UINT64_C(1)
#define L1E_OFFSET_MASK             UINT64_C(0x00fffffffffffe00)
#define L1E_RESERVED_MASK           UINT64_C(0x7f000000000001ff)
#define L2E_OFFSET_MASK             UINT64_C(0x00fffffffffffe00)
#define L2E_STD_RESERVED_MASK       UINT64_C(0x3f000000000001fe)
#define REFT_OFFSET_MASK            UINT64_C(0xfffffffffffffe00)
#define REFT_RESERVED_MASK          UINT64_C(0x1ff)

/* Refcount cache: at least this many blocks (QEMU's default and minimum). */
#define QCOW2_MIN_REFCOUNT_CACHE_CLUSTERS 4
#define QCOW2_MIN_L2_CACHE_ENTRIES  2
#define QCOW2_DEFAULT_L2_CACHE_MAX  (32 * MiB)
#define QCOW2_DEFAULT_L2_SLICE      4096

/* ---- byte order ---- */

static inline uint16_t q2_ld16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}

static inline uint32_t q2_ld32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | b[3];
}

static inline uint64_t q2_ld64(const void *p)
{
    return ((uint64_t)q2_ld32(p) << 32) | q2_ld32((const uint8_t *)p + 4);
}

static inline void q2_st16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = v >> 8;
    b[1] = v;
}

static inline void q2_st32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;
}

static inline void q2_st64(void *p, uint64_t v)
{
    q2_st32(p, v >> 32);
    q2_st32((uint8_t *)p + 4, (uint32_t)v);
}

/* ---- in-memory structures ---- */

typedef struct Qcow2Cache Qcow2Cache;

/* How a guest cluster is stored, decoded from its L2 entry. */
typedef enum Qcow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,  /* read from the backing file or as zero */
    QCOW2_CLUSTER_ZERO_PLAIN,   /* zero flag, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC,   /* zero flag over a preallocated host cluster */
    QCOW2_CLUSTER_NORMAL,       /* data in a host cluster */
    QCOW2_CLUSTER_COMPRESSED,   /* compressed data at a byte offset */
} Qcow2ClusterType;

/* An internal snapshot, as much of it as this driver needs: the tables it
 * references (for check and overlap checks) and its raw entry (kept as
 * is). */
typedef struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;            /* UINT64_MAX: not in the extra data */
    char *id_str;
    char *name;
    bool l1_invalid;            /* L1 table misplaced: ignored but by check */
} Qcow2Snapshot;

typedef struct Qcow2Bitmap {
    uint64_t table_offset;
    uint32_t table_size;
    uint32_t flags;
    uint8_t granularity_bits;
    char *name;
} Qcow2Bitmap;

/* A header extension we do not interpret, kept to be written back. */
typedef struct Qcow2UnknownExt {
    uint32_t type;
    uint32_t len;
    uint8_t *data;
    QTAILQ_ENTRY(Qcow2UnknownExt) next;
} Qcow2UnknownExt;

/* A guest range whose clusters are being allocated: from the moment the
 * host clusters are reserved until the L2 entries point at them.  Any
 * other request that touches these guest clusters waits on @waiters,
 * except that a write to a part the owner does not write, of clusters
 * nothing else is written to (fresh clusters whose untouched parts read
 * as zeroes already), may "join": it writes its data into the new
 * clusters at once and only waits for the link before it completes. */
typedef struct Qcow2InflightAlloc {
    uint64_t first_cluster;     /* guest cluster index */
    uint64_t nb_clusters;
    CoQueue waiters;
    QLIST_ENTRY(Qcow2InflightAlloc) next;
    /* Joining (set by the owner once the clusters are reserved). */
    bool joinable;
    uint64_t host_start;        /* host offset of first_cluster */
    uint64_t data_start;        /* guest bytes the owner writes */
    uint64_t data_end;
    unsigned joiners;           /* joined requests still looking at this */
    int result;                 /* 0 running, 1 linked, -errno failed */
    CoQueue owner_wait;         /* the owner waits for the joiners */
} Qcow2InflightAlloc;

/* Why a host range is being freed (selects pass-discard-*). */
typedef enum Qcow2DiscardType {
    QCOW2_DISCARD_NEVER,
    QCOW2_DISCARD_ALWAYS,
    QCOW2_DISCARD_REQUEST,
    QCOW2_DISCARD_SNAPSHOT,
    QCOW2_DISCARD_OTHER,
    QCOW2_DISCARD_MAX
} Qcow2DiscardType;

/* A reference dropped in an L2 or L1 entry whose refcount decrement has
 * not been applied yet (see qcow2_free_deferred). */
typedef struct Qcow2PendingFree {
    uint64_t offset;            /* host byte offset */
    uint64_t bytes;             /* every cluster touched loses one reference */
    Qcow2DiscardType type;
} Qcow2PendingFree;

/* Overlap-check bits: what metadata a write is checked against. */
enum {
    QCOW2_OL_MAIN_HEADER    = 1 << 0,
    QCOW2_OL_ACTIVE_L1      = 1 << 1,
    QCOW2_OL_ACTIVE_L2      = 1 << 2,
    QCOW2_OL_REFCOUNT_TABLE = 1 << 3,
    QCOW2_OL_REFCOUNT_BLOCK = 1 << 4,
    QCOW2_OL_SNAPSHOT_TABLE = 1 << 5,
    QCOW2_OL_INACTIVE_L1    = 1 << 6,
    QCOW2_OL_INACTIVE_L2    = 1 << 7,
    QCOW2_OL_BITMAP_DIRECTORY = 1 << 8,
    QCOW2_OL_MAX_BITNR      = 9,
};
#define QCOW2_OL_CONSTANT (QCOW2_OL_MAIN_HEADER | QCOW2_OL_ACTIVE_L1 | \
                           QCOW2_OL_REFCOUNT_TABLE | QCOW2_OL_SNAPSHOT_TABLE | \
                           QCOW2_OL_INACTIVE_L1 | QCOW2_OL_BITMAP_DIRECTORY)
#define QCOW2_OL_CACHED   (QCOW2_OL_CONSTANT | QCOW2_OL_ACTIVE_L2 | \
                           QCOW2_OL_REFCOUNT_BLOCK)
#define QCOW2_OL_ALL      (QCOW2_OL_CACHED | QCOW2_OL_INACTIVE_L2)

/* A set of host cluster indexes (open addressing), used for the clusters
 * that hold L2 tables and refcount blocks, so that overlap checks cost
 * O(1) per cluster written. */
typedef struct Qcow2ClusterSet {
    uint64_t *slots;            /* index + 1; 0 = empty; UINT64_MAX = deleted */
    size_t capacity;            /* power of two */
    size_t used;                /* live entries */
    size_t filled;              /* live + deleted */
} Qcow2ClusterSet;

typedef struct BDRVQcow2State {
    BlockDriverState *bs;

    /* Geometry. */
    int cluster_bits;
    uint32_t cluster_size;
    uint64_t cluster_mask;          /* cluster_size - 1 */
    int l2_bits;                    /* entries per L2 table, log2 */
    uint32_t l2_size;
    int l2_slice_bits;
    uint32_t l2_slice_size;         /* entries per cached slice */
    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;
    int refblock_bits;              /* entries per refcount block, log2 */
    uint32_t refblock_size;
    int csize_shift;                /* compressed descriptor layout */
    uint64_t csize_mask;
    uint64_t coffset_mask;

    /* Header. */
    uint32_t version;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t header_length;
    uint8_t compression_type;
    uint64_t size;                  /* virtual size */
    uint8_t *unknown_header_fields; /* bytes past what we know, kept */
    uint32_t unknown_header_fields_size;
    QTAILQ_HEAD(, Qcow2UnknownExt) unknown_exts;
    uint64_t feature_table_offset;  /* where the image's own table is (0: none) */
    uint32_t feature_table_len;
    uint8_t *feature_table;

    /* Active L1 table, host byte order. */
    uint64_t l1_table_offset;
    uint32_t l1_size;
    uint32_t l1_vm_state_index;     /* first L1 index beyond the disk */
    uint64_t *l1_table;

    /* Refcount table, host byte order. */
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint64_t refcount_table_size;   /* entries */
    uint64_t *refcount_table;

    /* Snapshots (validated, read-only for this driver). */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size;        /* bytes of the table */
    Qcow2Snapshot *snapshots;

    /* Bitmaps extension (validated when its autoclear bit is set). */
    bool has_bitmaps_ext;           /* the extension exists and parses */
    bool bitmaps_consistent;        /* ... and its autoclear bit is set */
    uint32_t nb_bitmaps;
    uint64_t bitmap_directory_size;
    uint64_t bitmap_directory_offset;
    Qcow2Bitmap *bitmaps;

    /* Caches and allocation state (s->lock). */
    CoMutex lock;
    Qcow2Cache *l2_cache;
    Qcow2Cache *refcount_cache;
    uint64_t free_cluster_index;    /* first cluster that may be free */
    uint64_t alloc_end;             /* clusters: beyond all ever allocated */
    uint64_t free_byte_offset;      /* next byte for compressed data (0: none) */
    QLIST_HEAD(, Qcow2InflightAlloc) inflight;
    Qcow2PendingFree *pending_frees;
    size_t nb_pending_frees, pending_frees_alloc;
    Qcow2PendingFree *staged_frees; /* see qcow2-refcount.c */
    size_t nb_staged_frees;
    unsigned staged_epoch;
    bool freeing;                   /* qcow2_process_pending_frees waits */
    Qcow2ClusterSet l2_clusters;        /* active L2 tables */
    Qcow2ClusterSet refblock_clusters;  /* refcount blocks */
    Qcow2ClusterSet inactive_l2_clusters; /* snapshot L2 tables (OL_ALL) */

    /* The protocol file: its length as far as we know (we are its only
     * writer), and where it holds nothing we wrote (reads as zeroes). */
    uint64_t file_size;
    uint64_t file_virgin_offset;
    uint64_t file_real_end;         /* file_size without extend_file's part */

    /* Data I/O in flight, counted per epoch: frees are applied only when
     * every request that might still touch the freed clusters is done. */
    unsigned io_epoch;
    unsigned io_count[2];
    CoQueue io_drained;

    /* Runtime options. */
    bool use_lazy_refcounts;
    bool discard_passthrough[QCOW2_DISCARD_MAX];
    int overlap_check;
    uint64_t l2_cache_bytes;
    uint64_t refcount_cache_bytes;
    uint32_t l2_cache_entry_size;

    /* State. */
    bool signaled_corruption;
    bool dead;                      /* marked corrupt: every request fails */
    bool sparse_file_checked;
    bool sparse_file;               /* block status asks the file (RECURSE) */
    uint8_t *zero_cluster;          /* cluster_size zeroes, for COW fills */
} BDRVQcow2State;

/* ---- geometry helpers ---- */

static inline uint64_t offset_into_cluster(const BDRVQcow2State *s,
                                           uint64_t offset)
{
    return offset & s->cluster_mask;
}

static inline uint64_t start_of_cluster(const BDRVQcow2State *s,
                                        uint64_t offset)
{
    return offset & ~s->cluster_mask;
}

static inline uint64_t size_to_clusters(const BDRVQcow2State *s, uint64_t size)
{
    return (size >> s->cluster_bits) + ((size & s->cluster_mask) != 0);
}

static inline uint64_t offset_to_l1_index(const BDRVQcow2State *s,
                                          uint64_t offset)
{
    return offset >> (s->l2_bits + s->cluster_bits);
}

static inline uint32_t offset_to_l2_index(const BDRVQcow2State *s,
                                          uint64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_size - 1);
}

static inline uint32_t offset_to_l2_slice_index(const BDRVQcow2State *s,
                                                uint64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_slice_size - 1);
}

/* L1 entries needed for a virtual size (0 on overflow past 2^63). */
static inline uint64_t size_to_l1(int cluster_bits, uint64_t size)
{
    int shift = cluster_bits + (cluster_bits - 3);
    uint64_t span = UINT64_C(1) << shift;
    return (size >> shift) + ((size & (span - 1)) != 0);
}

/* Decode an L2 entry.  Returns false when the entry is malformed (reserved
 * bits, misalignment, compressed with COPIED, zero flag in v2); the caller
 * reports a corruption. */
bool qcow2_classify_l2_entry(const BDRVQcow2State *s, uint64_t entry,
                             Qcow2ClusterType *type);

/* Compressed descriptor: host byte offset and number of bytes to read. */
static inline void qcow2_parse_compressed(const BDRVQcow2State *s,
                                          uint64_t entry, uint64_t *coffset,
                                          uint64_t *csize)
{
    uint64_t nb_sectors = ((entry >> s->csize_shift) & s->csize_mask) + 1;
    *coffset = entry & s->coffset_mask;
    *csize = nb_sectors * 512 - (*coffset & 511);
}

/* The descriptor of @len bytes of compressed data at host byte @coffset:
 * the sector count covers up to the end of the sector the data ends in. */
static inline uint64_t qcow2_make_compressed_entry(const BDRVQcow2State *s,
                                                   uint64_t coffset,
                                                   uint64_t len)
{
    uint64_t extra = ((coffset + len - 1) >> 9) - (coffset >> 9);
    return QCOW2_OFLAG_COMPRESSED | coffset | (extra << s->csize_shift);
}

/* ---- qcow2.c ---- */
/* The first QCOW2_V3_HEADER_SIZE bytes of the header from the state
 * (backing file fields zero). */
void qcow2_build_fixed_header(BDRVQcow2State *s, uint8_t *h);
int coroutine_fn qcow2_write_header_field(BlockDriverState *bs, int offset,
                                          int len);
int coroutine_fn qcow2_update_header(BlockDriverState *bs);
int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs);
int coroutine_fn qcow2_mark_clean(BlockDriverState *bs);
/* Clear the corrupt bit (after a repair that left nothing to fix). */
int coroutine_fn qcow2_mark_consistent(BlockDriverState *bs);
/* Read/write the protocol file, keeping file_size and the virgin mark. */
int coroutine_fn qcow2_file_pread(BlockDriverState *bs, uint64_t offset,
                                  uint64_t bytes, void *buf);
int coroutine_fn qcow2_file_pwrite(BlockDriverState *bs, uint64_t offset,
                                   uint64_t bytes, const void *buf);
int coroutine_fn qcow2_file_pwritev(BlockDriverState *bs, uint64_t offset,
                                    uint64_t bytes, QEMUIOVector *qiov,
                                    size_t qiov_offset);
void qcow2_file_wrote(BDRVQcow2State *s, uint64_t offset, uint64_t bytes);
void qcow2_io_begin(BDRVQcow2State *s, unsigned *epoch);
void qcow2_io_end(BDRVQcow2State *s, unsigned epoch);

/* ---- qcow2-cache.c ---- */
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int nb_entries,
                               uint32_t entry_size, const char *name);
void qcow2_cache_destroy(Qcow2Cache *c);
/* Before an entry of @c is written back, @dependency is flushed (and the
 * file synced). */
int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs,
                                            Qcow2Cache *c,
                                            Qcow2Cache *dependency);
/* Before an entry of @c is written back, the file is synced (data written
 * before the metadata pointing at it). */
void qcow2_cache_depends_on_flush(Qcow2Cache *c);
int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table);
/* An entry for @offset without reading it (new metadata); zeroed. */
int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table);
/* Write back every dirty entry (not the file sync). */
int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
/* qcow2_cache_write, then sync the file. */
int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
/* Write back the entry for @offset if it is cached and dirty. */
int coroutine_fn qcow2_cache_flush_entry(BlockDriverState *bs, Qcow2Cache *c,
                                         uint64_t offset);
/* Forget the entry for @offset (it is no longer metadata); it must not
 * be in use. */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* Forget every entry, written back or not (after a failure or when the
 * structures are rebuilt). */
void qcow2_cache_empty(Qcow2Cache *c);
bool qcow2_cache_is_dirty(Qcow2Cache *c);
int qcow2_cache_entries(Qcow2Cache *c);

/* ---- qcow2-refcount.c ---- */
/* Refcount of entry @index of a refcount block, and the setter.  The
 * setter does not check @value against the width (the caller does). */
uint64_t qcow2_refblock_get(const void *block, uint64_t index, int order);
void qcow2_refblock_set(void *block, uint64_t index, int order, uint64_t value);

int qcow2_refcount_init(BlockDriverState *bs, Error **errp);
void qcow2_refcount_close(BlockDriverState *bs);
int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, uint64_t cluster,
                                    uint64_t *refcount);
/* Refcounts of many clusters in a row (check): the reader keeps the
 * refcount block of the last cluster asked for, so that the next one in
 * the same block costs no cache lookup.  It holds a cache reference
 * between calls: end it before anything changes refcounts. */
typedef struct Qcow2RefcountReader {
    void *block;
    uint64_t rt_index;
    /* rt_index has no refcount block: every refcount in its range is 0 */
    bool absent;
} Qcow2RefcountReader;
int coroutine_fn qcow2_refcount_reader_get(BlockDriverState *bs,
                                           Qcow2RefcountReader *r,
                                           uint64_t cluster,
                                           uint64_t *refcount);
void qcow2_refcount_reader_end(BlockDriverState *bs, Qcow2RefcountReader *r);
/* Add @addend to the refcounts of every cluster touched by
 * [offset, offset + length). */
int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, uint64_t offset,
                                       uint64_t length, int64_t addend);
/* Allocate @size bytes (whole clusters, contiguous); returns the host
 * offset or -errno. */
int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size);
/* Allocate a specific run of clusters if they are free; returns how many
 * of them (from the start) could be allocated, or -errno. */
int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs,
                                             uint64_t offset, uint64_t nb);
/* Bytes for compressed data: returns the host byte offset or -errno. */
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, uint64_t size);
/* Drop a reference now (metadata nobody points at any more on disk). */
int coroutine_fn qcow2_free_clusters(BlockDriverState *bs, uint64_t offset,
                                     uint64_t size, Qcow2DiscardType type);
/* Drop a reference once the L2/L1 entry that held it has reached the disk
 * and no request may still use the clusters. */
int coroutine_fn qcow2_free_deferred(BlockDriverState *bs, uint64_t offset,
                                     uint64_t bytes, Qcow2DiscardType type);
/* Apply every queued free; may release s->lock while requests of an old
 * epoch drain (only where the caller keeps no state across it). */
int coroutine_fn qcow2_process_pending_frees(BlockDriverState *bs);
/* Make progress on the frees without ever releasing s->lock: apply a
 * staged batch whose requests have drained, stage the pending ones if
 * @force or many have accumulated.  *applied tells whether refcounts
 * were dropped. */
int coroutine_fn qcow2_try_process_frees(BlockDriverState *bs, bool force,
                                         bool *applied);
int coroutine_fn qcow2_maybe_process_frees(BlockDriverState *bs);
#define QCOW2_PENDING_FREES_MAX 4096
/* Write back caches in dependency order and sync the file. */
int coroutine_fn qcow2_flush_metadata(BlockDriverState *bs);
/* The overlap check: 0 if [offset, offset+size) may be written, -EIO
 * (after marking the image corrupt) otherwise.  @ign: bits not to check
 * (the structure being written). */
int coroutine_fn qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                               uint64_t offset, uint64_t size);
/* Which metadata [offset, offset+size) overlaps (one QCOW2_OL_ bit), or 0. */
int qcow2_check_metadata_overlap(BlockDriverState *bs, int chk,
                                 uint64_t offset, uint64_t size);
const char *qcow2_metadata_name(int ol_bit);
/* A corruption event: print it, mark the image corrupt (when @fatal and
 * writable) and make further writes fail. */
void coroutine_fn qcow2_signal_corruption(BlockDriverState *bs, bool fatal,
                                          int64_t offset, int64_t size,
                                          const char *fmt, ...)
    QEMU_PRINTF(5, 6);
/* Last cluster with a non-zero refcount + 1, in bytes (or -errno). */
int64_t coroutine_fn qcow2_get_last_cluster_end(BlockDriverState *bs);
/* Move the refcount table past everything allocated, big enough for the
 * refcounts of the clusters below @end (bytes) and no smaller than now;
 * the old table is freed.  -errno on failure (the image stays valid). */
int coroutine_fn qcow2_relocate_refcount_table(BlockDriverState *bs,
                                               uint64_t end);

void qcow2_cluster_set_init(Qcow2ClusterSet *set);
void qcow2_cluster_set_free(Qcow2ClusterSet *set);
bool qcow2_cluster_set_add(Qcow2ClusterSet *set, uint64_t cluster);
void qcow2_cluster_set_remove(Qcow2ClusterSet *set, uint64_t cluster);
bool qcow2_cluster_set_has(const Qcow2ClusterSet *set, uint64_t cluster);

/* ---- qcow2-cluster.c ---- */
/* Translate guest [offset, offset + *bytes): the type of the first
 * cluster, its host offset (for normal and zero-alloc clusters, including
 * offset_into_cluster; for compressed: the raw L2 entry), whether its
 * COPIED flag is set (@copied may be NULL), and in *bytes how many bytes
 * share all of that contiguously (at least one byte, at most to the end of
 * the L2 slice). */
int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                                       uint64_t *bytes, uint64_t *host,
                                       Qcow2ClusterType *type, bool *copied);
/* Get the L2 slice for guest @offset for writing: allocates or copies
 * the L2 table as needed.  Returns the slice (cache reference) and the
 * index of @offset in it. */
int coroutine_fn qcow2_get_l2_slice_for_write(BlockDriverState *bs,
                                              uint64_t offset,
                                              uint64_t **slice,
                                              uint32_t *index);
int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                                     bool exact);
int coroutine_fn qcow2_shrink_l1_table(BlockDriverState *bs, uint64_t max_size);
int coroutine_fn qcow2_write_l1_entry(BlockDriverState *bs, uint64_t l1_index);
int coroutine_fn qcow2_zero_clusters(BlockDriverState *bs, uint64_t offset,
                                     uint64_t bytes, int flags);
int coroutine_fn qcow2_discard_clusters(BlockDriverState *bs, uint64_t offset,
                                        uint64_t bytes, bool full,
                                        Qcow2DiscardType type);
/* Drop (deferred) the host storage an L2 entry of type @type referenced. */
int coroutine_fn qcow2_free_entry_storage(BlockDriverState *bs, uint64_t entry,
                                          Qcow2ClusterType type,
                                          Qcow2DiscardType dtype);
void qcow2_inflight_add(BDRVQcow2State *s, Qcow2InflightAlloc *a,
                        uint64_t first_cluster, uint64_t nb_clusters);
void qcow2_inflight_remove(BDRVQcow2State *s, Qcow2InflightAlloc *a);
/* Wait while a cluster of [first, first+nb) is being allocated; with
 * *nb shortened to stop before a later in-flight cluster.  Returns true if
 * it waited (the caller must look up the mapping again). */
bool coroutine_fn qcow2_inflight_wait(BDRVQcow2State *s, uint64_t first,
                                      uint64_t *nb);

/* ---- qcow2-check.c ---- */
/* Rewrite the refcount structure with a new width (amend). */
int coroutine_fn qcow2_change_refcount_order(BlockDriverState *bs,
                                             int new_order, Error **errp);
int coroutine_fn qcow2_co_check_locked(BlockDriverState *bs,
                                       BdrvCheckResult *res,
                                       BdrvCheckMode fix);

/* ---- qcow2-compress.c ---- */
/* Compress one cluster into @dest (room for @dest_size bytes); returns the
 * compressed size, -ENOSPC if it does not fit, or -errno. */
ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size);
/* Decompress into exactly @dest_size bytes; -EIO if the data is bad. */
ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size);
/* Worker-thread-free versions (for tests). */
ssize_t qcow2_compress_buf(int type, void *dest, size_t dest_size,
                           const void *src, size_t src_size);
ssize_t qcow2_decompress_buf(int type, void *dest, size_t dest_size,
                             const void *src, size_t src_size);
bool qcow2_compression_supported(int type);

extern const BlockDriver bdrv_qcow2;

#endif /* BLOCK_QCOW2_H */
