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
 * each: they arrive through the context's completion port, and every
 * overlapped operation signals the context's own notifier (see
 * include/util/aio-win32.h for the contract and why no completion can be
 * missed).
 *
 * The iteration is the same as on POSIX: wait, run ready handlers, reap
 * completed overlapped operations, BHs, then due timers.
 */
#include "util/osdep.h"
#include "util/atomic.h"
#include "util/aio-int.h"
#include "util/aio-win32.h"
#include "util/win32-error.h"

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

/* ---- the completion port ---- */

struct AioWin32Port {
    HANDLE port;
    QLIST_HEAD(, AioWin32Op) ops;           /* in flight */
    AioWin32PortStats stats;
};

static AioWin32Port *port_get(AioContext *ctx)
{
    AioWin32Port *p = ctx->win32_port;

    if (!p) {
        HANDLE h = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);

        if (!h) {
            return NULL;
        }
        p = qemu_xmalloc0(sizeof(*p));
        p->port = h;
        QLIST_INIT(&p->ops);
        ctx->win32_port = p;
    }
    return p;
}

HANDLE aio_win32_event(AioContext *ctx)
{
    return ctx->notifier.event;
}

int aio_win32_attach(AioContext *ctx, HANDLE file, bool skip_on_success,
                     bool *skipping)
{
    AioWin32Port *p = port_get(ctx);
    UCHAR modes = FILE_SKIP_SET_EVENT_ON_HANDLE;

    *skipping = false;
    if (!p) {
        return -win32_error_to_errno(GetLastError());
    }
    if (CreateIoCompletionPort(file, p->port, 0, 0) != p->port) {
        return -win32_error_to_errno(GetLastError());
    }
    /* Optional: without it, an operation that finishes at once still
     * queues a packet, which the loop reaps like any other. */
    if (skip_on_success) {
        modes |= FILE_SKIP_COMPLETION_PORT_ON_SUCCESS;
    }
    if (SetFileCompletionNotificationModes(file, modes)) {
        *skipping = skip_on_success;
    }
    return 0;
}

void aio_win32_op_init(AioContext *ctx, AioWin32Op *op, uint64_t offset,
                       AioWin32OpFunc *complete, void *opaque)
{
    memset(op, 0, sizeof(*op));
    op->ov.Offset = (DWORD)offset;
    op->ov.OffsetHigh = (DWORD)(offset >> 32);
    op->ov.hEvent = ctx->notifier.event;
    op->complete = complete;
    op->opaque = opaque;
    op->ctx = ctx;
}

/* An operation in flight has finished but its packet was not reaped:
 * the loop must not sleep (see the header). */
static bool port_ready(AioWin32Port *p)
{
    AioWin32Op *op;

    QLIST_FOREACH(op, &p->ops, next) {
        if (HasOverlappedIoCompleted(&op->ov)) {
            return true;
        }
    }
    return false;
}

/* For embedders that wait on the event themselves. */
static void port_kick(AioContext *ctx)
{
    AioWin32Port *p = ctx->win32_port;

    if (p && qatomic_read(&ctx->always_notify) && port_ready(p)) {
        event_notifier_set(&ctx->notifier);
    }
}

bool aio_win32_op_started(AioWin32Op *op, HANDLE file, BOOL ok, bool skipping)
{
    AioContext *ctx = op->ctx;
    AioWin32Port *p = ctx->win32_port;
    DWORD err = ok ? ERROR_SUCCESS : GetLastError();

    assert(p);
    op->file = file;
    if (!ok && err != ERROR_IO_PENDING) {
        /* Refused before it started: no packet will come. */
        op->error = err;
        op->bytes = 0;
        return false;
    }
    if (ok && skipping) {
        op->error = ERROR_SUCCESS;
        op->bytes = (DWORD)op->ov.InternalHigh;
        return false;
    }
    QLIST_INSERT_HEAD(&p->ops, op, next);
    p->stats.started++;
    p->stats.in_flight++;
    if (p->stats.in_flight > p->stats.max_in_flight) {
        p->stats.max_in_flight = p->stats.in_flight;
    }
    if (ctx->poll_depth == 0) {
        port_kick(ctx);
    }
    return true;
}

static void port_reap(AioWin32Port *p, AioWin32Op *op)
{
    DWORD bytes = 0;

    QLIST_REMOVE(op, next);
    p->stats.in_flight--;
    p->stats.completed++;
    if (GetOverlappedResult(op->file, &op->ov, &bytes, FALSE)) {
        op->error = ERROR_SUCCESS;
    } else {
        op->error = GetLastError();
    }
    op->bytes = bytes;
    op->complete(op);
}

/* Reap every completion queued on the port, without waiting. */
static bool port_drain(AioWin32Port *p)
{
    OVERLAPPED_ENTRY ents[64];
    bool progress = false;
    ULONG n, i;

    while (!QLIST_EMPTY(&p->ops)) {
        p->stats.drains++;
        if (!GetQueuedCompletionStatusEx(p->port, ents, ARRAY_SIZE(ents), &n,
                                         0, FALSE)) {
            DWORD err = GetLastError();

            if (err == WAIT_TIMEOUT) {
                break;
            }
            qemu_abort("GetQueuedCompletionStatusEx failed: error %lu",
                       (unsigned long)err);
        }
        for (i = 0; i < n; i++) {
            if (ents[i].lpOverlapped) {
                port_reap(p, container_of(ents[i].lpOverlapped, AioWin32Op, ov));
                progress = true;
            }
        }
        if (n < ARRAY_SIZE(ents)) {
            break;
        }
    }
    return progress;
}

bool aio_win32_port_stats(AioContext *ctx, AioWin32PortStats *stats)
{
    if (!ctx->win32_port) {
        memset(stats, 0, sizeof(*stats));
        return false;
    }
    *stats = ctx->win32_port->stats;
    return true;
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

    if (ctx->win32_port) {
        if (!QLIST_EMPTY(&ctx->win32_port->ops)) {
            qemu_abort("aio_context_unref: overlapped I/O still in flight");
        }
        CloseHandle(ctx->win32_port->port);
        free(ctx->win32_port);
        ctx->win32_port = NULL;
    }

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

/* The context's notifier: aio_notify sets it (always, once an embedder
 * has asked for it), and so does every overlapped operation that
 * completes. */
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
        if (!qatomic_read(&ctx->notified) && !aio_bh_pending(ctx) &&
            !(ctx->win32_port && port_ready(ctx->win32_port))) {
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

    /* The notifier was reset above (if it was set): reap after that. */
    if (ctx->win32_port) {
        progress |= port_drain(ctx->win32_port);
    }
    progress |= aio_bh_poll(ctx);
    progress |= aio_timers_run(ctx);
    port_kick(ctx);
    aio_poll_leave(ctx, saved);
    return progress;
}
