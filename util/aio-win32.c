/*
 * coblock — AioContext on Windows: event handles, sockets, aio_poll
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The loop waits with WaitForMultipleObjects on the HANDLEs of its event
 * notifiers (the context's own notifier included) and, for sockets, on an
 * event bound with WSAEventSelect.  One wait covers at most
 * MAXIMUM_WAIT_OBJECTS handles; I/O completions do not need one handle
 * each: they arrive through a completion port whose single event is one
 * notifier (see block/file-win32.c).
 *
 * The iteration is the same as on POSIX: wait, run ready handlers, BHs,
 * then due timers.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "util/aio-int.h"

struct AioHandler {
    HANDLE handle;                    /* event to wait on */
    int fd;                           /* socket, or -1 for notifiers */
    IOHandler *io_read;
    IOHandler *io_write;
    EventNotifierHandler *io_notify;
    EventNotifier *notifier;
    void *opaque;
    bool is_internal;
    bool deleted;
    QLIST_ENTRY(AioHandler) node;
};

/* ---- event notifiers ---- */

int event_notifier_init(EventNotifier *e, bool active)
{
    /* Manual reset: the flag stays set until test_and_clear. */
    e->event = CreateEvent(NULL, TRUE, active ? TRUE : FALSE, NULL);
    if (!e->event) {
        return -ENOMEM;
    }
    e->initialized = true;
    return 0;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (e->initialized) {
        CloseHandle(e->event);
        e->event = NULL;
        e->initialized = false;
    }
}

int event_notifier_set(EventNotifier *e)
{
    return SetEvent(e->event) ? 0 : -EIO;
}

bool event_notifier_test_and_clear(EventNotifier *e)
{
    bool was_set = WaitForSingleObject(e->event, 0) == WAIT_OBJECT_0;

    ResetEvent(e->event);
    return was_set;
}

/* ---- handler set ---- */

int aio_context_platform_init(AioContext *ctx)
{
    (void)ctx;
    return 0;
}

void aio_context_platform_cleanup(AioContext *ctx)
{
    AioHandler *h, *tmp;

    QLIST_FOREACH_SAFE(h, &ctx->handlers, node, tmp) {
        if (!h->deleted) {
            qemu_abort("aio_context_unref: handler still set");
        }
        QLIST_REMOVE(h, node);
        free(h);
    }
    free(ctx->wait_handles);
    free(ctx->wait_owners);
}

static void handler_remove(AioContext *ctx, AioHandler *h)
{
    if (h->fd >= 0) {
        WSAEventSelect((SOCKET)h->fd, NULL, 0);
        CloseHandle(h->handle);
        h->handle = NULL;
    }
    if (ctx->walking_handlers) {
        h->deleted = true;
        ctx->handlers_deleted = true;
    } else {
        QLIST_REMOVE(h, node);
        free(h);
    }
}

static void set_notifier(AioContext *ctx, EventNotifier *n,
                         EventNotifierHandler *handler, bool is_internal)
{
    AioHandler *h;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (h->notifier == n && !h->deleted) {
            break;
        }
    }
    if (!handler) {
        if (h) {
            handler_remove(ctx, h);
        }
        return;
    }
    if (!h) {
        h = qemu_xmalloc0(sizeof(*h));
        h->fd = -1;
        h->notifier = n;
        h->handle = n->event;
        QLIST_INSERT_HEAD(&ctx->handlers, h, node);
    }
    h->io_notify = handler;
    h->opaque = n;
    h->is_internal = is_internal;
}

void aio_set_event_notifier(AioContext *ctx, EventNotifier *n,
                            EventNotifierHandler *handler)
{
    set_notifier(ctx, n, handler, false);
}

void aio_set_internal_notifier(AioContext *ctx, EventNotifier *n,
                               EventNotifierHandler *handler)
{
    set_notifier(ctx, n, handler, true);
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque)
{
    AioHandler *h;
    long events;

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (h->fd == fd && !h->deleted) {
            break;
        }
    }
    if (!io_read && !io_write) {
        if (h) {
            handler_remove(ctx, h);
        }
        return;
    }
    if (!h) {
        h = qemu_xmalloc0(sizeof(*h));
        h->fd = fd;
        h->handle = WSACreateEvent();
        QLIST_INSERT_HEAD(&ctx->handlers, h, node);
    }
    h->io_read = io_read;
    h->io_write = io_write;
    h->opaque = opaque;
    events = (io_read ? FD_READ | FD_ACCEPT | FD_CLOSE : 0) |
             (io_write ? FD_WRITE | FD_CONNECT : 0);
    WSAEventSelect((SOCKET)fd, h->handle, events);
}

int aio_get_fd(AioContext *ctx)
{
    (void)ctx;
    return -1;
}

void *aio_get_event_handle(AioContext *ctx)
{
    qatomic_set(&ctx->always_notify, true);
    return ctx->notifier.event;
}

/* ---- dispatch ---- */

static bool dispatch_handler(AioHandler *h)
{
    if (h->deleted) {
        return false;
    }
    if (h->io_notify) {
        h->io_notify(h->notifier);
        return !h->is_internal;
    }
    if (h->fd >= 0) {
        WSANETWORKEVENTS ne;
        bool progress = false;

        if (WSAEnumNetworkEvents((SOCKET)h->fd, h->handle, &ne) != 0) {
            ne.lNetworkEvents = FD_READ | FD_WRITE;
        }
        if ((ne.lNetworkEvents & (FD_READ | FD_ACCEPT | FD_CLOSE)) && h->io_read) {
            h->io_read(h->opaque);
            progress = true;
        }
        if ((ne.lNetworkEvents & (FD_WRITE | FD_CONNECT)) && !h->deleted &&
            h->io_write) {
            h->io_write(h->opaque);
            progress = true;
        }
        return progress;
    }
    return false;
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

bool aio_poll(AioContext *ctx, bool blocking)
{
    AioContext *saved;
    int64_t timeout_ns = 0;
    bool progress = false;
    unsigned count = 0, i, first;
    AioHandler *h;
    DWORD timeout_ms, ret;

    aio_poll_enter(ctx, &saved);
    if (blocking) {
        qatomic_set(&ctx->notify_me, 1);
        smp_mb();
        if (!qatomic_read(&ctx->notified) && !aio_bh_pending(ctx)) {
            timeout_ns = aio_timers_deadline_ns(ctx);
        }
    }

    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (!h->deleted) {
            count++;
        }
    }
    if (count > MAXIMUM_WAIT_OBJECTS) {
        qemu_abort("AioContext: more than %d handles to wait on",
                   MAXIMUM_WAIT_OBJECTS);
    }
    if (count > ctx->wait_alloc) {
        ctx->wait_alloc = count;
        ctx->wait_handles = qemu_xrealloc(ctx->wait_handles, count * sizeof(HANDLE));
        ctx->wait_owners = qemu_xrealloc(ctx->wait_owners, count * sizeof(AioHandler *));
    }
    i = 0;
    QLIST_FOREACH(h, &ctx->handlers, node) {
        if (!h->deleted) {
            ctx->wait_handles[i] = h->handle;
            ctx->wait_owners[i] = h;
            i++;
        }
    }

    timeout_ms = timeout_ns < 0 ? INFINITE : (DWORD)aio_timeout_to_ms(timeout_ns);
    ctx->walking_handlers++;
    ret = WaitForMultipleObjects(count, ctx->wait_handles, FALSE, timeout_ms);
    if (blocking) {
        qatomic_set(&ctx->notify_me, 0);
    }
    qatomic_set(&ctx->notified, false);
    if (ret < WAIT_OBJECT_0 + count) {   /* WAIT_OBJECT_0 is 0 */
        /* Dispatch the first signalled handle, then any others that are
         * signalled too (WaitForMultipleObjects reports only one). */
        first = ret - WAIT_OBJECT_0;
        progress |= dispatch_handler(ctx->wait_owners[first]);
        for (i = first + 1; i < count; i++) {
            if (WaitForSingleObject(ctx->wait_handles[i], 0) == WAIT_OBJECT_0) {
                progress |= dispatch_handler(ctx->wait_owners[i]);
            }
        }
    } else if (ret == WAIT_FAILED) {
        qemu_abort("WaitForMultipleObjects failed: error %lu", GetLastError());
    }
    ctx->walking_handlers--;
    free_deleted_handlers(ctx);

    progress |= aio_bh_poll(ctx);
    progress |= aio_timers_run(ctx);
    aio_poll_leave(ctx, saved);
    return progress;
}
