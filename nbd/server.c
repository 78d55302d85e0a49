/*
 * coblock — the NBD server
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One coroutine per connection runs the fixed newstyle handshake and then
 * reads the request stream: it checks each request, reads a write's
 * payload, and hands the request to a coroutine of its own, which does the
 * I/O on the BlockBackend and sends the reply.  Replies therefore go out in
 * the order their requests finish; the connection's send lock keeps each
 * message (or each structured chunk) whole on the wire.
 *
 * Everything the client sends is hostile input:
 *   - an option longer than NBD_MAX_OPTION_SIZE, a request magic that is
 *     wrong, a write longer than NBD_MAX_BUFFER_SIZE or unknown client
 *     flags end the connection (the spec allows a hard disconnect for
 *     those); every other mistake gets the protocol's error reply;
 *   - the memory a connection can hold is bounded: at most
 *     NBD_SERVER_MAX_REQUESTS requests in flight and NBD_SERVER_MAX_BYTES
 *     of request buffers; the reader stops reading until there is room;
 *     all connections together hold at most NBD_SERVER_TOTAL_BYTES;
 *   - offsets and lengths are checked against the export size without
 *     overflow before any I/O.
 *
 * Thread rules: the server, its exports and clients live in one
 * AioContext and are used from its thread only.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "util/queue.h"
#include "block/block_int.h"
#include "block/nbd.h"

#define NBD_SERVER_MAX_REQUESTS 16
#define NBD_SERVER_MAX_BYTES    (64 * 1024 * 1024)
#define NBD_SERVER_TOTAL_BYTES  (512 * 1024 * 1024)
/* Extents per block status chunk without REQ_ONE. */
#define NBD_SERVER_MAX_EXTENTS  2048
/* Pieces a cache request reads at a time. */
#define NBD_SERVER_CACHE_CHUNK  (1024 * 1024)

#define NBD_META_ID_BASE        1
#define NBD_META_ID_DEPTH       2

struct NBDExport {
    NBDServer *server;
    char *name;
    char *description;
    BlockBackend *blk;
    uint64_t size;
    uint16_t eflags;            /* without NBD_FLAG_SEND_DF (per client) */
    bool read_only;
    bool allocation_depth;
    QTAILQ_ENTRY(NBDExport) next;
};

typedef struct NBDClient NBDClient;

struct NBDServer {
    AioContext *ctx;
    NBDClientClosedFunc *closed;
    void *opaque;
    QTAILQ_HEAD(, NBDExport) exports;
    QTAILQ_HEAD(, NBDClient) clients;
    unsigned nclients;
    uint64_t in_flight_bytes;   /* request buffers of all clients */
    CoQueue room;               /* readers waiting for the server's budget */
    int64_t handshake_timeout_ns;
};

struct NBDClient {
    NBDServer *server;
    CoSocket *sock;
    NBDExport *exp;             /* set when transmission starts */
    bool fixed;                 /* fixed newstyle */
    bool no_zeroes;
    bool structured;
    uint16_t eflags;
    /* The contexts of the last NBD_OPT_SET_META_CONTEXT and its export. */
    NBDExport *meta_exp;
    bool meta_base;
    bool meta_depth;

    CoMutex send_lock;
    unsigned in_flight;
    uint64_t in_flight_bytes;
    CoQueue room;               /* the reader waits here for room */
    Coroutine *drain_co;        /* waits for in_flight == 0 */
    bool quit;
    QTAILQ_ENTRY(NBDClient) next;
};

typedef struct NBDServerRequest {
    NBDClient *client;
    NBDRequest req;
    uint8_t *data;              /* a write's payload */
    uint32_t error;             /* wire error found while checking */
    uint64_t charge;            /* bytes counted in client->in_flight_bytes */
} NBDServerRequest;

/* ---- exports ---- */

NBDServer *nbd_server_new(AioContext *ctx, NBDClientClosedFunc *closed,
                          void *opaque)
{
    NBDServer *server = qemu_new0(NBDServer, 1);

    server->ctx = ctx;
    server->closed = closed;
    server->opaque = opaque;
    QTAILQ_INIT(&server->exports);
    QTAILQ_INIT(&server->clients);
    qemu_co_queue_init(&server->room);
    server->handshake_timeout_ns = NBD_HANDSHAKE_TIMEOUT_NS;
    return server;
}

void nbd_server_free(NBDServer *server)
{
    NBDExport *exp, *tmp;

    if (!server) {
        return;
    }
    assert(QTAILQ_EMPTY(&server->clients));
    QTAILQ_FOREACH_SAFE(exp, &server->exports, next, tmp) {
        QTAILQ_REMOVE(&server->exports, exp, next);
        blk_unref(exp->blk);
        free(exp->name);
        free(exp->description);
        free(exp);
    }
    free(server);
}

unsigned nbd_server_client_count(NBDServer *server)
{
    return server->nclients;
}

void nbd_server_set_handshake_timeout(NBDServer *server, int64_t ns)
{
    server->handshake_timeout_ns = ns;
}

static NBDExport *nbd_find_export(NBDServer *server, const char *name,
                                  size_t len)
{
    NBDExport *exp;

    QTAILQ_FOREACH(exp, &server->exports, next) {
        if (strlen(exp->name) == len && (len == 0 || !memcmp(exp->name, name, len))) {
            return exp;
        }
    }
    return NULL;
}

NBDExport *nbd_export_new(NBDServer *server, BlockBackend *blk,
                          const NBDExportConfig *cfg, Error **errp)
{
    const char *name = cfg->name ? cfg->name : "";
    NBDExport *exp;
    int64_t size;

    if (strlen(name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name '%s' too long", name);
        return NULL;
    }
    if (cfg->description && strlen(cfg->description) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "description '%s' too long", cfg->description);
        return NULL;
    }
    if (nbd_find_export(server, name, strlen(name))) {
        error_setg(errp, "export '%s' already exists", name);
        return NULL;
    }
    size = blk_getlength(blk);
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Failed to determine the image length");
        return NULL;
    }
    exp = qemu_new0(NBDExport, 1);
    exp->server = server;
    exp->name = qemu_xstrdup(name);
    exp->description = cfg->description ? qemu_xstrdup(cfg->description) : NULL;
    exp->blk = blk;
    exp->size = (uint64_t)size;
    exp->read_only = cfg->read_only || blk_is_read_only(blk);
    exp->allocation_depth = cfg->allocation_depth;
    exp->eflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                  NBD_FLAG_SEND_CACHE;
    if (exp->read_only) {
        exp->eflags |= NBD_FLAG_READ_ONLY;
    } else {
        exp->eflags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
                       NBD_FLAG_SEND_FAST_ZERO;
    }
    /* Every connection uses this one BlockBackend: a flush on any of them
     * covers the writes of all, and a write is visible to all at once. */
    if (cfg->multi_conn) {
        exp->eflags |= NBD_FLAG_CAN_MULTI_CONN;
    }
    QTAILQ_INSERT_TAIL(&server->exports, exp, next);
    return exp;
}

/* ---- sending ---- */

/* Write one whole message under the send lock.  A failure means the
 * connection is gone: stop the client. */
static int coroutine_fn nbd_send_iov(NBDClient *c, struct iovec *iov, int niov)
{
    int ret;

    qemu_co_mutex_lock(&c->send_lock);
    ret = cosocket_writev_all(c->sock, iov, niov);
    qemu_co_mutex_unlock(&c->send_lock);
    if (ret < 0) {
        c->quit = true;
        cosocket_shutdown(c->sock);
    }
    return ret;
}

static int coroutine_fn nbd_send_simple(NBDClient *c, uint64_t handle,
                                        uint32_t error, void *data, size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = data, .iov_len = len },
    };

    nbd_encode_simple_reply(hdr, error, handle);
    return nbd_send_iov(c, iov, len ? 2 : 1);
}

/* A structured chunk: header, then @fixed (a small payload prefix), then
 * @data. */
static int coroutine_fn nbd_send_chunk(NBDClient *c, uint64_t handle,
                                       uint16_t flags, uint16_t type,
                                       const void *fixed, size_t fixed_len,
                                       void *data, size_t len)
{
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];
    struct iovec iov[3] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)fixed, .iov_len = fixed_len },
        { .iov_base = data, .iov_len = len },
    };

    assert(fixed_len + len <= UINT32_MAX);
    nbd_encode_chunk_header(hdr, flags, type, handle, (uint32_t)(fixed_len + len));
    return nbd_send_iov(c, iov, 3);
}

/* The final reply for a request that failed with wire error @error. */
static int coroutine_fn nbd_send_error(NBDClient *c, const NBDRequest *req,
                                       uint32_t error)
{
    if (c->structured) {
        const char *msg = strerror(nbd_wire_to_errno(error));
        size_t mlen = MIN(strlen(msg), 256);
        uint8_t fixed[6];

        nbd_st32(fixed, error);
        nbd_st16(fixed + 4, (uint16_t)mlen);
        return nbd_send_chunk(c, req->handle, NBD_REPLY_FLAG_DONE,
                              NBD_REPLY_TYPE_ERROR, fixed, sizeof(fixed),
                              (void *)msg, mlen);
    }
    return nbd_send_simple(c, req->handle, error, NULL, 0);
}

/* ---- the handshake ---- */

static int coroutine_fn nbd_send_rep(NBDClient *c, uint32_t opt, uint32_t type,
                                     const void *data, size_t len)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_encode_option_reply(hdr, opt, type, (uint32_t)len);
    return cosocket_writev_all(c->sock, iov, 2);
}

static int coroutine_fn QEMU_PRINTF(4, 5)
nbd_send_rep_err(NBDClient *c, uint32_t opt, uint32_t type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    return nbd_send_rep(c, opt, type, msg, MIN((size_t)n, sizeof(msg) - 1));
}

/* A printable, bounded rendering of a name from the wire, for messages. */
static void name_for_message(char *out, size_t outlen, const char *name,
                             size_t len)
{
    size_t i, j = 0;

    for (i = 0; i < len && j + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[j] = '\0';
}

static uint16_t nbd_client_eflags(NBDClient *c, NBDExport *exp)
{
    return exp->eflags | (c->structured ? NBD_FLAG_SEND_DF : 0);
}

static int coroutine_fn nbd_opt_list(NBDClient *c, uint32_t len)
{
    NBDExport *exp;
    int ret;

    if (len) {
        return nbd_send_rep_err(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
                                "NBD_OPT_LIST takes no data");
    }
    QTAILQ_FOREACH(exp, &c->server->exports, next) {
        size_t nlen = strlen(exp->name);
        size_t dlen = exp->description ? strlen(exp->description) : 0;
        uint8_t *buf = qemu_xmalloc(4 + nlen + dlen);

        nbd_st32(buf, (uint32_t)nlen);
        memcpy(buf + 4, exp->name, nlen);
        if (dlen) {
            memcpy(buf + 4 + nlen, exp->description, dlen);
        }
        ret = nbd_send_rep(c, NBD_OPT_LIST, NBD_REP_SERVER, buf, 4 + nlen + dlen);
        free(buf);
        if (ret < 0) {
            return ret;
        }
    }
    return nbd_send_rep(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

static int coroutine_fn nbd_send_info(NBDClient *c, uint32_t opt,
                                      uint16_t type, const void *data,
                                      size_t len)
{
    uint8_t buf[2 + NBD_MAX_STRING_SIZE];

    assert(len <= NBD_MAX_STRING_SIZE);
    nbd_st16(buf, type);
    memcpy(buf + 2, data, len);
    return nbd_send_rep(c, opt, NBD_REP_INFO, buf, 2 + len);
}

/* NBD_OPT_INFO and NBD_OPT_GO: 1 when GO succeeded, 0 to go on haggling,
 * -errno when the connection failed. */
static int coroutine_fn nbd_opt_info_go(NBDClient *c, uint32_t opt,
                                        const uint8_t *data, uint32_t len)
{
    NBDInfoRequest ir;
    NBDExport *exp;
    bool want_name = false, want_desc = false;
    uint8_t buf[12];
    char shown[80];
    int ret;
    unsigned i;

    if (nbd_parse_info_request(data, len, &ir) < 0) {
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "malformed %s request", nbd_opt_name(opt));
    }
    exp = nbd_find_export(c->server, ir.name, ir.name_len);
    if (!exp) {
        name_for_message(shown, sizeof(shown), ir.name, ir.name_len);
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN,
                                "export '%s' not present", shown);
    }
    for (i = 0; i < ir.nrequests; i++) {
        uint16_t t = nbd_ld16(ir.requests + 2 * i);

        want_name |= t == NBD_INFO_NAME;
        want_desc |= t == NBD_INFO_DESCRIPTION;
    }
    if (want_name) {
        ret = nbd_send_info(c, opt, NBD_INFO_NAME, exp->name, strlen(exp->name));
        if (ret < 0) {
            return ret;
        }
    }
    if (want_desc && exp->description) {
        ret = nbd_send_info(c, opt, NBD_INFO_DESCRIPTION, exp->description,
                            strlen(exp->description));
        if (ret < 0) {
            return ret;
        }
    }
    /* Sent whether asked for or not: the defaults hold anyway (any
     * alignment), and clients learn the largest request we take. */
    nbd_st32(buf, 1);
    nbd_st32(buf + 4, 4096);
    nbd_st32(buf + 8, NBD_MAX_BUFFER_SIZE);
    ret = nbd_send_info(c, opt, NBD_INFO_BLOCK_SIZE, buf, 12);
    if (ret < 0) {
        return ret;
    }
    nbd_st64(buf, exp->size);
    nbd_st16(buf + 8, nbd_client_eflags(c, exp));
    ret = nbd_send_info(c, opt, NBD_INFO_EXPORT, buf, 10);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_send_rep(c, opt, NBD_REP_ACK, NULL, 0);
    if (ret < 0) {
        return ret;
    }
    if (opt == NBD_OPT_GO) {
        c->exp = exp;
        return 1;
    }
    return 0;
}

/* Which contexts of @exp does @query name?  LIST accepts the namespace
 * wildcards "base:" and "qemu:". */
static void nbd_meta_match(NBDExport *exp, const char *q, uint32_t qlen,
                           bool list, bool *base, bool *depth)
{
#define QUERY_IS(s) (qlen == strlen(s) && !memcmp(q, s, qlen))
    if (QUERY_IS(NBD_META_BASE_ALLOCATION) || (list && QUERY_IS("base:"))) {
        *base = true;
    }
    if (exp->allocation_depth &&
        (QUERY_IS(NBD_META_ALLOCATION_DEPTH) || (list && QUERY_IS("qemu:")))) {
        *depth = true;
    }
#undef QUERY_IS
}

static int coroutine_fn nbd_send_meta_context(NBDClient *c, uint32_t opt,
                                              uint32_t id, const char *name)
{
    uint8_t buf[4 + 64];
    size_t len = strlen(name);

    assert(len <= 64);
    nbd_st32(buf, id);
    memcpy(buf + 4, name, len);
    return nbd_send_rep(c, opt, NBD_REP_META_CONTEXT, buf, 4 + len);
}

static int coroutine_fn nbd_opt_meta(NBDClient *c, uint32_t opt,
                                     const uint8_t *data, uint32_t len)
{
    bool list = opt == NBD_OPT_LIST_META_CONTEXT;
    bool base = false, depth = false;
    NBDMetaRequest mr;
    NBDExport *exp;
    char shown[80];
    const char *q;
    uint32_t qlen;
    int ret;

    if (!list) {
        /* Replaces the selection, even when it fails. */
        c->meta_exp = NULL;
        c->meta_base = c->meta_depth = false;
    }
    if (!c->structured) {
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "request structured replies first");
    }
    if (nbd_parse_meta_request(data, len, &mr) < 0) {
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "malformed %s request", nbd_opt_name(opt));
    }
    exp = nbd_find_export(c->server, mr.name, mr.name_len);
    if (!exp) {
        name_for_message(shown, sizeof(shown), mr.name, mr.name_len);
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN,
                                "export '%s' not present", shown);
    }
    if (list && mr.nqueries == 0) {
        base = true;
        depth = exp->allocation_depth;
    }
    while ((ret = nbd_meta_query_next(&mr, &q, &qlen)) > 0) {
        nbd_meta_match(exp, q, qlen, list, &base, &depth);
    }
    if (ret < 0) {
        return nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "malformed %s request", nbd_opt_name(opt));
    }
    if (base) {
        ret = nbd_send_meta_context(c, opt, list ? 0 : NBD_META_ID_BASE,
                                    NBD_META_BASE_ALLOCATION);
        if (ret < 0) {
            return ret;
        }
    }
    if (depth) {
        ret = nbd_send_meta_context(c, opt, list ? 0 : NBD_META_ID_DEPTH,
                                    NBD_META_ALLOCATION_DEPTH);
        if (ret < 0) {
            return ret;
        }
    }
    if (!list) {
        c->meta_exp = exp;
        c->meta_base = base;
        c->meta_depth = depth;
    }
    return nbd_send_rep(c, opt, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: 1 to start transmission, -errno to hang up (the
 * option cannot report errors). */
static int coroutine_fn nbd_opt_export_name(NBDClient *c, const uint8_t *data,
                                            uint32_t len)
{
    uint8_t buf[10 + 124];
    NBDExport *exp;

    if (len > NBD_MAX_STRING_SIZE) {
        return -EINVAL;
    }
    exp = nbd_find_export(c->server, (const char *)data, len);
    if (!exp) {
        return -ENOENT;
    }
    memset(buf, 0, sizeof(buf));
    nbd_st64(buf, exp->size);
    nbd_st16(buf + 8, nbd_client_eflags(c, exp));
    if (cosocket_write_all(c->sock, buf, c->no_zeroes ? 10 : sizeof(buf)) < 0) {
        return -EPIPE;
    }
    c->exp = exp;
    return 1;
}

/* The whole handshake: 1 when transmission starts, 0 when the client
 * aborted, -errno when the connection is to be dropped. */
static int coroutine_fn nbd_negotiate(NBDClient *c)
{
    uint8_t buf[NBD_OPTION_HEADER_SIZE + 8];
    uint32_t cflags;
    int ret;

    nbd_st64(buf, NBD_INIT_MAGIC);
    nbd_st64(buf + 8, NBD_OPTS_MAGIC);
    nbd_st16(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    ret = cosocket_write_all(c->sock, buf, 18);
    if (ret < 0) {
        return ret;
    }
    ret = cosocket_read_all(c->sock, buf, 4);
    if (ret < 0) {
        return ret;
    }
    cflags = nbd_ld32(buf);
    if (cflags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
        return -EINVAL;
    }
    c->fixed = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
    c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

    for (;;) {
        uint32_t opt, len;
        uint8_t *data = NULL;

        ret = cosocket_read_all(c->sock, buf, NBD_OPTION_HEADER_SIZE);
        if (ret < 0) {
            return ret;
        }
        if (nbd_ld64(buf) != NBD_OPTS_MAGIC) {
            return -EINVAL;
        }
        opt = nbd_ld32(buf + 8);
        len = nbd_ld32(buf + 12);
        if (len > NBD_MAX_OPTION_SIZE) {
            return -EINVAL;
        }
        if (len) {
            data = qemu_xmalloc(len);
            ret = cosocket_read_all(c->sock, data, len);
            if (ret < 0) {
                free(data);
                return ret;
            }
        }
        if (!c->fixed && opt != NBD_OPT_EXPORT_NAME) {
            /* Plain newstyle has no way to refuse an option. */
            free(data);
            return -EINVAL;
        }
        switch (opt) {
        case NBD_OPT_EXPORT_NAME:
            ret = nbd_opt_export_name(c, data, len);
            break;
        case NBD_OPT_ABORT:
            /* Answer, but a client that did not wait is fine too. */
            nbd_send_rep(c, opt, NBD_REP_ACK, NULL, 0);
            free(data);
            return 0;
        case NBD_OPT_LIST:
            ret = nbd_opt_list(c, len);
            break;
        case NBD_OPT_STARTTLS:
            ret = len ? nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                         "NBD_OPT_STARTTLS takes no data")
                      : nbd_send_rep_err(c, opt, NBD_REP_ERR_POLICY,
                                         "TLS is not supported by this server");
            break;
        case NBD_OPT_INFO:
        case NBD_OPT_GO:
            ret = nbd_opt_info_go(c, opt, data, len);
            break;
        case NBD_OPT_STRUCTURED_REPLY:
            if (len) {
                ret = nbd_send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                       "NBD_OPT_STRUCTURED_REPLY takes no data");
            } else {
                c->structured = true;
                ret = nbd_send_rep(c, opt, NBD_REP_ACK, NULL, 0);
            }
            break;
        case NBD_OPT_LIST_META_CONTEXT:
        case NBD_OPT_SET_META_CONTEXT:
            ret = nbd_opt_meta(c, opt, data, len);
            break;
        default:
            ret = nbd_send_rep_err(c, opt, NBD_REP_ERR_UNSUP,
                                   "option %" PRIu32 " not supported", opt);
            break;
        }
        free(data);
        if (ret != 0) {
            return ret;
        }
    }
}

/* ---- transmission ---- */

static BlockDriverState *nbd_bs(NBDClient *c)
{
    return blk_bs(c->exp->blk);
}

/* Check @req before anything is done for it: the wire error to answer,
 * or 0.  *fatal is set when the connection must be dropped instead. */
static uint32_t nbd_check_request(NBDClient *c, const NBDRequest *req,
                                  bool *fatal)
{
    NBDExport *exp = c->exp;
    bool writes = false, ranged = true;

    *fatal = false;
    switch (req->type) {
    case NBD_CMD_WRITE:
        if (req->len > NBD_MAX_BUFFER_SIZE) {
            /* We will not buffer that much: a denial of service. */
            *fatal = true;
            return NBD_EINVAL;
        }
        writes = true;
        break;
    case NBD_CMD_READ:
    case NBD_CMD_CACHE:
        if (req->len > NBD_MAX_BUFFER_SIZE) {
            return NBD_EINVAL;
        }
        break;
    case NBD_CMD_TRIM:
    case NBD_CMD_WRITE_ZEROES:
        writes = true;
        break;
    case NBD_CMD_FLUSH:
        ranged = false;
        break;
    case NBD_CMD_BLOCK_STATUS:
        if (!c->structured || c->meta_exp != exp ||
            !(c->meta_base || c->meta_depth) || req->len == 0) {
            return NBD_EINVAL;
        }
        break;
    default:
        return NBD_EINVAL;
    }
    if (req->flags & ~nbd_cmd_allowed_flags(req->type, c->eflags, c->structured)) {
        return NBD_EINVAL;
    }
    if (writes && exp->read_only) {
        return NBD_EPERM;
    }
    if (ranged && !range_within(req->offset, req->len, exp->size)) {
        /* The spec's choice: ENOSPC for writing past the end, EINVAL for
         * reading or trimming there. */
        return (writes && req->type != NBD_CMD_TRIM) ? NBD_ENOSPC : NBD_EINVAL;
    }
    return 0;
}

static int coroutine_fn nbd_do_read(NBDServerRequest *r)
{
    NBDClient *c = r->client;
    const NBDRequest *req = &r->req;
    BlockBackend *blk = c->exp->blk;
    uint64_t pos = req->offset, end = req->offset + req->len;
    uint8_t *buf;
    int ret;

    if (req->len == 0) {
        if (c->structured) {
            return nbd_send_chunk(c, req->handle, NBD_REPLY_FLAG_DONE,
                                  NBD_REPLY_TYPE_NONE, NULL, 0, NULL, 0);
        }
        return nbd_send_simple(c, req->handle, 0, NULL, 0);
    }
    buf = qemu_try_malloc(req->len);
    if (!buf) {
        return nbd_send_error(c, req, NBD_ENOMEM);
    }

    if (!c->structured || (req->flags & NBD_CMD_FLAG_DF)) {
        ret = blk_co_pread(blk, (int64_t)req->offset, req->len, buf, 0);
        if (ret < 0) {
            ret = nbd_send_error(c, req, nbd_errno_to_wire(ret));
        } else if (c->structured) {
            uint8_t off[8];

            nbd_st64(off, req->offset);
            ret = nbd_send_chunk(c, req->handle, NBD_REPLY_FLAG_DONE,
                                 NBD_REPLY_TYPE_OFFSET_DATA, off, 8,
                                 buf, req->len);
        } else {
            ret = nbd_send_simple(c, req->handle, 0, buf, req->len);
        }
        free(buf);
        return ret;
    }

    /* Sparse read: ranges that read as zeroes go as hole chunks. */
    while (pos < end) {
        int64_t pnum = 0;
        int st = bdrv_co_block_status_above(nbd_bs(c), NULL, true,
                                            (int64_t)pos, (int64_t)(end - pos),
                                            &pnum, NULL, NULL, NULL);
        uint16_t done;
        uint8_t fixed[12];

        if (st < 0 || pnum <= 0 || (uint64_t)pnum > end - pos) {
            /* No answer: read the rest as data. */
            st = 0;
            pnum = (int64_t)(end - pos);
        }
        done = pos + (uint64_t)pnum == end ? NBD_REPLY_FLAG_DONE : 0;
        nbd_st64(fixed, pos);
        if (st & BDRV_BLOCK_ZERO) {
            nbd_st32(fixed + 8, (uint32_t)pnum);
            ret = nbd_send_chunk(c, req->handle, done, NBD_REPLY_TYPE_OFFSET_HOLE,
                                 fixed, 12, NULL, 0);
        } else {
            uint8_t *p = buf + (pos - req->offset);

            ret = blk_co_pread(blk, (int64_t)pos, pnum, p, 0);
            if (ret < 0) {
                ret = nbd_send_error(c, req, nbd_errno_to_wire(ret));
                break;
            }
            ret = nbd_send_chunk(c, req->handle, done, NBD_REPLY_TYPE_OFFSET_DATA,
                                 fixed, 8, p, (size_t)pnum);
        }
        if (ret < 0) {
            break;
        }
        pos += (uint64_t)pnum;
    }
    free(buf);
    return ret;
}

/* Extents of one metadata context over [offset, offset + len). */
static int coroutine_fn nbd_do_block_status_one(NBDClient *c,
                                                const NBDRequest *req,
                                                bool depth_ctx, uint16_t done)
{
    unsigned max = (req->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : NBD_SERVER_MAX_EXTENTS;
    uint64_t pos = req->offset, end = req->offset + req->len;
    uint8_t *ext = qemu_xmalloc(8 * (size_t)max);
    uint32_t last_flags = 0;
    unsigned n = 0;
    uint8_t id[4];
    int ret;

    while (pos < end) {
        int64_t pnum = 0;
        uint32_t flags;
        int depth = 0;
        int st = bdrv_co_block_status_above(nbd_bs(c), NULL, !depth_ctx,
                                            (int64_t)pos, (int64_t)(end - pos),
                                            &pnum, NULL, NULL,
                                            depth_ctx ? &depth : NULL);

        if (st < 0) {
            free(ext);
            return nbd_send_error(c, req, nbd_errno_to_wire(st));
        }
        if (pnum <= 0 || (uint64_t)pnum > end - pos) {
            pnum = (int64_t)(end - pos);
        }
        if (depth_ctx) {
            flags = (st & BDRV_BLOCK_ALLOCATED) ? (uint32_t)depth : 0;
        } else {
            flags = ((st & BDRV_BLOCK_DATA) ? 0 : NBD_STATE_HOLE) |
                    ((st & BDRV_BLOCK_ZERO) ? NBD_STATE_ZERO : 0);
        }
        if (n > 0 && flags == last_flags) {
            /* Same status: grow the last extent (the total stays below
             * the 32-bit request length). */
            nbd_st32(ext + 8 * (n - 1),
                     nbd_ld32(ext + 8 * (n - 1)) + (uint32_t)pnum);
        } else {
            if (n == max) {
                break;
            }
            nbd_st32(ext + 8 * n, (uint32_t)pnum);
            nbd_st32(ext + 8 * n + 4, flags);
            last_flags = flags;
            n++;
        }
        pos += (uint64_t)pnum;
    }
    nbd_st32(id, depth_ctx ? NBD_META_ID_DEPTH : NBD_META_ID_BASE);
    ret = nbd_send_chunk(c, req->handle, done, NBD_REPLY_TYPE_BLOCK_STATUS,
                         id, 4, ext, 8 * (size_t)n);
    free(ext);
    return ret;
}

static int coroutine_fn nbd_do_block_status(NBDClient *c, const NBDRequest *req)
{
    int ret = 0;

    if (c->meta_base) {
        ret = nbd_do_block_status_one(c, req, false,
                                      c->meta_depth ? 0 : NBD_REPLY_FLAG_DONE);
    }
    if (ret == 0 && c->meta_depth) {
        ret = nbd_do_block_status_one(c, req, true, NBD_REPLY_FLAG_DONE);
    }
    return ret;
}

static int coroutine_fn nbd_do_cache(NBDClient *c, const NBDRequest *req)
{
    uint64_t pos = req->offset, end = req->offset + req->len;
    size_t chunk = (size_t)MIN(req->len, NBD_SERVER_CACHE_CHUNK);
    uint8_t *buf = chunk ? qemu_try_malloc(chunk) : NULL;
    int ret = 0;

    if (chunk && !buf) {
        return nbd_send_error(c, req, NBD_ENOMEM);
    }
    /* Reading pulls the range into the host's caches. */
    while (pos < end && ret == 0) {
        size_t n = (size_t)MIN(end - pos, chunk);

        ret = blk_co_pread(c->exp->blk, (int64_t)pos, (int64_t)n, buf, 0);
        pos += n;
    }
    free(buf);
    if (ret < 0) {
        return nbd_send_error(c, req, nbd_errno_to_wire(ret));
    }
    return nbd_send_simple(c, req->handle, 0, NULL, 0);
}

/* Reply to a request without a payload in its answer. */
static int coroutine_fn nbd_finish(NBDClient *c, const NBDRequest *req, int ret)
{
    if (ret < 0) {
        return nbd_send_error(c, req, nbd_errno_to_wire(ret));
    }
    return nbd_send_simple(c, req->handle, 0, NULL, 0);
}

/* A request is done (or abandoned): give back its budget and memory,
 * and wake whoever waits for either. */
static void nbd_request_release(NBDServerRequest *r)
{
    NBDClient *c = r->client;

    free(r->data);
    c->in_flight--;
    c->in_flight_bytes -= r->charge;
    c->server->in_flight_bytes -= r->charge;
    if (r->charge) {
        qemu_co_queue_restart_all(&c->server->room);
    }
    free(r);
    qemu_co_queue_next(&c->room);
    if (c->in_flight == 0 && c->drain_co) {
        Coroutine *co = c->drain_co;

        c->drain_co = NULL;
        aio_co_wake(co);
    }
}

static void coroutine_fn nbd_request_co(void *opaque)
{
    NBDServerRequest *r = opaque;
    NBDClient *c = r->client;
    const NBDRequest *req = &r->req;
    BlockBackend *blk = c->exp->blk;
    bool fua = req->flags & NBD_CMD_FLAG_FUA;
    int ret;

    if (r->error) {
        nbd_send_error(c, req, r->error);
        goto out;
    }
    switch (req->type) {
    case NBD_CMD_READ:
        nbd_do_read(r);
        break;
    case NBD_CMD_WRITE:
        ret = blk_co_pwrite(blk, (int64_t)req->offset, req->len, r->data,
                            fua ? BDRV_REQ_FUA : 0);
        nbd_finish(c, req, ret);
        break;
    case NBD_CMD_FLUSH:
        nbd_finish(c, req, blk_co_flush(blk));
        break;
    case NBD_CMD_TRIM:
        ret = blk_co_pdiscard(blk, (int64_t)req->offset, req->len);
        if (ret == 0 && fua) {
            ret = blk_co_flush(blk);
        }
        nbd_finish(c, req, ret);
        break;
    case NBD_CMD_WRITE_ZEROES: {
        BdrvRequestFlags flags = 0;

        if (!(req->flags & NBD_CMD_FLAG_NO_HOLE)) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
        if (fua) {
            flags |= BDRV_REQ_FUA;
        }
        if (req->flags & NBD_CMD_FLAG_FAST_ZERO) {
            flags |= BDRV_REQ_NO_FALLBACK;
        }
        ret = blk_co_pwrite_zeroes(blk, (int64_t)req->offset, req->len, flags);
        nbd_finish(c, req, ret);
        break;
    }
    case NBD_CMD_CACHE:
        nbd_do_cache(c, req);
        break;
    case NBD_CMD_BLOCK_STATUS:
        nbd_do_block_status(c, req);
        break;
    default:
        /* nbd_check_request refused everything else. */
        abort();
    }

out:
    nbd_request_release(r);
}

/* Wait until a request of @bytes fits the connection's budget and the
 * server's.  A connection with nothing in flight may always start one
 * request; the server's budget only waits while someone holds part of
 * it, and every completion wakes the waiters, so nobody waits forever. */
static void coroutine_fn nbd_wait_for_room(NBDClient *c, uint64_t bytes)
{
    NBDServer *server = c->server;

    while (!c->quit) {
        if (c->in_flight > 0 &&
            (c->in_flight >= NBD_SERVER_MAX_REQUESTS ||
             c->in_flight_bytes + bytes > NBD_SERVER_MAX_BYTES)) {
            qemu_co_queue_wait(&c->room, NULL);
        } else if (bytes && server->in_flight_bytes > 0 &&
                   server->in_flight_bytes + bytes > NBD_SERVER_TOTAL_BYTES) {
            qemu_co_queue_wait(&server->room, NULL);
        } else {
            break;
        }
    }
}

/* Read and dispatch requests until the client disconnects or breaks the
 * protocol. */
static void coroutine_fn nbd_transmission(NBDClient *c)
{
    uint8_t hdr[NBD_REQUEST_SIZE];

    c->eflags = nbd_client_eflags(c, c->exp);
    if (c->meta_exp != c->exp) {
        /* Contexts chosen for another export do not apply. */
        c->meta_base = c->meta_depth = false;
    }
    while (!c->quit) {
        NBDServerRequest *r;
        NBDRequest req;
        bool fatal;
        uint32_t error;
        uint64_t charge;
        Coroutine *co;

        nbd_wait_for_room(c, 0);
        if (c->quit || cosocket_read_all_eof(c->sock, hdr, sizeof(hdr)) <= 0) {
            break;
        }
        if (nbd_decode_request(hdr, &req) < 0) {
            break;
        }
        if (req.type == NBD_CMD_DISC) {
            break;
        }
        error = nbd_check_request(c, &req, &fatal);
        if (fatal) {
            break;
        }
        charge = (!error && (req.type == NBD_CMD_READ ||
                             req.type == NBD_CMD_WRITE)) ? req.len : 0;
        nbd_wait_for_room(c, charge);
        if (c->quit) {
            break;
        }
        r = qemu_new0(NBDServerRequest, 1);
        r->client = c;
        r->req = req;
        r->error = error;
        /* Take the budget now: reading a payload yields, and other
         * readers must see it taken. */
        r->charge = charge;
        c->in_flight++;
        c->in_flight_bytes += charge;
        c->server->in_flight_bytes += charge;
        if (req.type == NBD_CMD_WRITE && req.len) {
            int ret;

            if (!error) {
                r->data = qemu_try_malloc(req.len);
                if (!r->data) {
                    r->error = NBD_ENOMEM;
                }
            }
            ret = r->data ? cosocket_read_all(c->sock, r->data, req.len)
                          : cosocket_skip(c->sock, req.len);
            if (ret < 0) {
                nbd_request_release(r);
                break;
            }
        }
        co = qemu_coroutine_create(nbd_request_co);
        aio_co_enter(c->server->ctx, co, r);
    }
}

/* The handshake took too long: a client that connects and says nothing
 * must not hold a connection slot for ever. */
static void nbd_handshake_timeout(void *opaque)
{
    NBDClient *c = opaque;

    c->quit = true;
    cosocket_shutdown(c->sock);
}

static void coroutine_fn nbd_client_co(void *opaque)
{
    NBDClient *c = opaque;
    NBDServer *server = c->server;
    QEMUTimer *timer = NULL;
    int ret;

    if (server->handshake_timeout_ns > 0) {
        timer = aio_timer_new(server->ctx, QEMU_CLOCK_REALTIME,
                              nbd_handshake_timeout, c);
        timer_mod(timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                         server->handshake_timeout_ns);
    }
    ret = nbd_negotiate(c);
    if (timer) {
        timer_free(timer);
    }
    if (ret > 0 && !c->quit) {
        nbd_transmission(c);
    }
    /* Finish what is in flight, then hang up. */
    while (c->in_flight > 0) {
        c->drain_co = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
    cosocket_shutdown(c->sock);
    QTAILQ_REMOVE(&server->clients, c, next);
    server->nclients--;
    cosocket_free(c->sock);
    free(c);
    if (server->closed) {
        server->closed(server, server->opaque);
    }
}

void nbd_server_add_client(NBDServer *server, int fd)
{
    NBDClient *c = qemu_new0(NBDClient, 1);
    Coroutine *co;

    c->server = server;
    c->sock = cosocket_new(fd, server->ctx);
    qemu_co_mutex_init(&c->send_lock);
    qemu_co_queue_init(&c->room);
    QTAILQ_INSERT_TAIL(&server->clients, c, next);
    server->nclients++;
    co = qemu_coroutine_create(nbd_client_co);
    aio_co_enter(server->ctx, co, c);
}

void nbd_server_shutdown(NBDServer *server)
{
    NBDClient *c, *tmp;

    /* Waking a waiter may run its client to the end, which frees it. */
    QTAILQ_FOREACH_SAFE(c, &server->clients, next, tmp) {
        c->quit = true;
        cosocket_shutdown(c->sock);
    }
    QTAILQ_FOREACH_SAFE(c, &server->clients, next, tmp) {
        qemu_co_queue_restart_all(&c->room);
    }
    qemu_co_queue_restart_all(&server->room);
}
