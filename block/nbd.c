/*
 * coblock — the nbd protocol driver: a remote image served over NBD
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Filenames:
 *   nbd://HOST[:PORT][/EXPORT]          (also nbd+tcp://)
 *   nbd+unix://[/EXPORT]?socket=PATH
 *   nbd:HOST:PORT[:exportname=EXPORT]   nbd:unix:PATH[:exportname=EXPORT]
 * Options: server.type=inet|unix, server.host, server.port, server.path,
 * export.
 *
 * One connection per node.  Opening connects and runs the handshake
 * (structured replies and base:allocation when the server has them).
 * Then a reader coroutine owns the receiving side of the socket: it reads
 * each reply, finds the request by its handle, puts a read's data straight
 * into the request's vector, and wakes the request's coroutine once the
 * reply is complete.  Requests themselves only send (under a CoMutex, so
 * messages never interleave) and wait; up to NBD_CLIENT_MAX_REQUESTS are
 * in flight at once.
 *
 * A server that goes away, or breaks the protocol, kills the connection:
 * every request in flight fails with -EIO, and so does every later one.
 * There is no reconnection.
 */
#include "util/osdep.h"
#include "util/checked.h"
#include "util/cutils.h"
#include "block/block_int.h"
#include "block/nbd.h"

#ifndef EPROTO
#define EPROTO 71
#endif

#define NBD_CLIENT_MAX_REQUESTS 16
#define NBD_HANDLE_SLOT_BITS    8

typedef struct NBDClientRequest {
    uint64_t handle;
    uint16_t type;
    Coroutine *co;
    bool waiting;               /* the coroutine yielded for the reply */
    bool done;
    int ret;
    /* reads */
    QEMUIOVector *qiov;
    uint64_t offset;
    uint32_t len;
    uint64_t received;          /* bytes covered by content chunks */
    /* block status */
    bool got_status;
    uint32_t ext_len;
    uint32_t ext_flags;
} NBDClientRequest;

typedef struct BDRVNBDState {
    CoSocket *sock;
    AioContext *ctx;
    NBDAddress addr;
    char *export;
    NBDExportInfo info;

    CoMutex send_lock;
    NBDClientRequest *slots[NBD_CLIENT_MAX_REQUESTS];
    unsigned in_flight;
    CoQueue free_slots;
    uint64_t next_handle;

    bool reader_running;
    bool dead;                  /* the connection is gone */
    bool server_shutdown;       /* the server said NBD_ESHUTDOWN */
} BDRVNBDState;

/* ---- filenames and options ---- */

/* Percent-decode [s, s + len); NULL on a bad escape or a NUL byte. */
static char *uri_decode(const char *s, size_t len)
{
    char *out = qemu_xmalloc(len + 1);
    size_t i, j = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        if (len - i < 3) {
            free(out);
            return NULL;
        }
        hi = qemu_hexval(s[i + 1]);
        lo = qemu_hexval(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    return out;
}

/* Characters a URI may carry as they are (RFC 3986 unreserved, reserved
 * and the escape character). */
static bool uri_chars_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch >= 0x7f || strchr("\"<>\\^`{|}", ch)) {
            return false;
        }
    }
    return true;
}

/* Parse an nbd:// / nbd+tcp:// / nbd+unix:// URI into @options. */
static bool nbd_parse_uri(const char *filename, QDict *options)
{
    const char *p, *auth, *auth_end, *path, *query, *end;
    bool is_unix;
    char *export = NULL;

    if (!uri_chars_ok(filename)) {
        return false;
    }
    if (!strncmp(filename, "nbd://", 6)) {
        is_unix = false;
        p = filename + 6;
    } else if (!strncmp(filename, "nbd+tcp://", 10)) {
        is_unix = false;
        p = filename + 10;
    } else if (!strncmp(filename, "nbd+unix://", 11)) {
        is_unix = true;
        p = filename + 11;
    } else {
        return false;
    }
    /* A fragment is not part of the address. */
    end = strchr(p, '#');
    if (!end) {
        end = p + strlen(p);
    }
    auth = p;
    auth_end = auth + strcspn(auth, "/?#");
    if (auth_end > end) {
        auth_end = end;
    }
    path = auth_end;
    query = memchr(path, '?', (size_t)(end - path));
    if (!query) {
        query = end;
    }
    /* userinfo@ is ignored. */
    {
        const char *at = memchr(auth, '@', (size_t)(auth_end - auth));
        if (at) {
            auth = at + 1;
        }
    }

    /* The export: the path without its leading '/'. */
    if (query > path) {
        const char *e = path;

        if (*e == '/') {
            e++;
        }
        if (e < query) {
            export = uri_decode(e, (size_t)(query - e));
            if (!export) {
                return false;
            }
        }
    }

    if (is_unix) {
        char *sock;

        /* No host, and exactly one query parameter: socket=PATH. */
        if (auth != auth_end || query == end || strncmp(query, "?socket=", 8) ||
            memchr(query + 8, '&', (size_t)(end - query - 8)) ||
            memchr(query + 8, ';', (size_t)(end - query - 8))) {
            free(export);
            return false;
        }
        sock = uri_decode(query + 8, (size_t)(end - query - 8));
        if (!sock) {
            free(export);
            return false;
        }
        qdict_put_str(options, "server.type", "unix");
        qdict_put_str(options, "server.path", sock);
        free(sock);
    } else {
        const char *host_end;
        bool have_port = false;
        char *host;

        if (query != end || auth == auth_end) {
            free(export);
            return false;
        }
        if (*auth == '[') {
            const char *rb = memchr(auth, ']', (size_t)(auth_end - auth));

            if (!rb) {
                free(export);
                return false;
            }
            host = qemu_xstrndup(auth + 1, (size_t)(rb - auth - 1));
            host_end = rb + 1;
        } else {
            host_end = memchr(auth, ':', (size_t)(auth_end - auth));
            if (!host_end) {
                host_end = auth_end;
            }
            host = uri_decode(auth, (size_t)(host_end - auth));
        }
        if (!host || !host[0]) {
            free(host);
            free(export);
            return false;
        }
        if (host_end < auth_end) {
            uint64_t num;
            char *pstr;

            if (*host_end != ':' || host_end + 1 == auth_end) {
                free(host);
                free(export);
                return false;
            }
            pstr = qemu_xstrndup(host_end + 1, (size_t)(auth_end - host_end - 1));
            if (qemu_strtou64(pstr, NULL, 10, &num) < 0 || num > 65535) {
                free(pstr);
                free(host);
                free(export);
                return false;
            }
            if (num) {
                have_port = true;
                qdict_put_str(options, "server.port", pstr);
            }
            free(pstr);
        }
        qdict_put_str(options, "server.type", "inet");
        qdict_put_str(options, "server.host", host);
        if (!have_port) {
            qdict_put_str(options, "server.port", "10809");
        }
        free(host);
    }
    if (export) {
        qdict_put_str(options, "export", export);
        free(export);
    }
    return true;
}

/* The old "nbd:HOST:PORT[:exportname=NAME]" and
 * "nbd:unix:PATH[:exportname=NAME]" forms. */
static void nbd_parse_legacy(const char *filename, QDict *options, Error **errp)
{
    const char *addr = filename + 4;
    const char *ename = strstr(addr, ":exportname=");
    char *a;

    a = ename ? qemu_xstrndup(addr, (size_t)(ename - addr)) : qemu_xstrdup(addr);
    if (!a[0]) {
        error_setg(errp, "NBD server address missing");
        free(a);
        return;
    }
    if (!strncmp(a, "unix:", 5)) {
        qdict_put_str(options, "server.type", "unix");
        qdict_put_str(options, "server.path", a + 5);
    } else {
        char *colon = strrchr(a, ':');
        char *host;

        if (!colon || colon == a || !colon[1]) {
            error_setg(errp, "error parsing address '%s'", a);
            free(a);
            return;
        }
        host = qemu_xstrndup(a, (size_t)(colon - a));
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
            char *bare = qemu_xstrndup(host + 1, strlen(host) - 2);
            free(host);
            host = bare;
        }
        qdict_put_str(options, "server.type", "inet");
        qdict_put_str(options, "server.host", host);
        qdict_put_str(options, "server.port", colon + 1);
        free(host);
    }
    if (ename) {
        qdict_put_str(options, "export", ename + strlen(":exportname="));
    }
    free(a);
}

static void nbd_parse_filename(const char *filename, QDict *options,
                               Error **errp)
{
    if (qdict_haskey(options, "server.type") || qdict_haskey(options, "server.host") ||
        qdict_haskey(options, "server.path") || qdict_haskey(options, "export")) {
        error_setg(errp, "No extra parameters allowed when using a URI or "
                   "a legacy NBD filename");
        return;
    }
    if (strstr(filename, "://")) {
        if (!nbd_parse_uri(filename, options)) {
            error_setg(errp, "No valid URL specified");
        }
        return;
    }
    if (!strncmp(filename, "nbd:", 4)) {
        nbd_parse_legacy(filename, options, errp);
        return;
    }
    error_setg(errp, "No valid URL specified");
}

/* Read the server.* and export options into @s. */
static int nbd_take_options(BDRVNBDState *s, QDict *options, Error **errp)
{
    Error *local_err = NULL;
    char *type, *filename;

    filename = bdrv_opt_take_str(options, "filename");
    if (filename) {
        nbd_parse_filename(filename, options, &local_err);
        free(filename);
        if (local_err) {
            error_propagate(errp, local_err);
            return -EINVAL;
        }
    }
    type = bdrv_opt_take_str(options, "server.type");
    s->addr.host = bdrv_opt_take_str(options, "server.host");
    s->addr.port = bdrv_opt_take_str(options, "server.port");
    s->addr.path = bdrv_opt_take_str(options, "server.path");
    s->export = bdrv_opt_take_str(options, "export");
    if (!s->export) {
        s->export = qemu_xstrdup("");
    }
    if (!type) {
        type = qemu_xstrdup(s->addr.path ? "unix" : "inet");
        if (!s->addr.path && !s->addr.host) {
            free(type);
            error_setg(errp, "NBD server address missing");
            return -EINVAL;
        }
    }
    if (!strcmp(type, "inet")) {
        s->addr.type = NBD_ADDRESS_INET;
        if (!s->addr.host) {
            error_setg(&local_err, "Parameter 'server.host' is missing");
        } else if (s->addr.path) {
            error_setg(&local_err, "Parameter 'server.path' is unexpected");
        }
    } else if (!strcmp(type, "unix")) {
        s->addr.type = NBD_ADDRESS_UNIX;
        if (!s->addr.path) {
            error_setg(&local_err, "Parameter 'server.path' is missing");
        } else if (s->addr.host || s->addr.port) {
            error_setg(&local_err, "Parameter '%s' is unexpected",
                       s->addr.host ? "server.host" : "server.port");
        }
    } else {
        error_setg(&local_err, "Parameter 'server.type' does not accept value '%s'",
                   type);
    }
    free(type);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    if (s->addr.type == NBD_ADDRESS_INET && !s->addr.port) {
        s->addr.port = qemu_xstrdup("10809");
    }
    return 0;
}

/* The name QEMU shows for the same connection. */
static void nbd_set_display_name(BlockDriverState *bs, BDRVNBDState *s)
{
    const char *sep = s->export[0] ? "/" : "";

    if (s->addr.type == NBD_ADDRESS_UNIX) {
        snprintf(bs->filename, sizeof(bs->filename), "nbd+unix://%s%s?socket=%s",
                 sep, s->export, s->addr.path);
    } else {
        bool v6 = strchr(s->addr.host, ':') != NULL;

        snprintf(bs->filename, sizeof(bs->filename), "nbd://%s%s%s:%s%s%s",
                 v6 ? "[" : "", s->addr.host, v6 ? "]" : "", s->addr.port,
                 sep, s->export);
    }
}

/* ---- the reader ---- */

static void nbd_complete(NBDClientRequest *r, int ret)
{
    if (r->done) {
        return;
    }
    if (ret < 0 && r->ret == 0) {
        r->ret = ret;
    }
    r->done = true;
    if (r->waiting) {
        aio_co_wake(r->co);
    }
}

/* -errno for a wire error in a reply.  A server shutting down is a
 * connection going away: the request fails with -EIO and the reader
 * hangs up politely after this reply. */
static int nbd_reply_error(BDRVNBDState *s, uint32_t err)
{
    if (err == NBD_ESHUTDOWN) {
        s->server_shutdown = true;
        return -EIO;
    }
    return err ? -nbd_wire_to_errno(err) : -EIO;
}

/* The request a reply names, or NULL for a handle we never sent. */
static NBDClientRequest *nbd_find_request(BDRVNBDState *s, uint64_t handle)
{
    unsigned slot = (unsigned)(handle & ((1u << NBD_HANDLE_SLOT_BITS) - 1));
    NBDClientRequest *r;

    if (slot >= NBD_CLIENT_MAX_REQUESTS) {
        return NULL;
    }
    r = s->slots[slot];
    return (r && r->handle == handle && !r->done) ? r : NULL;
}

/* Is [off, off + len) inside the read request? */
static bool nbd_chunk_in_request(NBDClientRequest *r, uint64_t off, uint64_t len)
{
    return off >= r->offset && range_within(off - r->offset, len, r->len);
}

/* One structured chunk whose 20-byte header is in @hdr.  0 to go on,
 * -errno to drop the connection. */
static int coroutine_fn nbd_read_chunk(BDRVNBDState *s, const uint8_t *hdr)
{
    uint16_t flags = nbd_ld16(hdr + 4);
    uint16_t type = nbd_ld16(hdr + 6);
    uint32_t length = nbd_ld32(hdr + 16);
    NBDClientRequest *r = nbd_find_request(s, nbd_ld64(hdr + 8));
    uint8_t buf[16];
    int ret;

    if (!r || !s->info.structured) {
        return -EPROTO;
    }
    switch (type) {
    case NBD_REPLY_TYPE_NONE:
        if (length != 0 || !(flags & NBD_REPLY_FLAG_DONE)) {
            return -EPROTO;
        }
        break;
    case NBD_REPLY_TYPE_OFFSET_DATA: {
        uint64_t off;

        if (r->type != NBD_CMD_READ || length < 9) {
            return -EPROTO;
        }
        ret = cosocket_read_all(s->sock, buf, 8);
        if (ret < 0) {
            return ret;
        }
        off = nbd_ld64(buf);
        length -= 8;
        if (!nbd_chunk_in_request(r, off, length)) {
            return -EPROTO;
        }
        ret = cosocket_read_qiov(s->sock, r->qiov, (size_t)(off - r->offset),
                                 length);
        if (ret < 0) {
            return ret;
        }
        r->received += length;
        break;
    }
    case NBD_REPLY_TYPE_OFFSET_HOLE: {
        uint64_t off;
        uint32_t hole;

        if (r->type != NBD_CMD_READ || length != 12) {
            return -EPROTO;
        }
        ret = cosocket_read_all(s->sock, buf, 12);
        if (ret < 0) {
            return ret;
        }
        off = nbd_ld64(buf);
        hole = nbd_ld32(buf + 8);
        if (hole == 0 || !nbd_chunk_in_request(r, off, hole)) {
            return -EPROTO;
        }
        qemu_iovec_memset(r->qiov, (size_t)(off - r->offset), 0, hole);
        r->received += hole;
        break;
    }
    case NBD_REPLY_TYPE_BLOCK_STATUS: {
        uint32_t id;

        if (r->type != NBD_CMD_BLOCK_STATUS || length < 12 || (length - 4) % 8) {
            return -EPROTO;
        }
        ret = cosocket_read_all(s->sock, buf, 12);
        if (ret < 0) {
            return ret;
        }
        id = nbd_ld32(buf);
        if (id == s->info.base_allocation_id && !r->got_status) {
            r->got_status = true;
            r->ext_len = nbd_ld32(buf + 4);
            r->ext_flags = nbd_ld32(buf + 8);
            if (r->ext_len == 0) {
                return -EPROTO;
            }
        }
        /* Only the first extent is wanted (we ask with REQ_ONE). */
        ret = cosocket_skip(s->sock, length - 12);
        if (ret < 0) {
            return ret;
        }
        break;
    }
    default:
        if (NBD_REPLY_TYPE_IS_ERR(type)) {
            uint32_t err;
            uint16_t msglen;

            if (length < 6) {
                return -EPROTO;
            }
            ret = cosocket_read_all(s->sock, buf, 6);
            if (ret < 0) {
                return ret;
            }
            err = nbd_ld32(buf);
            msglen = nbd_ld16(buf + 4);
            if (msglen > length - 6) {
                return -EPROTO;
            }
            /* The message and any trailing fields are not needed. */
            ret = cosocket_skip(s->sock, length - 6);
            if (ret < 0) {
                return ret;
            }
            if (r->ret == 0) {
                r->ret = nbd_reply_error(s, err);
            }
            break;
        }
        /* An unknown chunk type that is not an error: hang up. */
        return -EPROTO;
    }
    if (flags & NBD_REPLY_FLAG_DONE) {
        int result = r->ret;

        if (result == 0 && r->type == NBD_CMD_READ && r->received != r->len) {
            /* Success, but not every byte came: a broken server. */
            return -EPROTO;
        }
        if (result == 0 && r->type == NBD_CMD_BLOCK_STATUS && !r->got_status) {
            return -EPROTO;
        }
        nbd_complete(r, result);
    }
    return 0;
}

static int coroutine_fn nbd_read_simple(BDRVNBDState *s, const uint8_t *hdr)
{
    uint32_t err = nbd_ld32(hdr + 4);
    NBDClientRequest *r = nbd_find_request(s, nbd_ld64(hdr + 8));
    int ret;

    if (!r) {
        return -EPROTO;
    }
    if (r->type == NBD_CMD_READ) {
        if (s->info.structured) {
            /* Reads must be answered in chunks once negotiated. */
            return -EPROTO;
        }
        if (!err) {
            ret = cosocket_read_qiov(s->sock, r->qiov, 0, r->len);
            if (ret < 0) {
                return ret;
            }
        }
    }
    if (r->type == NBD_CMD_BLOCK_STATUS && !err) {
        return -EPROTO;
    }
    nbd_complete(r, err ? nbd_reply_error(s, err) : 0);
    return 0;
}

/* Kill the connection: all requests fail from now on. */
static void nbd_kill(BDRVNBDState *s)
{
    unsigned i;

    s->dead = true;
    cosocket_shutdown(s->sock);
    for (i = 0; i < NBD_CLIENT_MAX_REQUESTS; i++) {
        if (s->slots[i]) {
            nbd_complete(s->slots[i], -EIO);
        }
    }
    qemu_co_queue_restart_all(&s->free_slots);
}

static void coroutine_fn nbd_send_disc(BDRVNBDState *s)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NBDRequest req = { .type = NBD_CMD_DISC };

    nbd_encode_request(hdr, &req);
    qemu_co_mutex_lock(&s->send_lock);
    if (!s->dead) {
        cosocket_write_all(s->sock, hdr, sizeof(hdr));
    }
    qemu_co_mutex_unlock(&s->send_lock);
}

static void coroutine_fn nbd_reader_co(void *opaque)
{
    BDRVNBDState *s = opaque;
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];
    int ret = 0;

    while (!s->dead) {
        uint32_t magic;

        ret = cosocket_read_all(s->sock, hdr, 4);
        if (ret < 0) {
            break;
        }
        magic = nbd_ld32(hdr);
        if (magic == NBD_SIMPLE_REPLY_MAGIC) {
            ret = cosocket_read_all(s->sock, hdr + 4, NBD_SIMPLE_REPLY_SIZE - 4);
            if (ret == 0) {
                ret = nbd_read_simple(s, hdr);
            }
        } else if (magic == NBD_STRUCTURED_REPLY_MAGIC) {
            ret = cosocket_read_all(s->sock, hdr + 4, NBD_CHUNK_HEADER_SIZE - 4);
            if (ret == 0) {
                ret = nbd_read_chunk(s, hdr);
            }
        } else {
            ret = -EPROTO;
        }
        if (ret < 0) {
            break;
        }
        if (s->server_shutdown) {
            /* The specification wants a soft disconnect. */
            nbd_send_disc(s);
            break;
        }
    }
    nbd_kill(s);
    s->reader_running = false;
}

/* ---- requests ---- */

static int coroutine_fn nbd_co_request(BlockDriverState *bs, NBDClientRequest *r,
                                       uint16_t flags, uint64_t offset,
                                       uint32_t len, QEMUIOVector *write_qiov)
{
    BDRVNBDState *s = bs->opaque;
    uint8_t hdr[NBD_REQUEST_SIZE];
    struct iovec small[8], *iov = small;
    NBDRequest req;
    unsigned slot;
    int niov = 1, ret;

    while (!s->dead && s->in_flight >= NBD_CLIENT_MAX_REQUESTS) {
        qemu_co_queue_wait(&s->free_slots, NULL);
    }
    if (s->dead) {
        return -EIO;
    }
    for (slot = 0; s->slots[slot]; slot++) {
    }
    s->slots[slot] = r;
    s->in_flight++;
    s->next_handle++;
    r->handle = (s->next_handle << NBD_HANDLE_SLOT_BITS) | slot;
    r->co = qemu_coroutine_self();

    req.flags = flags;
    req.type = r->type;
    req.handle = r->handle;
    req.offset = offset;
    req.len = len;
    nbd_encode_request(hdr, &req);
    if (write_qiov) {
        niov += write_qiov->niov;
        if (niov > (int)ARRAY_SIZE(small)) {
            iov = qemu_new(struct iovec, niov);
        }
        memcpy(iov + 1, write_qiov->iov, sizeof(struct iovec) * write_qiov->niov);
    }
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);

    qemu_co_mutex_lock(&s->send_lock);
    ret = s->dead ? -EIO : cosocket_writev_all(s->sock, iov, niov);
    qemu_co_mutex_unlock(&s->send_lock);
    if (iov != small) {
        free(iov);
    }
    if (ret < 0 && !s->dead) {
        nbd_kill(s);
    }

    while (!r->done) {
        r->waiting = true;
        qemu_coroutine_yield();
        r->waiting = false;
    }
    s->slots[slot] = NULL;
    s->in_flight--;
    qemu_co_queue_next(&s->free_slots);
    return r->ret;
}

static int coroutine_fn nbd_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    NBDClientRequest r = {
        .type = NBD_CMD_READ, .qiov = qiov, .offset = (uint64_t)offset,
        .len = (uint32_t)bytes,
    };

    if (bytes == 0) {
        return 0;
    }
    assert(bytes <= NBD_MAX_BUFFER_SIZE);
    return nbd_co_request(bs, &r, 0, (uint64_t)offset, (uint32_t)bytes, NULL);
}

static int coroutine_fn nbd_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDClientRequest r = { .type = NBD_CMD_WRITE };
    uint16_t f = 0;

    if (bytes == 0) {
        return 0;
    }
    assert(bytes <= NBD_MAX_BUFFER_SIZE);
    if ((flags & BDRV_REQ_FUA) && (s->info.flags & NBD_FLAG_SEND_FUA)) {
        f |= NBD_CMD_FLAG_FUA;
    }
    return nbd_co_request(bs, &r, f, (uint64_t)offset, (uint32_t)bytes, qiov);
}

static int coroutine_fn nbd_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                             int64_t bytes, BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDClientRequest r = { .type = NBD_CMD_WRITE_ZEROES };
    uint16_t f = 0;

    if (!(s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES)) {
        return -ENOTSUP;
    }
    if ((flags & BDRV_REQ_FUA) && (s->info.flags & NBD_FLAG_SEND_FUA)) {
        f |= NBD_CMD_FLAG_FUA;
    }
    if (!(flags & BDRV_REQ_MAY_UNMAP)) {
        f |= NBD_CMD_FLAG_NO_HOLE;
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        if (!(s->info.flags & NBD_FLAG_SEND_FAST_ZERO)) {
            return -ENOTSUP;
        }
        f |= NBD_CMD_FLAG_FAST_ZERO;
    }
    assert(bytes <= UINT32_MAX);
    return nbd_co_request(bs, &r, f, (uint64_t)offset, (uint32_t)bytes, NULL);
}

static int coroutine_fn nbd_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVNBDState *s = bs->opaque;
    NBDClientRequest r = { .type = NBD_CMD_TRIM };

    if (!(s->info.flags & NBD_FLAG_SEND_TRIM) || bytes == 0) {
        return -ENOTSUP;
    }
    assert(bytes <= UINT32_MAX);
    return nbd_co_request(bs, &r, 0, (uint64_t)offset, (uint32_t)bytes, NULL);
}

static int coroutine_fn nbd_co_flush(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    NBDClientRequest r = { .type = NBD_CMD_FLUSH };

    if (!(s->info.flags & NBD_FLAG_SEND_FLUSH)) {
        return 0;
    }
    return nbd_co_request(bs, &r, 0, 0, 0, NULL);
}

static int coroutine_fn nbd_co_block_status(BlockDriverState *bs, bool want_zero,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t align = bs->bl.request_alignment;
    NBDClientRequest r = { .type = NBD_CMD_BLOCK_STATUS };
    uint64_t len;
    int ret;

    *map = offset;
    *file = bs;
    if (!s->info.base_allocation) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    len = MIN((uint64_t)bytes, QEMU_ALIGN_DOWN((uint64_t)UINT32_MAX, align));
    if (s->info.max_block != UINT32_MAX) {
        len = MIN(len, MAX(s->info.max_block, align));
    }
    ret = nbd_co_request(bs, &r, NBD_CMD_FLAG_REQ_ONE, (uint64_t)offset,
                         (uint32_t)len, NULL);
    if (ret < 0) {
        return ret;
    }
    /* One extent (REQ_ONE); keep it inside the request and aligned. */
    *pnum = MIN((uint64_t)r.ext_len, len);
    if (*pnum < bytes && *pnum >= align) {
        *pnum = QEMU_ALIGN_DOWN(*pnum, align);
    } else if (*pnum < bytes) {
        /* A misaligned sliver: say nothing precise about it. */
        *pnum = MIN(bytes, (int64_t)align);
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    return ((r.ext_flags & NBD_STATE_HOLE) ? 0 : BDRV_BLOCK_DATA) |
           ((r.ext_flags & NBD_STATE_ZERO) ? BDRV_BLOCK_ZERO : 0) |
           BDRV_BLOCK_OFFSET_VALID;
}

/* ---- open and close ---- */

typedef struct NBDHandshakeCo {
    BDRVNBDState *s;
    Error **errp;
    int ret;
    bool done;
} NBDHandshakeCo;

static void coroutine_fn nbd_handshake_entry(void *opaque)
{
    NBDHandshakeCo *h = opaque;

    h->ret = nbd_client_handshake(h->s->sock, &h->s->info, h->errp);
    h->done = true;
}

static void nbd_free_state(BDRVNBDState *s)
{
    cosocket_free(s->sock);
    s->sock = NULL;
    nbd_address_clear(&s->addr);
    free(s->export);
    s->export = NULL;
}

static int nbd_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    NBDHandshakeCo h = { .s = s };
    Error *local_err = NULL;
    int fd, ret;

    s->ctx = bdrv_get_aio_context(bs);
    qemu_co_mutex_init(&s->send_lock);
    qemu_co_queue_init(&s->free_slots);
    ret = nbd_take_options(s, options, errp);
    if (ret < 0) {
        nbd_free_state(s);
        return ret;
    }
    fd = nbd_socket_connect(&s->addr, errp);
    if (fd < 0) {
        nbd_free_state(s);
        return -EIO;
    }
    s->sock = cosocket_new(fd, s->ctx);
    s->info.name = s->export;
    s->info.want_structured = true;
    s->info.want_base_allocation = true;
    h.errp = &local_err;
    bdrv_run_co(s->ctx, nbd_handshake_entry, &h, &h.done);
    if (h.ret < 0) {
        error_propagate(errp, local_err);
        nbd_free_state(s);
        return h.ret;
    }
    if (s->info.size > INT64_MAX) {
        error_setg(errp, "Export size %" PRIu64 " is too large", s->info.size);
        nbd_free_state(s);
        return -EFBIG;
    }
    if ((flags & BDRV_O_RDWR) && (s->info.flags & NBD_FLAG_READ_ONLY)) {
        error_setg_errno(errp, EACCES, "Could not open image");
        nbd_free_state(s);
        return -EACCES;
    }
    if (!(s->info.flags & NBD_FLAG_SEND_FUA)) {
        bs->supported_write_flags &= ~BDRV_REQ_FUA;
        bs->supported_zero_flags &= ~BDRV_REQ_FUA;
    }
    if (!(s->info.flags & NBD_FLAG_SEND_FAST_ZERO)) {
        bs->supported_zero_flags &= ~BDRV_REQ_NO_FALLBACK;
    }
    nbd_set_display_name(bs, s);

    /* From now on the reader owns the receiving side. */
    s->reader_running = true;
    aio_co_enter(s->ctx, qemu_coroutine_create(nbd_reader_co), s);
    return 0;
}

typedef struct NBDDiscCo {
    BDRVNBDState *s;
    bool done;
} NBDDiscCo;

static void coroutine_fn nbd_disc_entry(void *opaque)
{
    NBDDiscCo *d = opaque;

    nbd_send_disc(d->s);
    d->done = true;
}

static void nbd_close(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    NBDDiscCo d = { .s = s };

    /* The generic layer drained us: nothing is in flight.  Say goodbye,
     * then stop the reader and wait for it to go. */
    bdrv_run_co(s->ctx, nbd_disc_entry, &d, &d.done);
    s->dead = true;
    cosocket_shutdown(s->sock);
    while (s->reader_running) {
        aio_poll(s->ctx, true);
    }
    nbd_free_state(s);
}

static int64_t nbd_getlength(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    return (int64_t)s->info.size;
}

static int64_t nbd_get_allocated_file_size(BlockDriverState *bs)
{
    return -ENOTSUP;
}

static void nbd_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t min = s->info.min_block ? s->info.min_block : 1;
    uint32_t max = s->info.max_block;
    int64_t max_transfer, max_zero;

    if (!s->sock) {
        return;     /* before open */
    }
    max_transfer = MIN((int64_t)NBD_MAX_BUFFER_SIZE, (int64_t)max);
    max_transfer = QEMU_ALIGN_DOWN(max_transfer, min);
    /* Zero writes obey the maximum block size too; trims need not. */
    max_zero = max == UINT32_MAX ? QEMU_ALIGN_DOWN((int64_t)UINT32_MAX, min)
                                 : QEMU_ALIGN_DOWN((int64_t)max, min);
    bs->bl.request_alignment = min;
    bs->bl.max_transfer = max_transfer;
    bs->bl.opt_transfer = MAX(s->info.opt_block, min);
    bs->bl.max_pwrite_zeroes = max_zero;
    bs->bl.max_pdiscard = QEMU_ALIGN_DOWN((int64_t)UINT32_MAX, min);
}

/* ---- creation ---- */

/*
 * An NBD export cannot be created, but qemu-img create and convert write
 * to existing exports as QEMU's do: "creating" checks that the export can
 * be opened for writing and is large enough, and zeroes its first sector
 * so that old contents cannot be probed as another format.  The messages
 * are QEMU's.
 */
static int coroutine_fn nbd_create_write_zero_sector(BDRVNBDState *s,
                                                     uint32_t len, Error **errp)
{
    uint8_t hdr[NBD_REQUEST_SIZE], zero[BDRV_SECTOR_SIZE], reply[NBD_SIMPLE_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = zero, .iov_len = len },
    };
    NBDRequest req = { .type = NBD_CMD_WRITE, .handle = 1, .len = len };
    int ret;

    memset(zero, 0, sizeof(zero));
    nbd_encode_request(hdr, &req);
    ret = cosocket_writev_all(s->sock, iov, 2);
    if (ret == 0) {
        /* No structured replies were asked for: a simple reply. */
        ret = cosocket_read_all(s->sock, reply, sizeof(reply));
    }
    if (ret == 0 && (nbd_ld32(reply) != NBD_SIMPLE_REPLY_MAGIC ||
                     nbd_ld64(reply + 8) != 1)) {
        ret = -EPROTO;
    }
    if (ret == 0 && nbd_ld32(reply + 4)) {
        ret = -nbd_wire_to_errno(nbd_ld32(reply + 4));
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not zero the first sector");
        return ret;
    }
    req.type = NBD_CMD_DISC;
    req.len = 0;
    nbd_encode_request(hdr, &req);
    cosocket_write_all(s->sock, hdr, sizeof(hdr));
    return 0;
}

static int coroutine_fn nbd_co_create(BlockDriver *drv, const char *filename,
                                      QemuOpts *opts, Error **errp)
{
    uint64_t size = qemu_opt_get_size(opts, "size", 0);
    const char *prealloc = qemu_opt_get(opts, "preallocation");
    BDRVNBDState s;
    QDict *options;
    Error *local_err = NULL;
    int fd, ret;

    if (prealloc && strcmp(prealloc, "off")) {
        error_setg(errp, "Unsupported preallocation mode '%s'", prealloc);
        return -ENOTSUP;
    }
    memset(&s, 0, sizeof(s));
    options = qdict_new();
    qdict_put_str(options, "filename", filename);
    ret = nbd_take_options(&s, options, &local_err);
    qdict_unref(options);
    if (ret == 0) {
        fd = nbd_socket_connect(&s.addr, &local_err);
        if (fd < 0) {
            ret = -EIO;
        } else {
            s.sock = cosocket_new(fd, qemu_get_current_aio_context());
            s.info.name = s.export;
            ret = nbd_client_handshake(s.sock, &s.info, &local_err);
        }
    }
    if (ret == 0 && (s.info.flags & NBD_FLAG_READ_ONLY)) {
        error_setg_errno(&local_err, EACCES, "Could not open image");
        ret = -EACCES;
    }
    if (ret < 0) {
        error_propagate(errp, local_err);
        error_prepend(errp, "Protocol driver 'nbd' does not support image "
                      "creation, and opening the image failed: ");
        nbd_free_state(&s);
        return ret;
    }
    if (size > s.info.size) {
        error_setg(errp, "Cannot grow NBD nodes");
        nbd_free_state(&s);
        return -ENOTSUP;
    }
    ret = 0;
    if (size > 0) {
        ret = nbd_create_write_zero_sector(&s, (uint32_t)MIN(size, BDRV_SECTOR_SIZE),
                                           errp);
    }
    nbd_free_state(&s);
    return ret;
}

static const QemuOptsList nbd_create_opts = {
    .name = "nbd-create-opts",
    .desc = {
        { "size", QEMU_OPT_SIZE, "Virtual disk size", NULL },
        { "preallocation", QEMU_OPT_STRING,
          "Preallocation mode (allowed values: off)", NULL },
        { NULL, 0, NULL, NULL },
    },
};

#define NBD_DRIVER_BODY                                                     \
    .struct_size = sizeof(BlockDriver),                                     \
    .api_version = BLOCK_DRIVER_API_VERSION,                                \
    .instance_size = sizeof(BDRVNBDState),                                  \
    .parse_filename = nbd_parse_filename,                                   \
    .open = nbd_open,                                                       \
    .close = nbd_close,                                                     \
    .create = nbd_co_create,                                                \
    .create_opts = &nbd_create_opts,                                        \
    .refresh_limits = nbd_refresh_limits,                                   \
    .getlength = nbd_getlength,                                             \
    .get_allocated_file_size = nbd_get_allocated_file_size,                 \
    .preadv = nbd_co_preadv,                                                \
    .pwritev = nbd_co_pwritev,                                              \
    .pwrite_zeroes = nbd_co_pwrite_zeroes,                                  \
    .pdiscard = nbd_co_pdiscard,                                            \
    .flush = nbd_co_flush,                                                  \
    .block_status = nbd_co_block_status,                                    \
    .supported_write_flags = BDRV_REQ_FUA,                                  \
    .supported_zero_flags = BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP |             \
                            BDRV_REQ_NO_FALLBACK

/* One driver per URI scheme (the registry matches one prefix each). */
const BlockDriver bdrv_nbd = {
    .format_name = "nbd",
    .protocol_name = "nbd",
    NBD_DRIVER_BODY,
};

const BlockDriver bdrv_nbd_tcp = {
    .format_name = "nbd+tcp",
    .protocol_name = "nbd+tcp",
    NBD_DRIVER_BODY,
};

const BlockDriver bdrv_nbd_unix = {
    .format_name = "nbd+unix",
    .protocol_name = "nbd+unix",
    NBD_DRIVER_BODY,
};
