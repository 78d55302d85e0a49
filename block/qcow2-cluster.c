/*
 * coblock — qcow2 guest-to-host mapping: L1/L2 lookups and updates
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Called with s->lock held unless said otherwise.
 */
#include "util/osdep.h"
#include "block/qcow2.h"

bool qcow2_classify_l2_entry(const BDRVQcow2State *s, uint64_t entry,
                             Qcow2ClusterType *type)
{
    uint64_t off;

    if (entry & QCOW2_OFLAG_COMPRESSED) {
        uint64_t coffset = entry & s->coffset_mask;
        if (entry & QCOW2_OFLAG_COPIED) {
            return false;
        }
        if (coffset >= QCOW2_MAX_HOST_OFFSET || coffset < s->cluster_size) {
            return false;
        }
        *type = QCOW2_CLUSTER_COMPRESSED;
        return true;
    }
    if (entry & L2E_STD_RESERVED_MASK) {
        return false;
    }
    off = entry & L2E_OFFSET_MASK;
    if (offset_into_cluster(s, off)) {
        return false;
    }
    if (entry & QCOW2_OFLAG_ZERO) {
        *type = off ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
    } else {
        *type = off ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
    }
    return true;
}

/* The L2 table offset of L1 entry @l1_index: 0 if none, or -EIO after
 * reporting a malformed entry. */
static int64_t coroutine_fn l1_entry_l2_offset(BlockDriverState *bs,
                                               uint64_t l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t e;
    uint64_t off;

    if (l1_index >= s->l1_size) {
        return 0;
    }
    e = s->l1_table[l1_index];
    off = e & L1E_OFFSET_MASK;
    if (e & L1E_RESERVED_MASK) {
        qcow2_signal_corruption(bs, true, -1, -1, "L1 entry %#" PRIx64
                                " has reserved bits set (L1 index: %#" PRIx64
                                ")", e, l1_index);
        return -EIO;
    }
    if (offset_into_cluster(s, off)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#" PRIx64 ")",
                                off, l1_index);
        return -EIO;
    }
    /* Tables are written before anything points at them: one past the
     * end of the file was never written. */
    if (off >= ROUND_UP(s->file_size, (uint64_t)s->cluster_size)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#" PRIx64
                                " is beyond the end of the image file (L1 "
                                "index: %#" PRIx64 ")", off, l1_index);
        return -EIO;
    }
    return (int64_t)off;
}

static void coroutine_fn report_bad_l2_entry(BlockDriverState *bs,
                                             uint64_t entry,
                                             uint64_t l2_offset,
                                             uint64_t l2_index)
{
    BDRVQcow2State *s = bs->opaque;

    if (!(entry & QCOW2_OFLAG_COMPRESSED) &&
        !(entry & L2E_STD_RESERVED_MASK)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Cluster allocation offset "
                                "%#" PRIx64 " unaligned (L2 offset: %#" PRIx64
                                ", L2 index: %#" PRIx64 ")",
                                entry & L2E_OFFSET_MASK, l2_offset, l2_index);
    } else if ((entry & QCOW2_OFLAG_COMPRESSED) &&
               (entry & QCOW2_OFLAG_COPIED)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Compressed cluster entry "
                                "%#" PRIx64 " has the copied flag set (L2 "
                                "offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
                                entry, l2_offset, l2_index);
    } else if (entry & QCOW2_OFLAG_COMPRESSED) {
        qcow2_signal_corruption(bs, true, -1, -1, "Compressed cluster offset "
                                "%#" PRIx64 " out of range (L2 offset: %#"
                                PRIx64 ", L2 index: %#" PRIx64 ")",
                                entry & s->coffset_mask, l2_offset, l2_index);
    } else {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 entry %#" PRIx64 " has "
                                "reserved bits set (L2 offset: %#" PRIx64
                                ", L2 index: %#" PRIx64 ")",
                                entry, l2_offset, l2_index);
    }
}

int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                                       uint64_t *bytes, uint64_t *host,
                                       Qcow2ClusterType *type, bool *copied)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = offset_into_cluster(s, offset);
    uint32_t slice_index = offset_to_l2_slice_index(s, offset);
    uint64_t slice_left = (uint64_t)(s->l2_slice_size - slice_index)
                          << s->cluster_bits;
    uint64_t avail = MIN(*bytes, slice_left - in_cluster);
    uint64_t l1_index = offset_to_l1_index(s, offset);
    uint32_t l2_index = offset_to_l2_index(s, offset);
    int64_t l2_offset;
    uint64_t *slice;
    uint64_t first, n;
    Qcow2ClusterType t;
    int ret;

    assert(*bytes > 0);
    l2_offset = l1_entry_l2_offset(bs, l1_index);
    if (l2_offset < 0) {
        return (int)l2_offset;
    }
    if (l2_offset == 0) {
        *type = QCOW2_CLUSTER_UNALLOCATED;
        *host = 0;
        *bytes = avail;
        if (copied) {
            *copied = false;
        }
        return 0;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, (uint64_t)l2_offset +
                          (uint64_t)(l2_index - slice_index) * 8,
                          (void **)&slice);
    if (ret < 0) {
        return ret;
    }
    first = q2_ld64(&slice[slice_index]);
    if (!qcow2_classify_l2_entry(s, first, &t)) {
        qcow2_cache_put(s->l2_cache, (void **)&slice);
        report_bad_l2_entry(bs, first, (uint64_t)l2_offset, l2_index);
        return -EIO;
    }

    /* How many clusters after the first one are stored the same way? */
    n = 1;
    if (t != QCOW2_CLUSTER_COMPRESSED) {
        uint64_t want = DIV_ROUND_UP(avail + in_cluster, s->cluster_size);
        uint64_t first_off = first & L2E_OFFSET_MASK;
        while (n < want) {
            uint64_t e = q2_ld64(&slice[slice_index + n]);
            Qcow2ClusterType tn;
            if (!qcow2_classify_l2_entry(s, e, &tn) || tn != t ||
                ((e ^ first) & QCOW2_OFLAG_COPIED)) {
                break;
            }
            if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) &&
                (e & L2E_OFFSET_MASK) != first_off + (n << s->cluster_bits)) {
                break;
            }
            n++;
        }
    }
    qcow2_cache_put(s->l2_cache, (void **)&slice);

    *type = t;
    if (copied) {
        *copied = first & QCOW2_OFLAG_COPIED;
    }
    switch (t) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        *host = (first & L2E_OFFSET_MASK) + in_cluster;
        break;
    case QCOW2_CLUSTER_COMPRESSED:
        *host = first;
        break;
    default:
        *host = 0;
        break;
    }
    *bytes = MIN(avail, (n << s->cluster_bits) - in_cluster);
    return 0;
}

int coroutine_fn qcow2_write_l1_entry(BlockDriverState *bs, uint64_t l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = l1_index & ~UINT64_C(63);
    uint64_t n = MIN((uint64_t)s->l1_size - first, 64);
    uint64_t buf[64];
    uint64_t off = s->l1_table_offset + first * 8;
    int ret;

    for (uint64_t i = 0; i < n; i++) {
        q2_st64(&buf[i], s->l1_table[first + i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1, off, n * 8);
    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_L1_UPDATE);
    return qcow2_file_pwrite(bs, off, n * 8, buf);
}

/*
 * Give L1 entry @l1_index an L2 table of its own (refcount 1, COPIED):
 * a new zeroed table, or a copy of the shared one.  The table is written
 * (after its refcount) and synced before the L1 entry points at it.
 */
static int coroutine_fn l2_allocate(BlockDriverState *bs, uint64_t l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t old_l2 = l1_entry_l2_offset(bs, l1_index);
    uint64_t slice_bytes = (uint64_t)s->l2_slice_size * 8;
    uint64_t nslices = s->l2_size / s->l2_slice_size;
    uint64_t old_entry;
    int64_t new_l2;
    int ret;

    if (old_l2 < 0) {
        return (int)old_l2;
    }
    new_l2 = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_l2 < 0) {
        return (int)new_l2;
    }
    if (new_l2 == 0) {
        /* Only a refcount of 0 for the header cluster (a damaged image)
         * makes the allocator hand it out. */
        qcow2_signal_corruption(bs, true, -1, -1, "Preventing invalid "
                                "allocation of L2 table at offset 0");
        return -EIO;
    }
    /* The new table's refcount goes to disk first, lazy refcounts or not
     * (as QEMU does: a table is worth a flush). */
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        goto fail;
    }
    for (uint64_t j = 0; j < nslices; j++) {
        void *ns, *os;
        ret = qcow2_cache_get_empty(bs, s->l2_cache,
                                    (uint64_t)new_l2 + j * slice_bytes, &ns);
        if (ret < 0) {
            goto fail;
        }
        if (old_l2) {
            bdrv_debug_event(bs->file->bs, BLKDBG_L2_ALLOC_COW_READ);
            ret = qcow2_cache_get(bs, s->l2_cache,
                                  (uint64_t)old_l2 + j * slice_bytes, &os);
            if (ret < 0) {
                qcow2_cache_put(s->l2_cache, &ns);
                goto fail;
            }
            memcpy(ns, os, slice_bytes);
            qcow2_cache_put(s->l2_cache, &os);
        }
        qcow2_cache_entry_mark_dirty(s->l2_cache, ns);
        qcow2_cache_put(s->l2_cache, &ns);
        bdrv_debug_event(bs->file->bs, BLKDBG_L2_ALLOC_WRITE);
        ret = qcow2_cache_flush_entry(bs, s->l2_cache,
                                      (uint64_t)new_l2 + j * slice_bytes);
        if (ret < 0) {
            goto fail;
        }
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }

    old_entry = s->l1_table[l1_index];
    s->l1_table[l1_index] = (uint64_t)new_l2 | QCOW2_OFLAG_COPIED;
    ret = qcow2_write_l1_entry(bs, l1_index);
    if (ret < 0) {
        s->l1_table[l1_index] = old_entry;
        goto fail;
    }
    if (!qcow2_cluster_set_add(&s->l2_clusters,
                               (uint64_t)new_l2 >> s->cluster_bits)) {
        /* Without it the overlap check would miss this table; treat as
         * an I/O failure of this request. */
        return -ENOMEM;
    }
    if (old_l2) {
        /* Still used by a snapshot (or about to be freed): no longer an
         * active L2 table. */
        qcow2_cluster_set_remove(&s->l2_clusters,
                                 (uint64_t)old_l2 >> s->cluster_bits);
        qcow2_cluster_set_add(&s->inactive_l2_clusters,
                              (uint64_t)old_l2 >> s->cluster_bits);
        ret = qcow2_free_deferred(bs, (uint64_t)old_l2, s->cluster_size,
                                  QCOW2_DISCARD_SNAPSHOT);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;

fail:
    for (uint64_t j = 0; j < nslices; j++) {
        qcow2_cache_discard(s->l2_cache, (uint64_t)new_l2 + j * slice_bytes);
    }
    qcow2_free_clusters(bs, (uint64_t)new_l2, s->cluster_size,
                        QCOW2_DISCARD_NEVER);
    return ret;
}

int coroutine_fn qcow2_get_l2_slice_for_write(BlockDriverState *bs,
                                              uint64_t offset,
                                              uint64_t **slice,
                                              uint32_t *index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset_to_l1_index(s, offset);
    uint32_t l2_index = offset_to_l2_index(s, offset);
    uint32_t slice_index = offset_to_l2_slice_index(s, offset);
    int64_t l2_offset;
    int ret;

    if (l1_index >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    l2_offset = l1_entry_l2_offset(bs, l1_index);
    if (l2_offset < 0) {
        return (int)l2_offset;
    }
    if (!l2_offset || !(s->l1_table[l1_index] & QCOW2_OFLAG_COPIED)) {
        ret = l2_allocate(bs, l1_index);
        if (ret < 0) {
            return ret;
        }
        l2_offset = (int64_t)(s->l1_table[l1_index] & L1E_OFFSET_MASK);
    }
    ret = qcow2_cache_get(bs, s->l2_cache, (uint64_t)l2_offset +
                          (uint64_t)(l2_index - slice_index) * 8,
                          (void **)slice);
    if (ret < 0) {
        return ret;
    }
    *index = slice_index;
    return 0;
}

int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                                     bool exact)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_size;
    uint64_t *new_table;
    uint64_t *be_table;
    size_t alloc_bytes;
    int64_t new_offset;
    uint64_t old_offset = s->l1_table_offset;
    uint64_t old_size = s->l1_size;
    uint8_t hdr[12];
    int ret;

    if (min_size <= s->l1_size) {
        return 0;
    }
    if (min_size > QCOW2_MAX_L1_BYTES / 8) {
        return -EFBIG;
    }
    if (exact) {
        new_size = min_size;
    } else {
        new_size = MAX(s->l1_size, 1);
        while (new_size < min_size) {
            new_size = (new_size * 3 + 1) / 2;
        }
        new_size = MIN(new_size, QCOW2_MAX_L1_BYTES / 8);
    }
    alloc_bytes = ROUND_UP(new_size * 8, 512);
    new_table = qemu_try_malloc0(alloc_bytes);
    be_table = qemu_try_memalign(4096, alloc_bytes);
    if (!new_table || !be_table) {
        free(new_table);
        qemu_vfree(be_table);
        return -ENOMEM;
    }
    memcpy(new_table, s->l1_table, old_size * 8);
    memset(be_table, 0, alloc_bytes);
    for (uint64_t i = 0; i < new_size; i++) {
        q2_st64(&be_table[i], new_table[i]);
    }

    bdrv_debug_event(bs->file->bs, BLKDBG_L1_GROW_ALLOC_TABLE);
    new_offset = qcow2_alloc_clusters(bs, new_size * 8);
    if (new_offset < 0) {
        ret = (int)new_offset;
        goto out;
    }
    /* The table and its refcount reach the disk before the header points
     * at them. */
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, (uint64_t)new_offset,
                                        new_size * 8);
    if (ret < 0) {
        goto fail;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_L1_GROW_WRITE_TABLE);
    ret = qcow2_file_pwrite(bs, (uint64_t)new_offset, new_size * 8, be_table);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }
    q2_st32(hdr, (uint32_t)new_size);
    q2_st64(hdr + 4, (uint64_t)new_offset);
    bdrv_debug_event(bs->file->bs, BLKDBG_L1_GROW_ACTIVATE_TABLE);
    ret = qcow2_file_pwrite(bs, QCOW2_HDR_L1_SIZE, sizeof(hdr), hdr);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        /* The header may point at either table; both are valid. */
        goto switched;
    }
switched:
    free(s->l1_table);
    s->l1_table = new_table;
    new_table = NULL;
    s->l1_table_offset = (uint64_t)new_offset;
    s->l1_size = (uint32_t)new_size;
    if (old_size) {
        int r = qcow2_free_clusters(bs, old_offset, old_size * 8,
                                    QCOW2_DISCARD_OTHER);
        if (ret == 0) {
            ret = r;
        }
    }
    goto out;

fail:
    qcow2_free_clusters(bs, (uint64_t)new_offset, new_size * 8,
                        QCOW2_DISCARD_NEVER);
out:
    free(new_table);
    qemu_vfree(be_table);
    return ret;
}

int coroutine_fn qcow2_shrink_l1_table(BlockDriverState *bs, uint64_t max_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *be_table;
    uint64_t n;
    int ret;

    if (max_size >= s->l1_size) {
        return 0;
    }
    n = s->l1_size - max_size;
    /* Every L2 table beyond @max_size is empty by now (the caller
     * discarded the clusters). */
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) {
        return ret;
    }
    be_table = qemu_try_malloc0(n * 8);
    if (!be_table) {
        return -ENOMEM;
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset + max_size * 8,
                                        n * 8);
    if (ret == 0) {
        bdrv_debug_event(bs->file->bs, BLKDBG_L1_SHRINK_WRITE_TABLE);
        ret = qcow2_file_pwrite(bs, s->l1_table_offset + max_size * 8, n * 8,
                                be_table);
    }
    free(be_table);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS);
    for (uint64_t i = max_size; i < s->l1_size; i++) {
        uint64_t off = s->l1_table[i] & L1E_OFFSET_MASK;
        s->l1_table[i] = 0;
        if (off && !(s->l1_table[i] & L1E_RESERVED_MASK) &&
            !offset_into_cluster(s, off)) {
            uint64_t slice_bytes = (uint64_t)s->l2_slice_size * 8;
            for (uint64_t j = 0; j < s->l2_size / s->l2_slice_size; j++) {
                qcow2_cache_discard(s->l2_cache, off + j * slice_bytes);
            }
            qcow2_cluster_set_remove(&s->l2_clusters, off >> s->cluster_bits);
            ret = qcow2_free_clusters(bs, off, s->cluster_size,
                                      QCOW2_DISCARD_ALWAYS);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

/* ---- in-flight allocations ---- */

void qcow2_inflight_add(BDRVQcow2State *s, Qcow2InflightAlloc *a,
                        uint64_t first_cluster, uint64_t nb_clusters)
{
    memset(a, 0, sizeof(*a));
    a->first_cluster = first_cluster;
    a->nb_clusters = nb_clusters;
    qemu_co_queue_init(&a->waiters);
    qemu_co_queue_init(&a->owner_wait);
    QLIST_INSERT_HEAD(&s->inflight, a, next);
}

void qcow2_inflight_remove(BDRVQcow2State *s, Qcow2InflightAlloc *a)
{
    (void)s;
    QLIST_REMOVE(a, next);
    qemu_co_queue_restart_all(&a->waiters);
}

bool coroutine_fn qcow2_inflight_wait(BDRVQcow2State *s, uint64_t first,
                                      uint64_t *nb)
{
    Qcow2InflightAlloc *a;

    QLIST_FOREACH(a, &s->inflight, next) {
        uint64_t a_end = a->first_cluster + a->nb_clusters;
        if (a_end <= first || a->first_cluster >= first + *nb) {
            continue;
        }
        if (a->first_cluster <= first) {
            qemu_co_queue_wait(&a->waiters, &s->lock);
            return true;
        }
        *nb = a->first_cluster - first;
    }
    return false;
}

/* ---- zeroing and discarding whole clusters ---- */

/* Drop the host storage an L2 entry referenced (deferred). */
int coroutine_fn qcow2_free_entry_storage(BlockDriverState *bs,
                                          uint64_t entry,
                                          Qcow2ClusterType type,
                                          Qcow2DiscardType dtype)
{
    BDRVQcow2State *s = bs->opaque;

    switch (type) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return qcow2_free_deferred(bs, entry & L2E_OFFSET_MASK,
                                   s->cluster_size, dtype);
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset, csize;
        qcow2_parse_compressed(s, entry, &coffset, &csize);
        return qcow2_free_deferred(bs, coffset, csize, dtype);
    }
    default:
        return 0;
    }
}

/*
 * Rewrite the L2 entries of whole clusters [offset, offset + bytes):
 *   mode 0 (zero):        zero flag; keep the host cluster unless @unmap
 *   mode 1 (discard):     zero flag (v3), unallocated (v2)
 *   mode 2 (full discard): unallocated
 */
enum { CLUSTERS_ZERO, CLUSTERS_DISCARD, CLUSTERS_FULL_DISCARD };

static int coroutine_fn rewrite_clusters(BlockDriverState *bs, uint64_t offset,
                                         uint64_t bytes, int mode, bool unmap,
                                         Qcow2DiscardType dtype)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = offset + bytes;
    int ret = 0;

    assert(!offset_into_cluster(s, offset));
    while (offset < end) {
        uint64_t first = offset >> s->cluster_bits;
        uint32_t slice_index = offset_to_l2_slice_index(s, offset);
        uint64_t nb = MIN(size_to_clusters(s, end - offset),
                          s->l2_slice_size - slice_index);
        uint64_t l1_index = offset_to_l1_index(s, offset);
        uint64_t *slice;
        uint32_t idx;
        int64_t l2_offset;

        if (qcow2_inflight_wait(s, first, &nb)) {
            continue;
        }
        l2_offset = l1_entry_l2_offset(bs, l1_index);
        if (l2_offset < 0) {
            return (int)l2_offset;
        }
        /* Nothing to change in a range without an L2 table, unless the
         * result must be a zero flag (always for a zero write, as QEMU
         * writes it; over a backing file for a discard). */
        if (!l2_offset && mode != CLUSTERS_ZERO &&
            (mode != CLUSTERS_DISCARD || !bs->backing)) {
            offset += nb << s->cluster_bits;
            continue;
        }
        ret = qcow2_get_l2_slice_for_write(bs, offset, &slice, &idx);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t i = 0; i < nb; i++) {
            uint64_t old = q2_ld64(&slice[idx + i]);
            uint64_t new;
            Qcow2ClusterType t;

            if (!qcow2_classify_l2_entry(s, old, &t)) {
                qcow2_cache_put(s->l2_cache, (void **)&slice);
                report_bad_l2_entry(bs, old, (uint64_t)l2_offset,
                                    offset_to_l2_index(s, offset) + i);
                return -EIO;
            }
            switch (mode) {
            case CLUSTERS_ZERO:
                /* A host cluster stays referenced (shared with a snapshot
                 * or not: no refcount changes) unless unmapping. */
                if (!unmap && (t == QCOW2_CLUSTER_NORMAL ||
                               t == QCOW2_CLUSTER_ZERO_ALLOC)) {
                    new = (old & (L2E_OFFSET_MASK | QCOW2_OFLAG_COPIED)) |
                          QCOW2_OFLAG_ZERO;
                } else {
                    new = QCOW2_OFLAG_ZERO;
                }
                break;
            case CLUSTERS_DISCARD:
                /* v3: discarded clusters read as zeroes (what is zero or
                 * falls through to nothing already stays); v2 can only
                 * deallocate (the caller does not discard over a backing
                 * file then). */
                if (s->version >= 3) {
                    if (t == QCOW2_CLUSTER_ZERO_PLAIN ||
                        (t == QCOW2_CLUSTER_UNALLOCATED && !bs->backing)) {
                        continue;
                    }
                    new = QCOW2_OFLAG_ZERO;
                } else {
                    new = 0;
                }
                break;
            default:
                new = 0;
                break;
            }
            if (new == old) {
                continue;
            }
            q2_st64(&slice[idx + i], new);
            qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
            if ((new & L2E_OFFSET_MASK) != (old & L2E_OFFSET_MASK) ||
                t == QCOW2_CLUSTER_COMPRESSED) {
                ret = qcow2_free_entry_storage(bs, old, t, dtype);
                if (ret < 0) {
                    qcow2_cache_put(s->l2_cache, (void **)&slice);
                    return ret;
                }
            }
        }
        qcow2_cache_put(s->l2_cache, (void **)&slice);
        offset += nb << s->cluster_bits;
    }
    return qcow2_maybe_process_frees(bs);
}

int coroutine_fn qcow2_zero_clusters(BlockDriverState *bs, uint64_t offset,
                                     uint64_t bytes, int flags)
{
    return rewrite_clusters(bs, offset, bytes, CLUSTERS_ZERO,
                            flags & BDRV_REQ_MAY_UNMAP, QCOW2_DISCARD_REQUEST);
}

int coroutine_fn qcow2_discard_clusters(BlockDriverState *bs, uint64_t offset,
                                        uint64_t bytes, bool full,
                                        Qcow2DiscardType type)
{
    return rewrite_clusters(bs, offset, bytes,
                            full ? CLUSTERS_FULL_DISCARD : CLUSTERS_DISCARD,
                            true, type);
}
