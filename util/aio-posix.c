/*
 * coblock — AioContext on POSIX: file descriptors, epoll or poll, aio_poll
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Linux uses epoll: the set lives in the kernel, a wait costs the same
 * whatever the number of descriptors, and the epoll descriptor itself is
 * what an embedding application polls.  Elsewhere, or when
 * COBLOCK_AIO_POLL=poll is set in the environment (tests use this to cover
 * both paths), the set is rebuilt into a pollfd array for poll().
 *
 * One iteration of aio_poll:
 *   1. if blocking, announce it (notify_me) and compute the timeout: zero
 *      when BHs are pending or aio_notify was called, else the nearest
 *      timer deadline, else forever;
 *   2. wait for descriptors;
 *   3. run the handlers of ready descriptors;
 *   4. run the BHs that were scheduled (including coroutine wake-ups);
 *   5. run the timers that are due.
 * Handlers removed while the list is being walked are only marked; they
 * are freed when the outermost walk ends, so a nested aio_poll or a
 * handler removing itself is safe.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "util/aio-int.h"

#include <poll.h>
#ifdef HAVE_SYS_EPOLL_H
#include <sys/epoll.h>
#endif
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif
#include <fcntl.h>

struct AioHandler {
    int fd;
    IOHandler *io_read;
    IOHandler *io_write;
    EventNotifierHandler *io_notify;  /* event notifier handlers */
    void *opaque;
    bool is_internal;                 /* the context's own notifier */
    bool deleted;
    int pfd_index;                    /* poll(): slot in this wait */
    QLIST_ENTRY(AioHandler) node;
};

#define AIO_MAX_EVENTS 128

/* ---- event notifiers ---- */

static int set_cloexec_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return -errno;
    }
    return 0;
}

int event_notifier_init(EventNotifier *e, bool active)
{
    int fds[2];
    int ret;

#ifdef HAVE_EVENTFD
    ret = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ret >= 0) {
        e->rfd = e->wfd = ret;
        e->initialized = true;
        if (active) {
            event_notifier_set(e);
        }
        return 0;
    }
#endif
    if (pipe(fds) < 0) {
        return -errno;
    }
    if ((ret = set_cloexec_nonblock(fds[0])) < 0 ||
        (ret = set_cloexec_nonblock(fds[1])) < 0) {
        close(fds[0]);
        close(fds[1]);
        return ret;
    }
    e->rfd = fds[0];
    e->wfd = fds[1];
    e->initialized = true;
    if (active) {
        event_notifier_set(e);
    }
    return 0;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (!e->initialized) {
        return;
    }
    if (e->rfd != e->wfd) {
        close(e->wfd);
    }
    close(e->rfd);
    e->rfd = e->wfd = -1;
    e->initialized = false;
}

int event_notifier_set(EventNotifier *e)
{
    static const uint64_t one = 1;
    ssize_t n;

    do {
        n = write(e->wfd, &one, e->rfd == e->wfd ? sizeof(one) : 1);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter or pipe is full, which means "set" already. */
    if (n < 0 && errno != EAGAIN) {
        return -errno;
    }
    return 0;
}

bool event_notifier_test_and_clear(EventNotifier *e)
{
    char buf[512];
    bool was_set = false;
    ssize_t n;

    do {
        n = read(e->rfd, buf, sizeof(buf));
        if (n > 0) {
            was_set = true;
        }
    } while ((n < 0 && errno == EINTR) ||
             (n == (ssize_t)sizeof(buf) && e->rfd != e->wfd));
    return was_set;
}

/* ---- handler set ---- */

static bool use_epoll(AioContext *ctx)
{
    return ctx->epollfd >= 0;
}

int aio_context_platform_init(AioContext *ctx)
{
    const char *mode = getenv("COBLOCK_AIO_POLL");

    ctx->epollfd = -1;
#ifdef HAVE_EPOLL_CREATE1
    if (!mode || strcmp(mode, "poll") != 0) {
        ctx->epollfd = epoll_create1(EPOLL_CLOEXEC);
        if (ctx->epollfd < 0 && errno != ENOSYS) {
            return -errno;
        }
    }
#else
    (void)mode;
#endif
    return 0;
}

void aio_context_platform_cleanup(AioContext *ctx)
{
    AioHandler *h, *tmp;

    QLIST_FOREACH_SAFE(h, &ctx->handlers, node, tmp) {
        if (!h->deleted) {
            qemu_abort("aio_context_unref: fd handler for %d still set", h->fd);
        }
        QLIST_REMOVE(h, node);
        free(h);
    }
#ifdef HAVE_EPOLL_CREATE1
    if (ctx->epollfd >= 0) {
        close(ctx->epollfd);
    }
#endif
    free(ctx->pollfds);
    free(ctx->poll_owners);
}

static AioHandler *find_handler(AioContext *ctx, int fd)
{
    AioHandler *h;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (h->fd == fd && !h->deleted) {
            return h;
        }
    }
    return NULL;
}

#ifdef HAVE_EPOLL_CREATE1
static void epoll_update(AioContext *ctx, AioHandler *h, int op)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = h;
    if (op != EPOLL_CTL_DEL) {
        ev.events = (h->io_read || h->io_notify ? EPOLLIN : 0) |
                    (h->io_write ? EPOLLOUT : 0);
    }
    if (epoll_ctl(ctx->epollfd, op, h->fd, &ev) < 0) {
        qemu_abort("epoll_ctl(%d) on fd %d failed: %s", op, h->fd,
                   strerror(errno));
    }
}
#endif

static void handler_remove(AioContext *ctx, AioHandler *h)
{
#ifdef HAVE_EPOLL_CREATE1
    if (use_epoll(ctx)) {
        epoll_update(ctx, h, EPOLL_CTL_DEL);
    }
#endif
    if (ctx->walking_handlers) {
        h->deleted = true;
        ctx->handlers_deleted = true;
    } else {
        QLIST_REMOVE(h, node);
        free(h);
    }
}

static void set_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, EventNotifierHandler *io_notify,
                        void *opaque, bool is_internal)
{
    AioHandler *h = find_handler(ctx, fd);

    if (!io_read && !io_write && !io_notify) {
        if (h) {
            handler_remove(ctx, h);
        }
        return;
    }
    if (!h) {
        h = qemu_xmalloc0(sizeof(*h));
        h->fd = fd;
        h->io_read = io_read;
        h->io_write = io_write;
        h->io_notify = io_notify;
        h->opaque = opaque;
        h->is_internal = is_internal;
        QLIST_INSERT_HEAD(&ctx->handlers, h, node);
#ifdef HAVE_EPOLL_CREATE1
        if (use_epoll(ctx)) {
            epoll_update(ctx, h, EPOLL_CTL_ADD);
        }
#endif
    } else {
        h->io_read = io_read;
        h->io_write = io_write;
        h->io_notify = io_notify;
        h->opaque = opaque;
        h->is_internal = is_internal;
#ifdef HAVE_EPOLL_CREATE1
        if (use_epoll(ctx)) {
            epoll_update(ctx, h, EPOLL_CTL_MOD);
        }
#endif
    }
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque)
{
    set_handler(ctx, fd, io_read, io_write, NULL, opaque, false);
}

void aio_set_event_notifier(AioContext *ctx, EventNotifier *n,
                            EventNotifierHandler *handler)
{
    set_handler(ctx, n->rfd, NULL, NULL, handler, n, false);
}

void aio_set_internal_notifier(AioContext *ctx, EventNotifier *n,
                               EventNotifierHandler *handler)
{
    set_handler(ctx, n->rfd, NULL, NULL, handler, n, true);
}

int aio_get_fd(AioContext *ctx)
{
    /* From now on every schedule pokes the notifier: the embedding loop
     * does not announce when it sleeps. */
    qatomic_set(&ctx->always_notify, true);
    return ctx->epollfd;
}

void *aio_get_event_handle(AioContext *ctx)
{
    (void)ctx;
    return NULL;
}

/* ---- dispatch ---- */

/* Run the handler @h for the events @revents; returns true on progress. */
static bool dispatch_handler(AioHandler *h, bool readable, bool writable)
{
    bool progress = false;

    if (h->deleted) {
        return false;
    }
    if (readable && h->io_notify) {
        h->io_notify(h->opaque);
        return !h->is_internal;
    }
    if (readable && h->io_read) {
        h->io_read(h->opaque);
        progress = true;
    }
    /* The read handler may have removed or changed the handler. */
    if (writable && !h->deleted && h->io_write) {
        h->io_write(h->opaque);
        progress = true;
    }
    return progress;
}

static void free_deleted_handlers(AioContext *ctx)
{
    AioHandler *h, *tmp;

    if (ctx->walking_handlers || !ctx->handlers_deleted) {
        return;
    }
    QLIST_FOREACH_SAFE(h, &ctx->handlers, node, tmp) {
        if (h->deleted) {
            QLIST_REMOVE(h, node);
            free(h);
        }
    }
    ctx->handlers_deleted = false;
}

#ifdef HAVE_EPOLL_CREATE1
static bool wait_epoll(AioContext *ctx, int64_t timeout_ns)
{
    struct epoll_event events[AIO_MAX_EVENTS];
    bool progress = false;
    int i, n;

    n = epoll_wait(ctx->epollfd, events, AIO_MAX_EVENTS,
                   aio_timeout_to_ms(timeout_ns));
    /* Awake: work scheduled by the handlers below needs no wake-up. */
    qatomic_set(&ctx->notify_me, 0);
    if (n < 0) {
        /* A signal interrupted the wait: return to the caller, who
         * loops on its own condition. */
        if (errno != EINTR) {
            qemu_abort("epoll_wait failed: %s", strerror(errno));
        }
        n = 0;
    }
    for (i = 0; i < n; i++) {
        AioHandler *h = events[i].data.ptr;
        uint32_t ev = events[i].events;
        bool err = ev & (EPOLLERR | EPOLLHUP);

        progress |= dispatch_handler(h, (ev & EPOLLIN) || err,
                                     (ev & EPOLLOUT) || err);
    }
    return progress;
}
#endif

static bool wait_poll(AioContext *ctx, int64_t timeout_ns)
{
    unsigned count = 0, i;
    AioHandler *h;
    bool progress = false;
    int n;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (!h->deleted) {
            count++;
        }
    }
    if (count > ctx->poll_alloc) {
        ctx->poll_alloc = MAX(count, ctx->poll_alloc * 2);
        ctx->pollfds = qemu_xrealloc(ctx->pollfds,
                                     ctx->poll_alloc * sizeof(*ctx->pollfds));
        ctx->poll_owners = qemu_xrealloc(ctx->poll_owners,
                                         ctx->poll_alloc * sizeof(AioHandler *));
    }
    i = 0;
    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (h->deleted) {
            continue;
        }
        ctx->pollfds[i].fd = h->fd;
        ctx->pollfds[i].events = (h->io_read || h->io_notify ? POLLIN : 0) |
                                 (h->io_write ? POLLOUT : 0);
        ctx->pollfds[i].revents = 0;
        ctx->poll_owners[i] = h;
        i++;
    }
    n = poll(ctx->pollfds, count, aio_timeout_to_ms(timeout_ns));
    qatomic_set(&ctx->notify_me, 0);
    if (n < 0 && errno != EINTR) {
        qemu_abort("poll failed: %s", strerror(errno));
    }
    for (i = 0; n > 0 && i < count; i++) {
        short re = ctx->pollfds[i].revents;
        bool err = re & (POLLERR | POLLHUP | POLLNVAL);

        if (!re) {
            continue;
        }
        progress |= dispatch_handler(ctx->poll_owners[i],
                                     (re & POLLIN) || err,
                                     (re & POLLOUT) || err);
    }
    return progress;
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    AioContext *saved;
    int64_t timeout = 0;
    bool progress;

    aio_poll_enter(ctx, &saved);
    if (blocking) {
        qatomic_set(&ctx->notify_me, 1);
        /* Pairs with the barrier in aio_notify. */
        smp_mb();
        if (!qatomic_read(&ctx->notified) && !aio_bh_pending(ctx)) {
            timeout = aio_timers_deadline_ns(ctx);
        }
    }

    ctx->walking_handlers++;
#ifdef HAVE_EPOLL_CREATE1
    if (use_epoll(ctx)) {
        progress = wait_epoll(ctx, timeout);
    } else
#endif
    {
        progress = wait_poll(ctx, timeout);
    }
    ctx->walking_handlers--;

    qatomic_set(&ctx->notified, false);
    free_deleted_handlers(ctx);

    progress |= aio_bh_poll(ctx);
    progress |= aio_timers_run(ctx);
    aio_poll_leave(ctx, saved);
    return progress;
}
