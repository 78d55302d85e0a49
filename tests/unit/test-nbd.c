/*
 * coblock — NBD: the wire format, our client against our server, and the
 * server against a hostile client
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server and the client run in this process on one AioContext, over
 * a real Unix socket, on real files in $COBLOCK_TEST_DIR (default
 * /var/tmp).  The hostile client (tests/nbd/hostile.c) runs in a thread
 * with blocking sockets while the main thread runs the loop.  Every test
 * ends with the server shut down and all its connections gone, so that
 * valgrind and LeakSanitizer see anything left behind.  The interop tests
 * against nbdkit, libnbd and QEMU are shell scripts in tests/nbd/.
 */
#include "test-common.h"
#include "util/atomic.h"
#include "util/thread.h"
#include "block/block_int.h"
#include "block/nbd.h"
#include "../nbd/hostile.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

MINICHECK_GLOBALS

static char tmpdir[256];

/* ---- the wire format ---- */

START_TEST(test_request_roundtrip)
{
    uint8_t buf[NBD_REQUEST_SIZE];
    NBDRequest in = {
        .flags = 0x1234, .type = NBD_CMD_WRITE, .handle = 0x0102030405060708ULL,
        .offset = 0xfffffffffffff000ULL, .len = 0xdeadbeef,
    }, out;
    static const uint8_t expect[NBD_REQUEST_SIZE] = {
        0x25, 0x60, 0x95, 0x13, 0x12, 0x34, 0x00, 0x01,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0x00,
        0xde, 0xad, 0xbe, 0xef,
    };

    nbd_encode_request(buf, &in);
    ck_assert_mem_eq(buf, expect, sizeof(expect));
    ck_assert_int_eq(nbd_decode_request(buf, &out), 0);
    ck_assert_uint_eq(out.flags, in.flags);
    ck_assert_uint_eq(out.type, in.type);
    ck_assert_uint_eq(out.handle, in.handle);
    ck_assert_uint_eq(out.offset, in.offset);
    ck_assert_uint_eq(out.len, in.len);
    buf[0] ^= 1;
    ck_assert_int_eq(nbd_decode_request(buf, &out), -EINVAL);
}
END_TEST

START_TEST(test_reply_encoding)
{
    uint8_t s[NBD_SIMPLE_REPLY_SIZE], c[NBD_CHUNK_HEADER_SIZE];
    uint8_t o[NBD_OPTION_HEADER_SIZE], r[NBD_OPTION_REPLY_SIZE];

    nbd_encode_simple_reply(s, NBD_EINVAL, 42);
    ck_assert_uint_eq(nbd_ld32(s), 0x67446698);
    ck_assert_uint_eq(nbd_ld32(s + 4), 22);
    ck_assert_uint_eq(nbd_ld64(s + 8), 42);
    nbd_encode_chunk_header(c, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE,
                            7, 12);
    ck_assert_uint_eq(nbd_ld32(c), 0x668e33ef);
    ck_assert_uint_eq(nbd_ld16(c + 4), 1);
    ck_assert_uint_eq(nbd_ld16(c + 6), 2);
    ck_assert_uint_eq(nbd_ld64(c + 8), 7);
    ck_assert_uint_eq(nbd_ld32(c + 16), 12);
    nbd_encode_option_header(o, NBD_OPT_GO, 6);
    ck_assert_mem_eq(o, "IHAVEOPT", 8);
    ck_assert_uint_eq(nbd_ld32(o + 8), 7);
    nbd_encode_option_reply(r, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, 0);
    ck_assert_uint_eq(nbd_ld64(r), 0x3e889045565a9ULL);
    ck_assert_uint_eq(nbd_ld32(r + 12), 0x80000006u);
}
END_TEST

START_TEST(test_info_request_parsing)
{
    uint8_t b[32];
    NBDInfoRequest ir;

    /* name "ab", two requests */
    nbd_st32(b, 2);
    memcpy(b + 4, "ab", 2);
    nbd_st16(b + 6, 2);
    nbd_st16(b + 8, NBD_INFO_NAME);
    nbd_st16(b + 10, NBD_INFO_BLOCK_SIZE);
    ck_assert_int_eq(nbd_parse_info_request(b, 12, &ir), 0);
    ck_assert_uint_eq(ir.name_len, 2);
    ck_assert_mem_eq(ir.name, "ab", 2);
    ck_assert_uint_eq(ir.nrequests, 2);
    ck_assert_uint_eq(nbd_ld16(ir.requests + 2), NBD_INFO_BLOCK_SIZE);
    /* one byte short, one byte long, lengths running past the end */
    ck_assert_int_eq(nbd_parse_info_request(b, 11, &ir), -EINVAL);
    ck_assert_int_eq(nbd_parse_info_request(b, 13, &ir), -EINVAL);
    ck_assert_int_eq(nbd_parse_info_request(b, 5, &ir), -EINVAL);
    nbd_st32(b, 0xffffffffu);
    ck_assert_int_eq(nbd_parse_info_request(b, 12, &ir), -EINVAL);
    nbd_st32(b, 7);
    ck_assert_int_eq(nbd_parse_info_request(b, 12, &ir), -EINVAL);
}
END_TEST

START_TEST(test_meta_request_parsing)
{
    uint8_t b[64];
    NBDMetaRequest mr;
    const char *q;
    uint32_t ql;

    /* export "", queries "base:" and "qemu:allocation-depth" */
    nbd_st32(b, 0);
    nbd_st32(b + 4, 2);
    nbd_st32(b + 8, 5);
    memcpy(b + 12, "base:", 5);
    nbd_st32(b + 17, 21);
    memcpy(b + 21, "qemu:allocation-depth", 21);
    ck_assert_int_eq(nbd_parse_meta_request(b, 42, &mr), 0);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 1);
    ck_assert_uint_eq(ql, 5);
    ck_assert_mem_eq(q, "base:", 5);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 1);
    ck_assert_mem_eq(q, "qemu:allocation-depth", 21);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 0);
    /* trailing garbage after the last query */
    ck_assert_int_eq(nbd_parse_meta_request(b, 43, &mr), 0);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 1);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 1);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), -EINVAL);
    /* a query length past the end */
    ck_assert_int_eq(nbd_parse_meta_request(b, 41, &mr), 0);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 1);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), -EINVAL);
    /* more queries than bytes to hold them */
    nbd_st32(b + 4, 1000000);
    ck_assert_int_eq(nbd_parse_meta_request(b, 42, &mr), -EINVAL);
    /* no queries but data */
    nbd_st32(b + 4, 0);
    ck_assert_int_eq(nbd_parse_meta_request(b, 9, &mr), -EINVAL);
    ck_assert_int_eq(nbd_parse_meta_request(b, 8, &mr), 0);
    ck_assert_int_eq(nbd_meta_query_next(&mr, &q, &ql), 0);
    ck_assert_int_eq(nbd_parse_meta_request(b, 7, &mr), -EINVAL);
}
END_TEST

START_TEST(test_errno_mapping)
{
    ck_assert_uint_eq(nbd_errno_to_wire(0), 0);
    ck_assert_uint_eq(nbd_errno_to_wire(-EPERM), NBD_EPERM);
    ck_assert_uint_eq(nbd_errno_to_wire(EROFS), NBD_EPERM);
    ck_assert_uint_eq(nbd_errno_to_wire(-EIO), NBD_EIO);
    ck_assert_uint_eq(nbd_errno_to_wire(-EDQUOT), NBD_ENOSPC);
    ck_assert_uint_eq(nbd_errno_to_wire(-EFBIG), NBD_ENOSPC);
    ck_assert_uint_eq(nbd_errno_to_wire(-ENOTSUP), NBD_ENOTSUP);
    ck_assert_uint_eq(nbd_errno_to_wire(-EBADF), NBD_EIO);
    ck_assert_int_eq(nbd_wire_to_errno(NBD_ENOSPC), ENOSPC);
    ck_assert_int_eq(nbd_wire_to_errno(NBD_ESHUTDOWN), ESHUTDOWN);
    ck_assert_int_eq(nbd_wire_to_errno(12345), EINVAL);
    ck_assert_uint_eq(nbd_cmd_allowed_flags(NBD_CMD_READ, NBD_FLAG_SEND_FUA |
                                            NBD_FLAG_SEND_DF, true),
                      NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF);
    ck_assert_uint_eq(nbd_cmd_allowed_flags(NBD_CMD_READ, NBD_FLAG_SEND_DF, false), 0);
    ck_assert_uint_eq(nbd_cmd_allowed_flags(NBD_CMD_WRITE_ZEROES, 0, true),
                      NBD_CMD_FLAG_NO_HOLE);
}
END_TEST

/* ---- in-process server ---- */

typedef struct TestServer {
    NBDServer *nbd;
    int lfd;
    char path[300];
} TestServer;

static AioContext *ctx;
static TestServer rw_srv, ro_srv;
static char rw_img[300], ro_img[300];

static void server_accept(void *opaque)
{
    TestServer *ts = opaque;
    int fd = nbd_socket_accept(ts->lfd);

    if (fd >= 0) {
        nbd_server_add_client(ts->nbd, fd);
    }
}

/* The image layout the hostile client expects: a data range in a hole. */
static void make_image(const char *p, int64_t size)
{
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t *buf = qemu_xmalloc(HOSTILE_DATA_LEN);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    memset(buf, HOSTILE_DATA_BYTE, HOSTILE_DATA_LEN);
    ck_assert_int_eq(pwrite(fd, buf, HOSTILE_DATA_LEN, HOSTILE_DATA_OFFSET),
                     HOSTILE_DATA_LEN);
    close(fd);
    free(buf);
}

static void server_start(TestServer *ts, const char *img, const char *sock,
                         bool read_only)
{
    NBDAddress addr = { .type = NBD_ADDRESS_UNIX };
    NBDExportConfig cfg = { .name = "", .read_only = read_only,
                            .allocation_depth = true, .multi_conn = true };
    QDict *opts = qdict_new();
    BlockBackend *blk;
    Error *err = NULL;
    int n;

    qdict_put_str(opts, "driver", "raw");
    blk = blk_new_open(img, opts, read_only ? 0 : BDRV_O_RDWR, &err);
    ck_assert_msg(blk, "%s", err ? error_get_pretty(err) : "");
    ts->nbd = nbd_server_new(ctx, NULL, NULL);
    /* Short, so that the hostile client's stalled handshake is quick. */
    nbd_server_set_handshake_timeout(ts->nbd, 1000 * 1000 * 1000);
    ck_assert_ptr_nonnull(nbd_export_new(ts->nbd, blk, &cfg, &error_abort));
    snprintf(ts->path, sizeof(ts->path), "%s/%s", tmpdir, sock);
    addr.path = ts->path;
    n = nbd_socket_listen(&addr, &ts->lfd, 1, &error_abort);
    ck_assert_int_eq(n, 1);
    fcntl(ts->lfd, F_SETFL, fcntl(ts->lfd, F_GETFL) | O_NONBLOCK);
    aio_set_fd_handler(ctx, ts->lfd, server_accept, NULL, ts);
}

static void server_stop(TestServer *ts)
{
    if (!ts->nbd) {
        return;
    }
    aio_set_fd_handler(ctx, ts->lfd, NULL, NULL, NULL);
    close(ts->lfd);
    nbd_server_shutdown(ts->nbd);
    while (nbd_server_client_count(ts->nbd) > 0) {
        aio_poll(ctx, true);
    }
    nbd_server_free(ts->nbd);
    ts->nbd = NULL;
}

static void setup(void)
{
    const char *base = getenv("COBLOCK_TEST_DIR");

    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    ctx = aio_context_new();
    ck_assert_ptr_nonnull(ctx);
    aio_context_set_home_thread(ctx);
    snprintf(tmpdir, sizeof(tmpdir), "%s/coblock-nbd-XXXXXX",
             base ? base : "/var/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(rw_img, sizeof(rw_img), "%s/rw.img", tmpdir);
    snprintf(ro_img, sizeof(ro_img), "%s/ro.img", tmpdir);
    make_image(rw_img, HOSTILE_IMAGE_SIZE);
    make_image(ro_img, HOSTILE_IMAGE_SIZE);
    server_start(&rw_srv, rw_img, "rw.sock", false);
    server_start(&ro_srv, ro_img, "ro.sock", true);
}

static void teardown(void)
{
    char cmd[400];

    server_stop(&rw_srv);
    server_stop(&ro_srv);
    while (aio_poll(ctx, false)) {
    }
    aio_context_unref(ctx);
    ctx = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static BlockBackend *client_open(TestServer *ts, int flags, Error **errp)
{
    char uri[400];
    QDict *opts = qdict_new();

    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", ts->path);
    qdict_put_str(opts, "driver", "raw");
    return blk_new_open(uri, opts, flags, errp);
}

static void disk_pread(const char *p, int64_t off, void *buf, size_t len)
{
    int fd = open(p, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
    close(fd);
}

/* ---- our client against our server ---- */

START_TEST(test_client_rw)
{
    BlockBackend *blk = client_open(&rw_srv, BDRV_O_RDWR, &error_abort);
    uint8_t *buf = qemu_xmalloc(3 * MiB), *disk = qemu_xmalloc(3 * MiB);
    BlockDriverState *proto = blk_bs(blk)->file->bs;
    int64_t pnum;
    int i, ret;

    ck_assert_int_eq(blk_getlength(blk), HOSTILE_IMAGE_SIZE);
    ck_assert_str_eq(proto->drv->format_name, "nbd+unix");
    /* The name is QEMU's for the same connection, also as the image's
     * name (what qemu-img info prints). */
    ck_assert(!strncmp(proto->filename, "nbd+unix://?socket=", 19));
    {
        char *shown = bdrv_get_display_filename(blk_bs(blk));

        ck_assert_str_eq(shown, proto->filename);
        free(shown);
    }

    /* What the file holds comes back. */
    ck_assert_int_eq(blk_pread(blk, 0, 3 * MiB, buf, 0), 0);
    for (i = 0; i < 3 * MiB; i++) {
        if (buf[i] != (i >= HOSTILE_DATA_OFFSET &&
                       i < HOSTILE_DATA_OFFSET + HOSTILE_DATA_LEN ? 0xab : 0)) {
            ck_abort_msg("byte %d is 0x%02x", i, buf[i]);
        }
    }
    /* Unaligned writes land on the file, FUA and not. */
    memset(buf, 0x5a, 3 * MiB);
    ck_assert_int_eq(blk_pwrite(blk, 4097, 10000, buf, 0), 0);
    ck_assert_int_eq(blk_pwrite(blk, 2 * MiB - 3, 7, buf, BDRV_REQ_FUA), 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    disk_pread(rw_img, 4096, disk, 10002);
    ck_assert_uint_eq(disk[0], 0);
    ck_assert(!memcmp(disk + 1, buf, 10000));
    ck_assert_uint_eq(disk[10001], 0);
    disk_pread(rw_img, 2 * MiB - 4, disk, 9);
    ck_assert_uint_eq(disk[0], 0xab);
    ck_assert(!memcmp(disk + 1, buf, 7));
    ck_assert_uint_eq(disk[8], 0);

    /* Zero writes and discards. */
    ck_assert_int_eq(blk_pwrite_zeroes(blk, HOSTILE_DATA_OFFSET, 65536, 0), 0);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, HOSTILE_DATA_OFFSET + 65536, 65536,
                                       BDRV_REQ_MAY_UNMAP), 0);
    disk_pread(rw_img, HOSTILE_DATA_OFFSET, disk, 2 * 65536 + 1);
    ck_assert(buffer_is_zero(disk, 2 * 65536));
    ck_assert_uint_eq(disk[2 * 65536], 0xab);
    ck_assert_int_eq(blk_pdiscard(blk, 3 * MiB, 65536), 0);

    /* Block status: the hole reads as zero, the data is data. */
    ret = bdrv_block_status_above(blk_bs(blk), NULL, 3 * MiB, 65536, &pnum,
                                  NULL, NULL, NULL);
    ck_assert_int_ge(ret, 0);
    ck_assert(ret & BDRV_BLOCK_ZERO);
    ck_assert_int_eq(pnum, 65536);
    ret = bdrv_block_status_above(blk_bs(blk), NULL, HOSTILE_DATA_OFFSET + MiB - 4096,
                                  4096, &pnum, NULL, NULL, NULL);
    ck_assert_int_ge(ret, 0);
    ck_assert(ret & BDRV_BLOCK_DATA);
    ck_assert(!(ret & BDRV_BLOCK_ZERO));

    /* Out of range: refused by the block layer before the wire. */
    ck_assert_int_eq(blk_pread(blk, HOSTILE_IMAGE_SIZE - 1, 2, buf, 0), -EIO);
    blk_unref(blk);
    free(buf);
    free(disk);
}
END_TEST

START_TEST(test_client_large_request)
{
    /* Bigger than the 32 MiB a request may carry: split by the block
     * layer at the limits the server advertised. */
    int64_t size = 40 * MiB;
    char big[300];
    TestServer big_srv = { 0 };
    BlockBackend *blk;
    uint8_t *buf = qemu_xmalloc(size);
    int64_t i;

    snprintf(big, sizeof(big), "%s/big.img", tmpdir);
    make_image(big, size);
    server_start(&big_srv, big, "big.sock", false);
    blk = client_open(&big_srv, BDRV_O_RDWR, &error_abort);
    for (i = 0; i < size; i++) {
        buf[i] = (uint8_t)(i * 7 + (i >> 20));
    }
    ck_assert_int_eq(blk_pwrite(blk, 0, size, buf, 0), 0);
    memset(buf, 0, size);
    ck_assert_int_eq(blk_pread(blk, 0, size, buf, 0), 0);
    for (i = 0; i < size; i++) {
        if (buf[i] != (uint8_t)(i * 7 + (i >> 20))) {
            ck_abort_msg("byte %" PRId64 " differs", i);
        }
    }
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 0, size, BDRV_REQ_MAY_UNMAP), 0);
    ck_assert_int_eq(blk_pread(blk, 0, size, buf, 0), 0);
    ck_assert(buffer_is_zero(buf, size));
    blk_unref(blk);
    server_stop(&big_srv);
    free(buf);
}
END_TEST

/* qemu-img create and convert on an NBD target: QEMU's checks. */
static int nbd_create(TestServer *ts, const char *size, const char *prealloc,
                      Error **errp)
{
    const BlockDriver *drv = bdrv_find_format("nbd+unix");
    QemuOpts *opts = qemu_opts_create(drv->create_opts);
    char uri[400];
    int ret;

    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", ts->path);
    qemu_opt_set(opts, "size", size, &error_abort);
    if (prealloc) {
        qemu_opt_set(opts, "preallocation", prealloc, &error_abort);
    }
    ret = bdrv_create_file(uri, opts, errp);
    qemu_opts_del(opts);
    return ret;
}

START_TEST(test_create)
{
    Error *err = NULL;
    uint8_t buf[1024];
    int fd;

    /* The first sector is zeroed, the rest left alone. */
    fd = open(rw_img, O_WRONLY);
    memset(buf, 0x42, sizeof(buf));
    ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    close(fd);
    ck_assert_int_eq(nbd_create(&rw_srv, "1M", NULL, &error_abort), 0);
    disk_pread(rw_img, 0, buf, sizeof(buf));
    ck_assert(buffer_is_zero(buf, 512));
    ck_assert_uint_eq(buf[512], 0x42);
    ck_assert_int_eq(nbd_create(&rw_srv, "4M", "off", &error_abort), 0);

    ck_assert_int_lt(nbd_create(&rw_srv, "5M", NULL, &err), 0);
    ck_assert_str_eq(error_get_pretty(err), "Cannot grow NBD nodes");
    error_free(err);
    err = NULL;
    ck_assert_int_lt(nbd_create(&rw_srv, "1M", "full", &err), 0);
    ck_assert_str_eq(error_get_pretty(err), "Unsupported preallocation mode 'full'");
    error_free(err);
    err = NULL;
    ck_assert_int_lt(nbd_create(&ro_srv, "1M", NULL, &err), 0);
    ck_assert_str_eq(error_get_pretty(err),
                     "Protocol driver 'nbd' does not support image creation, and "
                     "opening the image failed: Could not open image: "
                     "Permission denied");
    error_free(err);
    /* Every create hung up properly. */
    while (nbd_server_client_count(rw_srv.nbd) || nbd_server_client_count(ro_srv.nbd)) {
        aio_poll(ctx, true);
    }
}
END_TEST

/* Many callback requests at once: each a coroutine waiting on the one
 * connection for its reply. */
typedef struct AioState {
    int pending;
    int failed;
    int eio;
} AioState;

static void aio_done(void *opaque, int ret)
{
    AioState *st = opaque;

    st->pending--;
    if (ret == -EIO) {
        st->eio++;
    } else if (ret < 0) {
        st->failed++;
    }
}

#define NREQ 64
#define REQ_LEN (64 * 1024)

START_TEST(test_client_concurrent)
{
    BlockBackend *blk = client_open(&rw_srv, BDRV_O_RDWR, &error_abort);
    static uint8_t wbuf[NREQ][REQ_LEN], rbuf[NREQ][REQ_LEN];
    QEMUIOVector wq[NREQ], rq[NREQ];
    AioState st = { 0 };
    int i;

    for (i = 0; i < NREQ; i++) {
        memset(wbuf[i], i + 1, REQ_LEN);
        qemu_iovec_init_buf(&wq[i], wbuf[i], REQ_LEN);
        qemu_iovec_init_buf(&rq[i], rbuf[i], REQ_LEN);
        st.pending++;
        blk_aio_pwritev(blk, (int64_t)i * REQ_LEN, &wq[i], 0, aio_done, &st);
    }
    while (st.pending) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(st.failed + st.eio, 0);
    for (i = 0; i < NREQ; i++) {
        st.pending++;
        blk_aio_preadv(blk, (int64_t)(NREQ - 1 - i) * REQ_LEN, &rq[NREQ - 1 - i],
                       0, aio_done, &st);
    }
    while (st.pending) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(st.failed + st.eio, 0);
    for (i = 0; i < NREQ; i++) {
        ck_assert_msg(!memcmp(wbuf[i], rbuf[i], REQ_LEN), "request %d", i);
    }
    blk_unref(blk);
}
END_TEST

START_TEST(test_two_clients)
{
    /* Two connections to one export see each other's writes. */
    BlockBackend *a = client_open(&rw_srv, BDRV_O_RDWR, &error_abort);
    BlockBackend *b = client_open(&rw_srv, BDRV_O_RDWR, &error_abort);
    uint8_t buf[4096], out[4096];

    memset(buf, 0x77, sizeof(buf));
    ck_assert_int_eq(blk_pwrite(a, 8192, sizeof(buf), buf, 0), 0);
    ck_assert_int_eq(blk_flush(a), 0);
    ck_assert_int_eq(blk_pread(b, 8192, sizeof(out), out, 0), 0);
    ck_assert(!memcmp(buf, out, sizeof(buf)));
    ck_assert_uint_eq(nbd_server_client_count(rw_srv.nbd), 2);
    blk_unref(a);
    blk_unref(b);
    /* The DISC requests reach the server and both connections close. */
    while (nbd_server_client_count(rw_srv.nbd) > 0) {
        aio_poll(ctx, true);
    }
}
END_TEST

static void expect_open_error(const char *uri, int flags, const char *msg,
                              const char *hint)
{
    Error *err = NULL;
    QDict *opts = qdict_new();
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "raw");
    blk = blk_new_open(uri, opts, flags, &err);
    ck_assert_msg(!blk, "opening %s succeeded", uri);
    ck_assert_str_eq(error_get_pretty(err), msg);
    if (hint) {
        ck_assert_ptr_nonnull(error_get_hint(err));
        ck_assert_str_eq(error_get_hint(err), hint);
    }
    error_free(err);
}

START_TEST(test_client_errors)
{
    char uri[600], msg[1600], missing[400];

    /* Messages as QEMU 7.2 words them for the same mistakes. */
    snprintf(uri, sizeof(uri), "nbd+unix:///nope?socket=%s", rw_srv.path);
    snprintf(msg, sizeof(msg), "Could not open '%s': Requested export not available", uri);
    expect_open_error(uri, 0, msg, "server reported: export 'nope' not present\n");

    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", ro_srv.path);
    snprintf(msg, sizeof(msg), "Could not open '%s': Could not open image: "
             "Permission denied", uri);
    expect_open_error(uri, BDRV_O_RDWR, msg, NULL);

    snprintf(missing, sizeof(missing), "%s/missing.sock", tmpdir);
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", missing);
    snprintf(msg, sizeof(msg), "Could not open '%s': Failed to connect to '%s': "
             "No such file or directory", uri, missing);
    expect_open_error(uri, 0, msg, NULL);

    expect_open_error("nbd://localhost:99999/x", 0,
                      "Could not open 'nbd://localhost:99999/x': No valid URL specified",
                      NULL);
    expect_open_error("nbd+unix:///x", 0,
                      "Could not open 'nbd+unix:///x': No valid URL specified", NULL);
    expect_open_error("nbd://host/x?socket=y", 0,
                      "Could not open 'nbd://host/x?socket=y': No valid URL specified",
                      NULL);
    expect_open_error("nbd:", 0, "Could not open 'nbd:': NBD server address missing",
                      NULL);
    expect_open_error("nbd:localhost", 0,
                      "Could not open 'nbd:localhost': error parsing address 'localhost'",
                      NULL);

    /* The legacy form reaches the same server. */
    snprintf(uri, sizeof(uri), "nbd:unix:%s", ro_srv.path);
    {
        QDict *opts = qdict_new();
        BlockBackend *blk;

        qdict_put_str(opts, "driver", "raw");
        blk = blk_new_open(uri, opts, 0, &error_abort);
        ck_assert_int_eq(blk_getlength(blk), HOSTILE_IMAGE_SIZE);
        blk_unref(blk);
    }
    /* So do options. */
    {
        QDict *opts = qdict_new();
        BlockBackend *blk;

        qdict_put_str(opts, "driver", "nbd");
        qdict_put_str(opts, "server.type", "unix");
        qdict_put_str(opts, "server.path", ro_srv.path);
        qdict_put_str(opts, "export", "");
        blk = blk_new_open(NULL, opts, 0, &error_abort);
        ck_assert_int_eq(blk_getlength(blk), HOSTILE_IMAGE_SIZE);
        blk_unref(blk);
    }
}
END_TEST

START_TEST(test_server_goes_away)
{
    BlockBackend *blk = client_open(&rw_srv, BDRV_O_RDWR, &error_abort);
    static uint8_t bufs[NREQ][REQ_LEN];
    QEMUIOVector q[NREQ];
    AioState st = { 0 };
    uint8_t b[512];
    int i;

    for (i = 0; i < NREQ; i++) {
        qemu_iovec_init_buf(&q[i], bufs[i], REQ_LEN);
        st.pending++;
        if (i % 2) {
            blk_aio_preadv(blk, (int64_t)i * REQ_LEN, &q[i], 0, aio_done, &st);
        } else {
            blk_aio_pwritev(blk, (int64_t)i * REQ_LEN, &q[i], 0, aio_done, &st);
        }
    }
    /* The server hangs up with all of that in flight. */
    server_stop(&rw_srv);
    while (st.pending) {
        aio_poll(ctx, true);
    }
    ck_assert_int_eq(st.failed, 0);
    /* Every later request fails at once, without hanging. */
    ck_assert_int_eq(blk_pread(blk, 0, sizeof(b), b, 0), -EIO);
    ck_assert_int_eq(blk_pwrite(blk, 0, sizeof(b), b, 0), -EIO);
    ck_assert_int_eq(blk_pwrite_zeroes(blk, 0, sizeof(b), 0), -EIO);
    blk_unref(blk);
}
END_TEST

/* ---- the hostile client ---- */

typedef struct HostileRun {
    int failed;
    int done;
    char log[8192];
} HostileRun;

static void *hostile_thread(void *opaque)
{
    HostileRun *hr = opaque;
    FILE *f = fmemopen(hr->log, sizeof(hr->log) - 1, "w");

    hr->failed = nbd_hostile_run(rw_srv.path, ro_srv.path, 1, f, false);
    fclose(f);
    qatomic_store_release(&hr->done, 1);
    aio_notify(ctx);
    return NULL;
}

START_TEST(test_hostile_client)
{
    HostileRun hr;
    QemuThread t;

    memset(&hr, 0, sizeof(hr));
    ck_assert_int_eq(qemu_thread_create(&t, "hostile", hostile_thread, &hr,
                                        QEMU_THREAD_JOINABLE), 0);
    while (!qatomic_load_acquire(&hr.done)) {
        aio_poll(ctx, true);
    }
    qemu_thread_join(&t);
    ck_assert_msg(hr.failed == 0, "%d scenarios failed:\n%s", hr.failed, hr.log);
    /* Every connection it opened is gone again. */
    while (nbd_server_client_count(rw_srv.nbd) || nbd_server_client_count(ro_srv.nbd)) {
        aio_poll(ctx, true);
    }
}
END_TEST

/* ---- a hostile server against our client ---- */

/*
 * A scripted server in a thread: a well-formed handshake up to the point
 * where the scenario breaks the protocol, then one or two replies to the
 * client's requests that do.  The client must fail cleanly: open errors
 * with a message, requests with -errno, no crash, no hang.
 */
enum {
    FAKE_BAD_GREETING,
    FAKE_OLDSTYLE,
    FAKE_HUGE_OPTION_REPLY,
    FAKE_EXPORT_UNKNOWN,
    FAKE_BAD_INFO_LENGTH,
    FAKE_NO_EXPORT_INFO,
    FAKE_BAD_BLOCK_SIZE,
    /* transmission: the client sends one read of 4096 at 0 */
    FAKE_UNKNOWN_HANDLE,
    FAKE_DATA_OUTSIDE,
    FAKE_DATA_SHORT,
    FAKE_SIMPLE_FOR_READ,
    FAKE_UNKNOWN_CHUNK,
    FAKE_BAD_ERROR_CHUNK,
    FAKE_BAD_REPLY_MAGIC,
    FAKE_HANG_UP_MID_DATA,
    FAKE_HUGE_CHUNK,
    FAKE_BAD_HOLE,
    FAKE_ERROR_THEN_OK,
    FAKE__MAX
};

#define FAKE_SIZE (1024 * 1024)

typedef struct Fake {
    int scenario;
    int lfd;
    int done;
} Fake;

static bool fsend(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static bool frecv(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = recv(fd, p, len, 0);

        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool frep(int fd, uint32_t opt, uint32_t type, const void *data,
                 uint32_t len)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];

    nbd_encode_option_reply(hdr, opt, type, len);
    return fsend(fd, hdr, sizeof(hdr)) && (!len || fsend(fd, data, len));
}

static void fchunk(int fd, uint16_t flags, uint16_t type, uint64_t handle,
                   const void *payload, uint32_t len, uint32_t claimed)
{
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];

    nbd_encode_chunk_header(hdr, flags, type, handle, claimed);
    fsend(fd, hdr, sizeof(hdr));
    if (len) {
        fsend(fd, payload, len);
    }
}

/* The handshake, honest until the scenario says otherwise.  Returns
 * false when the scenario ends during it. */
static bool fake_handshake(Fake *f, int fd)
{
    uint8_t buf[64 * 1024];
    uint32_t opt, len;

    nbd_st64(buf, NBD_INIT_MAGIC);
    nbd_st64(buf + 8, f->scenario == FAKE_OLDSTYLE ? NBD_CLISERV_MAGIC : NBD_OPTS_MAGIC);
    nbd_st16(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    if (f->scenario == FAKE_BAD_GREETING) {
        buf[3] ^= 0x20;
    }
    if (!fsend(fd, buf, 18) || f->scenario == FAKE_OLDSTYLE ||
        f->scenario == FAKE_BAD_GREETING || !frecv(fd, buf, 4)) {
        return false;
    }
    for (;;) {
        if (!frecv(fd, buf, 16)) {
            return false;
        }
        opt = nbd_ld32(buf + 8);
        len = nbd_ld32(buf + 12);
        if (len > sizeof(buf) || !frecv(fd, buf, len)) {
            return false;
        }
        switch (opt) {
        case NBD_OPT_STRUCTURED_REPLY:
            if (f->scenario == FAKE_HUGE_OPTION_REPLY) {
                uint8_t hdr[NBD_OPTION_REPLY_SIZE];

                nbd_encode_option_reply(hdr, opt, NBD_REP_ACK, 0x7fffffff);
                fsend(fd, hdr, sizeof(hdr));
                return false;
            }
            frep(fd, opt, NBD_REP_ACK, NULL, 0);
            break;
        case NBD_OPT_SET_META_CONTEXT:
            nbd_st32(buf, 5);
            memcpy(buf + 4, "base:allocation", 15);
            frep(fd, opt, NBD_REP_META_CONTEXT, buf, 19);
            frep(fd, opt, NBD_REP_ACK, NULL, 0);
            break;
        case NBD_OPT_GO:
            if (f->scenario == FAKE_EXPORT_UNKNOWN) {
                frep(fd, opt, NBD_REP_ERR_UNKNOWN, "no such\x01thing", 13);
                return false;
            }
            if (f->scenario == FAKE_BAD_BLOCK_SIZE) {
                nbd_st16(buf, NBD_INFO_BLOCK_SIZE);
                nbd_st32(buf + 2, 3);
                nbd_st32(buf + 6, 4096);
                nbd_st32(buf + 10, 65536);
                frep(fd, opt, NBD_REP_INFO, buf, 14);
            }
            if (f->scenario != FAKE_NO_EXPORT_INFO) {
                nbd_st16(buf, NBD_INFO_EXPORT);
                nbd_st64(buf + 2, FAKE_SIZE);
                nbd_st16(buf + 10, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
                frep(fd, opt, NBD_REP_INFO, buf,
                     f->scenario == FAKE_BAD_INFO_LENGTH ? 11 : 12);
            }
            frep(fd, opt, NBD_REP_ACK, NULL, 0);
            return f->scenario >= FAKE_UNKNOWN_HANDLE;
        default:
            frep(fd, opt, NBD_REP_ERR_UNSUP, NULL, 0);
            break;
        }
    }
}

static void fake_reply(Fake *f, int fd, const NBDRequest *req)
{
    uint8_t p[4096 + 64];
    uint64_t h = req->handle;

    memset(p, 0x3c, sizeof(p));
    switch (f->scenario) {
    case FAKE_UNKNOWN_HANDLE:
        nbd_st64(p, 0);
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, h + 1000,
               p, 8 + 4096, 8 + 4096);
        break;
    case FAKE_DATA_OUTSIDE:
        nbd_st64(p, 1);      /* one byte too far: ends past the request */
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, h,
               p, 8 + 4096, 8 + 4096);
        break;
    case FAKE_DATA_SHORT:
        nbd_st64(p, 0);
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, h,
               p, 8 + 100, 8 + 100);
        break;
    case FAKE_SIMPLE_FOR_READ: {
        uint8_t r[NBD_SIMPLE_REPLY_SIZE];

        nbd_encode_simple_reply(r, 0, h);
        fsend(fd, r, sizeof(r));
        fsend(fd, p, 4096);
        break;
    }
    case FAKE_UNKNOWN_CHUNK:
        fchunk(fd, NBD_REPLY_FLAG_DONE, 77, h, p, 4, 4);
        break;
    case FAKE_BAD_ERROR_CHUNK:
        nbd_st32(p, NBD_EIO);
        nbd_st16(p + 4, 500);   /* message longer than the chunk */
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, h, p, 10, 10);
        break;
    case FAKE_BAD_REPLY_MAGIC:
        fsend(fd, "\xde\xad\xbe\xef\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
        break;
    case FAKE_HANG_UP_MID_DATA:
        nbd_st64(p, 0);
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, h,
               p, 8 + 1000, 8 + 4096);
        break;
    case FAKE_HUGE_CHUNK:
        nbd_st64(p, 0);
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, h,
               p, 8, 0xfffffff0u);
        break;
    case FAKE_BAD_HOLE:
        nbd_st64(p, 0);
        nbd_st32(p + 8, 0);     /* a hole of zero bytes */
        fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, h, p, 12, 12);
        break;
    case FAKE_ERROR_THEN_OK:
        if (req->offset == 0) {
            nbd_st32(p, NBD_EPERM);
            nbd_st16(p + 4, 4);
            memcpy(p + 6, "nope", 4);
            fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, h, p, 10, 10);
        } else {
            nbd_st64(p, req->offset);
            nbd_st32(p + 8, req->len);
            fchunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, h, p, 12, 12);
        }
        break;
    }
}

static void *fake_server_thread(void *opaque)
{
    Fake *f = opaque;
    int fd = accept(f->lfd, NULL, NULL);

    if (fd >= 0) {
        struct timeval tv = { .tv_sec = 20 };

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fake_handshake(f, fd)) {
            uint8_t hdr[NBD_REQUEST_SIZE];
            NBDRequest req;

            while (frecv(fd, hdr, sizeof(hdr)) && !nbd_decode_request(hdr, &req) &&
                   req.type != NBD_CMD_DISC) {
                fake_reply(f, fd, &req);
            }
        }
        close(fd);
    }
    qatomic_store_release(&f->done, 1);
    aio_notify(ctx);
    return NULL;
}

static const char *const fake_open_errors[] = {
    [FAKE_BAD_GREETING] = "Invalid magic received",
    [FAKE_OLDSTYLE] = "Server uses the oldstyle protocol, which is not supported",
    [FAKE_HUGE_OPTION_REPLY] = "Server sent an option reply of 2147483647 bytes",
    [FAKE_EXPORT_UNKNOWN] = "Requested export not available",
    [FAKE_BAD_INFO_LENGTH] = "Invalid NBD_INFO_EXPORT length 11",
    [FAKE_NO_EXPORT_INFO] = "Server did not send export information",
    [FAKE_BAD_BLOCK_SIZE] = "Server sent an invalid minimum block size 3",
};

static void hostile_server_scenario(int scenario)
{
    NBDAddress addr = { .type = NBD_ADDRESS_UNIX };
    char path[400], uri[500];
    QemuThread t;
    Fake f;
    BlockBackend *blk;
    Error *err = NULL;
    uint8_t buf[4096];
    int ret;

    memset(&f, 0, sizeof(f));
    f.scenario = scenario;
    snprintf(path, sizeof(path), "%s/fake.sock", tmpdir);
    addr.path = path;
    ck_assert_int_eq(nbd_socket_listen(&addr, &f.lfd, 1, &error_abort), 1);
    ck_assert_int_eq(qemu_thread_create(&t, "fake", fake_server_thread, &f,
                                        QEMU_THREAD_JOINABLE), 0);
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", path);
    blk = blk_new_open_noprefix(uri, NULL, BDRV_O_PROTOCOL, &err);
    if (scenario < FAKE_UNKNOWN_HANDLE) {
        ck_assert_ptr_null(blk);
        ck_assert_str_eq(error_get_pretty(err), fake_open_errors[scenario]);
        if (scenario == FAKE_EXPORT_UNKNOWN) {
            ck_assert_str_eq(error_get_hint(err), "server reported: no such?thing\n");
        }
        error_free(err);
    } else {
        ck_assert_msg(blk, "%s", err ? error_get_pretty(err) : "");
        ret = blk_pread(blk, 0, sizeof(buf), buf, 0);
        if (scenario == FAKE_ERROR_THEN_OK) {
            /* An error reply fails one request; the connection lives on. */
            ck_assert_int_eq(ret, -EPERM);
            memset(buf, 1, sizeof(buf));
            ck_assert_int_eq(blk_pread(blk, 8192, sizeof(buf), buf, 0), 0);
            ck_assert(buffer_is_zero(buf, sizeof(buf)));
        } else {
            /* A broken server: this and every later request fail. */
            ck_assert_int_eq(ret, -EIO);
            ck_assert_int_eq(blk_pread(blk, 8192, 512, buf, 0), -EIO);
        }
        blk_unref(blk);
    }
    /* The fake server ends when the client hangs up. */
    while (!qatomic_load_acquire(&f.done)) {
        aio_poll(ctx, true);
    }
    qemu_thread_join(&t);
    close(f.lfd);
}

START_TEST(test_hostile_server)
{
    int i;

    /* One scenario after the other (each with its own listener). */
    for (i = 0; i < FAKE__MAX; i++) {
        hostile_server_scenario(i);
    }
}
END_TEST

static Suite *nbd_suite(void)
{
    Suite *s = suite_create("nbd");
    TCase *tc = tcase_create("protocol");

    tcase_add_test(tc, test_request_roundtrip);
    tcase_add_test(tc, test_reply_encoding);
    tcase_add_test(tc, test_info_request_parsing);
    tcase_add_test(tc, test_meta_request_parsing);
    tcase_add_test(tc, test_errno_mapping);
    suite_add_tcase(s, tc);

    tc = tcase_create("loopback");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_client_rw);
    tcase_add_test(tc, test_client_large_request);
    tcase_add_test(tc, test_client_concurrent);
    tcase_add_test(tc, test_two_clients);
    tcase_add_test(tc, test_client_errors);
    tcase_add_test(tc, test_server_goes_away);
    tcase_add_test(tc, test_create);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile-server");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hostile_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hostile_client);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(nbd_suite());
}
