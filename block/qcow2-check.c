/*
 * coblock — qcow2 consistency check and repair
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The check counts, in memory, every reference the image makes to a host
 * cluster: the header, the L1 tables (active and of each snapshot) and
 * the L2 tables and data clusters they reach, the refcount table and
 * blocks, the snapshot table and the bitmap directory with its tables.
 * It then compares the counts with the stored refcounts:
 *
 *   refcount < references   corruption (a cluster may be reused while in use)
 *   refcount > references   leak (wasted space only)
 *
 * and checks the COPIED flags of the active L1/L2 entries (set exactly
 * when the refcount is one).
 *
 * Repair: leaks are fixed in place (BDRV_FIX_LEAKS); a corruption, or a
 * refcount structure that cannot be trusted, makes BDRV_FIX_ERRORS write a
 * whole new refcount structure from the counts (in clusters nobody uses),
 * switch the header to it, and then release what the old one used.
 * COPIED flags are fixed in place (with BDRV_FIX_LEAKS too, as long as
 * nothing else was found left unrepaired).
 *
 * The messages are printed to stderr in the wording of QEMU's check, so
 * that `qemu-img check` output reads the same.
 *
 * Called with s->lock held, with no request in flight.
 */
#include "util/osdep.h"
#include "block/qcow2.h"

/* Never more than this many clusters are tracked (1 GiB of counters). */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* Fuzzing builds keep each input's work small: a repair that would grow
 * the file past 2^18 clusters fails with EFBIG instead. */
#define CHECK_MAX_CLUSTERS (UINT64_C(1) << 18)
#else
#define CHECK_MAX_CLUSTERS (UINT64_C(1) << 28)
#endif

typedef struct CheckState {
    BlockDriverState *bs;
    uint64_t highest;           /* last cluster in use or counted, + 1 */
    BdrvCheckResult *res;
    BdrvCheckMode fix;
    uint32_t *counts;
    uint64_t nb_clusters;       /* clusters the file holds */
    uint64_t alloc;             /* entries in counts */
    bool rebuild;               /* the refcount structure is broken */
} CheckState;

/* The first cluster in [c, end) with a nonzero count, or @end.  Whole
 * zero stretches are passed over a page at a time (sparse images can
 * span millions of clusters with nothing in them). */
static uint64_t next_counted(const CheckState *cs, uint64_t c, uint64_t end)
{
    static const uint32_t zeros[1024];

    end = MIN(end, cs->alloc);
    while (c < end) {
        uint64_t n = MIN(end - c, ARRAY_SIZE(zeros));

        if (n == ARRAY_SIZE(zeros) &&
            memcmp(&cs->counts[c], zeros, sizeof(zeros)) == 0) {
            c += n;
            continue;
        }
        for (uint64_t stop = c + n; c < stop; c++) {
            if (cs->counts[c]) {
                return c;
            }
        }
    }
    return end;
}

static int ensure_counts(CheckState *cs, uint64_t n)
{
    uint64_t na;
    uint32_t *p;

    if (n <= cs->alloc) {
        return 0;
    }
    if (n > CHECK_MAX_CLUSTERS) {
        return -EFBIG;
    }
    na = MAX(n, cs->alloc + cs->alloc / 2);
    na = MIN(na, CHECK_MAX_CLUSTERS);
    p = realloc(cs->counts, na * sizeof(uint32_t));
    if (!p) {
        return -ENOMEM;
    }
    memset(p + cs->alloc, 0, (na - cs->alloc) * sizeof(uint32_t));
    cs->counts = p;
    cs->alloc = na;
    return 0;
}

/* Count one reference to every cluster of [offset, offset + size). */
static void inc_refs(CheckState *cs, uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = cs->bs->opaque;
    uint64_t first, last;

    if (!size) {
        return;
    }
    if (UINT64_MAX - offset < size - 1) {
        size = UINT64_MAX - offset + 1;
    }
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    /* Ending within a cluster of the end of the file is fine (the last
     * cluster may be short); further out, the reference is broken. */
    if (UINT64_MAX - offset < size ||
        (offset + size > s->file_size &&
         offset + size - s->file_size >= s->cluster_size)) {
        fprintf(stderr, "ERROR: counting reference for region exceeding the "
                "end of the file by one cluster or more: offset %#" PRIx64
                " size %#" PRIx64 "\n", offset, size);
        cs->res->corruptions++;
        return;
    }
    if (last >= cs->nb_clusters) {
        if (ensure_counts(cs, last + 1) < 0) {
            cs->res->check_errors++;
            return;
        }
        cs->nb_clusters = last + 1;
    }
    for (uint64_t c = first; c <= last; c++) {
        /* A count that the refcount width cannot hold is a corruption
         * of its own (the count stays at the maximum). */
        if (cs->counts[c] >= s->refcount_max) {
            fprintf(stderr, "ERROR: overflow cluster offset=0x%" PRIx64 "\n"
                    "Use qemu-img amend to increase the refcount entry width "
                    "or qemu-img convert to create a clean copy if the image "
                    "cannot be opened for writing\n", c << s->cluster_bits);
            cs->res->corruptions++;
        } else if (cs->counts[c] != UINT32_MAX) {
            cs->counts[c]++;
        }
    }
}

/* Read a whole table of @bytes at @offset (bounded by the caller). */
static int coroutine_fn read_table(BlockDriverState *bs, uint64_t offset,
                                   uint64_t bytes, uint64_t **table)
{
    uint64_t *t = qemu_try_malloc(bytes ? bytes : 8);
    int ret;

    if (!t) {
        return -ENOMEM;
    }
    ret = qcow2_file_pread(bs, offset, bytes, t);
    if (ret < 0) {
        free(t);
        return ret;
    }
    *table = t;
    return 0;
}

typedef struct FragState {
    uint64_t next_contiguous;
} FragState;

/* Count the references of one L2 table; @active: the active L1 reaches
 * it (statistics are about the active image). */
static int coroutine_fn check_l2(CheckState *cs, uint64_t l2_offset,
                                 bool active, FragState *frag)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    int ret;

    if (l2_offset >= s->file_size &&
        l2_offset - s->file_size >= s->cluster_size) {
        /* Already reported by inc_refs. */
        return 0;
    }
    ret = read_table(bs, l2_offset, s->cluster_size, &l2);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        cs->res->check_errors++;
        return 0;
    }
    for (uint32_t i = 0; i < s->l2_size; i++) {
        uint64_t e = q2_ld64(&l2[i]);
        Qcow2ClusterType t;

        if (e & QCOW2_OFLAG_COMPRESSED) {
            uint64_t coffset, csize;
            if (e & QCOW2_OFLAG_COPIED) {
                fprintf(stderr, "ERROR: coffset=%#" PRIx64 ": copied flag "
                        "must never be set for compressed clusters\n",
                        e & s->coffset_mask);
                cs->res->corruptions++;
            }
            qcow2_parse_compressed(s, e, &coffset, &csize);
            if (active) {
                cs->res->bfi.allocated_clusters++;
                cs->res->bfi.compressed_clusters++;
                /* A compressed cluster always counts as fragmented and
                 * leaves the expected next offset alone (this is how QEMU
                 * counts). */
                cs->res->bfi.fragmented_clusters++;
            }
            inc_refs(cs, coffset, csize);
            continue;
        }
        if (e & L2E_STD_RESERVED_MASK) {
            fprintf(stderr, "ERROR found l2 entry with reserved bits set: %"
                    PRIx64 "\n", e);
            cs->res->corruptions++;
            continue;
        }
        if (!qcow2_classify_l2_entry(s, e, &t)) {
            fprintf(stderr, "ERROR offset=%" PRIx64 ": %s cluster is not "
                    "properly aligned; L2 entry corrupted.\n",
                    e & L2E_OFFSET_MASK,
                    (e & QCOW2_OFLAG_ZERO) ? "Preallocated" : "Data");
            cs->res->corruptions++;
            /* Still in use as far as it goes: whatever it covers must not
             * be handed out (QEMU counts it the same way). */
            if (active) {
                cs->res->bfi.allocated_clusters++;
            }
            inc_refs(cs, e & L2E_OFFSET_MASK, s->cluster_size);
            continue;
        }
        if (t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) {
            uint64_t host = e & L2E_OFFSET_MASK;
            if (active) {
                cs->res->bfi.allocated_clusters++;
                if (frag->next_contiguous && host != frag->next_contiguous) {
                    cs->res->bfi.fragmented_clusters++;
                }
                frag->next_contiguous = host + s->cluster_size;
            }
            inc_refs(cs, host, s->cluster_size);
        }
    }
    free(l2);
    return 0;
}

/* Count an L1 table and everything it reaches. */
static int coroutine_fn check_l1(CheckState *cs, uint64_t l1_offset,
                                 uint32_t l1_size, bool active)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l1 = NULL;
    FragState frag = { 0 };
    int ret;

    inc_refs(cs, l1_offset, (uint64_t)l1_size * 8);
    if (!l1_size) {
        return 0;
    }
    if (active) {
        l1 = s->l1_table;
    } else {
        ret = read_table(bs, l1_offset, (uint64_t)l1_size * 8, &l1);
        if (ret < 0) {
            fprintf(stderr, "ERROR: I/O error in check_refcounts_l1\n");
            cs->res->check_errors++;
            return 0;
        }
        for (uint32_t i = 0; i < l1_size; i++) {
            l1[i] = q2_ld64(&l1[i]);
        }
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t e = l1[i];
        uint64_t off = e & L1E_OFFSET_MASK;

        if (!off) {
            continue;
        }
        if (e & L1E_RESERVED_MASK) {
            fprintf(stderr, "ERROR found L1 entry with reserved bits set: %"
                    PRIx64 "\n", e);
            cs->res->corruptions++;
            continue;
        }
        if (offset_into_cluster(s, off)) {
            fprintf(stderr, "ERROR l2_offset=%" PRIx64 ": Table is not "
                    "cluster aligned; L1 entry corrupted\n", off);
            cs->res->corruptions++;
            continue;
        }
        inc_refs(cs, off, s->cluster_size);
        /* Contiguity is judged within one L2 table (as QEMU counts). */
        frag.next_contiguous = 0;
        ret = check_l2(cs, off, active, &frag);
        if (ret < 0) {
            break;
        }
    }
    if (!active) {
        free(l1);
    }
    return 0;
}

static void coroutine_fn check_refcount_table(CheckState *cs)
{
    BDRVQcow2State *s = cs->bs->opaque;

    inc_refs(cs, s->refcount_table_offset,
             (uint64_t)s->refcount_table_clusters << s->cluster_bits);
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];

        if (!e) {
            continue;
        }
        if ((e & REFT_RESERVED_MASK) || offset_into_cluster(s, e)) {
            fprintf(stderr, "ERROR refcount block %" PRIu64 " is not cluster "
                    "aligned; refcount table entry corrupted\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if ((e >> s->cluster_bits) >= size_to_clusters(s, s->file_size)) {
            bool grow = cs->fix & BDRV_FIX_ERRORS;
            fprintf(stderr, "%s refcount block %" PRIu64 " is outside image\n",
                    grow ? "Repairing" : "ERROR", i);
            cs->res->corruptions++;
            /* Repaired as QEMU does: the file grows (with zeroes) to hold
             * the block, which is then counted like any other; its zero
             * refcounts make the comparison rebuild the structure. */
            if (grow && e <= INT64_MAX - s->cluster_size &&
                ensure_counts(cs, (e >> s->cluster_bits) + 1) == 0 &&
                bdrv_co_truncate(cs->bs->file, (int64_t)(e + s->cluster_size),
                                 false, PREALLOC_MODE_OFF, 0, NULL) == 0) {
                qcow2_file_wrote(s, e, s->cluster_size);
                cs->nb_clusters = MAX(cs->nb_clusters,
                                      (e >> s->cluster_bits) + 1);
                cs->res->corruptions_fixed++;
                inc_refs(cs, e, s->cluster_size);
                continue;
            }
            cs->rebuild = true;
            continue;
        }
        if (e < s->cluster_size) {
            fprintf(stderr, "ERROR refcount block %" PRIu64 " overlaps the "
                    "header\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        inc_refs(cs, e, s->cluster_size);
    }
}

static int coroutine_fn check_bitmaps(CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;

    if (!s->has_bitmaps_ext || !s->bitmaps) {
        return 0;
    }
    inc_refs(cs, s->bitmap_directory_offset, s->bitmap_directory_size);
    for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
        Qcow2Bitmap *bm = &s->bitmaps[i];
        uint64_t *t;
        int ret;

        inc_refs(cs, bm->table_offset, (uint64_t)bm->table_size * 8);
        if (!bm->table_size) {
            continue;
        }
        ret = read_table(bs, bm->table_offset, (uint64_t)bm->table_size * 8,
                         &t);
        if (ret < 0) {
            cs->res->check_errors++;
            continue;
        }
        for (uint32_t j = 0; j < bm->table_size; j++) {
            uint64_t off = q2_ld64(&t[j]) & L1E_OFFSET_MASK;
            if (off && !offset_into_cluster(s, off)) {
                inc_refs(cs, off, s->cluster_size);
            }
        }
        free(t);
    }
    return 0;
}

/* A refcount block used for anything else is not to be trusted. */
static void check_refblock_sharing(CheckState *cs)
{
    BDRVQcow2State *s = cs->bs->opaque;

    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        uint64_t c = e >> s->cluster_bits;

        if (!e || (e & REFT_RESERVED_MASK) || offset_into_cluster(s, e) ||
            c >= cs->nb_clusters || e < s->cluster_size) {
            continue;
        }
        if (cs->counts[c] > 1) {
            fprintf(stderr, "ERROR refcount block %" PRIu64 " refcount=%"
                    PRIu32 "\n", i, cs->counts[c]);
            cs->res->corruptions++;
            cs->rebuild = true;
        }
    }
}

/* Count every reference the image makes. */
static int coroutine_fn count_references(CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    int ret;

    memset(cs->counts, 0, cs->alloc * sizeof(uint32_t));
    inc_refs(cs, 0, s->cluster_size);
    ret = check_l1(cs, s->l1_table_offset, s->l1_size, true);
    if (ret < 0) {
        return ret;
    }
    inc_refs(cs, s->snapshots_offset, s->snapshots_size);
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        if (sn->l1_invalid) {
            if (offset_into_cluster(s, sn->l1_table_offset)) {
                fprintf(stderr, "ERROR snapshot %s (%s) l1_offset=%#" PRIx64
                        ": L1 table is not cluster aligned; snapshot table "
                        "entry corrupted\n", sn->id_str, sn->name,
                        sn->l1_table_offset);
            } else {
                fprintf(stderr, "ERROR snapshot %s (%s) l1_size=%#" PRIx32
                        ": L1 table is too large; snapshot table entry "
                        "corrupted\n", sn->id_str, sn->name, sn->l1_size);
            }
            cs->res->corruptions++;
            continue;
        }
        ret = check_l1(cs, sn->l1_table_offset, sn->l1_size, false);
        if (ret < 0) {
            return ret;
        }
    }
    check_refcount_table(cs);
    ret = check_bitmaps(cs);
    check_refblock_sharing(cs);
    return ret;
}

/* First-fit allocation in the counts (for the rebuilt structure). */
static int64_t alloc_in_counts(CheckState *cs, uint64_t nb, uint64_t *hint)
{
    uint64_t run = 0;
    uint64_t c;

    for (c = *hint;; c++) {
        int ret = ensure_counts(cs, c + 1);
        if (ret < 0) {
            return ret;
        }
        if (cs->counts[c] == 0) {
            if (++run == nb) {
                break;
            }
        } else {
            run = 0;
        }
    }
    c = c + 1 - nb;
    for (uint64_t i = 0; i < nb; i++) {
        cs->counts[c + i] = 1;
    }
    *hint = c + nb;
    return (int64_t)c;
}

/*
 * Write a new refcount structure with entries of 2^@order bits describing
 * cs->counts, in clusters nobody uses, and switch the header to it (the
 * table pointer and the entry width change in one write of the first
 * header sector).
 */
static int coroutine_fn write_refcount_structure(CheckState *cs, int order)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    int refblock_bits = s->cluster_bits + 3 - order;
    uint64_t refblock_size = UINT64_C(1) << refblock_bits;
    uint64_t refcount_max = order == 6 ? UINT64_MAX
                            : (UINT64_C(1) << (1 << order)) - 1;
    uint64_t hint = 0;
    uint64_t entries_per_cluster = s->cluster_size / 8;
    uint64_t last_used = 0, nblocks, table_clusters = 0;
    int64_t table_start = -1;
    uint64_t *table = NULL;
    uint8_t *block = NULL;
    uint8_t hdr[QCOW2_V3_HEADER_SIZE];
    bool changed;
    int ret;

    /* Blocks first, for every range that has a used cluster, then the
     * table after them (QEMU's order): first fit from the start.  Placing
     * either may put a cluster into a range that had none, or past what
     * the table covers: repeat until nothing moves. */
    {
        uint64_t *blocks = NULL;
        uint64_t nrt = 0;

        for (;;) {
            uint64_t need_rt;

            changed = false;
            for (uint64_t c = cs->alloc; c-- > 0;) {
                if (cs->counts[c]) {
                    last_used = c;
                    break;
                }
            }
            need_rt = (last_used >> refblock_bits) + 1;
            if (need_rt > nrt) {
                uint64_t *nb = realloc(blocks, need_rt * sizeof(uint64_t));
                if (!nb) {
                    free(blocks);
                    return -ENOMEM;
                }
                memset(nb + nrt, 0, (need_rt - nrt) * sizeof(uint64_t));
                blocks = nb;
                nrt = need_rt;
            }
            for (uint64_t rt = 0; rt < need_rt; rt++) {
                uint64_t lo = rt << refblock_bits;
                int64_t b;

                if (blocks[rt]) {
                    continue;
                }
                if (next_counted(cs, lo, lo + refblock_size) ==
                    MIN(lo + refblock_size, cs->alloc)) {
                    continue;
                }
                b = alloc_in_counts(cs, 1, &hint);
                if (b < 0) {
                    free(blocks);
                    return (int)b;
                }
                blocks[rt] = (uint64_t)b << s->cluster_bits;
                changed = true;
            }
            if (changed) {
                continue;
            }
            nblocks = need_rt;
            if (table_start >= 0 &&
                table_clusters * entries_per_cluster >= nblocks) {
                break;
            }
            if (table_start >= 0) {
                for (uint64_t i = 0; i < table_clusters; i++) {
                    cs->counts[table_start + i] = 0;
                }
            }
            table_clusters = DIV_ROUND_UP(nblocks, entries_per_cluster);
            if (table_clusters << s->cluster_bits >
                QCOW2_MAX_REFTABLE_BYTES) {
                free(blocks);
                return -EFBIG;
            }
            table_start = alloc_in_counts(cs, table_clusters, &hint);
            if (table_start < 0) {
                free(blocks);
                return (int)table_start;
            }
        }

        table = qemu_try_malloc0(table_clusters << s->cluster_bits);
        block = qemu_try_memalign(4096, s->cluster_size);
        if (!table || !block) {
            free(blocks);
            ret = -ENOMEM;
            goto out;
        }
        memcpy(table, blocks, MIN(nrt, table_clusters * entries_per_cluster) *
               sizeof(uint64_t));
        free(blocks);
    }
    /* Now that every block is placed, fill and write them. */
    for (uint64_t rt = 0; rt < table_clusters * entries_per_cluster; rt++) {
        uint64_t lo = rt << refblock_bits;

        if (!table[rt]) {
            continue;
        }
        memset(block, 0, s->cluster_size);
        for (uint64_t i = 0; i < refblock_size && lo + i < cs->alloc; i++) {
            uint64_t v = MIN((uint64_t)cs->counts[lo + i], refcount_max);
            qcow2_refblock_set(block, i, order, v);
        }
        ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_BLOCK |
                                            QCOW2_OL_REFCOUNT_TABLE,
                                            table[rt], s->cluster_size);
        if (ret == 0) {
            ret = qcow2_file_pwrite(bs, table[rt], s->cluster_size, block);
        }
        if (ret < 0) {
            fprintf(stderr, "ERROR writing refblock: %s\n", strerror(-ret));
            goto out;
        }
    }
    for (uint64_t i = 0; i < table_clusters * entries_per_cluster; i++) {
        q2_st64(&table[i], table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_BLOCK |
                                        QCOW2_OL_REFCOUNT_TABLE,
                                        (uint64_t)table_start << s->cluster_bits,
                                        table_clusters << s->cluster_bits);
    if (ret == 0) {
        ret = qcow2_file_pwrite(bs, (uint64_t)table_start << s->cluster_bits,
                                table_clusters << s->cluster_bits, table);
    }
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        fprintf(stderr, "ERROR writing reftable: %s\n", strerror(-ret));
        goto out;
    }
    qcow2_build_fixed_header(s, hdr);
    q2_st64(hdr + QCOW2_HDR_REFTABLE_OFFSET,
            (uint64_t)table_start << s->cluster_bits);
    q2_st32(hdr + QCOW2_HDR_REFTABLE_CLUSTERS, (uint32_t)table_clusters);
    if (order == s->refcount_order) {
        ret = qcow2_file_pwrite(bs, QCOW2_HDR_REFTABLE_OFFSET, 12,
                                hdr + QCOW2_HDR_REFTABLE_OFFSET);
    } else {
        q2_st32(hdr + QCOW2_HDR_REFCOUNT_ORDER, (uint32_t)order);
        ret = qcow2_file_pwrite(bs, QCOW2_HDR_REFTABLE_OFFSET,
                                QCOW2_HDR_HEADER_LENGTH -
                                QCOW2_HDR_REFTABLE_OFFSET,
                                hdr + QCOW2_HDR_REFTABLE_OFFSET);
    }
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        fprintf(stderr, "ERROR setting reftable: %s\n", strerror(-ret));
        goto out;
    }
    s->refcount_order = order;
    s->refcount_bits = 1 << order;
    s->refcount_max = refcount_max;
    s->refblock_bits = refblock_bits;
    s->refblock_size = (uint32_t)refblock_size;

    /* Switch the in-memory state. */
    qcow2_cache_empty(s->refcount_cache);
    qcow2_cluster_set_free(&s->refblock_clusters);
    qcow2_cluster_set_init(&s->refblock_clusters);
    for (uint64_t i = 0; i < table_clusters * entries_per_cluster; i++) {
        table[i] = q2_ld64(&table[i]);
        if (table[i]) {
            qcow2_cluster_set_add(&s->refblock_clusters,
                                  table[i] >> s->cluster_bits);
        }
    }
    free(s->refcount_table);
    s->refcount_table = table;
    table = NULL;
    s->refcount_table_offset = (uint64_t)table_start << s->cluster_bits;
    s->refcount_table_clusters = (uint32_t)table_clusters;
    s->refcount_table_size = table_clusters * entries_per_cluster;
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    cs->nb_clusters = MAX(cs->nb_clusters, hint);
    ret = 0;
out:
    free(table);
    qemu_vfree(block);
    return ret;
}

/*
 * Compare stored refcounts with the counts; fix what @fix allows, in place:
 * a leak with BDRV_FIX_LEAKS, a refcount below the references with
 * BDRV_FIX_ERRORS (raising a refcount never frees anything).  A referenced
 * cluster whose refcount is zero (or cannot be read) asks for a rebuild of
 * the whole structure instead.  Every mismatch found is counted in
 * cs->res, and each one fixed in its _fixed counter too.
 * @after_rebuild: releasing what the old structure used; only the repairs
 * are printed.
 */
static int coroutine_fn compare_refcounts(CheckState *cs, BdrvCheckMode fix,
                                          bool *need_rebuild,
                                          bool after_rebuild)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t n = cs->nb_clusters;
    Qcow2RefcountReader rd = { 0 };
    int ret;

    for (uint64_t c = 0; c < n && c < cs->alloc; c++) {
        uint64_t rc;
        uint64_t refs = cs->counts[c];
        bool leak, repair;

        ret = qcow2_refcount_reader_get(bs, &rd, c, &rc);
        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRIu64 ": %s\n",
                    c, strerror(-ret));
            cs->res->check_errors++;
            *need_rebuild = true;
            continue;
        }
        if (rc || refs) {
            cs->highest = c + 1;
        }
        if (rc == refs) {
            if (rd.absent) {
                /* No refcount block here: only the clusters counted as
                 * referenced need a look, up to the block's range end. */
                uint64_t end = MIN(n, (c | (s->refblock_size - 1)) + 1);

                c = next_counted(cs, c + 1, end) - 1;
            }
            continue;
        }
        leak = rc > refs;
        if (rc == 0) {
            *need_rebuild = true;
            repair = false;
        } else {
            repair = leak ? (fix & BDRV_FIX_LEAKS) : (fix & BDRV_FIX_ERRORS);
        }
        if (after_rebuild && !repair) {
            if (!leak) {
                cs->res->corruptions++;
            }
            continue;
        }
        fprintf(stderr, "%s cluster %" PRIu64 " refcount=%" PRIu64
                " reference=%" PRIu64 "\n",
                repair ? "Repairing" : leak ? "Leaked" : "ERROR", c, rc, refs);
        if (!after_rebuild) {
            if (leak) {
                cs->res->leaks++;
            } else {
                cs->res->corruptions++;
            }
        }
        if (!repair) {
            continue;
        }
        /* The repair changes refcounts. */
        qcow2_refcount_reader_end(bs, &rd);
        ret = qcow2_update_refcount(bs, c << s->cluster_bits, s->cluster_size,
                                    (int64_t)refs - (int64_t)rc);
        if (ret < 0) {
            cs->res->check_errors++;
            continue;
        }
        if (!after_rebuild) {
            if (leak) {
                cs->res->leaks_fixed++;
            } else {
                cs->res->corruptions_fixed++;
            }
        }
    }
    qcow2_refcount_reader_end(bs, &rd);
    return 0;
}

/* COPIED flags of the active tables. */
static int coroutine_fn check_copied(CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult *r = cs->res;
    Qcow2RefcountReader rd = { 0 };
    bool fix;
    int ret;

    /* With BDRV_FIX_LEAKS alone a flag is fixed only while the refcounts
     * can be trusted: nothing found so far is left unrepaired (the leaks
     * were fixed just before, so a refcount read now is accurate). */
    if (cs->fix & BDRV_FIX_ERRORS) {
        fix = true;
    } else if (cs->fix & BDRV_FIX_LEAKS) {
        fix = !r->check_errors && r->corruptions == r->corruptions_fixed &&
              r->leaks == r->leaks_fixed;
    } else {
        fix = false;
    }

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t e = s->l1_table[i];
        uint64_t off = e & L1E_OFFSET_MASK;
        uint64_t rc;
        uint64_t slice_bytes = (uint64_t)s->l2_slice_size * 8;

        if (!off || (e & L1E_RESERVED_MASK) || offset_into_cluster(s, off) ||
            (off >> s->cluster_bits) >= cs->nb_clusters) {
            continue;
        }
        /* A refcount that cannot be read was reported by the comparison
         * already: the flag is left alone and not counted again. */
        ret = qcow2_get_refcount(bs, off >> s->cluster_bits, &rc);
        if (ret < 0) {
            continue;
        }
        if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
            fprintf(stderr, "%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu32
                    " l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                    fix ? "Repairing" : "ERROR", i, e, rc);
            cs->res->corruptions++;
            if (fix) {
                s->l1_table[i] = rc == 1 ? (e | QCOW2_OFLAG_COPIED)
                                         : (e & ~QCOW2_OFLAG_COPIED);
                ret = qcow2_write_l1_entry(bs, i);
                if (ret < 0) {
                    s->l1_table[i] = e;
                    cs->res->check_errors++;
                } else {
                    cs->res->corruptions_fixed++;
                }
            }
        }
        for (uint64_t j = 0; j < s->l2_size / s->l2_slice_size; j++) {
            uint64_t *slice;
            ret = qcow2_cache_get(bs, s->l2_cache, off + j * slice_bytes,
                                  (void **)&slice);
            if (ret < 0) {
                cs->res->check_errors++;
                continue;
            }
            for (uint32_t k = 0; k < s->l2_slice_size; k++) {
                uint64_t le = q2_ld64(&slice[k]);
                Qcow2ClusterType t;
                uint64_t host;

                if (!qcow2_classify_l2_entry(s, le, &t) ||
                    (t != QCOW2_CLUSTER_NORMAL &&
                     t != QCOW2_CLUSTER_ZERO_ALLOC)) {
                    continue;
                }
                /* The stored refcount, wherever the cluster lies (one past
                 * the end of the file was reported by the counting). */
                host = le & L2E_OFFSET_MASK;
                ret = qcow2_refcount_reader_get(bs, &rd,
                                                host >> s->cluster_bits, &rc);
                if (ret < 0) {
                    continue;
                }
                if ((rc == 1) != !!(le & QCOW2_OFLAG_COPIED)) {
                    fprintf(stderr, "%s OFLAG_COPIED data cluster: l2_entry=%"
                            PRIx64 " refcount=%" PRIu64 "\n",
                            fix ? "Repairing" : "ERROR", le, rc);
                    cs->res->corruptions++;
                    if (fix) {
                        le = rc == 1 ? (le | QCOW2_OFLAG_COPIED)
                                     : (le & ~QCOW2_OFLAG_COPIED);
                        q2_st64(&slice[k], le);
                        qcow2_cache_entry_mark_dirty(s->l2_cache, slice);
                        cs->res->corruptions_fixed++;
                    }
                }
            }
            qcow2_cache_put(s->l2_cache, (void **)&slice);
        }
    }
    qcow2_refcount_reader_end(bs, &rd);
    return 0;
}

int coroutine_fn qcow2_co_check_locked(BlockDriverState *bs,
                                       BdrvCheckResult *res,
                                       BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    CheckState cs = { .bs = bs, .res = res, .fix = fix };
    BdrvCheckResult pre_compare;
    bool need_rebuild = false;
    int ret;

    if (!bs->read_only) {
        ret = qcow2_flush_metadata(bs);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
    } else {
        fix = cs.fix = 0;
    }

    cs.nb_clusters = size_to_clusters(s, s->file_size);
    ret = ensure_counts(&cs, MAX(cs.nb_clusters, 1));
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    ret = count_references(&cs);
    if (ret < 0) {
        goto out;
    }
    need_rebuild = cs.rebuild;
    /* First report, then (unless the structure must be rebuilt) compare
     * again and repair in place what @fix allows. */
    pre_compare = *res;
    ret = compare_refcounts(&cs, 0, &need_rebuild, false);
    if (ret < 0) {
        goto out;
    }
    if (need_rebuild && fix && !(fix & BDRV_FIX_ERRORS)) {
        fprintf(stderr, "ERROR need to rebuild refcount structures\n");
        res->check_errors++;
        ret = -EIO;
        goto out;
    }
    if (!need_rebuild && fix && (res->leaks || res->corruptions)) {
        *res = pre_compare;
        ret = compare_refcounts(&cs, fix, &need_rebuild, false);
        if (ret < 0) {
            goto out;
        }
    }

    if (need_rebuild && (fix & BDRV_FIX_ERRORS)) {
        uint64_t old_corruptions = res->corruptions;
        uint64_t old_leaks = res->leaks;
        fprintf(stderr, "Rebuilding refcount structure\n");
        ret = write_refcount_structure(&cs, s->refcount_order);
        if (ret < 0) {
            res->check_errors++;
            goto out;
        }
        res->corruptions_fixed = (int)old_corruptions;
        res->leaks_fixed = (int)old_leaks;
        /* What the old structure used is now a leak: count again and
         * release it. */
        {
            BdrvCheckResult scratch;
            memset(&scratch, 0, sizeof(scratch));
            cs.res = &scratch;
            cs.fix = BDRV_FIX_LEAKS;
            cs.nb_clusters = MAX(cs.nb_clusters,
                                 size_to_clusters(s, s->file_size));
            ret = ensure_counts(&cs, cs.nb_clusters);
            if (ret == 0) {
                ret = count_references(&cs);
            }
            if (ret == 0) {
                need_rebuild = false;
                ret = compare_refcounts(&cs, BDRV_FIX_LEAKS, &need_rebuild,
                                        true);
            }
            cs.res = res;
            cs.fix = fix;
            if (ret < 0 || need_rebuild || scratch.corruptions) {
                res->check_errors++;
                goto out;
            }
        }
    }

    ret = check_copied(&cs);
    if (ret < 0) {
        goto out;
    }
    if (fix) {
        ret = qcow2_flush_metadata(bs);
        if (ret < 0) {
            res->check_errors++;
            goto out;
        }
    }

    /* Statistics and the end of the used part of the file: the last
     * cluster with a readable refcount or a reference (as QEMU reports
     * it; at least one cluster, the header). */
    res->bfi.total_clusters = size_to_clusters(s, s->size);
    {
        uint64_t end = MAX(cs.highest, 1);
        for (uint64_t c = cs.alloc; c-- > MAX(end, cs.nb_clusters);) {
            if (cs.counts[c]) {
                end = c + 1;
                break;
            }
        }
        res->image_end_offset = (int64_t)(end << s->cluster_bits);
    }
    /* A repair that left no corruption behind makes the image clean and
     * consistent again (the corrupt bit goes, as QEMU clears it). */
    if (fix && res->corruptions == res->corruptions_fixed &&
        !res->check_errors) {
        if ((s->incompatible_features & QCOW2_INCOMPAT_DIRTY) &&
            res->leaks == res->leaks_fixed && !s->use_lazy_refcounts) {
            ret = qcow2_mark_clean(bs);
            if (ret < 0) {
                goto out;
            }
        }
        ret = qcow2_mark_consistent(bs);
        if (ret < 0) {
            goto out;
        }
    }
    ret = 0;
out:
    free(cs.counts);
    return ret;
}

/*
 * Rewrite the refcount structure with entries of 2^@new_order bits
 * (qemu-img amend -o refcount_bits): every refcount is read, the new
 * structure written beside the old one, the header switched, the old one
 * released.  Called with s->lock held.
 */
int coroutine_fn qcow2_change_refcount_order(BlockDriverState *bs,
                                             int new_order, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    CheckState cs = { .bs = bs };
    BdrvCheckResult scratch;
    uint64_t new_max = new_order == 6 ? UINT64_MAX
                       : (UINT64_C(1) << (1 << new_order)) - 1;
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_clusters = s->refcount_table_clusters;
    uint64_t *old_table = NULL;
    uint64_t old_size = s->refcount_table_size;
    int ret;

    if (new_order == s->refcount_order) {
        return 0;
    }
    memset(&scratch, 0, sizeof(scratch));
    cs.res = &scratch;
    ret = qcow2_flush_metadata(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write the metadata");
        return ret;
    }
    cs.nb_clusters = MAX(s->alloc_end, size_to_clusters(s, s->file_size));
    ret = ensure_counts(&cs, MAX(cs.nb_clusters, 1));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not allocate the refcount array");
        return ret;
    }
    for (uint64_t c = 0; c < cs.nb_clusters; c++) {
        uint64_t rc;
        ret = qcow2_get_refcount(bs, c, &rc);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read the refcounts");
            goto out;
        }
        if (rc > new_max || rc > UINT32_MAX) {
            error_setg(errp, "Cannot decrease refcount entry width to %d bits: "
                       "Cluster at offset %#" PRIx64 " has a refcount of %"
                       PRIu64, 1 << new_order, c << s->cluster_bits, rc);
            ret = -EINVAL;
            goto out;
        }
        cs.counts[c] = (uint32_t)rc;
    }
    old_table = qemu_try_malloc(old_size ? old_size * 8 : 8);
    if (!old_table) {
        ret = -ENOMEM;
        error_setg(errp, "Could not allocate memory");
        goto out;
    }
    memcpy(old_table, s->refcount_table, old_size * 8);
    ret = write_refcount_structure(&cs, new_order);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write the new refcount "
                         "structure");
        goto out;
    }
    /* The new structure counted the old one: release it. */
    ret = qcow2_update_refcount(bs, old_offset,
                                old_clusters << s->cluster_bits, -1);
    for (uint64_t i = 0; ret == 0 && i < old_size; i++) {
        if (old_table[i] && !(old_table[i] & REFT_RESERVED_MASK) &&
            !offset_into_cluster(s, old_table[i])) {
            ret = qcow2_update_refcount(bs, old_table[i], s->cluster_size, -1);
        }
    }
    if (ret == 0) {
        ret = qcow2_flush_metadata(bs);
    }
    if (ret < 0) {
        /* The image is consistent; what is left is leaked. */
        error_setg_errno(errp, -ret, "Could not release the old refcount "
                         "structure");
    }
out:
    free(old_table);
    free(cs.counts);
    return ret;
}
