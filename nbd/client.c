/*
 * coblock — the client side of the NBD handshake
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server is as untrusted as a client: every reply is checked for its
 * magic, the option it answers and a bounded length before its payload is
 * read, and every payload is checked against the length of its type.
 */
#include "util/osdep.h"
#include "block/nbd.h"

/* Option replies we read whole; longer ones are a broken server. */
#define NBD_CLIENT_MAX_REPLY  (NBD_MAX_STRING_SIZE + 64)

typedef struct OptReply {
    uint32_t type;
    uint32_t len;
    uint8_t data[NBD_CLIENT_MAX_REPLY + 1];     /* NUL-terminated */
} OptReply;

static int coroutine_fn send_option(CoSocket *s, uint32_t opt,
                                    const void *data, uint32_t len,
                                    Error **errp)
{
    uint8_t hdr[NBD_OPTION_HEADER_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    int ret;

    nbd_encode_option_header(hdr, opt, len);
    ret = cosocket_writev_all(s, iov, 2);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to send option %s",
                         nbd_opt_name(opt));
    }
    return ret;
}

static int coroutine_fn read_reply(CoSocket *s, uint32_t opt, OptReply *rep,
                                   Error **errp)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];
    int ret;

    ret = cosocket_read_all(s, hdr, sizeof(hdr));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read option reply");
        return ret;
    }
    if (nbd_ld64(hdr) != NBD_REP_MAGIC) {
        error_setg(errp, "Unexpected option reply magic");
        return -EPROTO;
    }
    if (nbd_ld32(hdr + 8) != opt) {
        error_setg(errp, "Unexpected option type %" PRIu32 " in reply to %s",
                   nbd_ld32(hdr + 8), nbd_opt_name(opt));
        return -EPROTO;
    }
    rep->type = nbd_ld32(hdr + 12);
    rep->len = nbd_ld32(hdr + 16);
    if (rep->len > NBD_CLIENT_MAX_REPLY) {
        error_setg(errp, "Server sent an option reply of %" PRIu32 " bytes",
                   rep->len);
        return -EPROTO;
    }
    ret = cosocket_read_all(s, rep->data, rep->len);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read option reply");
        return ret;
    }
    rep->data[rep->len] = '\0';
    return 0;
}

/* Attach an error reply's message, if the server sent one, as a hint. */
static void error_hint_from_reply(Error **errp, const OptReply *rep)
{
    char msg[256];
    size_t i, n = MIN(rep->len, sizeof(msg) - 1);

    if (!rep->len) {
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = rep->data[i];
        msg[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    msg[n] = '\0';
    error_append_hint(errp, "server reported: %s\n", msg);
}

/* NBD_OPT_STRUCTURED_REPLY: true if the server agreed. */
static int coroutine_fn request_structured(CoSocket *s, bool *ok, Error **errp)
{
    OptReply rep;
    int ret;

    ret = send_option(s, NBD_OPT_STRUCTURED_REPLY, NULL, 0, errp);
    if (ret < 0 || (ret = read_reply(s, NBD_OPT_STRUCTURED_REPLY, &rep, errp)) < 0) {
        return ret;
    }
    if (rep.type == NBD_REP_ACK) {
        if (rep.len) {
            error_setg(errp, "Server sent data with NBD_REP_ACK");
            return -EPROTO;
        }
        *ok = true;
        return 0;
    }
    if (!(rep.type & NBD_REP_FLAG_ERROR)) {
        error_setg(errp, "Unexpected reply %s to NBD_OPT_STRUCTURED_REPLY",
                   nbd_rep_name(rep.type));
        return -EPROTO;
    }
    *ok = false;    /* an old server: simple replies only */
    return 0;
}

/* NBD_OPT_SET_META_CONTEXT for base:allocation on @name. */
static int coroutine_fn request_base_allocation(CoSocket *s, NBDExportInfo *info,
                                                Error **errp)
{
    size_t nlen = strlen(info->name), qlen = strlen(NBD_META_BASE_ALLOCATION);
    uint32_t len = (uint32_t)(4 + nlen + 4 + 4 + qlen);
    uint8_t *buf = qemu_xmalloc(len);
    OptReply *rep = qemu_new(OptReply, 1);
    int ret;

    nbd_st32(buf, (uint32_t)nlen);
    memcpy(buf + 4, info->name, nlen);
    nbd_st32(buf + 4 + nlen, 1);
    nbd_st32(buf + 8 + nlen, (uint32_t)qlen);
    memcpy(buf + 12 + nlen, NBD_META_BASE_ALLOCATION, qlen);
    ret = send_option(s, NBD_OPT_SET_META_CONTEXT, buf, len, errp);
    free(buf);
    while (ret == 0) {
        ret = read_reply(s, NBD_OPT_SET_META_CONTEXT, rep, errp);
        if (ret < 0) {
            break;
        }
        if (rep->type == NBD_REP_ACK) {
            break;
        }
        if (rep->type & NBD_REP_FLAG_ERROR) {
            /* No metadata: block status reports everything as data. */
            info->base_allocation = false;
            break;
        }
        if (rep->type != NBD_REP_META_CONTEXT || rep->len < 4) {
            error_setg(errp, "Unexpected reply %s to NBD_OPT_SET_META_CONTEXT",
                       nbd_rep_name(rep->type));
            ret = -EPROTO;
            break;
        }
        if (rep->len - 4 == qlen &&
            !memcmp(rep->data + 4, NBD_META_BASE_ALLOCATION, qlen)) {
            info->base_allocation = true;
            info->base_allocation_id = nbd_ld32(rep->data);
        }
        /* Contexts we did not ask for are ignored. */
    }
    free(rep);
    return ret;
}

static int check_block_sizes(NBDExportInfo *info, Error **errp)
{
    uint32_t min = info->min_block, opt = info->opt_block, max = info->max_block;

    if (!is_power_of_2(min) || min > 64 * 1024) {
        error_setg(errp, "Server sent an invalid minimum block size %" PRIu32, min);
        return -EPROTO;
    }
    if (!is_power_of_2(opt) || opt < min) {
        error_setg(errp, "Server sent an invalid preferred block size %" PRIu32, opt);
        return -EPROTO;
    }
    if (max != UINT32_MAX && (max < min || max % min)) {
        error_setg(errp, "Server sent an invalid maximum block size %" PRIu32, max);
        return -EPROTO;
    }
    return 0;
}

/* NBD_OPT_GO: 1 on success, 0 when the server does not know GO, -errno. */
static int coroutine_fn request_go(CoSocket *s, NBDExportInfo *info,
                                   Error **errp)
{
    size_t nlen = strlen(info->name);
    uint32_t len = (uint32_t)(4 + nlen + 2 + 2);
    uint8_t *buf = qemu_xmalloc(len);
    OptReply *rep = qemu_new(OptReply, 1);
    bool have_export = false;
    int ret;

    nbd_st32(buf, (uint32_t)nlen);
    memcpy(buf + 4, info->name, nlen);
    nbd_st16(buf + 4 + nlen, 1);
    nbd_st16(buf + 6 + nlen, NBD_INFO_BLOCK_SIZE);
    ret = send_option(s, NBD_OPT_GO, buf, len, errp);
    free(buf);
    while (ret == 0) {
        ret = read_reply(s, NBD_OPT_GO, rep, errp);
        if (ret < 0) {
            break;
        }
        if (rep->type == NBD_REP_ACK) {
            if (!have_export) {
                error_setg(errp, "Server did not send export information");
                ret = -EPROTO;
            } else {
                ret = check_block_sizes(info, errp) < 0 ? -EPROTO : 1;
            }
            break;
        }
        if (rep->type == NBD_REP_ERR_UNSUP) {
            ret = 0;
            goto out;
        }
        if (rep->type & NBD_REP_FLAG_ERROR) {
            if (rep->type == NBD_REP_ERR_UNKNOWN) {
                error_setg(errp, "Requested export not available");
            } else {
                error_setg(errp, "Failed to select the export: %s",
                           nbd_rep_name(rep->type));
            }
            error_hint_from_reply(errp, rep);
            ret = -EINVAL;
            break;
        }
        if (rep->type != NBD_REP_INFO || rep->len < 2) {
            error_setg(errp, "Unexpected reply %s to NBD_OPT_GO",
                       nbd_rep_name(rep->type));
            ret = -EPROTO;
            break;
        }
        switch (nbd_ld16(rep->data)) {
        case NBD_INFO_EXPORT:
            if (rep->len != 12) {
                error_setg(errp, "Invalid NBD_INFO_EXPORT length %" PRIu32,
                           rep->len);
                ret = -EPROTO;
                break;
            }
            info->size = nbd_ld64(rep->data + 2);
            info->flags = nbd_ld16(rep->data + 10);
            have_export = true;
            break;
        case NBD_INFO_BLOCK_SIZE:
            if (rep->len != 14) {
                error_setg(errp, "Invalid NBD_INFO_BLOCK_SIZE length %" PRIu32,
                           rep->len);
                ret = -EPROTO;
                break;
            }
            info->min_block = nbd_ld32(rep->data + 2);
            info->opt_block = nbd_ld32(rep->data + 6);
            info->max_block = nbd_ld32(rep->data + 10);
            break;
        default:
            break;      /* information we did not ask for */
        }
    }
out:
    free(rep);
    return ret;
}

static int coroutine_fn request_export_name(CoSocket *s, NBDExportInfo *info,
                                            bool no_zeroes, Error **errp)
{
    uint8_t buf[10 + 124];
    int ret;

    ret = send_option(s, NBD_OPT_EXPORT_NAME, info->name,
                      (uint32_t)strlen(info->name), errp);
    if (ret < 0) {
        return ret;
    }
    ret = cosocket_read_all(s, buf, no_zeroes ? 10 : sizeof(buf));
    if (ret < 0) {
        /* The server hangs up on an export it does not have. */
        error_setg(errp, "Requested export not available");
        return ret;
    }
    info->size = nbd_ld64(buf);
    info->flags = nbd_ld16(buf + 8);
    return 0;
}

int coroutine_fn nbd_client_handshake(CoSocket *s, NBDExportInfo *info,
                                      Error **errp)
{
    uint8_t buf[18];
    uint16_t gflags;
    uint32_t cflags = 0;
    bool fixed;
    int ret;

    info->structured = false;
    info->base_allocation = false;
    info->min_block = 1;
    info->opt_block = 4096;
    info->max_block = UINT32_MAX;
    if (strlen(info->name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "Export name too long");
        return -EINVAL;
    }

    ret = cosocket_read_all(s, buf, 16);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read the server greeting");
        return ret;
    }
    if (nbd_ld64(buf) != NBD_INIT_MAGIC) {
        error_setg(errp, "Invalid magic received");
        return -EPROTO;
    }
    if (nbd_ld64(buf + 8) == NBD_CLISERV_MAGIC) {
        error_setg(errp, "Server uses the oldstyle protocol, which is not supported");
        return -ENOTSUP;
    }
    if (nbd_ld64(buf + 8) != NBD_OPTS_MAGIC) {
        error_setg(errp, "Bad server magic received");
        return -EPROTO;
    }
    ret = cosocket_read_all(s, buf, 2);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read the server flags");
        return ret;
    }
    gflags = nbd_ld16(buf);
    fixed = gflags & NBD_FLAG_FIXED_NEWSTYLE;
    if (fixed) {
        cflags |= NBD_FLAG_C_FIXED_NEWSTYLE;
    }
    if (gflags & NBD_FLAG_NO_ZEROES) {
        cflags |= NBD_FLAG_C_NO_ZEROES;
    }
    nbd_st32(buf, cflags);
    ret = cosocket_write_all(s, buf, 4);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to send the client flags");
        return ret;
    }

    if (fixed) {
        if (info->want_structured) {
            ret = request_structured(s, &info->structured, errp);
            if (ret < 0) {
                return ret;
            }
        }
        if (info->structured && info->want_base_allocation) {
            ret = request_base_allocation(s, info, errp);
            if (ret < 0) {
                return ret;
            }
        }
        ret = request_go(s, info, errp);
        if (ret < 0) {
            return ret;
        }
        if (ret > 0) {
            return 0;
        }
    }
    return request_export_name(s, info, cflags & NBD_FLAG_C_NO_ZEROES, errp);
}
