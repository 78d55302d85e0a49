/*
 * coblock — a hostile NBD client: malformed handshakes and requests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each scenario speaks raw bytes over a blocking Unix socket (with a
 * receive timeout, so a server that hangs fails the test instead of
 * hanging it) and checks what the server answers: the protocol's error
 * reply where one exists, a closed connection where the specification
 * allows the server to hang up.  Every scenario ends with a well-formed
 * exchange, and the run ends with a fresh connection reading data, which
 * shows that the server survived everything before.
 */
#include "util/osdep.h"
#include "block/nbd.h"
#include "hostile.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>

#define TIMEOUT_SECONDS 20

typedef struct H {
    int fd;
    bool structured;
    uint16_t eflags;
    uint64_t size;
    const char *fail;           /* first failure, for the log */
    char why[256];
} H;

static bool hfail(H *h, const char *fmt, ...) QEMU_PRINTF(2, 3);
static bool hfail(H *h, const char *fmt, ...)
{
    va_list ap;

    if (!h->fail) {
        va_start(ap, fmt);
        vsnprintf(h->why, sizeof(h->why), fmt, ap);
        va_end(ap);
        h->fail = h->why;
    }
    return false;
}

static bool h_connect(H *h, const char *path)
{
    struct sockaddr_un sun;
    struct timeval tv = { .tv_sec = TIMEOUT_SECONDS };

    h->structured = false;
    h->eflags = 0;
    h->size = 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    h->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (h->fd < 0) {
        return hfail(h, "socket: %s", strerror(errno));
    }
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(h->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        return hfail(h, "connect %s: %s", path, strerror(errno));
    }
    return true;
}

static void h_close(H *h)
{
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}

static bool h_send(H *h, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = send(h->fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return hfail(h, "send: %s", n < 0 ? strerror(errno) : "closed");
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool h_recv(H *h, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = recv(h->fd, p, len, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            return hfail(h, "server closed the connection unexpectedly");
        }
        if (n < 0) {
            return hfail(h, "recv: %s", errno == EAGAIN ? "timeout" : strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* The server must hang up: end of file (or a reset) before the timeout,
 * with nothing else sent first. */
static bool h_expect_closed(H *h, const char *what)
{
    uint8_t b;
    ssize_t n;

    do {
        n = recv(h->fd, &b, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
        return true;
    }
    if (n < 0 && errno == EAGAIN) {
        return hfail(h, "%s: server did not close the connection", what);
    }
    return hfail(h, "%s: server sent data instead of closing", what);
}

/* Greeting: NBDMAGIC, IHAVEOPT, flags; answer with @cflags. */
static bool h_greet(H *h, uint32_t cflags)
{
    uint8_t buf[18];

    if (!h_recv(h, buf, 18)) {
        return false;
    }
    if (nbd_ld64(buf) != NBD_INIT_MAGIC || nbd_ld64(buf + 8) != NBD_OPTS_MAGIC) {
        return hfail(h, "bad greeting magic");
    }
    if (!(nbd_ld16(buf + 16) & NBD_FLAG_FIXED_NEWSTYLE)) {
        return hfail(h, "server is not fixed newstyle");
    }
    nbd_st32(buf, cflags);
    return h_send(h, buf, 4);
}

static bool h_opt(H *h, uint32_t opt, const void *data, uint32_t len)
{
    uint8_t hdr[NBD_OPTION_HEADER_SIZE];

    nbd_encode_option_header(hdr, opt, len);
    return h_send(h, hdr, sizeof(hdr)) && (!len || h_send(h, data, len));
}

/* One option reply to @opt; its payload (up to @max bytes) into @buf. */
static bool h_rep(H *h, uint32_t opt, uint32_t *type, uint8_t *buf,
                  uint32_t max, uint32_t *len)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];

    if (!h_recv(h, hdr, sizeof(hdr))) {
        return false;
    }
    if (nbd_ld64(hdr) != NBD_REP_MAGIC || nbd_ld32(hdr + 8) != opt) {
        return hfail(h, "bad option reply header");
    }
    *type = nbd_ld32(hdr + 12);
    *len = nbd_ld32(hdr + 16);
    if (*len > max) {
        return hfail(h, "option reply of %u bytes", *len);
    }
    return h_recv(h, buf, *len);
}

/* Expect exactly the reply type @want (data ignored). */
static bool h_expect_rep(H *h, uint32_t opt, uint32_t want, const char *what)
{
    uint8_t buf[8192];
    uint32_t type, len;

    if (!h_rep(h, opt, &type, buf, sizeof(buf), &len)) {
        return false;
    }
    if (type != want) {
        return hfail(h, "%s: got %s, expected %s", what, nbd_rep_name(type),
                     nbd_rep_name(want));
    }
    return true;
}

static bool h_structured(H *h)
{
    if (!h_opt(h, NBD_OPT_STRUCTURED_REPLY, NULL, 0) ||
        !h_expect_rep(h, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK,
                      "NBD_OPT_STRUCTURED_REPLY")) {
        return false;
    }
    h->structured = true;
    return true;
}

/* NBD_OPT_GO for the default export; INFO replies until ACK. */
static bool h_go(H *h)
{
    uint8_t req[8] = { 0 }, buf[8192];
    bool have_export = false;

    if (!h_opt(h, NBD_OPT_GO, req, 6)) {
        return false;
    }
    for (;;) {
        uint32_t type, len;

        if (!h_rep(h, NBD_OPT_GO, &type, buf, sizeof(buf), &len)) {
            return false;
        }
        if (type == NBD_REP_ACK) {
            break;
        }
        if (type != NBD_REP_INFO || len < 2) {
            return hfail(h, "NBD_OPT_GO: unexpected %s", nbd_rep_name(type));
        }
        if (nbd_ld16(buf) == NBD_INFO_EXPORT) {
            if (len != 12) {
                return hfail(h, "NBD_INFO_EXPORT of %u bytes", len);
            }
            h->size = nbd_ld64(buf + 2);
            h->eflags = nbd_ld16(buf + 10);
            have_export = true;
        }
    }
    if (!have_export) {
        return hfail(h, "NBD_OPT_GO: no NBD_INFO_EXPORT");
    }
    return true;
}

/* Connect, greet, optionally negotiate structured replies and
 * base:allocation, and enter transmission. */
static bool h_open(H *h, const char *path, bool structured, bool meta)
{
    if (!h_connect(h, path) ||
        !h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
        return false;
    }
    if (structured && !h_structured(h)) {
        return false;
    }
    if (meta) {
        uint8_t q[64];
        size_t ql = strlen(NBD_META_BASE_ALLOCATION);

        nbd_st32(q, 0);
        nbd_st32(q + 4, 1);
        nbd_st32(q + 8, (uint32_t)ql);
        memcpy(q + 12, NBD_META_BASE_ALLOCATION, ql);
        if (!h_opt(h, NBD_OPT_SET_META_CONTEXT, q, (uint32_t)(12 + ql)) ||
            !h_expect_rep(h, NBD_OPT_SET_META_CONTEXT, NBD_REP_META_CONTEXT,
                          "SET_META_CONTEXT") ||
            !h_expect_rep(h, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK,
                          "SET_META_CONTEXT")) {
            return false;
        }
    }
    return h_go(h);
}

static bool h_request(H *h, uint16_t flags, uint16_t type, uint64_t handle,
                      uint64_t offset, uint32_t len, const void *payload,
                      size_t payload_len)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NBDRequest req = {
        .flags = flags, .type = type, .handle = handle, .offset = offset,
        .len = len,
    };

    nbd_encode_request(hdr, &req);
    return h_send(h, hdr, sizeof(hdr)) &&
           (!payload_len || h_send(h, payload, payload_len));
}

/* The final answer to one request without data: the wire error (0 for
 * success) from a simple reply or from structured chunks. */
static bool h_result(H *h, uint64_t handle, uint32_t *error)
{
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];

    *error = 0;
    for (;;) {
        uint32_t magic;

        if (!h_recv(h, hdr, 4)) {
            return false;
        }
        magic = nbd_ld32(hdr);
        if (magic == NBD_SIMPLE_REPLY_MAGIC) {
            if (!h_recv(h, hdr + 4, 12)) {
                return false;
            }
            if (nbd_ld64(hdr + 8) != handle) {
                return hfail(h, "reply for handle %" PRIu64 ", expected %" PRIu64,
                             nbd_ld64(hdr + 8), handle);
            }
            *error = nbd_ld32(hdr + 4);
            return true;
        }
        if (magic == NBD_STRUCTURED_REPLY_MAGIC && h->structured) {
            uint8_t payload[4096];
            uint32_t len;
            uint16_t flags, type;

            if (!h_recv(h, hdr + 4, 16)) {
                return false;
            }
            flags = nbd_ld16(hdr + 4);
            type = nbd_ld16(hdr + 6);
            len = nbd_ld32(hdr + 16);
            if (nbd_ld64(hdr + 8) != handle) {
                return hfail(h, "chunk for handle %" PRIu64 ", expected %" PRIu64,
                             nbd_ld64(hdr + 8), handle);
            }
            if (len > sizeof(payload)) {
                return hfail(h, "unexpected %u-byte %s chunk", len,
                             nbd_reply_type_name(type));
            }
            if (!h_recv(h, payload, len)) {
                return false;
            }
            if (NBD_REPLY_TYPE_IS_ERR(type)) {
                if (len < 6 || nbd_ld16(payload + 4) > len - 6) {
                    return hfail(h, "malformed error chunk");
                }
                *error = nbd_ld32(payload);
                if (!*error) {
                    return hfail(h, "error chunk with error 0");
                }
            } else if (type != NBD_REPLY_TYPE_NONE &&
                       type != NBD_REPLY_TYPE_BLOCK_STATUS) {
                return hfail(h, "unexpected %s chunk", nbd_reply_type_name(type));
            }
            if (flags & NBD_REPLY_FLAG_DONE) {
                return true;
            }
            continue;
        }
        return hfail(h, "bad reply magic 0x%08" PRIx32, magic);
    }
}

static bool h_expect_error(H *h, uint64_t handle, uint32_t want, const char *what)
{
    uint32_t err;

    if (!h_result(h, handle, &err)) {
        return false;
    }
    if (err != want) {
        return hfail(h, "%s: error %" PRIu32 ", expected %" PRIu32, what, err, want);
    }
    return true;
}

/* Read [off, off + len) into @buf through whatever reply form was
 * negotiated, checking that chunks stay inside the request, never
 * overlap, and cover it entirely.  *holes counts hole bytes. */
static bool h_read(H *h, uint64_t handle, uint64_t off, uint32_t len,
                   uint8_t *buf, uint64_t *holes)
{
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];
    uint8_t *seen;
    uint64_t covered = 0;
    bool done = false;

    *holes = 0;
    if (!h_request(h, 0, NBD_CMD_READ, handle, off, len, NULL, 0)) {
        return false;
    }
    if (!h->structured) {
        if (!h_recv(h, hdr, 16)) {
            return false;
        }
        if (nbd_ld32(hdr) != NBD_SIMPLE_REPLY_MAGIC || nbd_ld32(hdr + 4) ||
            nbd_ld64(hdr + 8) != handle) {
            return hfail(h, "bad simple read reply");
        }
        return h_recv(h, buf, len);
    }
    seen = calloc(1, len ? len : 1);
    while (!done) {
        uint16_t flags, type;
        uint32_t clen;
        uint8_t ob[12];
        uint64_t coff;
        uint32_t n, i;

        if (!h_recv(h, hdr, sizeof(hdr))) {
            break;
        }
        if (nbd_ld32(hdr) != NBD_STRUCTURED_REPLY_MAGIC ||
            nbd_ld64(hdr + 8) != handle) {
            hfail(h, "read: bad chunk header");
            break;
        }
        flags = nbd_ld16(hdr + 4);
        type = nbd_ld16(hdr + 6);
        clen = nbd_ld32(hdr + 16);
        done = flags & NBD_REPLY_FLAG_DONE;
        if (type == NBD_REPLY_TYPE_NONE && clen == 0) {
            continue;
        }
        if (type == NBD_REPLY_TYPE_OFFSET_DATA && clen > 8) {
            if (!h_recv(h, ob, 8)) {
                break;
            }
            coff = nbd_ld64(ob);
            n = clen - 8;
        } else if (type == NBD_REPLY_TYPE_OFFSET_HOLE && clen == 12) {
            if (!h_recv(h, ob, 12)) {
                break;
            }
            coff = nbd_ld64(ob);
            n = nbd_ld32(ob + 8);
        } else {
            hfail(h, "read: unexpected %s chunk of %u bytes",
                  nbd_reply_type_name(type), clen);
            break;
        }
        if (coff < off || coff - off > len || n > len - (coff - off) || n == 0) {
            hfail(h, "read: chunk [%" PRIu64 ", +%u) outside the request", coff, n);
            break;
        }
        for (i = 0; i < n; i++) {
            if (seen[coff - off + i]) {
                hfail(h, "read: overlapping chunks");
                break;
            }
            seen[coff - off + i] = 1;
        }
        if (h->fail) {
            break;
        }
        if (type == NBD_REPLY_TYPE_OFFSET_DATA) {
            if (!h_recv(h, buf + (coff - off), n)) {
                break;
            }
        } else {
            memset(buf + (coff - off), 0, n);
            *holes += n;
        }
        covered += n;
    }
    free(seen);
    if (h->fail) {
        return false;
    }
    if (covered != len) {
        return hfail(h, "read: chunks covered %" PRIu64 " of %u bytes", covered, len);
    }
    return true;
}

/* ---- scenarios: each returns NULL or what went wrong ---- */

typedef struct Ctx {
    const char *rw;
    const char *ro;
    int handshake_timeout;
    H h;
} Ctx;

#define CHECK(cond) do { if (!(cond)) { goto out; } } while (0)

/* The contents the image must have at @off. */
static uint8_t expected_byte(uint64_t off)
{
    return (off >= HOSTILE_DATA_OFFSET &&
            off < HOSTILE_DATA_OFFSET + HOSTILE_DATA_LEN) ? HOSTILE_DATA_BYTE : 0;
}

static bool h_read_check(H *h, uint64_t handle, uint64_t off, uint32_t len,
                         uint64_t *holes)
{
    uint8_t *buf = malloc(len ? len : 1);
    uint64_t dummy, i;
    bool ok = h_read(h, handle, off, len, buf, holes ? holes : &dummy);

    for (i = 0; ok && i < len; i++) {
        if (buf[i] != expected_byte(off + i)) {
            ok = hfail(h, "read: byte at %" PRIu64 " is 0x%02x, expected 0x%02x",
                       off + i, buf[i], expected_byte(off + i));
        }
    }
    free(buf);
    return ok;
}

static void s_bad_client_flags(Ctx *c)
{
    H *h = &c->h;

    CHECK(h_connect(h, c->rw) && h_greet(h, 0x80000000u | NBD_FLAG_C_FIXED_NEWSTYLE));
    h_expect_closed(h, "unknown client flags");
out:;
}

static void s_bad_option_magic(Ctx *c)
{
    H *h = &c->h;
    uint8_t hdr[16];

    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    nbd_encode_option_header(hdr, NBD_OPT_GO, 0);
    hdr[0] ^= 0xff;
    CHECK(h_send(h, hdr, sizeof(hdr)));
    h_expect_closed(h, "bad option magic");
out:;
}

static void s_huge_option(Ctx *c)
{
    H *h = &c->h;
    uint8_t hdr[16];

    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    nbd_encode_option_header(hdr, NBD_OPT_GO, 0xfffffff0u);
    CHECK(h_send(h, hdr, sizeof(hdr)));
    h_expect_closed(h, "4 GiB option");
out:;
}

static void s_truncated_handshake(Ctx *c)
{
    H *h = &c->h;

    /* Hang up after half a header: nothing to check but survival. */
    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    CHECK(h_send(h, "IHAVE", 5));
out:;
}

static void s_malformed_go(Ctx *c)
{
    H *h = &c->h;
    uint8_t b[16];

    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    /* Too short to hold the counts. */
    CHECK(h_opt(h, NBD_OPT_GO, "abc", 3));
    CHECK(h_expect_rep(h, NBD_OPT_GO, NBD_REP_ERR_INVALID, "3-byte GO"));
    /* Name length past the end. */
    memset(b, 0, sizeof(b));
    nbd_st32(b, 0x7fffffff);
    CHECK(h_opt(h, NBD_OPT_INFO, b, 8));
    CHECK(h_expect_rep(h, NBD_OPT_INFO, NBD_REP_ERR_INVALID, "GO name length"));
    /* Request count that does not match the payload. */
    nbd_st32(b, 0);
    nbd_st16(b + 4, 3);
    CHECK(h_opt(h, NBD_OPT_GO, b, 8));
    CHECK(h_expect_rep(h, NBD_OPT_GO, NBD_REP_ERR_INVALID, "GO request count"));
    /* An export that does not exist. */
    nbd_st32(b, 3);
    memcpy(b + 4, "zzz", 3);
    nbd_st16(b + 7, 0);
    CHECK(h_opt(h, NBD_OPT_GO, b, 9));
    CHECK(h_expect_rep(h, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "unknown export"));
    /* Still negotiating: a proper GO works. */
    CHECK(h_go(h));
    CHECK(h->size == HOSTILE_IMAGE_SIZE || hfail(h, "size %" PRIu64, h->size));
    CHECK(h_read_check(h, 1, 0, 4096, NULL));
out:;
}

static void s_options(Ctx *c)
{
    H *h = &c->h;
    uint8_t buf[8192], q[64];
    uint32_t type, len;
    bool saw_server = false;

    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    CHECK(h_opt(h, NBD_OPT_STARTTLS, NULL, 0));
    CHECK(h_expect_rep(h, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "STARTTLS"));
    CHECK(h_opt(h, NBD_OPT_STARTTLS, "x", 1));
    CHECK(h_expect_rep(h, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "STARTTLS+data"));
    CHECK(h_opt(h, 99, "0123456789", 10));
    CHECK(h_expect_rep(h, 99, NBD_REP_ERR_UNSUP, "unknown option"));
    CHECK(h_opt(h, NBD_OPT_LIST, "x", 1));
    CHECK(h_expect_rep(h, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST+data"));
    CHECK(h_opt(h, NBD_OPT_LIST, NULL, 0));
    for (;;) {
        CHECK(h_rep(h, NBD_OPT_LIST, &type, buf, sizeof(buf), &len));
        if (type == NBD_REP_ACK) {
            break;
        }
        CHECK((type == NBD_REP_SERVER && len >= 4 && nbd_ld32(buf) <= len - 4) ||
              hfail(h, "LIST: bad %s", nbd_rep_name(type)));
        saw_server = true;
    }
    CHECK(saw_server || hfail(h, "LIST: no export"));
    /* Metadata before structured replies. */
    nbd_st32(q, 0);
    nbd_st32(q + 4, 0);
    CHECK(h_opt(h, NBD_OPT_SET_META_CONTEXT, q, 8));
    CHECK(h_expect_rep(h, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID,
                       "SET_META before structured"));
    CHECK(h_opt(h, NBD_OPT_STRUCTURED_REPLY, "x", 1));
    CHECK(h_expect_rep(h, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
                       "STRUCTURED_REPLY+data"));
    CHECK(h_structured(h));
    /* A thousand queries promised, none sent. */
    nbd_st32(q + 4, 1000);
    CHECK(h_opt(h, NBD_OPT_SET_META_CONTEXT, q, 8));
    CHECK(h_expect_rep(h, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID,
                       "query count"));
    /* A query length past the end. */
    nbd_st32(q + 4, 1);
    nbd_st32(q + 8, 500);
    memcpy(q + 12, "base:allocation", 15);
    CHECK(h_opt(h, NBD_OPT_LIST_META_CONTEXT, q, 27));
    CHECK(h_expect_rep(h, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID,
                       "query length"));
    /* Unknown export. */
    nbd_st32(q, 1);
    q[4] = 'z';
    nbd_st32(q + 5, 0);
    CHECK(h_opt(h, NBD_OPT_LIST_META_CONTEXT, q, 9));
    CHECK(h_expect_rep(h, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_UNKNOWN,
                       "meta on unknown export"));
    /* Unknown namespaces are ignored; base:allocation is found. */
    nbd_st32(q, 0);
    nbd_st32(q + 4, 2);
    nbd_st32(q + 8, 7);
    memcpy(q + 12, "x-foo:a", 7);
    nbd_st32(q + 19, 15);
    memcpy(q + 23, "base:allocation", 15);
    CHECK(h_opt(h, NBD_OPT_SET_META_CONTEXT, q, 38));
    CHECK(h_rep(h, NBD_OPT_SET_META_CONTEXT, &type, buf, sizeof(buf), &len));
    CHECK((type == NBD_REP_META_CONTEXT && len == 4 + 15 &&
           !memcmp(buf + 4, "base:allocation", 15)) ||
          hfail(h, "SET_META: bad %s", nbd_rep_name(type)));
    CHECK(h_expect_rep(h, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK, "SET_META"));
    /* INFO is not GO: still negotiating afterwards. */
    memset(q, 0, 8);
    CHECK(h_opt(h, NBD_OPT_INFO, q, 6));
    do {
        CHECK(h_rep(h, NBD_OPT_INFO, &type, buf, sizeof(buf), &len));
        CHECK(type == NBD_REP_INFO || type == NBD_REP_ACK ||
              hfail(h, "INFO: %s", nbd_rep_name(type)));
    } while (type != NBD_REP_ACK);
    CHECK(h_opt(h, NBD_OPT_ABORT, NULL, 0));
    CHECK(h_expect_rep(h, NBD_OPT_ABORT, NBD_REP_ACK, "ABORT"));
    h_expect_closed(h, "after ABORT");
out:;
}

static void s_oldstyle_client(Ctx *c)
{
    H *h = &c->h;
    uint8_t buf[134];

    /* A client without fixed newstyle may only say EXPORT_NAME. */
    CHECK(h_connect(h, c->rw) && h_greet(h, 0));
    CHECK(h_opt(h, NBD_OPT_GO, "\0\0\0\0\0\0", 6));
    h_expect_closed(h, "GO from a non-fixed client");
    h_close(h);
    CHECK(h_connect(h, c->rw) && h_greet(h, 0));
    CHECK(h_opt(h, NBD_OPT_EXPORT_NAME, NULL, 0));
    CHECK(h_recv(h, buf, sizeof(buf)));      /* size, flags, 124 zeroes */
    CHECK(nbd_ld64(buf) == HOSTILE_IMAGE_SIZE || hfail(h, "EXPORT_NAME size"));
    CHECK(buffer_is_zero(buf + 10, 124) || hfail(h, "EXPORT_NAME padding"));
    CHECK(h_read_check(h, 7, HOSTILE_DATA_OFFSET - 100, 200, NULL));
    h_close(h);
    /* An unknown name cannot be refused politely: the server hangs up. */
    CHECK(h_connect(h, c->rw) && h_greet(h, NBD_FLAG_C_FIXED_NEWSTYLE));
    CHECK(h_opt(h, NBD_OPT_EXPORT_NAME, "nope", 4));
    h_expect_closed(h, "EXPORT_NAME of an unknown export");
out:;
}

static void s_bad_request_magic(Ctx *c)
{
    H *h = &c->h;
    uint8_t hdr[NBD_REQUEST_SIZE];
    NBDRequest req = { .type = NBD_CMD_READ, .len = 512 };

    CHECK(h_open(h, c->rw, true, false));
    nbd_encode_request(hdr, &req);
    hdr[3] ^= 1;
    CHECK(h_send(h, hdr, sizeof(hdr)));
    h_expect_closed(h, "bad request magic");
out:;
}

static void s_bad_requests(Ctx *c, bool structured)
{
    H *h = &c->h;
    uint8_t *payload;

    CHECK(h_open(h, c->rw, structured, false));
    CHECK(h_request(h, 0, 42, 1, 0, 0, NULL, 0));
    CHECK(h_expect_error(h, 1, NBD_EINVAL, "unknown command"));
    CHECK(h_request(h, 0, NBD_CMD_READ, 2, UINT64_MAX - 10, 4096, NULL, 0));
    CHECK(h_expect_error(h, 2, NBD_EINVAL, "read: offset overflow"));
    CHECK(h_request(h, 0, NBD_CMD_READ, 3, HOSTILE_IMAGE_SIZE - 512, 4096, NULL, 0));
    CHECK(h_expect_error(h, 3, NBD_EINVAL, "read past the end"));
    CHECK(h_request(h, 0, NBD_CMD_READ, 4, 0, 64 * 1024 * 1024, NULL, 0));
    CHECK(h_expect_error(h, 4, NBD_EINVAL, "64 MiB read"));
    CHECK(h_request(h, 0x8000, NBD_CMD_READ, 5, 0, 512, NULL, 0));
    CHECK(h_expect_error(h, 5, NBD_EINVAL, "unknown flag"));
    CHECK(h_request(h, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_READ, 6, 0, 512, NULL, 0));
    CHECK(h_expect_error(h, 6, NBD_EINVAL, "flag of another command"));
    CHECK(h_request(h, 0, NBD_CMD_BLOCK_STATUS, 7, 0, 512, NULL, 0));
    CHECK(h_expect_error(h, 7, NBD_EINVAL, "block status without contexts"));
    /* A write past the end: its payload still has to be consumed. */
    payload = calloc(1, 8192);
    CHECK(h_request(h, 0, NBD_CMD_WRITE, 8, HOSTILE_IMAGE_SIZE - 4096, 8192,
                    payload, 8192));
    free(payload);
    CHECK(h_expect_error(h, 8, NBD_ENOSPC, "write past the end"));
    CHECK(h_request(h, 0, NBD_CMD_WRITE_ZEROES, 9, HOSTILE_IMAGE_SIZE, 1, NULL, 0));
    CHECK(h_expect_error(h, 9, NBD_ENOSPC, "zero past the end"));
    CHECK(h_request(h, 0, NBD_CMD_TRIM, 10, UINT64_MAX, 2, NULL, 0));
    CHECK(h_expect_error(h, 10, NBD_EINVAL, "trim overflow"));
    /* The stream is still in step. */
    CHECK(h_read_check(h, 11, HOSTILE_DATA_OFFSET - 4096, 8192, NULL));
    CHECK(h_request(h, 0, NBD_CMD_FLUSH, 12, 0, 0, NULL, 0));
    CHECK(h_expect_error(h, 12, 0, "flush"));
    CHECK(h_request(h, 0, NBD_CMD_DISC, 13, 0, 0, NULL, 0));
    h_expect_closed(h, "after NBD_CMD_DISC");
out:;
}

static void s_bad_requests_simple(Ctx *c)
{
    s_bad_requests(c, false);
}

static void s_bad_requests_structured(Ctx *c)
{
    s_bad_requests(c, true);
}

static void s_huge_write(Ctx *c)
{
    H *h = &c->h;

    CHECK(h_open(h, c->rw, true, false));
    /* 64 MiB announced: more than the server buffers. */
    CHECK(h_request(h, 0, NBD_CMD_WRITE, 1, 0, 64 * 1024 * 1024, NULL, 0));
    h_expect_closed(h, "64 MiB write");
out:;
}

static void s_partial_write(Ctx *c)
{
    H *h = &c->h;
    uint8_t zero[1000] = { 0 };

    /* Hang up in the middle of a write's payload. */
    CHECK(h_open(h, c->rw, true, false));
    CHECK(h_request(h, 0, NBD_CMD_WRITE, 1, HOSTILE_IMAGE_SIZE - 65536, 65536,
                    zero, sizeof(zero)));
out:;
}

static void s_pipeline_and_vanish(Ctx *c)
{
    H *h = &c->h;
    int i;

    /* Many large reads, replies never read, then gone. */
    CHECK(h_open(h, c->rw, true, false));
    for (i = 0; i < 64; i++) {
        CHECK(h_request(h, 0, NBD_CMD_READ, (uint64_t)i, 0, 1024 * 1024, NULL, 0));
    }
out:;
}

static void s_structured_read(Ctx *c)
{
    H *h = &c->h;
    uint64_t holes;

    CHECK(h_open(h, c->rw, true, true));
    /* Across the whole image: data where the data is, holes for the
     * rest (the sparse read), every byte covered once. */
    CHECK(h_read_check(h, 1, 0, HOSTILE_IMAGE_SIZE, &holes));
    CHECK(holes > 0 || hfail(h, "sparse read sent no hole chunk"));
    CHECK(holes <= HOSTILE_IMAGE_SIZE - HOSTILE_DATA_LEN ||
          hfail(h, "hole chunks over the data"));
    /* Unaligned edges. */
    CHECK(h_read_check(h, 2, HOSTILE_DATA_OFFSET - 3, 7, NULL));
    CHECK(h_read_check(h, 3, HOSTILE_DATA_OFFSET + HOSTILE_DATA_LEN - 5, 9, NULL));
    /* Zero-length read. */
    CHECK(h_request(h, 0, NBD_CMD_READ, 4, 0, 0, NULL, 0));
    CHECK(h_expect_error(h, 4, 0, "empty read"));
    /* Block status: one extent with REQ_ONE, within the request. */
    CHECK(h_request(h, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 5,
                    HOSTILE_DATA_OFFSET, 4096, NULL, 0));
    CHECK(h_expect_error(h, 5, 0, "block status"));
    CHECK(h_request(h, 0, NBD_CMD_BLOCK_STATUS, 6, HOSTILE_IMAGE_SIZE - 512, 1024,
                    NULL, 0));
    CHECK(h_expect_error(h, 6, NBD_EINVAL, "block status past the end"));
    CHECK(h_request(h, 0, NBD_CMD_BLOCK_STATUS, 7, 0, 0, NULL, 0));
    CHECK(h_expect_error(h, 7, NBD_EINVAL, "empty block status"));
    /* Writes and zeroes where the image is a hole keep it one. */
    CHECK(h_request(h, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA,
                    NBD_CMD_WRITE_ZEROES, 8, HOSTILE_IMAGE_SIZE - 8192, 4096,
                    NULL, 0));
    CHECK(h_expect_error(h, 8, 0, "write zeroes"));
    if (h->eflags & NBD_FLAG_SEND_FAST_ZERO) {
        uint32_t err;

        CHECK(h_request(h, NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 9,
                        HOSTILE_IMAGE_SIZE - 4096, 4096, NULL, 0));
        CHECK(h_result(h, 9, &err));
        CHECK(err == 0 || err == NBD_ENOTSUP || hfail(h, "fast zero: %u", err));
    }
    CHECK(h_request(h, NBD_CMD_FLAG_FUA, NBD_CMD_TRIM, 10,
                    HOSTILE_IMAGE_SIZE - 65536, 4096, NULL, 0));
    CHECK(h_expect_error(h, 10, 0, "trim"));
    CHECK(h_request(h, 0, NBD_CMD_CACHE, 11, 0, 65536, NULL, 0));
    CHECK(h_expect_error(h, 11, 0, "cache"));
    /* DF: one data chunk with the zeroes spelt out. */
    CHECK(h_request(h, NBD_CMD_FLAG_DF, NBD_CMD_READ, 12,
                    HOSTILE_DATA_OFFSET - 4096, 8192, NULL, 0));
    {
        uint8_t hdr[NBD_CHUNK_HEADER_SIZE], *d = malloc(8200);

        CHECK(h_recv(h, hdr, sizeof(hdr)));
        CHECK((nbd_ld16(hdr + 6) == NBD_REPLY_TYPE_OFFSET_DATA &&
               nbd_ld32(hdr + 16) == 8200 &&
               (nbd_ld16(hdr + 4) & NBD_REPLY_FLAG_DONE)) ||
              hfail(h, "DF read: not one data chunk"));
        CHECK(h_recv(h, d, 8200));
        CHECK((buffer_is_zero(d + 8, 4096) && d[8 + 4096] == HOSTILE_DATA_BYTE) ||
              hfail(h, "DF read: wrong data"));
        free(d);
    }
    /* Two requests then DISC: both answered before the close. */
    CHECK(h_request(h, 0, NBD_CMD_READ, 20, 0, 512, NULL, 0));
    CHECK(h_request(h, 0, NBD_CMD_FLUSH, 21, 0, 0, NULL, 0));
    CHECK(h_request(h, 0, NBD_CMD_DISC, 22, 0, 0, NULL, 0));
    {
        int got = 0;
        uint8_t hdr[NBD_CHUNK_HEADER_SIZE], tmp[512 + 8];

        while (got < 2) {
            uint64_t handle;

            CHECK(h_recv(h, hdr, 4));
            if (nbd_ld32(hdr) == NBD_SIMPLE_REPLY_MAGIC) {
                CHECK(h_recv(h, hdr + 4, 12));
                handle = nbd_ld64(hdr + 8);
                CHECK((handle == 21 && !nbd_ld32(hdr + 4)) ||
                      hfail(h, "DISC: bad simple reply"));
                got++;
            } else {
                CHECK(nbd_ld32(hdr) == NBD_STRUCTURED_REPLY_MAGIC ||
                      hfail(h, "DISC: bad magic"));
                CHECK(h_recv(h, hdr + 4, 16));
                handle = nbd_ld64(hdr + 8);
                CHECK((handle == 20 && nbd_ld32(hdr + 16) <= sizeof(tmp)) ||
                      hfail(h, "DISC: bad chunk"));
                CHECK(h_recv(h, tmp, nbd_ld32(hdr + 16)));
                if (nbd_ld16(hdr + 4) & NBD_REPLY_FLAG_DONE) {
                    got++;
                }
            }
        }
    }
    h_expect_closed(h, "after NBD_CMD_DISC");
out:;
}

static void s_read_only(Ctx *c)
{
    H *h = &c->h;
    uint8_t b[512] = { 0 };

    if (!c->ro) {
        return;
    }
    CHECK(h_open(h, c->ro, true, false));
    CHECK((h->eflags & NBD_FLAG_READ_ONLY) || hfail(h, "not flagged read-only"));
    CHECK(h_request(h, 0, NBD_CMD_WRITE, 1, 0, 512, b, 512));
    CHECK(h_expect_error(h, 1, NBD_EPERM, "write to a read-only export"));
    CHECK(h_request(h, 0, NBD_CMD_TRIM, 2, 0, 512, NULL, 0));
    CHECK(h_expect_error(h, 2, NBD_EPERM, "trim on a read-only export"));
    CHECK(h_request(h, 0, NBD_CMD_WRITE_ZEROES, 3, 0, 512, NULL, 0));
    CHECK(h_expect_error(h, 3, NBD_EPERM, "zero on a read-only export"));
    CHECK(h_request(h, 0, NBD_CMD_FLUSH, 4, 0, 0, NULL, 0));
    CHECK(h_expect_error(h, 4, 0, "flush on a read-only export"));
out:;
}

static void s_stalled_handshake(Ctx *c)
{
    H *h = &c->h;
    struct timeval tv = { .tv_sec = c->handshake_timeout + 10 };
    time_t start = time(NULL);

    if (c->handshake_timeout <= 0) {
        return;
    }
    /* Connect, take the greeting, say nothing more: dropped in time. */
    CHECK(h_connect(h, c->rw));
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    {
        uint8_t buf[18];

        CHECK(h_recv(h, buf, sizeof(buf)));
    }
    CHECK(h_expect_closed(h, "stalled handshake"));
    CHECK(time(NULL) - start <= c->handshake_timeout + 5 ||
          hfail(h, "dropped only after %ld s", (long)(time(NULL) - start)));
out:;
}

static void s_final(Ctx *c)
{
    H *h = &c->h;

    /* After all of the above, a plain client still gets its data. */
    CHECK(h_open(h, c->rw, true, true));
    CHECK(h_read_check(h, 1, HOSTILE_DATA_OFFSET - 65536, 2 * 65536, NULL));
out:;
}

typedef struct Scenario {
    const char *name;
    void (*fn)(Ctx *c);
} Scenario;

static const Scenario scenarios[] = {
    { "bad client flags", s_bad_client_flags },
    { "bad option magic", s_bad_option_magic },
    { "huge option", s_huge_option },
    { "truncated handshake", s_truncated_handshake },
    { "malformed NBD_OPT_GO", s_malformed_go },
    { "option errors", s_options },
    { "non-fixed newstyle client", s_oldstyle_client },
    { "bad request magic", s_bad_request_magic },
    { "bad requests, simple replies", s_bad_requests_simple },
    { "bad requests, structured replies", s_bad_requests_structured },
    { "huge write", s_huge_write },
    { "partial write", s_partial_write },
    { "pipeline and vanish", s_pipeline_and_vanish },
    { "structured reads and commands", s_structured_read },
    { "read-only export", s_read_only },
    { "stalled handshake", s_stalled_handshake },
    { "final sanity check", s_final },
};

int nbd_hostile_run(const char *rw_path, const char *ro_path,
                    int handshake_timeout, FILE *log, bool verbose)
{
    unsigned i;
    int failed = 0;

    for (i = 0; i < ARRAY_SIZE(scenarios); i++) {
        Ctx c;

        memset(&c, 0, sizeof(c));
        c.rw = rw_path;
        c.ro = ro_path;
        c.handshake_timeout = handshake_timeout;
        c.h.fd = -1;
        scenarios[i].fn(&c);
        h_close(&c.h);
        if (c.h.fail) {
            fprintf(log, "FAIL: %s: %s\n", scenarios[i].name, c.h.fail);
            failed++;
        } else if (verbose) {
            fprintf(log, "ok: %s\n", scenarios[i].name);
        }
    }
    return failed;
}
