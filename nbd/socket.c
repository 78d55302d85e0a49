/*
 * coblock — opening NBD sockets: connect and listen on TCP and Unix
 * addresses
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * These are open paths: they block (connect) and report through Error.
 * Unix domain sockets are POSIX only.
 */
#include "util/osdep.h"
#include "block/nbd.h"

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#endif

void nbd_socket_init(void)
{
#ifdef _WIN32
    static bool done;
    WSADATA data;

    if (!done) {
        WSAStartup(MAKEWORD(2, 2), &data);
        done = true;
    }
#endif
}

void nbd_socket_close(int fd)
{
    if (fd < 0) {
        return;
    }
#ifdef _WIN32
    closesocket((SOCKET)fd);
#else
    close(fd);
#endif
}

void nbd_address_clear(NBDAddress *addr)
{
    free(addr->host);
    free(addr->port);
    free(addr->path);
    memset(addr, 0, sizeof(*addr));
}

static int last_socket_errno(void)
{
#ifdef _WIN32
    switch (WSAGetLastError()) {
    case WSAECONNREFUSED:
        return ECONNREFUSED;
    case WSAEADDRINUSE:
        return EADDRINUSE;
    case WSAETIMEDOUT:
        return ETIMEDOUT;
    default:
        return EIO;
    }
#else
    return errno;
#endif
}

static void set_cloexec_nodelay(int fd, int family)
{
#ifndef _WIN32
    int fl = fcntl(fd, F_GETFD);

    if (fl >= 0) {
        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
#endif
    if (family == AF_INET || family == AF_INET6) {
        int one = 1;

        /* Requests and replies are small messages in both directions:
         * Nagle's algorithm would only delay them. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const void *)&one, sizeof(one));
    }
}

static struct addrinfo *resolve(const NBDAddress *addr, bool passive,
                                Error **errp)
{
    struct addrinfo hints, *res = NULL;
    const char *host = addr->host && addr->host[0] ? addr->host : NULL;
    const char *port = addr->port && addr->port[0] ? addr->port : "10809";
    char *bare = NULL;
    int rc;

    /* "[::1]" names an IPv6 address. */
    if (host && host[0] == '[') {
        size_t n = strlen(host);

        if (n >= 2 && host[n - 1] == ']') {
            bare = qemu_xstrndup(host + 1, n - 2);
            host = bare;
        }
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    if (!host && !passive) {
        host = "localhost";
    }
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        error_setg(errp, "address resolution failed for %s:%s: %s",
                   host ? host : "", port, gai_strerror(rc));
        free(bare);
        return NULL;
    }
    free(bare);
    return res;
}

#ifndef _WIN32
static bool unix_address(const char *path, struct sockaddr_un *sun,
                         Error **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (!path || !path[0]) {
        error_setg(errp, "Unix socket path is empty");
        return false;
    }
    if (strlen(path) >= sizeof(sun->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}
#endif

int nbd_socket_connect(const NBDAddress *addr, Error **errp)
{
    nbd_socket_init();
    if (addr->type == NBD_ADDRESS_UNIX) {
#ifdef _WIN32
        error_setg(errp, "Unix sockets are not supported on this platform");
        return -1;
#else
        struct sockaddr_un sun;
        int fd;

        if (!unix_address(addr->path, &sun, errp)) {
            return -1;
        }
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Failed to create socket");
            return -1;
        }
        set_cloexec_nodelay(fd, AF_UNIX);
        while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            if (errno != EINTR) {
                error_setg_errno(errp, errno, "Failed to connect to '%s'",
                                 addr->path);
                close(fd);
                return -1;
            }
        }
        return fd;
#endif
    } else {
        struct addrinfo *res, *ai;
        int err = 0, fd = -1;

        res = resolve(addr, false, errp);
        if (!res) {
            return -1;
        }
        for (ai = res; ai; ai = ai->ai_next) {
            fd = (int)socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
            if (fd < 0) {
                err = last_socket_errno();
                continue;
            }
            set_cloexec_nodelay(fd, ai->ai_family);
            if (connect(fd, ai->ai_addr, (int)ai->ai_addrlen) == 0) {
                break;
            }
            err = last_socket_errno();
            nbd_socket_close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0) {
            error_setg_errno(errp, err ? err : ECONNREFUSED,
                             "Failed to connect to '%s:%s'",
                             addr->host && addr->host[0] ? addr->host : "localhost",
                             addr->port && addr->port[0] ? addr->port : "10809");
        }
        return fd;
    }
}

int nbd_socket_listen(const NBDAddress *addr, int *fds, int max, Error **errp)
{
    nbd_socket_init();
    if (addr->type == NBD_ADDRESS_UNIX) {
#ifdef _WIN32
        error_setg(errp, "Unix sockets are not supported on this platform");
        return -1;
#else
        struct sockaddr_un sun;
        int fd;

        if (max < 1 || !unix_address(addr->path, &sun, errp)) {
            return -1;
        }
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Failed to create Unix socket");
            return -1;
        }
        set_cloexec_nodelay(fd, AF_UNIX);
        /* A socket file left behind by an earlier server is replaced. */
        unlink(addr->path);
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            error_setg_errno(errp, errno, "Failed to bind socket to %s",
                             addr->path);
            close(fd);
            return -1;
        }
        if (listen(fd, 16) < 0) {
            error_setg_errno(errp, errno, "Failed to listen on socket");
            close(fd);
            return -1;
        }
        fds[0] = fd;
        return 1;
#endif
    } else {
        struct addrinfo *res, *ai;
        int n = 0, err = 0;

        res = resolve(addr, true, errp);
        if (!res) {
            return -1;
        }
        for (ai = res; ai && n < max; ai = ai->ai_next) {
            int one = 1;
            int fd = (int)socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

            if (fd < 0) {
                err = last_socket_errno();
                continue;
            }
            set_cloexec_nodelay(fd, ai->ai_family);
#ifndef _WIN32
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#endif
#ifdef IPV6_V6ONLY
            if (ai->ai_family == AF_INET6) {
                /* Each family gets its own socket. */
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (const void *)&one,
                           sizeof(one));
            }
#endif
            (void)one;
            if (bind(fd, ai->ai_addr, (int)ai->ai_addrlen) < 0 ||
                listen(fd, 16) < 0) {
                err = last_socket_errno();
                nbd_socket_close(fd);
                continue;
            }
            fds[n++] = fd;
        }
        freeaddrinfo(res);
        if (n == 0) {
            error_setg_errno(errp, err ? err : EADDRNOTAVAIL,
                             "Failed to bind socket");
            return -1;
        }
        return n;
    }
}

int nbd_socket_accept(int fd)
{
    int cfd;

    for (;;) {
        cfd = (int)accept(fd, NULL, NULL);
        if (cfd >= 0) {
            break;
        }
#ifdef _WIN32
        return WSAGetLastError() == WSAEWOULDBLOCK ? -EAGAIN : -EIO;
#else
        if (errno != EINTR) {
            return -errno;
        }
#endif
    }
    {
#ifdef _WIN32
        int family = AF_INET;
#else
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int family = AF_UNIX;

        if (getsockname(cfd, (struct sockaddr *)&ss, &len) == 0) {
            family = ss.ss_family;
        }
#endif
        set_cloexec_nodelay(cfd, family);
    }
    return cfd;
}
