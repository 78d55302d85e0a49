/*
 * coblock — coroutine socket I/O over the AioContext
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The socket is non-blocking.  A coroutine first tries the system call;
 * only when it would block does it register itself as the socket's reader
 * or writer, install an fd handler for that direction and yield.  The
 * handler removes its own interest before waking the coroutine, so a
 * socket nobody waits on costs the loop nothing, and a level-triggered
 * poller never spins on it.
 */
#include "util/osdep.h"
#include "block/nbd.h"

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <fcntl.h>
#include <sys/socket.h>
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Largest piece handed to one send/recv call (the Windows calls take an
 * int). */
#define COSOCKET_MAX_IO (1u << 30)

struct CoSocket {
    int fd;
    AioContext *ctx;
    Coroutine *read_co;         /* waiting for readability */
    Coroutine *write_co;        /* waiting for writability */
    bool shut;
};

/* -errno of the last failed socket call. */
static int socket_error(void)
{
#ifdef _WIN32
    switch (WSAGetLastError()) {
    case WSAEWOULDBLOCK:
        return -EAGAIN;
    case WSAEINTR:
        return -EINTR;
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAESHUTDOWN:
        return -EPIPE;
    default:
        return -EIO;
    }
#else
    int err = errno;

    if (err == EWOULDBLOCK) {
        return -EAGAIN;
    }
    if (err == ECONNRESET) {
        return -EPIPE;
    }
    return -err;
#endif
}

static void cosocket_set_handlers(CoSocket *s);

static void cosocket_readable(void *opaque)
{
    CoSocket *s = opaque;
    Coroutine *co = s->read_co;

    s->read_co = NULL;
    cosocket_set_handlers(s);
    if (co) {
        aio_co_wake(co);
    }
}

static void cosocket_writable(void *opaque)
{
    CoSocket *s = opaque;
    Coroutine *co = s->write_co;

    s->write_co = NULL;
    cosocket_set_handlers(s);
    if (co) {
        aio_co_wake(co);
    }
}

static void cosocket_set_handlers(CoSocket *s)
{
    aio_set_fd_handler(s->ctx, s->fd, s->read_co ? cosocket_readable : NULL,
                       s->write_co ? cosocket_writable : NULL, s);
}

/* Wait until the socket is readable (or writable); false once shut down. */
static bool coroutine_fn cosocket_wait(CoSocket *s, bool for_write)
{
    Coroutine **slot = for_write ? &s->write_co : &s->read_co;

    if (s->shut) {
        return false;
    }
    assert(!*slot);
    *slot = qemu_coroutine_self();
    cosocket_set_handlers(s);
    qemu_coroutine_yield();
    return !s->shut;
}

CoSocket *cosocket_new(int fd, AioContext *ctx)
{
    CoSocket *s = qemu_new0(CoSocket, 1);
#ifdef _WIN32
    u_long one = 1;

    ioctlsocket((SOCKET)fd, FIONBIO, &one);
#else
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
#endif
    s->fd = fd;
    s->ctx = ctx;
    return s;
}

void cosocket_free(CoSocket *s)
{
    if (!s) {
        return;
    }
    assert(!s->read_co && !s->write_co);
    nbd_socket_close(s->fd);
    free(s);
}

int cosocket_fd(CoSocket *s)
{
    return s->fd;
}

void cosocket_shutdown(CoSocket *s)
{
    Coroutine *r = s->read_co, *w = s->write_co;

    if (s->shut) {
        return;
    }
    s->shut = true;
#ifdef _WIN32
    shutdown((SOCKET)s->fd, SD_BOTH);
#else
    shutdown(s->fd, SHUT_RDWR);
#endif
    s->read_co = s->write_co = NULL;
    cosocket_set_handlers(s);
    /* Wake the waiters from the loop, never from inside this call: the
     * caller may hold state they are about to look at. */
    if (r) {
        aio_co_schedule(s->ctx, r);
    }
    if (w) {
        aio_co_schedule(s->ctx, w);
    }
}

/* One recv: bytes read, 0 at end of file, or -errno. */
static ssize_t cosocket_recv_once(CoSocket *s, void *buf, size_t len)
{
    ssize_t n;

    len = MIN(len, COSOCKET_MAX_IO);
#ifdef _WIN32
    n = recv((SOCKET)s->fd, buf, (int)len, 0);
#else
    n = recv(s->fd, buf, len, 0);
#endif
    return n < 0 ? socket_error() : n;
}

static int coroutine_fn cosocket_read_common(CoSocket *s, void *buf,
                                             size_t len, bool eof_ok)
{
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n;

        if (s->shut) {
            return -EPIPE;
        }
        n = cosocket_recv_once(s, p + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == 0) {
            return (eof_ok && done == 0) ? 0 : -EPIPE;
        } else if (n == -EAGAIN) {
            if (!cosocket_wait(s, false)) {
                return -EPIPE;
            }
        } else if (n != -EINTR) {
            return (int)n;
        }
    }
    return eof_ok ? 1 : 0;
}

int coroutine_fn cosocket_read_all(CoSocket *s, void *buf, size_t len)
{
    return cosocket_read_common(s, buf, len, false);
}

int coroutine_fn cosocket_read_all_eof(CoSocket *s, void *buf, size_t len)
{
    return cosocket_read_common(s, buf, len, true);
}

int coroutine_fn cosocket_skip(CoSocket *s, uint64_t len)
{
    uint8_t scratch[4096];

    while (len > 0) {
        size_t n = (size_t)MIN(len, sizeof(scratch));
        int ret = cosocket_read_all(s, scratch, n);

        if (ret < 0) {
            return ret;
        }
        len -= n;
    }
    return 0;
}

int coroutine_fn cosocket_read_qiov(CoSocket *s, QEMUIOVector *qiov,
                                    size_t offset, size_t len)
{
    int i;

    assert(offset + len <= qiov->size);
    for (i = 0; i < qiov->niov && len > 0; i++) {
        size_t piece = qiov->iov[i].iov_len;
        size_t n;
        int ret;

        if (offset >= piece) {
            offset -= piece;
            continue;
        }
        n = MIN(piece - offset, len);
        ret = cosocket_read_all(s, (uint8_t *)qiov->iov[i].iov_base + offset, n);
        if (ret < 0) {
            return ret;
        }
        offset = 0;
        len -= n;
    }
    return 0;
}

/* One send of as much of @iov as the socket takes: bytes or -errno. */
static ssize_t cosocket_send_once(CoSocket *s, struct iovec *iov, int niov)
{
#ifdef _WIN32
    int n = send((SOCKET)s->fd, iov[0].iov_base,
                 (int)MIN(iov[0].iov_len, COSOCKET_MAX_IO), 0);

    (void)niov;
    return n < 0 ? socket_error() : n;
#else
    struct msghdr msg;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)MIN(niov, IOV_MAX);
    n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    return n < 0 ? socket_error() : n;
#endif
}

int coroutine_fn cosocket_writev_all(CoSocket *s, struct iovec *iov, int niov)
{
    /* Skip empty pieces so that the loop below always makes progress. */
    while (niov > 0 && iov[0].iov_len == 0) {
        iov++;
        niov--;
    }
    while (niov > 0) {
        ssize_t n;

        if (s->shut) {
            return -EPIPE;
        }
        n = cosocket_send_once(s, iov, niov);
        if (n == -EAGAIN) {
            if (!cosocket_wait(s, true)) {
                return -EPIPE;
            }
            continue;
        }
        if (n == -EINTR) {
            continue;
        }
        if (n < 0) {
            return (int)n;
        }
        /* Advance past what went out. */
        while (niov > 0 && (size_t)n >= iov[0].iov_len) {
            n -= (ssize_t)iov[0].iov_len;
            iov++;
            niov--;
        }
        if (niov > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + n;
            iov[0].iov_len -= (size_t)n;
        }
        while (niov > 0 && iov[0].iov_len == 0) {
            iov++;
            niov--;
        }
    }
    return 0;
}

int coroutine_fn cosocket_write_all(CoSocket *s, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return cosocket_writev_all(s, &iov, 1);
}
