/*
 * coblock — the NBD protocol: wire format, coroutine sockets, server and
 * client negotiation
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Facts about the protocol come from the NBD specification (the NBD
 * project's doc/proto.md); everything on the wire is big-endian.  The
 * pieces:
 *
 *   - constants and encoders/decoders for the fixed-size messages
 *     (nbd/protocol.c): pure functions on byte buffers, no I/O, so that the
 *     parsers can be unit-tested and fuzzed on their own;
 *   - CoSocket (nbd/cosocket.c): a non-blocking socket read and written
 *     from coroutines, which yield while the socket would block and are
 *     woken by the AioContext's fd handlers;
 *   - the server (nbd/server.c): exports over BlockBackends, one coroutine
 *     per connection for the handshake and the request stream, one per
 *     request for the work;
 *   - the client handshake (nbd/client.c), used by the nbd block driver
 *     (block/nbd.c).
 *
 * TLS is not implemented: the server answers NBD_OPT_STARTTLS with
 * NBD_REP_ERR_POLICY and the client never asks for it.
 */
#ifndef BLOCK_NBD_H
#define BLOCK_NBD_H

#include "util/osdep.h"
#include <coblock/aio.h>
#include <coblock/block.h>
#include <coblock/iov.h>

/* ---- big-endian loads and stores ---- */

static inline void nbd_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void nbd_st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void nbd_st64(uint8_t *p, uint64_t v)
{
    nbd_st32(p, (uint32_t)(v >> 32));
    nbd_st32(p + 4, (uint32_t)v);
}

static inline uint16_t nbd_ld16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t nbd_ld32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t nbd_ld64(const uint8_t *p)
{
    return ((uint64_t)nbd_ld32(p) << 32) | nbd_ld32(p + 4);
}

/* ---- protocol constants ---- */

#define NBD_DEFAULT_PORT            10809

#define NBD_INIT_MAGIC              UINT64_C(0x4e42444d41474943) /* NBDMAGIC */
#define NBD_OPTS_MAGIC              UINT64_C(0x49484156454f5054) /* IHAVEOPT */
#define NBD_CLISERV_MAGIC           UINT64_C(0x0000420281861253) /* oldstyle */
#define NBD_REP_MAGIC               UINT64_C(0x0003e889045565a9)
#define NBD_REQUEST_MAGIC           UINT32_C(0x25609513)
#define NBD_SIMPLE_REPLY_MAGIC      UINT32_C(0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC  UINT32_C(0x668e33ef)

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE     (1 << 0)
#define NBD_FLAG_NO_ZEROES          (1 << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE   (1 << 0)
#define NBD_FLAG_C_NO_ZEROES        (1 << 1)

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS          (1 << 0)
#define NBD_FLAG_READ_ONLY          (1 << 1)
#define NBD_FLAG_SEND_FLUSH         (1 << 2)
#define NBD_FLAG_SEND_FUA           (1 << 3)
#define NBD_FLAG_ROTATIONAL         (1 << 4)
#define NBD_FLAG_SEND_TRIM          (1 << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1 << 6)
#define NBD_FLAG_SEND_DF            (1 << 7)
#define NBD_FLAG_CAN_MULTI_CONN     (1 << 8)
#define NBD_FLAG_SEND_RESIZE        (1 << 9)
#define NBD_FLAG_SEND_CACHE         (1 << 10)
#define NBD_FLAG_SEND_FAST_ZERO     (1 << 11)

/* Options. */
#define NBD_OPT_EXPORT_NAME         1
#define NBD_OPT_ABORT               2
#define NBD_OPT_LIST                3
#define NBD_OPT_STARTTLS            5
#define NBD_OPT_INFO                6
#define NBD_OPT_GO                  7
#define NBD_OPT_STRUCTURED_REPLY    8
#define NBD_OPT_LIST_META_CONTEXT   9
#define NBD_OPT_SET_META_CONTEXT    10

/* Option replies; errors have bit 31 set. */
#define NBD_REP_ACK                 1
#define NBD_REP_SERVER              2
#define NBD_REP_INFO                3
#define NBD_REP_META_CONTEXT        4
#define NBD_REP_FLAG_ERROR          (UINT32_C(1) << 31)
#define NBD_REP_ERR_UNSUP           (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY          (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID         (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM        (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD        (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN         (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN        (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG         (NBD_REP_FLAG_ERROR | 9)

/* Information types of NBD_REP_INFO. */
#define NBD_INFO_EXPORT             0
#define NBD_INFO_NAME               1
#define NBD_INFO_DESCRIPTION        2
#define NBD_INFO_BLOCK_SIZE         3

/* Commands. */
#define NBD_CMD_READ                0
#define NBD_CMD_WRITE               1
#define NBD_CMD_DISC                2
#define NBD_CMD_FLUSH               3
#define NBD_CMD_TRIM                4
#define NBD_CMD_CACHE               5
#define NBD_CMD_WRITE_ZEROES        6
#define NBD_CMD_BLOCK_STATUS        7

/* Command flags. */
#define NBD_CMD_FLAG_FUA            (1 << 0)
#define NBD_CMD_FLAG_NO_HOLE        (1 << 1)
#define NBD_CMD_FLAG_DF             (1 << 2)
#define NBD_CMD_FLAG_REQ_ONE        (1 << 3)
#define NBD_CMD_FLAG_FAST_ZERO      (1 << 4)

/* Structured reply chunks. */
#define NBD_REPLY_FLAG_DONE         (1 << 0)
#define NBD_REPLY_TYPE_NONE         0
#define NBD_REPLY_TYPE_OFFSET_DATA  1
#define NBD_REPLY_TYPE_OFFSET_HOLE  2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR        ((1 << 15) | 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1 << 15) | 2)
#define NBD_REPLY_TYPE_IS_ERR(t)    (!!((t) & (1 << 15)))

/* base:allocation flags. */
#define NBD_STATE_HOLE              (1 << 0)
#define NBD_STATE_ZERO              (1 << 1)

/* Error values on the wire (not necessarily the host's errno values). */
#define NBD_EPERM                   1
#define NBD_EIO                     5
#define NBD_ENOMEM                  12
#define NBD_EINVAL                  22
#define NBD_ENOSPC                  28
#define NBD_EOVERFLOW               75
#define NBD_ENOTSUP                 95
#define NBD_ESHUTDOWN               108

#define NBD_META_BASE_ALLOCATION    "base:allocation"
#define NBD_META_ALLOCATION_DEPTH   "qemu:allocation-depth"

/* Limits. */
#define NBD_MAX_STRING_SIZE         4096        /* names, messages, queries */
#define NBD_MAX_BUFFER_SIZE         (32 * 1024 * 1024)  /* READ/WRITE payload */
/* The largest option request the server reads; a longer one ends the
 * connection (the spec allows a hard disconnect for denial of service). */
#define NBD_MAX_OPTION_SIZE         (64 * 1024)
/* The most extents one block status chunk carries. */
#define NBD_MAX_EXTENTS             (64 * 1024)

/* ---- fixed-size messages ---- */

#define NBD_REQUEST_SIZE            28
#define NBD_SIMPLE_REPLY_SIZE       16
#define NBD_CHUNK_HEADER_SIZE       20
#define NBD_OPTION_HEADER_SIZE      16
#define NBD_OPTION_REPLY_SIZE       20

typedef struct NBDRequest {
    uint16_t flags;
    uint16_t type;
    uint64_t handle;
    uint64_t offset;
    uint32_t len;
} NBDRequest;

void nbd_encode_request(uint8_t buf[NBD_REQUEST_SIZE], const NBDRequest *req);
/* 0, or -EINVAL when the magic is wrong. */
int nbd_decode_request(const uint8_t buf[NBD_REQUEST_SIZE], NBDRequest *req);

void nbd_encode_simple_reply(uint8_t buf[NBD_SIMPLE_REPLY_SIZE],
                             uint32_t nbd_error, uint64_t handle);
void nbd_encode_chunk_header(uint8_t buf[NBD_CHUNK_HEADER_SIZE],
                             uint16_t flags, uint16_t type, uint64_t handle,
                             uint32_t length);

/* A reply header as the client reads it: the magic says which kind. */
typedef struct NBDReplyHeader {
    bool structured;
    uint32_t error;             /* simple replies */
    uint16_t flags;             /* structured chunks */
    uint16_t type;
    uint64_t handle;
    uint32_t length;
} NBDReplyHeader;

void nbd_encode_option_header(uint8_t buf[NBD_OPTION_HEADER_SIZE],
                              uint32_t option, uint32_t length);
void nbd_encode_option_reply(uint8_t buf[NBD_OPTION_REPLY_SIZE],
                             uint32_t option, uint32_t type, uint32_t length);

/* The names of constants, for messages ("NBD_OPT_GO"); unknown values
 * read "unknown". */
const char *nbd_opt_name(uint32_t opt);
const char *nbd_rep_name(uint32_t rep);
const char *nbd_cmd_name(uint16_t cmd);
const char *nbd_reply_type_name(uint16_t type);

/* Host errno (positive or negative) to wire error and back. */
uint32_t nbd_errno_to_wire(int err);
int nbd_wire_to_errno(uint32_t nbd_err);

/* Flags a command may carry (given the negotiated transmission flags and
 * whether structured replies are on); anything else is NBD_EINVAL. */
uint16_t nbd_cmd_allowed_flags(uint16_t cmd, uint16_t eflags, bool structured);

/* Parsed payload of NBD_OPT_INFO / NBD_OPT_GO: pointers into @buf. */
typedef struct NBDInfoRequest {
    const char *name;           /* not NUL-terminated */
    uint32_t name_len;
    uint16_t nrequests;
    const uint8_t *requests;    /* nrequests big-endian 16-bit values */
} NBDInfoRequest;
/* 0, or -EINVAL when lengths do not add up. */
int nbd_parse_info_request(const uint8_t *buf, uint32_t len, NBDInfoRequest *out);

/* Parsed payload of NBD_OPT_{LIST,SET}_META_CONTEXT.  Walk the queries
 * with nbd_meta_query_next. */
typedef struct NBDMetaRequest {
    const char *name;
    uint32_t name_len;
    uint32_t nqueries;
    const uint8_t *queries;     /* the rest of the payload */
    uint32_t queries_len;
} NBDMetaRequest;
int nbd_parse_meta_request(const uint8_t *buf, uint32_t len, NBDMetaRequest *out);
/* Take the next query from @req (which it advances): 1 and the query, 0
 * when there are none left, -EINVAL when the payload is malformed (a
 * length running past the end, more bytes than queries, a query longer
 * than NBD_MAX_STRING_SIZE). */
int nbd_meta_query_next(NBDMetaRequest *req, const char **query,
                        uint32_t *query_len);

/* ---- coroutine sockets ---- */

/*
 * A connected stream socket in non-blocking mode, used from coroutines of
 * one AioContext.  At most one coroutine reads and one writes at a time
 * (callers serialise writers with a CoMutex); each yields while the socket
 * would block and is woken by an fd handler, which is registered only
 * while someone waits.
 *
 * Return values: 0 when every byte moved, -EPIPE when the peer closed the
 * connection, another -errno on failure.  After cosocket_shutdown() every
 * waiter wakes up and fails.
 */
typedef struct CoSocket CoSocket;

/* Take ownership of the connected socket @fd (made non-blocking). */
CoSocket *cosocket_new(int fd, AioContext *ctx);
/* Close the socket; nobody may be waiting on it. */
void cosocket_free(CoSocket *s);
int cosocket_fd(CoSocket *s);
/* Shut the connection down in both directions: waiters and later calls
 * fail, the peer sees end of file.  Idempotent. */
void cosocket_shutdown(CoSocket *s);

int coroutine_fn cosocket_read_all(CoSocket *s, void *buf, size_t len);
/* Like cosocket_read_all, but a clean end of file before the first byte
 * returns 0 and success returns 1. */
int coroutine_fn cosocket_read_all_eof(CoSocket *s, void *buf, size_t len);
/* Read and throw away @len bytes. */
int coroutine_fn cosocket_skip(CoSocket *s, uint64_t len);
int coroutine_fn cosocket_write_all(CoSocket *s, const void *buf, size_t len);
/* Write the pieces of @iov (which it may modify). */
int coroutine_fn cosocket_writev_all(CoSocket *s, struct iovec *iov, int niov);
/* Read into @qiov's bytes [offset, offset + len). */
int coroutine_fn cosocket_read_qiov(CoSocket *s, QEMUIOVector *qiov,
                                    size_t offset, size_t len);

/* ---- socket addresses ---- */

typedef enum NBDAddressType {
    NBD_ADDRESS_INET,
    NBD_ADDRESS_UNIX,
} NBDAddressType;

typedef struct NBDAddress {
    NBDAddressType type;
    char *host;                 /* inet */
    char *port;                 /* inet; decimal or a service name */
    char *path;                 /* unix */
} NBDAddress;

void nbd_address_clear(NBDAddress *addr);
/* Connect (blocking) and return the socket, or -1 with *errp set. */
int nbd_socket_connect(const NBDAddress *addr, Error **errp);
/* Listen on every address @addr resolves to; returns how many sockets
 * were stored in @fds (at most @max), or -1 with *errp set. */
int nbd_socket_listen(const NBDAddress *addr, int *fds, int max, Error **errp);
/* Accept one connection on the listening @fd: the new socket or -errno. */
int nbd_socket_accept(int fd);
void nbd_socket_close(int fd);
/* One-time socket library start-up (Windows); harmless elsewhere. */
void nbd_socket_init(void);

/* ---- the server ---- */

typedef struct NBDServer NBDServer;
typedef struct NBDExport NBDExport;

/* Called (from the loop) each time a client connection has ended and its
 * resources are gone. */
typedef void NBDClientClosedFunc(NBDServer *server, void *opaque);

NBDServer *nbd_server_new(AioContext *ctx, NBDClientClosedFunc *closed,
                          void *opaque);
/* Free the server: no client may be left (see nbd_server_shutdown). */
void nbd_server_free(NBDServer *server);
/* Ask every client to finish: no new requests are read, in-flight ones
 * complete, connections close.  Poll the loop until
 * nbd_server_client_count() is 0. */
void nbd_server_shutdown(NBDServer *server);
unsigned nbd_server_client_count(NBDServer *server);
/* A client that has not finished the handshake @ns nanoseconds after it
 * connected is disconnected (default NBD_HANDSHAKE_TIMEOUT_NS; 0: never). */
void nbd_server_set_handshake_timeout(NBDServer *server, int64_t ns);
#define NBD_HANDSHAKE_TIMEOUT_NS (INT64_C(10) * 1000 * 1000 * 1000)

typedef struct NBDExportConfig {
    const char *name;           /* "" = the default export */
    const char *description;    /* NULL: none */
    bool read_only;
    bool allocation_depth;      /* offer qemu:allocation-depth */
    bool multi_conn;            /* advertise NBD_FLAG_CAN_MULTI_CONN */
} NBDExportConfig;

/* Export @blk (the server takes a reference: it calls blk_unref when the
 * export goes).  Fails on a name or description longer than
 * NBD_MAX_STRING_SIZE, a duplicate name, or an unreadable size. */
NBDExport *nbd_export_new(NBDServer *server, BlockBackend *blk,
                          const NBDExportConfig *cfg, Error **errp);

/* Serve the connected socket @fd (taken over) with a new client. */
void nbd_server_add_client(NBDServer *server, int fd);

/* ---- the client handshake ---- */

typedef struct NBDExportInfo {
    /* in: what to ask for */
    const char *name;
    bool want_structured;
    bool want_base_allocation;
    /* out */
    bool structured;            /* structured replies negotiated */
    bool base_allocation;       /* base:allocation selected */
    uint32_t base_allocation_id;
    uint64_t size;
    uint16_t flags;             /* transmission flags */
    uint32_t min_block;         /* 1 when the server gave none */
    uint32_t opt_block;
    uint32_t max_block;         /* 0 when the server gave none */
} NBDExportInfo;

/* Run the client side of the fixed newstyle handshake on @s (from a
 * coroutine), ending in transmission for @info->name: NBD_OPT_GO (falling
 * back to NBD_OPT_EXPORT_NAME for servers without it), structured replies
 * and base:allocation when asked for and offered.  Returns 0, or -errno
 * with *errp naming what went wrong. */
int coroutine_fn nbd_client_handshake(CoSocket *s, NBDExportInfo *info,
                                      Error **errp);

#endif /* BLOCK_NBD_H */
