/*
 * coblock — a corpus of broken qcow2 images, and the test that feeds
 * them to the driver
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   qcow2-corpus generate DIR    write every image (DIR/NAME.qcow2, plus
 *                                the files some of them refer to) and
 *                                DIR/cases.txt (name, what is broken)
 *   qcow2-corpus run DIR         feed each image to the driver in a child
 *                                process (with a memory limit and a
 *                                timeout) and compare what happens with
 *                                the expectation written beside the case
 *   qcow2-corpus print DIR       print what happens, one line per case
 *
 * Every image starts as the same valid image (made by this library and
 * byte-identical to what QEMU makes): 4 MiB, 64 KiB clusters, a data
 * cluster at 0, a compressed cluster at 1 MiB, a zero cluster at 2 MiB and
 * a data cluster at 3 MiB.  One thing is then broken.
 *
 * What happens to an image is one line: either the error of the open,
 *   "open: MESSAGE"
 * or, when it opens, the result of reading the whole disk, of checking it
 * and of writing a cluster at each MiB and flushing (on a read-write
 * open), followed by the first line the driver printed, if any:
 *   "read=ok check=C/L/E write=ok | qcow2: Marking image as corrupt: ..."
 * where C/L/E are corruptions, leaks and check errors.  A crash, an
 * assertion, a hang or running out of the memory limit fails the case
 * whatever the expectation.
 *
 * QEMU 7.2's view of the same images is recorded in qemu-7.2.txt by
 * record-qemu.sh, for comparison.
 */
#include "util/osdep.h"
#include "block/block_int.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define CS      65536u          /* cluster size of the base image */
#define MB      (1024u * 1024u)

/* ---- the base image ---- */

typedef struct Image {
    uint8_t *buf;
    size_t len;
    /* Where things are. */
    uint64_t l1, l2, rt, rb;
    uint64_t l2e_data, l2e_comp, l2e_zero, l2e_data3;
    uint64_t data0, data3;
} Image;

static void put32(Image *im, uint64_t off, uint32_t v)
{
    assert(off + 4 <= im->len);
    im->buf[off] = v >> 24;
    im->buf[off + 1] = v >> 16;
    im->buf[off + 2] = v >> 8;
    im->buf[off + 3] = v;
}

static void put64(Image *im, uint64_t off, uint64_t v)
{
    put32(im, off, v >> 32);
    put32(im, off + 4, (uint32_t)v);
}

static uint64_t get64(const Image *im, uint64_t off)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | im->buf[off + i];
    }
    return v;
}

static void put_bytes(Image *im, uint64_t off, const void *p, size_t n)
{
    assert(off + n <= im->len);
    memcpy(im->buf + off, p, n);
}

/* Grow the image by whole clusters; returns the offset of the first. */
static uint64_t append(Image *im, size_t clusters)
{
    uint64_t off = ROUND_UP(im->len, CS);
    im->buf = qemu_xrealloc(im->buf, off + clusters * CS);
    memset(im->buf + im->len, 0, off + clusters * CS - im->len);
    im->len = off + clusters * CS;
    return off;
}

static void die(const char *what)
{
    fprintf(stderr, "qcow2-corpus: %s\n", what);
    exit(2);
}

static void make_base(const char *dir, Image *im)
{
    char *path = qemu_xasprintf("%s/base.tmp", dir);
    const BlockDriver *drv = bdrv_find_format("qcow2");
    QemuOptsList *list;
    QemuOpts *o;
    QDict *opts;
    BlockBackend *blk;
    uint8_t *data = qemu_memalign(4096, CS);
    struct stat st;
    int fd;

    list = qemu_opts_append(drv->create_opts,
                            bdrv_find_protocol(path, &error_abort)->create_opts);
    o = qemu_opts_create(list);
    qemu_opt_set(o, "size", "4M", &error_abort);
    if (bdrv_create(drv, path, o, &error_abort) < 0) {
        die("cannot create the base image");
    }
    qemu_opts_del(o);
    free(list);
    opts = qdict_new();
    qdict_put_str(opts, "driver", "qcow2");
    blk = blk_new_open(path, opts, BDRV_O_RDWR, &error_abort);
    memset(data, 0x11, CS);
    blk_pwrite(blk, 0, CS, data, 0);
    memset(data, 0x22, CS);
    blk_pwrite(blk, 1 * MB, CS, data, BDRV_REQ_WRITE_COMPRESSED);
    blk_pwrite_zeroes(blk, 2 * MB, CS, 0);
    memset(data, 0x33, CS);
    blk_pwrite(blk, 3 * MB, CS, data, 0);
    blk_unref(blk);
    qemu_vfree(data);

    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        die("cannot read the base image");
    }
    im->len = (size_t)st.st_size;
    im->buf = qemu_xmalloc(im->len);
    if (read(fd, im->buf, im->len) != (ssize_t)im->len) {
        die("short read of the base image");
    }
    close(fd);
    unlink(path);
    free(path);

    im->l1 = get64(im, 40);
    im->rt = get64(im, 48);
    im->rb = get64(im, im->rt);
    im->l2 = get64(im, im->l1) & UINT64_C(0x00fffffffffffe00);
    im->l2e_data = im->l2 + 0 * 8;
    im->l2e_comp = im->l2 + 16 * 8;
    im->l2e_zero = im->l2 + 32 * 8;
    im->l2e_data3 = im->l2 + 48 * 8;
    im->data0 = get64(im, im->l2e_data) & UINT64_C(0x00fffffffffffe00);
    im->data3 = get64(im, im->l2e_data3) & UINT64_C(0x00fffffffffffe00);
    if (!im->l2 || !im->data0 || !im->data3 ||
        !(get64(im, im->l2e_comp) & (UINT64_C(1) << 62))) {
        die("unexpected base image layout");
    }
}

/* ---- the cases ---- */

typedef struct Case Case;
struct Case {
    const char *name;
    const char *what;
    void (*mutate)(Image *im, const char *dir, const Case *c);
    uint64_t off;           /* parameters for the generic mutators */
    uint64_t val;
    const char *expect;     /* the line `run` must print */
};

/* Generic mutators. */
static void m_put32(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put32(im, c->off, (uint32_t)c->val);
}

static void m_put64(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, c->off, c->val);
}

static void m_truncate(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    im->len = c->val;
}

/* Offsets relative to the base layout (resolved at run time). */
enum {
    AT_L1 = 1, AT_L2_DATA, AT_L2_COMP, AT_L2_ZERO, AT_RT, AT_RB
};

static uint64_t where(const Image *im, uint64_t which)
{
    switch (which) {
    case AT_L1:      return im->l1;
    case AT_L2_DATA: return im->l2e_data;
    case AT_L2_COMP: return im->l2e_comp;
    case AT_L2_ZERO: return im->l2e_zero;
    case AT_RT:      return im->rt;
    case AT_RB:      return im->rb;
    default:         abort();
    }
}

/* Set a table entry: c->off names it (AT_*), c->val is the new value,
 * where the value may be "relative": see the cases. */
static void m_entry(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, where(im, c->off), c->val);
}

static void m_entry_to_l1(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, where(im, c->off), im->l1 | c->val);
}

static void m_entry_to_rt(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, where(im, c->off), im->rt | c->val);
}

static void m_entry_to_rb(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, where(im, c->off), im->rb | c->val);
}

static void m_entry_to_l2(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put64(im, where(im, c->off), im->l2 | c->val);
}

/* A compressed descriptor for 64 KiB clusters: offset bits 0-53, sector
 * count bits 54-61. */
static void m_compressed(Image *im, const char *dir, const Case *c)
{
    uint64_t e = (UINT64_C(1) << 62) | (c->val & ((UINT64_C(1) << 54) - 1)) |
                 ((c->off & 0xff) << 54);
    (void)dir;
    put64(im, im->l2e_comp, e);
}

/* A header extension right after the header (replacing the feature
 * table's header). */
static void m_ext(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    put32(im, 112, (uint32_t)c->off);
    put32(im, 116, (uint32_t)c->val);
}

/* A bitmaps extension with the autoclear bit: c->val = nb_bitmaps,
 * directory at a new cluster with c->off bytes. */
static void m_bitmaps(Image *im, const char *dir, const Case *c)
{
    uint64_t d = append(im, 1);
    (void)dir;
    put64(im, 88, 1);
    put32(im, 112, 0x23852875);
    put32(im, 116, 24);
    put32(im, 120, (uint32_t)c->val);
    put32(im, 124, 0);
    put64(im, 128, c->off);
    put64(im, 136, d);
    /* One directory entry: table at cluster 0 (invalid), name "b". */
    put64(im, d, 0);
    put32(im, d + 8, 1);
    put32(im, d + 12, 0);
    im->buf[d + 16] = 1;
    im->buf[d + 17] = 16;
    im->buf[d + 18] = 0;
    im->buf[d + 19] = 1;
    put32(im, d + 20, 0);
    im->buf[d + 24] = 'b';
}

/* A snapshot table at a new cluster: one entry with c->val bytes of
 * extra data and the L1 table at c->off (0: the active one). */
static void m_snapshot(Image *im, const char *dir, const Case *c)
{
    uint64_t t = append(im, 1);
    (void)dir;
    put32(im, 60, 1);
    put64(im, 64, t);
    put64(im, t, c->off ? c->off : im->l1);
    put32(im, t + 8, 64);
    im->buf[t + 12] = 0;
    im->buf[t + 13] = 1;          /* id length */
    im->buf[t + 14] = 0;
    im->buf[t + 15] = 1;          /* name length */
    put32(im, t + 36, (uint32_t)c->val);
    if (c->val <= 1024) {
        put64(im, t + 48, 4 * MB);   /* disk size in the extra data */
        im->buf[t + 40 + c->val] = '1';
        im->buf[t + 41 + c->val] = 's';
    }
}

static void m_snapshot_unaligned(Image *im, const char *dir, const Case *c)
{
    m_snapshot(im, dir, c);
    put64(im, 64, get64(im, 64) + 16);
}

/* Many snapshots, each with an L1 table of one entry. */
static void m_many_snapshots(Image *im, const char *dir, const Case *c)
{
    uint64_t n = c->val;
    uint64_t entry = 40 + 16;           /* no id, no name: 8-aligned */
    uint64_t t = append(im, (size_t)DIV_ROUND_UP(n * entry, CS));
    (void)dir;
    put32(im, 60, (uint32_t)n);
    put64(im, 64, t);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = t + i * entry;
        put64(im, e, im->l1);
        put32(im, e + 8, 1);
        put32(im, e + 36, 16);
        put64(im, e + 48, 4 * MB);
    }
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0) {
        die("cannot write an image");
    }
}

/* The image names itself as its backing file. */
static void set_backing(Image *im, const char *name, const char *fmt)
{
    size_t n = strlen(name);
    uint64_t off = 0x400;      /* after the extensions */

    put64(im, 8, off);
    put32(im, 16, (uint32_t)n);
    put_bytes(im, off, name, n);
    if (fmt) {
        /* Backing format extension in place of the feature table. */
        put32(im, 112, 0xe2792aca);
        put32(im, 116, (uint32_t)strlen(fmt));
        memset(im->buf + 120, 0, 16);
        put_bytes(im, 120, fmt, strlen(fmt));
        put32(im, 120 + 16, 0);
        put32(im, 124 + 16, 0);
    }
}

static void m_backing_long(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    set_backing(im, "x", NULL);
    put32(im, 16, 1024);
}

static void m_backing_self(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    set_backing(im, "backing-self.qcow2", "qcow2");
    (void)c;
}

/* a -> b -> a */
static void m_backing_loop(Image *im, const char *dir, const Case *c)
{
    Image other = *im;
    char *p = qemu_xasprintf("%s/backing-loop-b.qcow2", dir);

    (void)c;
    other.buf = qemu_xmalloc(im->len);
    memcpy(other.buf, im->buf, im->len);
    set_backing(&other, "backing-loop.qcow2", "qcow2");
    write_file(p, other.buf, other.len);
    free(other.buf);
    free(p);
    set_backing(im, "backing-loop-b.qcow2", "qcow2");
}

static void m_backing_name(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    set_backing(im, "no/such/file.qcow2", NULL);
}

static void m_backing_fmt(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    set_backing(im, "base-of-fmt.qcow2", "qcow3");
}

static void m_backing_nul(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    set_backing(im, "abc", NULL);
    im->buf[0x401] = 0;
}

/* Refcount block zeroed: every cluster looks free. */
static void m_zero_refblock(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    memset(im->buf + im->rb, 0, CS);
}

/* L2 table and refcount block swapped places. */
static void m_l2_is_refblock(Image *im, const char *dir, const Case *c)
{
    (void)dir;
    (void)c;
    put64(im, im->l1, im->rb | (UINT64_C(1) << 63));
}

#define HDR(field) (field)

static const Case cases[] = {
    /* ---- the header ---- */
    { "magic", "bad magic", m_put32, 0, 0x514649fa,
      "open: Image is not in qcow2 format" },
    { "version-1", "version 1", m_put32, 4, 1,
      "open: Unsupported qcow2 version 1" },
    { "version-4", "version 4", m_put32, 4, 4,
      "open: Unsupported qcow2 version 4" },
    { "cluster-bits-8", "cluster_bits 8", m_put32, 20, 8,
      "open: Unsupported cluster size: 2^8" },
    { "cluster-bits-22", "cluster_bits 22 (4 MiB)", m_put32, 20, 22,
      "open: Unsupported cluster size: 2^22" },
    { "cluster-bits-huge", "cluster_bits 2^32-1", m_put32, 20, 0xffffffff,
      "open: Unsupported cluster size: 2^4294967295" },
    { "size-2p64", "virtual size 2^64-1", m_put64, 24, UINT64_MAX,
      "open: Could not refresh total sector count: File too large" },
    { "size-2p56", "virtual size 2^56 with a small L1 table", m_put64, 24,
      UINT64_C(1) << 56, "open: L1 table is too small" },
    { "size-2p62", "virtual size 2^62 (L1 beyond any limit)", m_put64, 24,
      UINT64_C(1) << 62, "open: Image is too big" },
    { "crypt-aes", "crypt_method 1 (AES)", m_put32, 32, 1,
      "open: Unsupported qcow2 feature(s): AES encryption" },
    { "crypt-luks", "crypt_method 2 (LUKS)", m_put32, 32, 2,
      "open: Unsupported qcow2 feature(s): LUKS encryption" },
    { "crypt-3", "crypt_method 3", m_put32, 32, 3,
      "open: Unsupported encryption method 3" },
    { "l1-size-0", "l1_size 0 for a 4 MiB disk", m_put32, 36, 0,
      "open: L1 table is too small" },
    { "l1-size-huge", "l1_size 2^22+1 (over 32 MiB)", m_put32, 36, 0x400001,
      "open: Active L1 table too large" },
    { "l1-size-max", "l1_size 2^32-1", m_put32, 36, 0xffffffff,
      "open: Active L1 table too large" },
    { "l1-offset-unaligned", "L1 table offset not cluster aligned",
      m_put64, 40, 0x30200, "open: Active L1 table offset invalid" },
    { "l1-offset-0", "L1 table over the header", m_put64, 40, 0,
      "open: Active L1 table offset invalid" },
    { "l1-offset-2p63", "L1 table offset 2^63", m_put64, 40,
      UINT64_C(1) << 63, "open: Active L1 table offset invalid" },
    { "l1-offset-eof", "L1 table past the end of the file (reads as empty)",
      m_put64, 40, 0x40000000,
      "read=ok check=1/5/0 write=ok | ERROR: counting reference for region "
      "exceeding the end of the file by one cluster or more: offset "
      "0x40000000 size 0x8" },
    { "rt-offset-unaligned", "refcount table offset not cluster aligned",
      m_put64, 48, 0x10008, "open: Reference count table offset invalid" },
    { "rt-offset-2p63", "refcount table offset 2^63", m_put64, 48,
      UINT64_C(1) << 63, "open: Reference count table offset invalid" },
    { "rt-clusters-0", "refcount table of 0 clusters", m_put32, 56, 0,
      "open: Image does not contain a reference count table" },
    { "rt-clusters-huge", "refcount table of 2^24 clusters", m_put32, 56,
      0x1000000, "open: Reference count table too large" },
    { "nb-snapshots-huge", "65537 snapshots", m_put32, 60, 65537,
      "open: Snapshot table too large" },
    { "snapshots-offset-unaligned", "snapshot table offset not aligned",
      m_snapshot_unaligned, 0, 16, "open: Snapshot table offset invalid" },
    { "incompat-unknown", "unknown incompatible feature bit 5", m_put64, 72,
      0x20, "open: Unsupported qcow2 feature(s): Unknown incompatible "
      "feature: 20" },
    { "incompat-unknown-63", "unknown incompatible feature bits 5 and 63",
      m_put64, 72, UINT64_C(0x8000000000000020),
      "open: Unsupported qcow2 feature(s): Unknown incompatible feature: "
      "8000000000000020" },
    { "incompat-data-file", "external data file", m_put64, 72, 0x4,
      "open: Unsupported qcow2 feature(s): external data file" },
    { "incompat-extl2", "extended L2 entries", m_put64, 72, 0x10,
      "open: Unsupported qcow2 feature(s): extended L2 entries" },
    { "incompat-corrupt", "corrupt bit set", m_put64, 72, 0x2,
      "rw-open: qcow2: Image is corrupt; cannot be opened read/write "
      "read=ok check=0/0/0" },
    { "incompat-dirty", "dirty bit set (repaired on a read-write open)",
      m_put64, 72, 0x1, "read=ok check=0/0/0 write=ok" },
    { "compression-bit-no-type", "compression type bit, zlib type",
      m_put64, 72, 0x8, "open: qcow2: Compression type incompatible "
      "feature bit must not be set" },
    { "compression-type-2", "compression type 2", m_put32, 104, 0x02000000,
      "open: qcow2: unknown compression type: 2" },
    { "compression-type-no-bit", "zstd without its feature bit", m_put32,
      104, 0x01000000, "open: qcow2: Compression type incompatible feature "
      "bit must be set" },
    { "refcount-order-7", "refcount_order 7", m_put32, 96, 7,
      "open: Reference count entry width too large; may not exceed 64 bits" },
    { "header-length-96", "header_length 96", m_put32, 100, 96,
      "open: qcow2 header too short" },
    { "header-length-128k", "header_length 128 KiB", m_put32, 100, 0x20000,
      "open: qcow2 header exceeds cluster size" },
    { "backing-offset", "backing file name beyond the first cluster",
      m_put64, 8, 0x100000, "open: Invalid backing file offset" },
    { "backing-size", "backing file name of 1024 bytes", m_backing_long,
      0, 0, "open: Backing file name too long" },
    /* ---- header extensions ---- */
    { "ext-huge", "extension length 2^32-16", m_ext, 0x12345678, 0xfffffff0,
      "open: Header extension too large" },
    { "ext-backing-fmt-long", "backing format of 32 bytes", m_ext,
      0xe2792aca, 32, "open: ERROR: ext_backing_format: len=32 too large "
      "(>=16)" },
    { "ext-bitmaps-length", "bitmaps extension of 16 bytes", m_ext,
      0x23852875, 16, "open: bitmaps_ext: Invalid extension length" },
    { "ext-crypto", "crypto header without LUKS", m_ext, 0x0537be77, 16,
      "open: CRYPTO header extension only expected with LUKS encryption "
      "method" },
    { "ext-bitmaps-none", "bitmaps extension with 0 bitmaps", m_bitmaps,
      64, 0, "open: found bitmaps extension with zero bitmaps" },
    { "ext-bitmaps-too-many", "bitmaps extension with 65536 bitmaps",
      m_bitmaps, 64, 65536, "open: bitmaps_ext: Image has 65536 bitmaps, "
      "exceeding the QEMU supported maximum of 65535" },
    { "ext-bitmaps-dir-huge", "bitmap directory of 2^40 bytes", m_bitmaps,
      UINT64_C(1) << 40, 1, "open: bitmaps_ext: bitmap directory size "
      "(1099511627776) exceeds the maximum supported size (67107840)" },
    { "ext-bitmaps-bad-table", "bitmap table over the header", m_bitmaps,
      32, 1, "open: Bitmap 'b' doesn't satisfy the constraints" },
    /* ---- snapshots ---- */
    { "snapshot-extra-huge", "snapshot entry with 1 MiB of extra data",
      m_snapshot, 0, 0x100000, "open: Too much extra metadata in snapshot "
      "table entry 0" },
    { "snapshot-l1-unaligned", "snapshot L1 table not aligned (the active "
      "image stays usable; the free cluster is the snapshot table's)",
      m_snapshot, 0x30200, 16, "read=ok check=2/0/0 write=EIO | ERROR "
      "snapshot 1 (s) l1_offset=0x30200: L1 table is not cluster aligned; "
      "snapshot table entry corrupted" },
    { "snapshot-ok", "a snapshot sharing the active tables (refcounts "
      "too low: check finds it; writes copy)", m_snapshot, 0, 16, NULL },
    { "snapshots-many", "65536 snapshots", m_many_snapshots, 0, 65536, NULL },
    /* ---- L1 entries ---- */
    { "l1e-unaligned", "L1 entry not cluster aligned", m_entry, AT_L1,
      UINT64_C(0x8000000000040200), NULL },
    { "l1e-reserved", "L1 entry with reserved bits", m_entry, AT_L1,
      UINT64_C(0x8100000000040000), NULL },
    { "l1e-eof", "L1 entry past the end of the file", m_entry, AT_L1,
      UINT64_C(0x8000001000000000), NULL },
    { "l1e-is-rt", "L2 table is the refcount table", m_entry_to_rt, AT_L1,
      UINT64_C(1) << 63, NULL },
    { "l1e-is-l1", "L2 table is the L1 table", m_entry_to_l1, AT_L1,
      UINT64_C(1) << 63, NULL },
    { "l1e-is-rb", "L2 table is the refcount block", m_l2_is_refblock, 0, 0,
      NULL },
    /* ---- L2 entries ---- */
    { "l2e-unaligned", "data cluster not aligned", m_entry, AT_L2_DATA,
      UINT64_C(0x8000000000050200), NULL },
    { "l2e-reserved", "data entry with reserved bits 56-61 (past 2^56)",
      m_entry, AT_L2_DATA, UINT64_C(0x8100000000050000), NULL },
    { "l2e-eof", "data cluster past the end of the file", m_entry,
      AT_L2_DATA, UINT64_C(0x8000000100000000), NULL },
    { "l2e-is-l1", "data cluster is the L1 table", m_entry_to_l1,
      AT_L2_DATA, UINT64_C(1) << 63, NULL },
    { "l2e-is-l2", "data cluster is its own L2 table", m_entry_to_l2,
      AT_L2_DATA, UINT64_C(1) << 63, NULL },
    { "l2e-is-rb", "data cluster is the refcount block", m_entry_to_rb,
      AT_L2_DATA, UINT64_C(1) << 63, NULL },
    { "l2e-zero-alloc-unaligned", "preallocated zero cluster not aligned",
      m_entry, AT_L2_ZERO, UINT64_C(0x8000000000050201), NULL },
    /* ---- compressed descriptors ---- */
    { "comp-in-header", "compressed data in the header cluster",
      m_compressed, 0, 0x100, NULL },
    { "comp-eof", "compressed data past the end of the file", m_compressed,
      3, UINT64_C(0x10000000000), NULL },
    { "comp-garbage", "compressed descriptor over uncompressed data",
      m_compressed, 10, 0x50000, NULL },
    { "comp-max-sectors", "compressed descriptor with 256 sectors",
      m_compressed, 0xff, 0x60000, NULL },
    { "comp-copied", "compressed descriptor with the COPIED flag",
      m_entry, AT_L2_COMP, UINT64_C(0xc000000000060000), NULL },
    /* ---- refcount structures ---- */
    { "rte-unaligned", "refcount block not aligned", m_entry, AT_RT,
      0x20200, NULL },
    { "rte-eof", "refcount block past the end of the file", m_entry, AT_RT,
      UINT64_C(0x100000000), NULL },
    { "rte-is-l1", "refcount block is the L1 table", m_entry_to_l1, AT_RT, 0,
      NULL },
    { "rb-zero", "every refcount zero", m_zero_refblock, 0, 0, NULL },
    { "rb-high", "refcount 0xffff on the L2 table", m_put32, 0, 0, NULL },
    /* ---- the file ---- */
    { "truncated-0", "empty file", m_truncate, 0, 0,
      "open: Image is not in qcow2 format" },
    { "truncated-48", "file cut inside the header", m_truncate, 0, 48,
      "open: qcow2 header too short" },
    { "truncated-header", "file cut after the header cluster", m_truncate,
      0, CS, NULL },
    { "truncated-data", "file cut inside the data", m_truncate, 0,
      6 * CS + 100, NULL },
    /* ---- backing files ---- */
    { "backing-self", "the image is its own backing file", m_backing_self, 0,
      0, NULL },
    { "backing-loop", "two images backing each other", m_backing_loop, 0, 0,
      NULL },
    { "backing-missing", "backing file does not exist", m_backing_name, 0,
      0, NULL },
    { "backing-bad-format", "unknown backing format", m_backing_fmt, 0, 0,
      NULL },
    { "backing-nul", "backing file name with a NUL byte", m_backing_nul, 0,
      0, "open: Invalid backing file name" },
};

/* Cases whose expectation depends on the base layout, set in main. */
typedef struct Expect {
    const char *name;
    const char *expect;
} Expect;

#include "expectations.h"

static const char *expectation(const Case *c)
{
    if (c->expect) {
        return c->expect;
    }
    for (size_t i = 0; i < ARRAY_SIZE(layout_expectations); i++) {
        if (!strcmp(layout_expectations[i].name, c->name)) {
            return layout_expectations[i].expect;
        }
    }
    return NULL;
}

static void generate(const char *dir)
{
    Image base;
    char *list = qemu_xasprintf("%s/cases.txt", dir);
    FILE *f;

    mkdir(dir, 0755);
    make_base(dir, &base);
    f = fopen(list, "w");
    if (!f) {
        die("cannot write cases.txt");
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const Case *c = &cases[i];
        Image im = base;
        char *p = qemu_xasprintf("%s/%s.qcow2", dir, c->name);

        im.buf = qemu_xmalloc(base.len);
        memcpy(im.buf, base.buf, base.len);
        if (!strcmp(c->name, "rb-high")) {
            /* refcount of the L2 table's cluster: 16-bit entries */
            uint64_t idx = base.l2 / CS;
            im.buf[base.rb + idx * 2] = 0xff;
            im.buf[base.rb + idx * 2 + 1] = 0xff;
        } else {
            c->mutate(&im, dir, c);
        }
        write_file(p, im.buf, im.len);
        fprintf(f, "%s\t%s\n", c->name, c->what);
        free(im.buf);
        free(p);
    }
    fclose(f);
    free(list);
    free(base.buf);
}

/* ---- running a case ---- */

static void replace_all(char *s, const char *what, const char *with)
{
    char *p;
    size_t wl = strlen(what), rl = strlen(with);

    assert(rl <= wl);
    while ((p = strstr(s, what))) {
        memcpy(p, with, rl);
        memmove(p + rl, p + wl, strlen(p + wl) + 1);
    }
}

static BlockBackend *open_img(const char *path, int flags, char *msg,
                              size_t len, const char *dir)
{
    QDict *o = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;
    char *prefix = qemu_xasprintf("Could not open '%s': ", path);
    const char *m;

    qdict_put_str(o, "driver", "qcow2");
    blk = blk_new_open(path, o, flags, &err);
    if (!blk) {
        /* The image's own name adds nothing to the expectation. */
        m = error_get_pretty(err);
        if (!strncmp(m, prefix, strlen(prefix))) {
            m += strlen(prefix);
        }
        snprintf(msg, len, "%s", m);
        replace_all(msg, dir, "DIR");
        error_free(err);
    }
    free(prefix);
    return blk;
}

/* Runs in the child: one line on stdout. */
static void run_one(const char *dir, const Case *c)
{
    char *path = qemu_xasprintf("%s/%s.qcow2", dir, c->name);
    char msg[1024];
    BlockBackend *blk;
    uint8_t *buf = qemu_memalign(4096, CS);
    BdrvCheckResult res;
    int64_t len;
    int rerr = 0, werr = 0;

    blk = open_img(path, 0, msg, sizeof(msg), dir);
    if (!blk) {
        printf("open: %s\n", msg);
        return;
    }
    len = blk_getlength(blk);
    for (int64_t off = 0; off < len; off += CS) {
        int r = blk_pread(blk, off, MIN(CS, len - off), buf, 0);
        if (r < 0 && !rerr) {
            rerr = r;
        }
    }
    memset(&res, 0, sizeof(res));
    bdrv_check(blk_bs(blk), &res, 0);
    blk_unref(blk);

    blk = open_img(path, BDRV_O_RDWR | BDRV_O_UNMAP, msg, sizeof(msg), dir);
    if (!blk) {
        printf("rw-open: %s read=%s check=%d/%d/%d\n", msg,
               rerr ? "EIO" : "ok", res.corruptions, res.leaks,
               res.check_errors);
        return;
    }
    memset(buf, 0x5a, CS);
    for (int64_t off = 0; off < MIN(len, 4 * MB); off += MB) {
        int r = blk_pwrite(blk, off, CS, buf, 0);
        if (r < 0 && !werr) {
            werr = r;
        }
    }
    /* Written means on disk, metadata included. */
    if (!werr) {
        werr = blk_flush(blk);
    }
    blk_unref(blk);
    printf("read=%s check=%d/%d/%d write=%s\n", rerr ? "EIO" : "ok",
           res.corruptions, res.leaks, res.check_errors, werr ? "EIO" : "ok");
    qemu_vfree(buf);
    free(path);
}

static bool running_under_sanitizer(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

/* Run @c in a child with limits; the line it printed (plus the first line
 * of its stderr) into @out.  Returns false if the child crashed, hung or
 * ran out of memory. */
static bool run_case(const char *dir, const Case *c, char *out, size_t len)
{
    int opipe[2], epipe[2], status;
    char ebuf[4096];
    ssize_t n, el = 0, ol = 0;
    pid_t pid;

    if (pipe(opipe) < 0 || pipe(epipe) < 0) {
        die("pipe");
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        die("fork");
    }
    if (pid == 0) {
        dup2(opipe[1], 1);
        dup2(epipe[1], 2);
        close(opipe[0]);
        close(epipe[0]);
        if (!running_under_sanitizer()) {
            /* AddressSanitizer reserves terabytes of address space for its
             * shadow memory: no limit then (it reports overruns itself). */
            struct rlimit rl = { 2048ULL * MB, 2048ULL * MB };
            setrlimit(RLIMIT_AS, &rl);
        }
        alarm(60);
        run_one(dir, c);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(opipe[1]);
    close(epipe[1]);
    while ((n = read(opipe[0], out + ol, len - 1 - (size_t)ol)) > 0) {
        ol += n;
    }
    out[ol] = 0;
    while ((n = read(epipe[0], ebuf + el, sizeof(ebuf) - 1 - (size_t)el)) > 0) {
        el += n;
    }
    ebuf[el] = 0;
    close(opipe[0]);
    close(epipe[0]);
    waitpid(pid, &status, 0);
    if (ol && out[ol - 1] == '\n') {
        out[--ol] = 0;
    }
    if (el) {
        char *nl = strchr(ebuf, '\n');
        if (nl) {
            *nl = 0;
        }
        replace_all(ebuf, dir, "DIR");
        snprintf(out + ol, len - (size_t)ol, " | %s", ebuf);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, " [child %s %d]",
                 WIFSIGNALED(status) ? "killed by signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    int failures = 0;
    bool print;

    if (argc != 3 || (strcmp(argv[1], "generate") && strcmp(argv[1], "run") &&
                      strcmp(argv[1], "print"))) {
        /* (run and print regenerate DIR first) */
        fprintf(stderr, "usage: %s generate|run|print DIR\n", argv[0]);
        return 2;
    }
    bdrv_init();
    if (!strcmp(argv[1], "generate")) {
        generate(argv[2]);
        printf("%zu images in %s\n", ARRAY_SIZE(cases), argv[2]);
        return 0;
    }
    print = !strcmp(argv[1], "print");
    /* Running writes to the images: always start from fresh ones.  In a
     * child, so that this process has no worker threads when it forks
     * the children that run the cases. */
    {
        int status;
        pid_t pid = fork();
        if (pid == 0) {
            generate(argv[2]);
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid ||
            !WIFEXITED(status) || WEXITSTATUS(status)) {
            die("generating the images failed");
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const Case *c = &cases[i];
        const char *want = expectation(c);
        char got[4096];
        bool ok = run_case(argv[2], c, got, sizeof(got));

        if (print) {
            printf("%s\t%s\n", c->name, got);
            continue;
        }
        if (!ok || !want || strcmp(got, want)) {
            printf("FAIL %s (%s)\n  got:  %s\n  want: %s\n", c->name, c->what,
                   got, want ? want : "(no expectation)");
            failures++;
        } else {
            printf("ok   %s\n", c->name);
        }
    }
    if (!print) {
        printf("%zu cases, %d failed\n", ARRAY_SIZE(cases), failures);
    }
    return failures ? 1 : 0;
}
