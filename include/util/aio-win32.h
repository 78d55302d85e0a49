/*
 * coblock — overlapped I/O completions through an AioContext (Windows)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each AioContext has (on first use) one I/O completion port.  Files are
 * associated with the port of the context that runs their requests.  An
 * operation started on such a file (ReadFile, WriteFile, ReadFileScatter,
 * DeviceIoControl...) carries an AioWin32Op, whose OVERLAPPED names the
 * context's own notifier event, so the loop wakes on completion; aio_poll
 * then drains the port with GetQueuedCompletionStatusEx and runs each
 * finished operation's @complete callback on the context's thread.  One
 * port and one event serve any number of operations in flight: the
 * MAXIMUM_WAIT_OBJECTS limit of WaitForMultipleObjects does not apply.
 *
 * Why the loop cannot miss a completion
 * -------------------------------------
 * Starting an operation resets the event in its OVERLAPPED (the system
 * does that), which may swallow the signal of another operation that
 * completed just before; and Windows sets the event of an operation
 * before it queues the packet on the port, so a drain right after the
 * wake-up may find nothing.  Both are covered by one rule: before aio_poll
 * blocks, it looks at the status of every operation in flight
 * (HasOverlappedIoCompleted), and if one has finished whose packet it has
 * not reaped, it does not block.  For embedders waiting on
 * aio_get_event_handle() themselves, the same check sets the event at the
 * end of aio_poll and after an operation started outside aio_poll.
 *
 * Usage, from the context's thread:
 *
 *     aio_win32_op_init(ctx, &op, offset, my_complete, opaque);
 *     ok = ReadFile(h, buf, len, NULL, &op.ov);
 *     if (aio_win32_op_started(&op, h, ok)) {
 *         ... my_complete(&op) will run from the loop ...
 *     } else {
 *         ... done already: op.error and op.bytes hold the result ...
 *     }
 *
 * The AioWin32Op must stay valid until @complete has run.  Handles used
 * for synchronous calls that take an OVERLAPPED (LockFileEx, a
 * DeviceIoControl that is waited for) must keep their packets off the
 * port: give them an event whose handle value has the low bit set.
 */
#ifndef UTIL_AIO_WIN32_H
#define UTIL_AIO_WIN32_H

#ifdef _WIN32
#include "util/osdep.h"
#include "util/queue.h"
#include <coblock/aio.h>

typedef struct AioWin32Op AioWin32Op;
typedef struct AioWin32Port AioWin32Port;

/* Runs on the context's thread once @op has finished; @op->error and
 * @op->bytes hold the outcome.  It may start new operations. */
typedef void AioWin32OpFunc(AioWin32Op *op);

struct AioWin32Op {
    OVERLAPPED ov;              /* handed to the system call */
    DWORD error;                /* ERROR_SUCCESS or the Win32 error */
    DWORD bytes;                /* bytes transferred */
    AioWin32OpFunc *complete;
    void *opaque;
    /* private */
    AioContext *ctx;
    HANDLE file;
    QLIST_ENTRY(AioWin32Op) next;
};

/* Associate @file (opened with FILE_FLAG_OVERLAPPED) with @ctx's port.
 * With @skip_on_success, operations that complete at once queue no
 * packet (when the system agrees; *@skipping tells whether it did).
 * Returns 0 or -errno. */
int aio_win32_attach(AioContext *ctx, HANDLE file, bool skip_on_success,
                     bool *skipping);

/* Prepare @op for an operation at file offset @offset. */
void aio_win32_op_init(AioContext *ctx, AioWin32Op *op, uint64_t offset,
                       AioWin32OpFunc *complete, void *opaque);

/* Report how the call that started @op on @file returned (@ok; the
 * function reads GetLastError() itself when @ok is FALSE).  @skipping:
 * the value aio_win32_attach reported for @file.  Returns true if @op is
 * in flight (its callback will run), false if it has already finished
 * (op->error and op->bytes are set; the callback will not run). */
bool aio_win32_op_started(AioWin32Op *op, HANDLE file, BOOL ok, bool skipping);

/* Counters for tests and diagnostics. */
typedef struct AioWin32PortStats {
    uint64_t started;           /* operations that went in flight */
    uint64_t completed;         /* completions reaped from the port */
    uint64_t drains;            /* GetQueuedCompletionStatusEx calls */
    unsigned in_flight;
    unsigned max_in_flight;
} AioWin32PortStats;

/* False if @ctx has no port yet. */
bool aio_win32_port_stats(AioContext *ctx, AioWin32PortStats *stats);

/* The context's event: the one aio_get_event_handle() returns. */
HANDLE aio_win32_event(AioContext *ctx);

#endif /* _WIN32 */
#endif /* UTIL_AIO_WIN32_H */
