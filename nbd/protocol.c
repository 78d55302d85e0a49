/*
 * coblock — NBD wire format: encoders, decoders and names
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pure functions over byte buffers.  Every decoder checks each length
 * against what is left of its buffer before using it, so that a hostile
 * peer's bytes can be handed to it as they come.
 */
#include "util/osdep.h"
#include "block/nbd.h"

#ifndef ESHUTDOWN
#define ESHUTDOWN 108
#endif
#ifndef EOVERFLOW
#define EOVERFLOW 132
#endif

void nbd_encode_request(uint8_t buf[NBD_REQUEST_SIZE], const NBDRequest *req)
{
    nbd_st32(buf, NBD_REQUEST_MAGIC);
    nbd_st16(buf + 4, req->flags);
    nbd_st16(buf + 6, req->type);
    nbd_st64(buf + 8, req->handle);
    nbd_st64(buf + 16, req->offset);
    nbd_st32(buf + 24, req->len);
}

int nbd_decode_request(const uint8_t buf[NBD_REQUEST_SIZE], NBDRequest *req)
{
    if (nbd_ld32(buf) != NBD_REQUEST_MAGIC) {
        return -EINVAL;
    }
    req->flags = nbd_ld16(buf + 4);
    req->type = nbd_ld16(buf + 6);
    req->handle = nbd_ld64(buf + 8);
    req->offset = nbd_ld64(buf + 16);
    req->len = nbd_ld32(buf + 24);
    return 0;
}

void nbd_encode_simple_reply(uint8_t buf[NBD_SIMPLE_REPLY_SIZE],
                             uint32_t nbd_error, uint64_t handle)
{
    nbd_st32(buf, NBD_SIMPLE_REPLY_MAGIC);
    nbd_st32(buf + 4, nbd_error);
    nbd_st64(buf + 8, handle);
}

void nbd_encode_chunk_header(uint8_t buf[NBD_CHUNK_HEADER_SIZE],
                             uint16_t flags, uint16_t type, uint64_t handle,
                             uint32_t length)
{
    nbd_st32(buf, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_st16(buf + 4, flags);
    nbd_st16(buf + 6, type);
    nbd_st64(buf + 8, handle);
    nbd_st32(buf + 16, length);
}

void nbd_encode_option_header(uint8_t buf[NBD_OPTION_HEADER_SIZE],
                              uint32_t option, uint32_t length)
{
    nbd_st64(buf, NBD_OPTS_MAGIC);
    nbd_st32(buf + 8, option);
    nbd_st32(buf + 12, length);
}

void nbd_encode_option_reply(uint8_t buf[NBD_OPTION_REPLY_SIZE],
                             uint32_t option, uint32_t type, uint32_t length)
{
    nbd_st64(buf, NBD_REP_MAGIC);
    nbd_st32(buf + 8, option);
    nbd_st32(buf + 12, type);
    nbd_st32(buf + 16, length);
}

/* ---- names ---- */

const char *nbd_opt_name(uint32_t opt)
{
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:       return "NBD_OPT_EXPORT_NAME";
    case NBD_OPT_ABORT:             return "NBD_OPT_ABORT";
    case NBD_OPT_LIST:              return "NBD_OPT_LIST";
    case NBD_OPT_STARTTLS:          return "NBD_OPT_STARTTLS";
    case NBD_OPT_INFO:              return "NBD_OPT_INFO";
    case NBD_OPT_GO:                return "NBD_OPT_GO";
    case NBD_OPT_STRUCTURED_REPLY:  return "NBD_OPT_STRUCTURED_REPLY";
    case NBD_OPT_LIST_META_CONTEXT: return "NBD_OPT_LIST_META_CONTEXT";
    case NBD_OPT_SET_META_CONTEXT:  return "NBD_OPT_SET_META_CONTEXT";
    default:                        return "unknown";
    }
}

const char *nbd_rep_name(uint32_t rep)
{
    switch (rep) {
    case NBD_REP_ACK:                   return "NBD_REP_ACK";
    case NBD_REP_SERVER:                return "NBD_REP_SERVER";
    case NBD_REP_INFO:                  return "NBD_REP_INFO";
    case NBD_REP_META_CONTEXT:          return "NBD_REP_META_CONTEXT";
    case NBD_REP_ERR_UNSUP:             return "NBD_REP_ERR_UNSUP";
    case NBD_REP_ERR_POLICY:            return "NBD_REP_ERR_POLICY";
    case NBD_REP_ERR_INVALID:           return "NBD_REP_ERR_INVALID";
    case NBD_REP_ERR_PLATFORM:          return "NBD_REP_ERR_PLATFORM";
    case NBD_REP_ERR_TLS_REQD:          return "NBD_REP_ERR_TLS_REQD";
    case NBD_REP_ERR_UNKNOWN:           return "NBD_REP_ERR_UNKNOWN";
    case NBD_REP_ERR_SHUTDOWN:          return "NBD_REP_ERR_SHUTDOWN";
    case NBD_REP_ERR_BLOCK_SIZE_REQD:   return "NBD_REP_ERR_BLOCK_SIZE_REQD";
    case NBD_REP_ERR_TOO_BIG:           return "NBD_REP_ERR_TOO_BIG";
    default:                            return "unknown";
    }
}

const char *nbd_cmd_name(uint16_t cmd)
{
    switch (cmd) {
    case NBD_CMD_READ:          return "NBD_CMD_READ";
    case NBD_CMD_WRITE:         return "NBD_CMD_WRITE";
    case NBD_CMD_DISC:          return "NBD_CMD_DISC";
    case NBD_CMD_FLUSH:         return "NBD_CMD_FLUSH";
    case NBD_CMD_TRIM:          return "NBD_CMD_TRIM";
    case NBD_CMD_CACHE:         return "NBD_CMD_CACHE";
    case NBD_CMD_WRITE_ZEROES:  return "NBD_CMD_WRITE_ZEROES";
    case NBD_CMD_BLOCK_STATUS:  return "NBD_CMD_BLOCK_STATUS";
    default:                    return "unknown";
    }
}

const char *nbd_reply_type_name(uint16_t type)
{
    switch (type) {
    case NBD_REPLY_TYPE_NONE:           return "NBD_REPLY_TYPE_NONE";
    case NBD_REPLY_TYPE_OFFSET_DATA:    return "NBD_REPLY_TYPE_OFFSET_DATA";
    case NBD_REPLY_TYPE_OFFSET_HOLE:    return "NBD_REPLY_TYPE_OFFSET_HOLE";
    case NBD_REPLY_TYPE_BLOCK_STATUS:   return "NBD_REPLY_TYPE_BLOCK_STATUS";
    case NBD_REPLY_TYPE_ERROR:          return "NBD_REPLY_TYPE_ERROR";
    case NBD_REPLY_TYPE_ERROR_OFFSET:   return "NBD_REPLY_TYPE_ERROR_OFFSET";
    default:                            return "unknown";
    }
}

/* ---- errors ---- */

uint32_t nbd_errno_to_wire(int err)
{
    if (err < 0) {
        err = -err;
    }
    switch (err) {
    case 0:
        return 0;
    case EPERM:
#ifdef EROFS
    case EROFS:
#endif
        return NBD_EPERM;
    case ENOMEM:
        return NBD_ENOMEM;
    case EINVAL:
        return NBD_EINVAL;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
#if defined(EOPNOTSUPP) && EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    default:
        /* Whatever else went wrong below us is an I/O error to the
         * client. */
        return NBD_EIO;
    }
}

int nbd_wire_to_errno(uint32_t nbd_err)
{
    switch (nbd_err) {
    case 0:             return 0;
    case NBD_EPERM:     return EPERM;
    case NBD_EIO:       return EIO;
    case NBD_ENOMEM:    return ENOMEM;
    case NBD_ENOSPC:    return ENOSPC;
    case NBD_EOVERFLOW: return EOVERFLOW;
    case NBD_ENOTSUP:   return ENOTSUP;
    case NBD_ESHUTDOWN: return ESHUTDOWN;
    case NBD_EINVAL:
    default:
        /* The specification: treat an unexpected value as EINVAL. */
        return EINVAL;
    }
}

uint16_t nbd_cmd_allowed_flags(uint16_t cmd, uint16_t eflags, bool structured)
{
    /* FUA is valid on every command once advertised. */
    uint16_t allowed = (eflags & NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;

    switch (cmd) {
    case NBD_CMD_READ:
        if (structured && (eflags & NBD_FLAG_SEND_DF)) {
            allowed |= NBD_CMD_FLAG_DF;
        }
        break;
    case NBD_CMD_WRITE_ZEROES:
        allowed |= NBD_CMD_FLAG_NO_HOLE;
        if (eflags & NBD_FLAG_SEND_FAST_ZERO) {
            allowed |= NBD_CMD_FLAG_FAST_ZERO;
        }
        break;
    case NBD_CMD_BLOCK_STATUS:
        allowed |= NBD_CMD_FLAG_REQ_ONE;
        break;
    default:
        break;
    }
    return allowed;
}

/* ---- option payloads ---- */

int nbd_parse_info_request(const uint8_t *buf, uint32_t len, NBDInfoRequest *out)
{
    uint32_t rest;

    /* 32-bit name length, the name, 16-bit count, 16-bit requests. */
    if (len < 6) {
        return -EINVAL;
    }
    out->name_len = nbd_ld32(buf);
    if (out->name_len > len - 6 || out->name_len > NBD_MAX_STRING_SIZE) {
        return -EINVAL;
    }
    out->name = (const char *)buf + 4;
    out->nrequests = nbd_ld16(buf + 4 + out->name_len);
    rest = len - 6 - out->name_len;
    if (rest != 2u * out->nrequests) {
        return -EINVAL;
    }
    out->requests = buf + 6 + out->name_len;
    return 0;
}

int nbd_parse_meta_request(const uint8_t *buf, uint32_t len, NBDMetaRequest *out)
{
    /* 32-bit name length, the name, 32-bit query count, queries. */
    if (len < 8) {
        return -EINVAL;
    }
    out->name_len = nbd_ld32(buf);
    if (out->name_len > len - 8 || out->name_len > NBD_MAX_STRING_SIZE) {
        return -EINVAL;
    }
    out->name = (const char *)buf + 4;
    out->nqueries = nbd_ld32(buf + 4 + out->name_len);
    out->queries = buf + 8 + out->name_len;
    out->queries_len = len - 8 - out->name_len;
    /* Each query takes at least its 4-byte length. */
    if (out->nqueries > out->queries_len / 4) {
        return -EINVAL;
    }
    if (out->nqueries == 0 && out->queries_len != 0) {
        return -EINVAL;
    }
    return 0;
}

int nbd_meta_query_next(NBDMetaRequest *req, const char **query,
                        uint32_t *query_len)
{
    uint32_t qlen;

    if (req->nqueries == 0) {
        return req->queries_len ? -EINVAL : 0;
    }
    if (req->queries_len < 4) {
        return -EINVAL;
    }
    qlen = nbd_ld32(req->queries);
    if (qlen > req->queries_len - 4 || qlen > NBD_MAX_STRING_SIZE) {
        return -EINVAL;
    }
    *query = (const char *)req->queries + 4;
    *query_len = qlen;
    req->queries += 4 + qlen;
    req->queries_len -= 4 + qlen;
    req->nqueries--;
    return 1;
}
