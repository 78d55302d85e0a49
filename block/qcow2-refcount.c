/*
 * coblock — qcow2 reference counts, cluster allocation, overlap checks
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Ordering rules that keep the image consistent after a crash (at worst
 * leaked clusters):
 *
 *  - A refcount is raised (and the refcount block written and synced)
 *    before anything on disk points at the cluster: the L2 cache depends
 *    on the refcount cache, and L1/table pointers are written only after
 *    an explicit flush of both.
 *  - A new refcount block is written and synced before the refcount table
 *    entry that makes it reachable; a new refcount table is written and
 *    synced before the header switches to it.
 *  - A reference is dropped on disk (L2/L1 entry cleared and synced)
 *    before the refcount is decremented: frees are deferred into a list
 *    that is applied after the L2 cache has been written back.  This also
 *    keeps a freed cluster from being reused while its old L2 entry may
 *    still be on disk, and, with the I/O epochs, while a request that
 *    translated its address before the free is still transferring data.
 *
 * Called with s->lock held unless said otherwise.
 */
#include "util/osdep.h"
#include "block/qcow2.h"

/* ---- refcount block entries at every width ---- */

uint64_t qcow2_refblock_get(const void *block, uint64_t index, int order)
{
    const uint8_t *b = block;

    switch (order) {
    case 0:
    case 1:
    case 2: {
        int bits = 1 << order;
        int per_byte = 8 >> order;
        int shift = (int)(index % per_byte) * bits;
        return (b[index / per_byte] >> shift) & ((1u << bits) - 1);
    }
    case 3:
        return b[index];
    case 4:
        return q2_ld16(b + index * 2);
    case 5:
        return q2_ld32(b + index * 4);
    case 6:
        return q2_ld64(b + index * 8);
    default:
        qemu_abort("qcow2: bad refcount order %d", order);
    }
}

void qcow2_refblock_set(void *block, uint64_t index, int order, uint64_t value)
{
    uint8_t *b = block;

    switch (order) {
    case 0:
    case 1:
    case 2: {
        int bits = 1 << order;
        int per_byte = 8 >> order;
        int shift = (int)(index % per_byte) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        b[index / per_byte] = (uint8_t)((b[index / per_byte] & ~mask) |
                                        ((value << shift) & mask));
        break;
    }
    case 3:
        b[index] = (uint8_t)value;
        break;
    case 4:
        q2_st16(b + index * 2, (uint16_t)value);
        break;
    case 5:
        q2_st32(b + index * 4, (uint32_t)value);
        break;
    case 6:
        q2_st64(b + index * 8, value);
        break;
    default:
        qemu_abort("qcow2: bad refcount order %d", order);
    }
}

/* ---- sets of cluster indexes ---- */

#define SET_DELETED UINT64_MAX

void qcow2_cluster_set_init(Qcow2ClusterSet *set)
{
    memset(set, 0, sizeof(*set));
}

void qcow2_cluster_set_free(Qcow2ClusterSet *set)
{
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

static inline size_t set_hash(uint64_t cluster, size_t mask)
{
    return (size_t)((cluster * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & mask;
}

static bool set_rehash(Qcow2ClusterSet *set, size_t capacity)
{
    uint64_t *old = set->slots;
    size_t old_cap = set->capacity;
    uint64_t *slots = qemu_try_malloc0(capacity * sizeof(uint64_t));

    if (!slots) {
        return false;
    }
    set->slots = slots;
    set->capacity = capacity;
    set->used = set->filled = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] && old[i] != SET_DELETED) {
            qcow2_cluster_set_add(set, old[i] - 1);
        }
    }
    free(old);
    return true;
}

bool qcow2_cluster_set_add(Qcow2ClusterSet *set, uint64_t cluster)
{
    size_t mask, i;

    if ((set->filled + 1) * 2 > set->capacity) {
        size_t cap = 64;
        while (cap < (set->used + 1) * 4) {
            cap *= 2;
        }
        if (!set_rehash(set, cap)) {
            return false;
        }
    }
    mask = set->capacity - 1;
    for (i = set_hash(cluster, mask);; i = (i + 1) & mask) {
        if (set->slots[i] == cluster + 1) {
            return true;
        }
        if (set->slots[i] == 0) {
            break;
        }
    }
    /* Reuse the first deleted slot of the probe sequence if any. */
    for (size_t j = set_hash(cluster, mask); j != i; j = (j + 1) & mask) {
        if (set->slots[j] == SET_DELETED) {
            set->slots[j] = cluster + 1;
            set->used++;
            return true;
        }
    }
    set->slots[i] = cluster + 1;
    set->used++;
    set->filled++;
    return true;
}

bool qcow2_cluster_set_has(const Qcow2ClusterSet *set, uint64_t cluster)
{
    size_t mask;

    if (!set->used) {
        return false;
    }
    mask = set->capacity - 1;
    for (size_t i = set_hash(cluster, mask);; i = (i + 1) & mask) {
        if (set->slots[i] == cluster + 1) {
            return true;
        }
        if (set->slots[i] == 0) {
            return false;
        }
    }
}

void qcow2_cluster_set_remove(Qcow2ClusterSet *set, uint64_t cluster)
{
    size_t mask;

    if (!set->used) {
        return;
    }
    mask = set->capacity - 1;
    for (size_t i = set_hash(cluster, mask);; i = (i + 1) & mask) {
        if (set->slots[i] == cluster + 1) {
            set->slots[i] = SET_DELETED;
            set->used--;
            return;
        }
        if (set->slots[i] == 0) {
            return;
        }
    }
}

/* ---- corruption events and the overlap check ---- */

void coroutine_fn qcow2_signal_corruption(BlockDriverState *bs, bool fatal,
                                          int64_t offset, int64_t size,
                                          const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    bool writable = !bs->read_only;
    bool already_marked = s->incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    va_list ap;
    char *msg;

    (void)offset;
    (void)size;
    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);

    fatal = fatal && writable;
    if (!s->signaled_corruption) {
        if (fatal) {
            fprintf(stderr, "qcow2: Marking image as corrupt: %s; further "
                    "corruption events will be suppressed\n", msg);
        } else {
            fprintf(stderr, "qcow2: Image is corrupt: %s; further non-fatal "
                    "corruption events will be suppressed\n", msg);
        }
        s->signaled_corruption = true;
    }
    free(msg);

    /* As QEMU: the node stops serving (requests fail with ENOMEDIUM)
     * once it has marked the image corrupt. */
    if (fatal) {
        s->dead = true;
    }
    if (fatal && !already_marked) {
        s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        /* Best effort: the image is broken either way, and further writes
         * are refused because of the in-memory bit. */
        if (qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, 8) == 0) {
            bdrv_co_flush(bs->file->bs);
        }
    }
}

const char *qcow2_metadata_name(int ol_bit)
{
    switch (ol_bit) {
    case QCOW2_OL_MAIN_HEADER:      return "qcow2_header";
    case QCOW2_OL_ACTIVE_L1:        return "active L1 table";
    case QCOW2_OL_ACTIVE_L2:        return "active L2 table";
    case QCOW2_OL_REFCOUNT_TABLE:   return "refcount table";
    case QCOW2_OL_REFCOUNT_BLOCK:   return "refcount block";
    case QCOW2_OL_SNAPSHOT_TABLE:   return "snapshot table";
    case QCOW2_OL_INACTIVE_L1:      return "inactive L1 table";
    case QCOW2_OL_INACTIVE_L2:      return "inactive L2 table";
    case QCOW2_OL_BITMAP_DIRECTORY: return "bitmap directory";
    default:                        return "metadata";
    }
}

static bool set_overlaps(const BDRVQcow2State *s, const Qcow2ClusterSet *set,
                         uint64_t offset, uint64_t size)
{
    uint64_t first, last;

    if (!set->used || !size) {
        return false;
    }
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    /* A huge write against a small set: walk the set instead. */
    if (last - first >= set->used) {
        for (size_t i = 0; i < set->capacity; i++) {
            uint64_t v = set->slots[i];
            if (v && v != SET_DELETED && v - 1 >= first && v - 1 <= last) {
                return true;
            }
        }
        return false;
    }
    for (uint64_t c = first; c <= last; c++) {
        if (qcow2_cluster_set_has(set, c)) {
            return true;
        }
    }
    return false;
}

int qcow2_check_metadata_overlap(BlockDriverState *bs, int chk,
                                 uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;

    if (!size) {
        return 0;
    }
    if (UINT64_MAX - offset < size) {
        size = UINT64_MAX - offset;
    }
    if ((chk & QCOW2_OL_MAIN_HEADER) && offset < s->cluster_size) {
        return QCOW2_OL_MAIN_HEADER;
    }
    if ((chk & QCOW2_OL_ACTIVE_L1) && s->l1_size &&
        ranges_overlap(offset, size, s->l1_table_offset,
                       (uint64_t)s->l1_size * 8)) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) && s->refcount_table_clusters &&
        ranges_overlap(offset, size, s->refcount_table_offset,
                       (uint64_t)s->refcount_table_clusters << s->cluster_bits)) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) && s->snapshots_size &&
        ranges_overlap(offset, size, s->snapshots_offset, s->snapshots_size)) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if (chk & QCOW2_OL_INACTIVE_L1) {
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            if (s->snapshots[i].l1_size && !s->snapshots[i].l1_invalid &&
                ranges_overlap(offset, size, s->snapshots[i].l1_table_offset,
                               (uint64_t)s->snapshots[i].l1_size * 8)) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if ((chk & QCOW2_OL_BITMAP_DIRECTORY) && s->has_bitmaps_ext &&
        s->bitmap_directory_size &&
        ranges_overlap(offset, size, s->bitmap_directory_offset,
                       s->bitmap_directory_size)) {
        return QCOW2_OL_BITMAP_DIRECTORY;
    }
    if ((chk & QCOW2_OL_ACTIVE_L2) &&
        set_overlaps(s, &s->l2_clusters, offset, size)) {
        return QCOW2_OL_ACTIVE_L2;
    }
    if ((chk & QCOW2_OL_REFCOUNT_BLOCK) &&
        set_overlaps(s, &s->refblock_clusters, offset, size)) {
        return QCOW2_OL_REFCOUNT_BLOCK;
    }
    if ((chk & QCOW2_OL_INACTIVE_L2) &&
        set_overlaps(s, &s->inactive_l2_clusters, offset, size)) {
        return QCOW2_OL_INACTIVE_L2;
    }
    return 0;
}

int coroutine_fn qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                               uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = s->overlap_check & ~ign;
    int ret = qcow2_check_metadata_overlap(bs, chk, offset, size);

    if (ret) {
        qcow2_signal_corruption(bs, true, (int64_t)offset, (int64_t)size,
                                "Preventing invalid write on metadata "
                                "(overlaps with %s)", qcow2_metadata_name(ret));
        return -EIO;
    }
    return 0;
}

/* ---- the refcount table ---- */

int qcow2_refcount_init(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = (uint64_t)s->refcount_table_clusters << s->cluster_bits;
    int ret;

    /* The caller bounded refcount_table_clusters. */
    s->refcount_table_size = bytes / 8;
    s->refcount_table = qemu_try_malloc(bytes);
    if (!s->refcount_table) {
        error_setg_errno(errp, ENOMEM, "Could not initialize refcount "
                         "handling");
        return -ENOMEM;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_REFTABLE_LOAD);
    ret = bdrv_pread(bs->file, (int64_t)s->refcount_table_offset,
                     (int64_t)bytes, s->refcount_table, 0);
    if (ret < 0) {
        /* QEMU's words for any failure of this step. */
        error_setg_errno(errp, -ret, "Could not initialize refcount handling");
        return ret;
    }
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = q2_ld64(&s->refcount_table[i]);
        s->refcount_table[i] = e;
        if (e && !(e & REFT_RESERVED_MASK) && !offset_into_cluster(s, e)) {
            if (!qcow2_cluster_set_add(&s->refblock_clusters,
                                       e >> s->cluster_bits)) {
                error_setg_errno(errp, ENOMEM, "Could not initialize "
                                 "refcount handling");
                return -ENOMEM;
            }
        }
    }
    return 0;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    free(s->refcount_table);
    s->refcount_table = NULL;
    free(s->pending_frees);
    s->pending_frees = NULL;
    s->nb_pending_frees = s->pending_frees_alloc = 0;
    free(s->staged_frees);
    s->staged_frees = NULL;
    s->nb_staged_frees = 0;
}

/* The refcount block offset for table index @rt_index: 0 if none, or
 * -EIO after reporting a corrupt table entry. */
static int64_t coroutine_fn refblock_offset(BlockDriverState *bs,
                                            uint64_t rt_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t e;

    if (rt_index >= s->refcount_table_size) {
        return 0;
    }
    e = s->refcount_table[rt_index];
    if (!e) {
        return 0;
    }
    if ((e & REFT_RESERVED_MASK) || offset_into_cluster(s, e)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Refblock offset %#" PRIx64
                                " unaligned (reftable index: %#" PRIx64 ")",
                                e, rt_index);
        return -EIO;
    }
    if (e > (uint64_t)INT64_MAX - s->cluster_size) {
        qcow2_signal_corruption(bs, true, -1, -1, "Refblock offset %#" PRIx64
                                " out of range (reftable index: %#" PRIx64 ")",
                                e, rt_index);
        return -EIO;
    }
    if (e < s->cluster_size) {
        qcow2_signal_corruption(bs, true, -1, -1, "Refblock at offset %#"
                                PRIx64 " overlaps with qcow2_header "
                                "(reftable index: %#" PRIx64 ")", e, rt_index);
        return -EIO;
    }
    return (int64_t)e;
}

int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, uint64_t cluster,
                                    uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t boff = refblock_offset(bs, cluster >> s->refblock_bits);
    void *block;
    int ret;

    if (boff <= 0) {
        *refcount = 0;
        return (int)boff;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_LOAD);
    ret = qcow2_cache_get(bs, s->refcount_cache, (uint64_t)boff, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = qcow2_refblock_get(block, cluster & (s->refblock_size - 1),
                                   s->refcount_order);
    qcow2_cache_put(s->refcount_cache, &block);
    return 0;
}

int coroutine_fn qcow2_refcount_reader_get(BlockDriverState *bs,
                                           Qcow2RefcountReader *r,
                                           uint64_t cluster,
                                           uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t rt = cluster >> s->refblock_bits;

    if (r->absent && r->rt_index == rt) {
        *refcount = 0;
        return 0;
    }
    if (!r->block || r->rt_index != rt) {
        int64_t boff;
        void *block = NULL;
        int ret;

        qcow2_refcount_reader_end(bs, r);
        boff = refblock_offset(bs, rt);
        if (boff <= 0) {
            *refcount = 0;
            if (boff == 0) {
                r->absent = true;
                r->rt_index = rt;
            }
            return (int)boff;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache, (uint64_t)boff, &block);
        if (ret < 0) {
            return ret;
        }
        r->block = block;
        r->rt_index = rt;
    }
    *refcount = qcow2_refblock_get(r->block, cluster & (s->refblock_size - 1),
                                   s->refcount_order);
    return 0;
}

void qcow2_refcount_reader_end(BlockDriverState *bs, Qcow2RefcountReader *r)
{
    BDRVQcow2State *s = bs->opaque;

    if (r->block) {
        qcow2_cache_put(s->refcount_cache, &r->block);
    }
    r->absent = false;
}

/* Write one refcount table entry (its aligned 8 bytes) to disk. */
static int coroutine_fn write_reftable_entry(BlockDriverState *bs,
                                             uint64_t rt_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t be;
    uint64_t off = s->refcount_table_offset + rt_index * 8;
    int ret;

    q2_st64(&be, s->refcount_table[rt_index]);
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_TABLE, off, 8);
    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC_HOOKUP);
    return qcow2_file_pwrite(bs, off, 8, &be);
}

/* Does refcount block @rt have to be created before use? */
static bool rt_missing(const BDRVQcow2State *s, uint64_t rt)
{
    return rt >= s->refcount_table_size || !s->refcount_table[rt];
}

/* Add @addend to the refcount of clusters [first, first + nb), whose
 * blocks must exist. */
static int coroutine_fn update_refcount_range(BlockDriverState *bs,
                                              uint64_t first, uint64_t nb,
                                              int64_t addend);

/*
 * Create the refcount blocks for table indexes @rts[0..m) in clusters
 * [start, start + m), as part of a new metadata area [start, start + len)
 * (the blocks and what the caller places right after them).  Every
 * cluster of the area gets refcount 1: in the new blocks directly, in
 * existing blocks through the cache.  The new blocks are written (not
 * synced); their offsets are stored in @table, which is the refcount
 * table or the caller's replacement for it.
 */
static int coroutine_fn create_refblocks(BlockDriverState *bs, uint64_t start,
                                         uint64_t len, const uint64_t *rts,
                                         uint64_t m, uint64_t *table)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first_rt = start >> s->refblock_bits;
    uint64_t last_rt = (start + len - 1) >> s->refblock_bits;
    int ret;

    for (uint64_t i = 0; i < m; i++) {
        uint64_t rt = rts[i];
        uint64_t boff = (start + i) << s->cluster_bits;
        uint64_t lo = MAX(start, rt << s->refblock_bits);
        uint64_t hi = MIN(start + len, (rt + 1) << s->refblock_bits);
        void *block;

        bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC);
        if (boff == 0) {
            /* Only a damaged image (the header cluster counted as free)
             * gets here. */
            qcow2_signal_corruption(bs, true, -1, -1, "Preventing invalid "
                                    "allocation of refcount block at offset 0");
            return -EIO;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, boff, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get_empty(bs, s->refcount_cache, boff, &block);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t c = lo; c < hi; c++) {
            qcow2_refblock_set(block, c & (s->refblock_size - 1),
                               s->refcount_order, 1);
        }
        qcow2_cache_entry_mark_dirty(s->refcount_cache, block);
        qcow2_cache_put(s->refcount_cache, &block);
        table[rt] = boff;
        if (!qcow2_cluster_set_add(&s->refblock_clusters, start + i)) {
            return -ENOMEM;
        }
        bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC_WRITE);
        ret = qcow2_cache_flush_entry(bs, s->refcount_cache, boff);
        if (ret < 0) {
            return ret;
        }
    }
    /* Parts of the area that blocks existing already describe. */
    for (uint64_t rt = first_rt; rt <= last_rt; rt++) {
        uint64_t lo = MAX(start, rt << s->refblock_bits);
        uint64_t hi = MIN(start + len, (rt + 1) << s->refblock_bits);
        bool is_new = false;

        for (uint64_t i = 0; i < m; i++) {
            if (rts[i] == rt) {
                is_new = true;
                break;
            }
        }
        if (!is_new) {
            ret = update_refcount_range(bs, lo, hi - lo, 1);
            if (ret < 0) {
                return ret;
            }
        }
    }
    if (start + len > s->alloc_end) {
        s->alloc_end = start + len;
    }
    return 0;
}

/* The table indexes of [first, first + n) whose blocks are missing. */
static uint64_t *missing_rts(BDRVQcow2State *s, uint64_t first, uint64_t n,
                             uint64_t *count)
{
    uint64_t first_rt = first >> s->refblock_bits;
    uint64_t last_rt = (first + n - 1) >> s->refblock_bits;
    uint64_t *rts = qemu_try_malloc(sizeof(uint64_t) *
                                    (last_rt - first_rt + 1));
    uint64_t m = 0;

    if (!rts) {
        return NULL;
    }
    for (uint64_t rt = first_rt; rt <= last_rt; rt++) {
        if (rt_missing(s, rt)) {
            rts[m++] = rt;
        }
    }
    *count = m;
    return rts;
}

/*
 * Replace the refcount table by a larger one that has an entry for
 * @min_rt_index (and, with @spare, half as many entries again as now).
 * The new table, with the blocks that account for it, is placed after
 * everything allocated so far; it is written and synced before the
 * header switches to it.
 */
static int coroutine_fn grow_refcount_table(BlockDriverState *bs,
                                            uint64_t min_rt_index, bool spare)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t entries_per_cluster = s->cluster_size / 8;
    uint64_t old_size = s->refcount_table_size;
    uint64_t new_size, table_clusters, nblocks = 0, start;
    uint64_t *new_table = NULL, *be = NULL, *rts = NULL;
    uint64_t old_offset = s->refcount_table_offset;
    uint32_t old_clusters = s->refcount_table_clusters;
    uint8_t hdr[12];
    int ret;

    bdrv_debug_event(bs->file->bs, BLKDBG_REFTABLE_GROW);
    start = MAX(s->alloc_end, size_to_clusters(s, s->file_size));
    new_size = MAX(min_rt_index + 1,
                   spare ? old_size + old_size / 2 : old_size);
    for (;;) {
        uint64_t m, last_rt;

        new_size = ROUND_UP(new_size, entries_per_cluster);
        table_clusters = new_size / entries_per_cluster;
        if (table_clusters << s->cluster_bits > QCOW2_MAX_REFTABLE_BYTES) {
            return -EFBIG;
        }
        last_rt = (start + nblocks + table_clusters - 1) >> s->refblock_bits;
        if (last_rt >= new_size) {
            new_size = last_rt + 1;
            continue;
        }
        free(rts);
        rts = missing_rts(s, start, nblocks + table_clusters, &m);
        if (!rts) {
            return -ENOMEM;
        }
        if (m == nblocks) {
            break;
        }
        nblocks = m;
    }
    if ((start + nblocks + table_clusters) << s->cluster_bits >
        QCOW2_MAX_HOST_OFFSET) {
        ret = -EFBIG;
        goto out;
    }

    new_table = qemu_try_malloc0(new_size * 8);
    be = qemu_try_memalign(4096, new_size * 8);
    if (!new_table || !be) {
        ret = -ENOMEM;
        goto out;
    }
    memcpy(new_table, s->refcount_table, old_size * 8);
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS);
    ret = create_refblocks(bs, start, nblocks + table_clusters, rts, nblocks,
                           new_table);
    if (ret < 0) {
        goto out;
    }
    for (uint64_t i = 0; i < new_size; i++) {
        q2_st64(&be[i], new_table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0,
                                        (start + nblocks) << s->cluster_bits,
                                        new_size * 8);
    if (ret < 0) {
        goto out;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
    ret = qcow2_file_pwrite(bs, (start + nblocks) << s->cluster_bits,
                            new_size * 8, be);
    if (ret < 0) {
        goto out;
    }
    /* Everything the refcount cache holds must be on disk before the
     * switch (the new table points at the same blocks). */
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        goto out;
    }

    /* The switch: one write of the two adjacent header fields. */
    q2_st64(hdr, (start + nblocks) << s->cluster_bits);
    q2_st32(hdr + 8, (uint32_t)table_clusters);
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE);
    ret = qcow2_file_pwrite(bs, QCOW2_HDR_REFTABLE_OFFSET, sizeof(hdr), hdr);
    if (ret < 0) {
        goto out;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto out;
    }

    free(s->refcount_table);
    s->refcount_table = new_table;
    new_table = NULL;
    s->refcount_table_size = new_size;
    s->refcount_table_offset = (start + nblocks) << s->cluster_bits;
    s->refcount_table_clusters = (uint32_t)table_clusters;
    /* Nothing points at the old table any more. */
    ret = qcow2_free_clusters(bs, old_offset,
                              (uint64_t)old_clusters << s->cluster_bits,
                              QCOW2_DISCARD_OTHER);
out:
    /* On failure the new area is leaked, never referenced. */
    free(rts);
    free(new_table);
    qemu_vfree(be);
    return ret;
}

int coroutine_fn qcow2_relocate_refcount_table(BlockDriverState *bs,
                                               uint64_t end)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t last = end ? (end - 1) >> s->cluster_bits : 0;

    return grow_refcount_table(bs, last >> s->refblock_bits, false);
}

/*
 * Create the blocks @rts[0..m) at clusters [start, start + m) of the
 * free run that begins at @start, and make the refcount table point at
 * them (blocks synced before the table entries).
 */
static int coroutine_fn add_refblocks_in_range(BlockDriverState *bs,
                                               uint64_t start,
                                               const uint64_t *rts, uint64_t m)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = create_refblocks(bs, start, m, rts, m, s->refcount_table);
    if (ret == 0) {
        /* The new blocks, and existing blocks that now count some of
         * them, reach the disk before the table points at them. */
        ret = qcow2_cache_flush(bs, s->refcount_cache);
    }
    /*
     * Hook the blocks up one at a time, each synced before the next, in
     * an order where the block that holds a new block's own refcount is
     * reachable first: a table entry that reached the disk without the
     * entry of the block describing it would point at a cluster whose
     * refcount reads as 0.
     */
    if (ret == 0) {
        bool *done = qemu_try_malloc0(m ? m : 1);
        uint64_t left = m;

        if (!done) {
            ret = -ENOMEM;
        }
        while (ret == 0 && left) {
            bool progress = false;
            for (uint64_t i = 0; ret == 0 && i < m; i++) {
                uint64_t describer = (start + i) >> s->refblock_bits;
                bool ready = true;

                if (done[i]) {
                    continue;
                }
                for (uint64_t j = 0; j < m; j++) {
                    if (j != i && !done[j] && rts[j] == describer) {
                        ready = false;
                    }
                }
                if (!ready) {
                    continue;
                }
                ret = write_reftable_entry(bs, rts[i]);
                if (ret == 0) {
                    ret = bdrv_co_flush(bs->file->bs);
                }
                done[i] = true;
                left--;
                progress = true;
            }
            if (!progress) {
                /* Cannot happen (a block describes itself or an older
                 * one); write the rest and rely on the final sync. */
                for (uint64_t i = 0; ret == 0 && i < m; i++) {
                    if (!done[i]) {
                        ret = write_reftable_entry(bs, rts[i]);
                        done[i] = true;
                    }
                }
                left = 0;
            }
        }
        free(done);
    }
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        /* Forget the blocks that may not be reachable on disk; their
         * clusters stay (as leaks at worst). */
        for (uint64_t i = 0; i < m; i++) {
            if (s->refcount_table[rts[i]] == (start + i) << s->cluster_bits) {
                s->refcount_table[rts[i]] = 0;
                qcow2_cluster_set_remove(&s->refblock_clusters, start + i);
                qcow2_cache_discard(s->refcount_cache,
                                    (start + i) << s->cluster_bits);
            }
        }
    }
    return ret;
}

/* Add @addend to the refcount of clusters [first, first + nb), whose
 * blocks must exist. */
static int coroutine_fn update_refcount_range(BlockDriverState *bs,
                                              uint64_t first, uint64_t nb,
                                              int64_t addend)
{
    BDRVQcow2State *s = bs->opaque;
    void *block = NULL;
    uint64_t cur_boff = 0;
    /* |addend| (INT64_MIN included) */
    uint64_t mag = addend < 0 ? (uint64_t)0 - (uint64_t)addend
                              : (uint64_t)addend;
    int ret = 0;

    for (uint64_t c = first; c < first + nb; c++) {
        uint64_t rt = c >> s->refblock_bits;
        int64_t boff = refblock_offset(bs, rt);
        uint64_t old, new;
        uint64_t idx = c & (s->refblock_size - 1);

        if (boff == 0) {
            /* Allocations create their blocks first; a missing block
             * here means the cluster was never accounted for. */
            if (addend < 0) {
                qcow2_signal_corruption(bs, true, -1, -1, "Freeing "
                                        "unreferenced cluster %#" PRIx64, c);
            }
            ret = -EIO;
            break;
        } else if (boff < 0) {
            ret = (int)boff;
            break;
        }
        if (!block || cur_boff != (uint64_t)boff) {
            if (block) {
                qcow2_cache_put(s->refcount_cache, &block);
            }
            bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_LOAD);
            ret = qcow2_cache_get(bs, s->refcount_cache, (uint64_t)boff,
                                  &block);
            if (ret < 0) {
                break;
            }
            cur_boff = (uint64_t)boff;
        }
        old = qcow2_refblock_get(block, idx, s->refcount_order);
        if (addend < 0 && old < mag) {
            qcow2_signal_corruption(bs, true, -1, -1, "Refcount underflow "
                                    "for cluster %#" PRIx64, c);
            ret = -EIO;
            break;
        }
        if (addend > 0 && s->refcount_max - old < mag) {
            ret = -ERANGE;
            break;
        }
        new = addend < 0 ? old - mag : old + mag;
        if (addend > 0 && c + 1 > s->alloc_end) {
            s->alloc_end = c + 1;
        }
        bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_UPDATE);
        qcow2_refblock_set(block, idx, s->refcount_order, new);
        qcow2_cache_entry_mark_dirty(s->refcount_cache, block);
        if (new == 0) {
            if (c < s->free_cluster_index) {
                s->free_cluster_index = c;
            }
            /* A freed metadata cluster must not be written back later. */
            for (uint64_t o = 0; o < s->cluster_size;
                 o += s->l2_cache_entry_size) {
                qcow2_cache_discard(s->l2_cache, (c << s->cluster_bits) + o);
            }
            if (qcow2_cluster_set_has(&s->l2_clusters, c)) {
                qcow2_cluster_set_remove(&s->l2_clusters, c);
            }
        }
    }
    if (block) {
        qcow2_cache_put(s->refcount_cache, &block);
    }
    return ret;
}

int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, uint64_t offset,
                                       uint64_t length, int64_t addend)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, last;

    if (!length) {
        return 0;
    }
    if (UINT64_MAX - offset < length - 1) {
        return -EINVAL;
    }
    first = offset >> s->cluster_bits;
    last = (offset + length - 1) >> s->cluster_bits;
    return update_refcount_range(bs, first, last - first + 1, addend);
}

/* ---- allocation ---- */

/*
 * Find @nb free clusters in a row at or after free_cluster_index and take
 * them.  Missing refcount blocks for the run are created at its start
 * (the run is then searched that much longer), so that they describe
 * themselves and the data after them.
 */
int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb = size_to_clusters(s, size);
    uint64_t need = nb;
    bool tried_frees = false;
    int ret;

    if (!nb) {
        return -EINVAL;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_CLUSTER_ALLOC);
retry:
    {
        uint64_t c = s->free_cluster_index;
        uint64_t run_start = c, run_len = 0;
        uint64_t first_free = UINT64_MAX;
        uint64_t *rts, m, max_rt = 0;

        while (run_len < need) {
            uint64_t rt = c >> s->refblock_bits;
            uint64_t rc;

            if (c >= QCOW2_MAX_HOST_OFFSET >> s->cluster_bits) {
                return -EFBIG;
            }
            if (rt_missing(s, rt)) {
                /* No block: everything it would describe is free. */
                uint64_t block_end = (rt + 1) << s->refblock_bits;
                uint64_t take = MIN(block_end - c, need - run_len);
                if (first_free == UINT64_MAX) {
                    first_free = c;
                }
                run_len += take;
                c += take;
                continue;
            }
            ret = qcow2_get_refcount(bs, c, &rc);
            if (ret < 0) {
                return ret;
            }
            if (rc == 0) {
                if (first_free == UINT64_MAX) {
                    first_free = c;
                }
                run_len++;
            } else {
                run_start = c + 1;
                run_len = 0;
            }
            c++;
        }
        if ((run_start + need) > QCOW2_MAX_HOST_OFFSET >> s->cluster_bits) {
            return -EFBIG;
        }
        /* Before growing the file, make what was freed reusable. */
        if ((run_start << s->cluster_bits) >= s->file_size && !tried_frees &&
            (s->staged_frees || s->nb_pending_frees)) {
            bool applied;
            tried_frees = true;
            ret = qcow2_try_process_frees(bs, true, &applied);
            if (ret < 0) {
                return ret;
            }
            if (applied) {
                goto retry;
            }
        }

        rts = missing_rts(s, run_start, need, &m);
        if (!rts) {
            return -ENOMEM;
        }
        for (uint64_t i = 0; i < m; i++) {
            max_rt = MAX(max_rt, rts[i]);
        }
        if (m && max_rt >= s->refcount_table_size) {
            free(rts);
            ret = grow_refcount_table(bs, max_rt, true);
            if (ret < 0) {
                return ret;
            }
            need = nb;
            goto retry;
        }
        if (nb + m > need) {
            free(rts);
            need = nb + m;
            goto retry;
        }
        if (m) {
            ret = add_refblocks_in_range(bs, run_start, rts, m);
            free(rts);
            if (ret < 0) {
                return ret;
            }
        } else {
            free(rts);
        }
        ret = update_refcount_range(bs, run_start + m, nb, 1);
        if (ret < 0) {
            return ret;
        }
        if (first_free == run_start) {
            s->free_cluster_index = run_start + m + nb;
        } else if (first_free != UINT64_MAX) {
            s->free_cluster_index = first_free;
        }
        return (int64_t)((run_start + m) << s->cluster_bits);
    }
}

int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs,
                                             uint64_t offset, uint64_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = offset >> s->cluster_bits;
    uint64_t n = 0;
    int ret;

    assert(!offset_into_cluster(s, offset));
    if (first + nb > QCOW2_MAX_HOST_OFFSET >> s->cluster_bits) {
        return -EFBIG;
    }
    while (n < nb) {
        uint64_t rc;
        uint64_t rt = (first + n) >> s->refblock_bits;
        if (rt >= s->refcount_table_size || !s->refcount_table[rt]) {
            /* Creating the block would take this very cluster. */
            break;
        }
        ret = qcow2_get_refcount(bs, first + n, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc) {
            break;
        }
        n++;
    }
    if (n) {
        ret = update_refcount_range(bs, first, n, 1);
        if (ret < 0) {
            return ret;
        }
    }
    return (int64_t)n;
}

int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t fbo = s->free_byte_offset;
    int64_t off;
    int ret;

    bdrv_debug_event(bs->file->bs, BLKDBG_CLUSTER_ALLOC_BYTES);
    assert(size > 0 && size <= s->cluster_size);
    if (fbo && offset_into_cluster(s, fbo)) {
        uint64_t cluster = fbo >> s->cluster_bits;
        uint64_t space = s->cluster_size - offset_into_cluster(s, fbo);
        uint64_t rc;

        ret = qcow2_get_refcount(bs, cluster, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc == 0 || rc >= s->refcount_max) {
            goto fresh;
        }
        if (size > space) {
            int64_t n = qcow2_alloc_clusters_at(bs, (cluster + 1) <<
                                                s->cluster_bits, 1);
            if (n < 0) {
                return n;
            }
            if (n == 0) {
                goto fresh;
            }
        }
        ret = update_refcount_range(bs, cluster, 1, 1);
        if (ret < 0) {
            return ret;
        }
        s->free_byte_offset = fbo + size;
        if (!offset_into_cluster(s, s->free_byte_offset)) {
            s->free_byte_offset = 0;
        }
        return (int64_t)fbo;
    }
fresh:
    off = qcow2_alloc_clusters(bs, s->cluster_size);
    if (off < 0) {
        return off;
    }
    s->free_byte_offset = (uint64_t)off + size;
    if (!offset_into_cluster(s, s->free_byte_offset)) {
        s->free_byte_offset = 0;
    }
    return off;
}

/* ---- freeing ---- */

int coroutine_fn qcow2_free_clusters(BlockDriverState *bs, uint64_t offset,
                                     uint64_t size, Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, last;
    int ret;

    if (!size) {
        return 0;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_CLUSTER_FREE);
    ret = qcow2_update_refcount(bs, offset, size, -1);
    if (ret < 0) {
        return ret;
    }
    if (!s->discard_passthrough[type]) {
        return 0;
    }
    /* Pass the now-free whole clusters down. */
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last;) {
        uint64_t rc, run = 0;
        while (c + run <= last) {
            ret = qcow2_get_refcount(bs, c + run, &rc);
            if (ret < 0 || rc) {
                break;
            }
            run++;
        }
        if (run) {
            /* Advisory: errors are ignored. */
            bdrv_co_pdiscard(bs->file, (int64_t)(c << s->cluster_bits),
                             (int64_t)(run << s->cluster_bits));
            c += run;
        } else {
            c++;
        }
    }
    return 0;
}

int coroutine_fn qcow2_free_deferred(BlockDriverState *bs, uint64_t offset,
                                     uint64_t bytes, Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;

    if (!bytes) {
        return 0;
    }
    /* Merge with the previous range when contiguous. */
    if (s->nb_pending_frees) {
        Qcow2PendingFree *p = &s->pending_frees[s->nb_pending_frees - 1];
        if (p->type == type && p->offset + p->bytes == offset &&
            !offset_into_cluster(s, offset) &&
            !offset_into_cluster(s, p->bytes)) {
            p->bytes += bytes;
            return 0;
        }
    }
    if (s->nb_pending_frees == s->pending_frees_alloc) {
        size_t n = s->pending_frees_alloc ? s->pending_frees_alloc * 2 : 64;
        Qcow2PendingFree *p = realloc(s->pending_frees, n * sizeof(*p));
        if (!p) {
            return -ENOMEM;
        }
        s->pending_frees = p;
        s->pending_frees_alloc = n;
    }
    s->pending_frees[s->nb_pending_frees++] = (Qcow2PendingFree) {
        .offset = offset, .bytes = bytes, .type = type,
    };
    return 0;
}

void qcow2_io_begin(BDRVQcow2State *s, unsigned *epoch)
{
    *epoch = s->io_epoch & 1;
    s->io_count[*epoch]++;
}

void qcow2_io_end(BDRVQcow2State *s, unsigned epoch)
{
    assert(s->io_count[epoch] > 0);
    if (--s->io_count[epoch] == 0) {
        qemu_co_queue_restart_all(&s->io_drained);
    }
}

/*
 * Frees go through three states:
 *   pending  queued by qcow2_free_deferred; the L2/L1 entries that dropped
 *            the references may not be on disk yet;
 *   staged   the L2 cache has been written back and synced since, and the
 *            I/O epoch was advanced: they wait until every request of the
 *            previous epoch (which may have translated an address to one
 *            of these clusters before the change) has finished;
 *   applied  refcounts decremented, clusters reusable.
 * At most one batch is staged at a time, so that the epoch it waits for
 * receives no new requests and drains.
 */
static int coroutine_fn stage_frees(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    assert(!s->staged_frees);
    if (!s->nb_pending_frees) {
        return 0;
    }
    /* The lock is held throughout: nothing is queued meanwhile. */
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) {
        return ret;
    }
    s->staged_frees = s->pending_frees;
    s->nb_staged_frees = s->nb_pending_frees;
    s->pending_frees = NULL;
    s->nb_pending_frees = s->pending_frees_alloc = 0;
    s->staged_epoch = s->io_epoch & 1;
    s->io_epoch++;
    return 0;
}

static bool staged_drained(BDRVQcow2State *s)
{
    return s->staged_frees && s->io_count[s->staged_epoch] == 0;
}

static int coroutine_fn apply_staged_frees(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2PendingFree *list = s->staged_frees;
    size_t n = s->nb_staged_frees;
    int ret = 0;

    assert(staged_drained(s));
    s->staged_frees = NULL;
    s->nb_staged_frees = 0;
    for (size_t i = 0; i < n; i++) {
        ret = qcow2_free_clusters(bs, list[i].offset, list[i].bytes,
                                  list[i].type);
        if (ret < 0) {
            /* What is left stays allocated: leaked, not corrupt. */
            break;
        }
    }
    free(list);
    return ret;
}

int coroutine_fn qcow2_try_process_frees(BlockDriverState *bs, bool force,
                                         bool *applied)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (applied) {
        *applied = false;
    }
    if (s->freeing) {
        return 0;
    }
    if (staged_drained(s)) {
        ret = apply_staged_frees(bs);
        if (ret < 0) {
            return ret;
        }
        if (applied) {
            *applied = true;
        }
    }
    if (!s->staged_frees && s->nb_pending_frees &&
        (force || s->nb_pending_frees >= QCOW2_PENDING_FREES_MAX)) {
        ret = stage_frees(bs);
        if (ret < 0) {
            return ret;
        }
        if (staged_drained(s)) {
            ret = apply_staged_frees(bs);
            if (ret < 0) {
                return ret;
            }
            if (applied) {
                *applied = true;
            }
        }
    }
    return 0;
}

int coroutine_fn qcow2_maybe_process_frees(BlockDriverState *bs)
{
    return qcow2_try_process_frees(bs, false, NULL);
}

int coroutine_fn qcow2_process_pending_frees(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int rounds = 0;
    int ret = 0;

    /* One caller at a time waits; the others leave the work to it. */
    if (s->freeing) {
        return 0;
    }
    s->freeing = true;
    while ((s->staged_frees || s->nb_pending_frees) && rounds < 4) {
        if (s->staged_frees) {
            while (s->staged_frees && !staged_drained(s)) {
                qemu_co_queue_wait(&s->io_drained, &s->lock);
            }
            if (s->staged_frees) {
                ret = apply_staged_frees(bs);
            }
        } else {
            ret = stage_frees(bs);
            rounds++;
        }
        if (ret < 0) {
            break;
        }
    }
    s->freeing = false;
    return ret;
}

int coroutine_fn qcow2_flush_metadata(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_process_pending_frees(bs);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_write(bs, s->l2_cache);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_write(bs, s->refcount_cache);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_flush(bs->file->bs);
}

int64_t coroutine_fn qcow2_get_last_cluster_end(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t rt = s->refcount_table_size; rt-- > 0;) {
        int64_t boff = refblock_offset(bs, rt);
        void *block;
        int ret;

        if (boff < 0) {
            return boff;
        }
        if (boff == 0) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache, (uint64_t)boff, &block);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t i = s->refblock_size; i-- > 0;) {
            if (qcow2_refblock_get(block, i, s->refcount_order)) {
                qcow2_cache_put(s->refcount_cache, &block);
                return (int64_t)(((rt << s->refblock_bits) + i + 1) <<
                                 s->cluster_bits);
            }
        }
        qcow2_cache_put(s->refcount_cache, &block);
    }
    return 0;
}
