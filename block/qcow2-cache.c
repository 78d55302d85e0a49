/*
 * coblock — qcow2 metadata caches (L2 slices and refcount blocks)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A cache holds a fixed number of equally sized entries, each the image
 * of one metadata area of the file (an L2 slice or a refcount block),
 * keyed by its host offset.  Lookups go through a hash table; eviction
 * picks the least recently used entry that nobody holds.  Entries are
 * written back lazily (write-back cache), in an order that keeps the
 * image consistent after a crash:
 *
 *  - depends: before any entry of this cache is written, every dirty entry
 *    of the other cache is written and the file is synced.  The L2 cache
 *    depends on the refcount cache whenever an L2 entry is made to point
 *    at a cluster whose refcount was just raised.
 *  - depends_on_flush: before any entry is written the file is synced, so
 *    that guest data reaches the disk before the L2 entry exposing it.
 *
 * All functions are called with s->lock held (or with exclusive access to
 * the image, during open and close), so the cache needs no locking of its
 * own: while one coroutine waits for the disk inside a cache function, no
 * other coroutine can use the cache.
 */
#include "util/osdep.h"
#include "block/qcow2.h"

typedef struct Qcow2CacheEntry {
    uint64_t offset;        /* 0: slot unused (offset 0 is the header) */
    uint64_t lru;           /* last use, larger is more recent */
    int ref;                /* holders */
    int hnext;              /* next slot in the hash chain, -1 ends */
    bool dirty;
} Qcow2CacheEntry;

struct Qcow2Cache {
    const char *name;
    Qcow2CacheEntry *entries;
    uint8_t *tables;
    int size;
    uint32_t entry_size;
    int *buckets;
    uint32_t bucket_mask;
    uint64_t lru_counter;
    Qcow2Cache *depends;
    bool depends_on_flush;
    int overlap_ign;        /* the overlap-check bit of what we hold */
};

static inline uint32_t cache_hash(const Qcow2Cache *c, uint64_t offset)
{
    uint64_t h = (offset >> 9) * UINT64_C(0x9e3779b97f4a7c15);
    return (uint32_t)(h >> 32) & c->bucket_mask;
}

static inline void *cache_table(const Qcow2Cache *c, int i)
{
    return c->tables + (size_t)i * c->entry_size;
}

static int cache_index(const Qcow2Cache *c, const void *table)
{
    ptrdiff_t d = (const uint8_t *)table - c->tables;
    int i = (int)(d / c->entry_size);
    assert(d >= 0 && d % c->entry_size == 0 && i < c->size);
    return i;
}

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int nb_entries,
                               uint32_t entry_size, const char *name)
{
    Qcow2Cache *c;
    size_t align = MAX(qemu_real_host_page_size(), (size_t)4096);
    uint32_t nbuckets = 1;

    (void)bs;
    assert(nb_entries >= 2 && entry_size >= 512 && is_power_of_2(entry_size));
    c = qemu_new0(Qcow2Cache, 1);
    c->name = name;
    c->size = nb_entries;
    c->entry_size = entry_size;
    c->tables = qemu_try_memalign(align, (size_t)nb_entries * entry_size);
    c->entries = qemu_try_malloc0(sizeof(Qcow2CacheEntry) * (size_t)nb_entries);
    while (nbuckets < (uint32_t)nb_entries * 2) {
        nbuckets <<= 1;
    }
    c->buckets = qemu_try_malloc(sizeof(int) * nbuckets);
    if (!c->tables || !c->entries || !c->buckets) {
        qemu_vfree(c->tables);
        free(c->entries);
        free(c->buckets);
        free(c);
        return NULL;
    }
    c->bucket_mask = nbuckets - 1;
    for (uint32_t i = 0; i < nbuckets; i++) {
        c->buckets[i] = -1;
    }
    for (int i = 0; i < nb_entries; i++) {
        c->entries[i].hnext = -1;
    }
    c->overlap_ign = strcmp(name, "l2") == 0 ? QCOW2_OL_ACTIVE_L2
                                               : QCOW2_OL_REFCOUNT_BLOCK;
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) {
        return;
    }
    for (int i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
    }
    qemu_vfree(c->tables);
    free(c->entries);
    free(c->buckets);
    free(c);
}

int qcow2_cache_entries(Qcow2Cache *c)
{
    return c->size;
}

static int cache_lookup(const Qcow2Cache *c, uint64_t offset)
{
    for (int i = c->buckets[cache_hash(c, offset)]; i >= 0;
         i = c->entries[i].hnext) {
        if (c->entries[i].offset == offset) {
            return i;
        }
    }
    return -1;
}

static void cache_unhash(Qcow2Cache *c, int i)
{
    int *link = &c->buckets[cache_hash(c, c->entries[i].offset)];

    while (*link != i) {
        assert(*link >= 0);
        link = &c->entries[*link].hnext;
    }
    *link = c->entries[i].hnext;
    c->entries[i].hnext = -1;
    c->entries[i].offset = 0;
    c->entries[i].dirty = false;
}

static void cache_hash_insert(Qcow2Cache *c, int i, uint64_t offset)
{
    uint32_t h = cache_hash(c, offset);

    c->entries[i].offset = offset;
    c->entries[i].hnext = c->buckets[h];
    c->buckets[h] = i;
}

/* Flush what must reach the disk before an entry of @c is written. */
static int coroutine_fn cache_flush_dependency(BlockDriverState *bs,
                                               Qcow2Cache *c)
{
    int ret;

    if (c->depends) {
        Qcow2Cache *dep = c->depends;
        /* Clear first: the dependency may (through its own dependency)
         * come back here. */
        c->depends = NULL;
        ret = qcow2_cache_flush(bs, dep);
        if (ret < 0) {
            c->depends = dep;
            return ret;
        }
        c->depends_on_flush = false;
    }
    if (c->depends_on_flush) {
        ret = bdrv_co_flush(bs->file->bs);
        if (ret < 0) {
            return ret;
        }
        c->depends_on_flush = false;
    }
    return 0;
}

static int coroutine_fn cache_entry_write(BlockDriverState *bs, Qcow2Cache *c,
                                          int i)
{
    Qcow2CacheEntry *e = &c->entries[i];
    int ret;

    if (!e->dirty || !e->offset) {
        return 0;
    }
    ret = cache_flush_dependency(bs, c);
    if (ret < 0) {
        return ret;
    }
    /* The dependency flush may have written this entry already. */
    if (!e->dirty) {
        return 0;
    }
    ret = qcow2_pre_write_overlap_check(bs, c->overlap_ign, e->offset,
                                        c->entry_size);
    if (ret < 0) {
        return ret;
    }
    if (c == ((BDRVQcow2State *)bs->opaque)->refcount_cache) {
        bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_UPDATE_PART);
    } else if (c == ((BDRVQcow2State *)bs->opaque)->l2_cache) {
        bdrv_debug_event(bs->file->bs, BLKDBG_L2_UPDATE);
    }
    ret = qcow2_file_pwrite(bs, e->offset, c->entry_size, cache_table(c, i));
    if (ret < 0) {
        return ret;
    }
    e->dirty = false;
    return 0;
}

int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;

    for (int i = 0; i < c->size; i++) {
        int ret = cache_entry_write(bs, c, i);
        if (ret < 0 && result == 0) {
            result = ret;
        }
    }
    return result;
}

int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = qcow2_cache_write(bs, c);
    int ret = bdrv_co_flush(bs->file->bs);

    if (result == 0) {
        result = ret;
    }
    return result;
}

int coroutine_fn qcow2_cache_flush_entry(BlockDriverState *bs, Qcow2Cache *c,
                                         uint64_t offset)
{
    int i = cache_lookup(c, offset);
    return i < 0 ? 0 : cache_entry_write(bs, c, i);
}

int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs,
                                            Qcow2Cache *c,
                                            Qcow2Cache *dependency)
{
    int ret;

    if (c->depends == dependency) {
        return 0;
    }
    /* Never let two caches depend on each other: settle the other
     * direction first. */
    if (dependency->depends) {
        ret = cache_flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

void qcow2_cache_depends_on_flush(Qcow2Cache *c)
{
    c->depends_on_flush = true;
}

bool qcow2_cache_is_dirty(Qcow2Cache *c)
{
    if (c->depends) {
        return true;
    }
    for (int i = 0; i < c->size; i++) {
        if (c->entries[i].dirty) {
            return true;
        }
    }
    return false;
}

/* A slot for a new entry: unused, or the least recently used one that
 * nobody holds (written back first).  Returns the index or -errno. */
static int coroutine_fn cache_find_victim(BlockDriverState *bs, Qcow2Cache *c)
{
    int best = -1;
    uint64_t best_lru = UINT64_MAX;
    int ret;

    for (int i = 0; i < c->size; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->ref) {
            continue;
        }
        if (!e->offset) {
            return i;
        }
        if (e->lru < best_lru) {
            best_lru = e->lru;
            best = i;
        }
    }
    if (best < 0) {
        /* Every entry held: a bug in the caller's reference counting. */
        qemu_abort("qcow2: %s cache exhausted", c->name);
    }
    ret = cache_entry_write(bs, c, best);
    if (ret < 0) {
        return ret;
    }
    cache_unhash(c, best);
    return best;
}

static int coroutine_fn cache_do_get(BlockDriverState *bs, Qcow2Cache *c,
                                     uint64_t offset, void **table,
                                     bool read_from_disk)
{
    int i;
    int ret;

    assert(offset != 0 && offset % c->entry_size == 0);
    i = cache_lookup(c, offset);
    if (i >= 0) {
        if (!read_from_disk) {
            assert(c->entries[i].ref == 0);
            memset(cache_table(c, i), 0, c->entry_size);
        }
        goto found;
    }
    i = cache_find_victim(bs, c);
    if (i < 0) {
        return i;
    }
    if (read_from_disk) {
        if (c == ((BDRVQcow2State *)bs->opaque)->l2_cache) {
            bdrv_debug_event(bs->file->bs, BLKDBG_L2_LOAD);
        }
        ret = qcow2_file_pread(bs, offset, c->entry_size, cache_table(c, i));
        if (ret < 0) {
            return ret;
        }
    } else {
        memset(cache_table(c, i), 0, c->entry_size);
    }
    cache_hash_insert(c, i, offset);
found:
    c->entries[i].ref++;
    c->entries[i].lru = ++c->lru_counter;
    *table = cache_table(c, i);
    return 0;
}

int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, true);
}

int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = cache_index(c, *table);

    assert(c->entries[i].ref > 0);
    c->entries[i].ref--;
    *table = NULL;
}

void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table)
{
    int i = cache_index(c, table);

    assert(c->entries[i].offset != 0);
    c->entries[i].dirty = true;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    int i = cache_lookup(c, offset);

    if (i >= 0) {
        assert(c->entries[i].ref == 0);
        cache_unhash(c, i);
    }
}

void qcow2_cache_empty(Qcow2Cache *c)
{
    for (int i = 0; i < c->size; i++) {
        if (c->entries[i].offset) {
            assert(c->entries[i].ref == 0);
            cache_unhash(c, i);
        }
    }
    c->depends = NULL;
    c->depends_on_flush = false;
}
