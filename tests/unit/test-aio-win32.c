/*
 * coblock — the Windows loop's completion port, with operations that
 * really stay pending
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reads from an empty named pipe stay in flight until someone writes to
 * the other end, whatever the file system or Wine does with file I/O; so
 * pipes let these tests hold many operations in flight, complete them in
 * any order, and check the cases where a completion could be missed.
 */
#include "test-common.h"
#include "util/thread.h"
#include "util/aio-win32.h"
#include <coblock/aio.h>

MINICHECK_GLOBALS

static AioContext *ctx;

static void setup(void)
{
    ctx = aio_context_new();
    ck_assert_ptr_nonnull(ctx);
    aio_context_set_home_thread(ctx);
}

static void teardown(void)
{
    aio_context_unref(ctx);
    ctx = NULL;
}

typedef struct Pipe {
    HANDLE server;              /* overlapped, on the port */
    HANDLE client;              /* plain, written by the test */
    bool skipping;
    AioWin32Op op;
    char buf[16];
    bool done;
    DWORD error, bytes;
    int order;
} Pipe;

static int completion_seq;

static void pipe_open(Pipe *p, int n)
{
    wchar_t name[128];

    swprintf(name, ARRAY_SIZE(name), L"\\\\.\\pipe\\coblock-test-%lu-%d",
             (unsigned long)GetCurrentProcessId(), n);
    p->server = CreateNamedPipeW(name, PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED,
                                 PIPE_TYPE_BYTE | PIPE_WAIT, 1, 4096, 4096, 0,
                                 NULL);
    ck_assert_msg(p->server != INVALID_HANDLE_VALUE, "CreateNamedPipeW: %lu",
                  (unsigned long)GetLastError());
    p->client = CreateFileW(name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    ck_assert_msg(p->client != INVALID_HANDLE_VALUE, "open pipe client: %lu",
                  (unsigned long)GetLastError());
    ck_assert_int_eq(aio_win32_attach(ctx, p->server, false, &p->skipping), 0);
    p->done = false;
}

static void pipe_close(Pipe *p)
{
    CloseHandle(p->client);
    CloseHandle(p->server);
}

static void pipe_read_done(AioWin32Op *op)
{
    Pipe *p = op->opaque;

    p->done = true;
    p->error = op->error;
    p->bytes = op->bytes;
    p->order = completion_seq++;
}

static void pipe_start_read(Pipe *p)
{
    BOOL ok;

    memset(p->buf, 0, sizeof(p->buf));
    aio_win32_op_init(ctx, &p->op, 0, pipe_read_done, p);
    ok = ReadFile(p->server, p->buf, sizeof(p->buf), NULL, &p->op.ov);
    ck_assert(aio_win32_op_started(&p->op, p->server, ok, p->skipping));
}

static void pipe_write(Pipe *p, const char *msg)
{
    DWORD n;

    ck_assert(WriteFile(p->client, msg, (DWORD)strlen(msg), &n, NULL));
    ck_assert_uint_eq(n, strlen(msg));
}

/* Poll without blocking until nothing more happens. */
static void drain(void)
{
    while (aio_poll(ctx, false)) {
    }
}

#define NPIPES 100

/* More operations in flight than WaitForMultipleObjects could wait for
 * with a handle each; completed in reverse order. */
START_TEST(test_many_in_flight)
{
    Pipe *pipes = qemu_xmalloc0(sizeof(Pipe) * NPIPES);
    AioWin32PortStats st;
    char msg[16];
    int i;

    for (i = 0; i < NPIPES; i++) {
        pipe_open(&pipes[i], i);
        pipe_start_read(&pipes[i]);
    }
    ck_assert(aio_win32_port_stats(ctx, &st));
    ck_assert_uint_eq(st.in_flight, NPIPES);
    ck_assert_uint_gt(st.max_in_flight, MAXIMUM_WAIT_OBJECTS);
    drain();
    for (i = 0; i < NPIPES; i++) {
        ck_assert(!pipes[i].done);
    }

    completion_seq = 0;
    for (i = NPIPES - 1; i >= 0; i--) {
        snprintf(msg, sizeof(msg), "pipe %d", i);
        pipe_write(&pipes[i], msg);
    }
    while (completion_seq < NPIPES) {
        ck_assert(aio_poll(ctx, true));
    }
    for (i = 0; i < NPIPES; i++) {
        snprintf(msg, sizeof(msg), "pipe %d", i);
        ck_assert(pipes[i].done);
        ck_assert_uint_eq(pipes[i].error, ERROR_SUCCESS);
        ck_assert_uint_eq(pipes[i].bytes, strlen(msg));
        ck_assert_str_eq(pipes[i].buf, msg);
    }
    ck_assert(aio_win32_port_stats(ctx, &st));
    ck_assert_uint_eq(st.in_flight, 0);
    ck_assert_uint_eq(st.completed, NPIPES);
    ck_assert(!aio_poll(ctx, false));
    for (i = 0; i < NPIPES; i++) {
        pipe_close(&pipes[i]);
    }
    free(pipes);
}
END_TEST

typedef struct Writer {
    Pipe *pipe;
    int delay_ms;
    const char *msg;
} Writer;

static void *writer_thread(void *opaque)
{
    Writer *w = opaque;
    DWORD n;

    Sleep((DWORD)w->delay_ms);
    WriteFile(w->pipe->client, w->msg, (DWORD)strlen(w->msg), &n, NULL);
    return NULL;
}

/* A blocking poll sleeps until a completion arrives from another thread. */
START_TEST(test_blocking_wakeup)
{
    Pipe p;
    Writer w = { &p, 100, "late" };
    QemuThread t;
    int64_t start;

    pipe_open(&p, 200);
    pipe_start_read(&p);
    ck_assert_int_eq(qemu_thread_create(&t, "writer", writer_thread, &w,
                                        QEMU_THREAD_JOINABLE), 0);
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    while (!p.done) {
        aio_poll(ctx, true);
    }
    ck_assert_int_ge(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start, 50 * 1000000LL);
    ck_assert_str_eq(p.buf, "late");
    qemu_thread_join(&t);
    pipe_close(&p);
}
END_TEST

/*
 * Starting an operation resets the event of the ones already in flight:
 * A completes (its event is set), then B starts and resets it.  The loop
 * must still reap A at once rather than sleep until B completes.
 */
START_TEST(test_reset_by_new_operation)
{
    Pipe a, b;
    Writer w = { &b, 1200, "unblock" };
    QemuThread t;
    int64_t start;

    pipe_open(&a, 300);
    pipe_open(&b, 301);
    pipe_start_read(&a);
    pipe_write(&a, "first");
    /* Let A's completion land before B starts. */
    Sleep(20);
    pipe_start_read(&b);
    /* Safety net: without the fix the test would hang, not fail. */
    ck_assert_int_eq(qemu_thread_create(&t, "writer", writer_thread, &w,
                                        QEMU_THREAD_JOINABLE), 0);
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    while (!a.done) {
        aio_poll(ctx, true);
    }
    ck_assert_int_lt(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start,
                     500 * 1000000LL);
    ck_assert(!b.done);
    ck_assert_str_eq(a.buf, "first");
    while (!b.done) {
        aio_poll(ctx, true);
    }
    ck_assert_str_eq(b.buf, "unblock");
    qemu_thread_join(&t);
    pipe_close(&a);
    pipe_close(&b);
}
END_TEST

/* The embedding handle is signalled by completions, and stays honest
 * when a new operation resets the event after a completion. */
START_TEST(test_event_handle_embedding)
{
    HANDLE ev = aio_get_event_handle(ctx);
    Pipe a, b;

    ck_assert_ptr_nonnull(ev);
    ck_assert(ev == aio_win32_event(ctx));
    pipe_open(&a, 400);
    pipe_open(&b, 401);
    drain();
    pipe_start_read(&a);
    drain();
    ck_assert_uint_eq(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);

    pipe_write(&a, "x");
    ck_assert_uint_eq(WaitForSingleObject(ev, 2000), WAIT_OBJECT_0);
    /* B starts outside aio_poll and resets the event; the handle must
     * still say "work pending" because A is not reaped. */
    pipe_start_read(&b);
    ck_assert_uint_eq(WaitForSingleObject(ev, 2000), WAIT_OBJECT_0);
    ck_assert(aio_dispatch(ctx));
    ck_assert(a.done);
    ck_assert(!b.done);
    ck_assert_int_eq(aio_get_timeout_ns(ctx), -1);

    pipe_write(&b, "y");
    ck_assert_uint_eq(WaitForSingleObject(ev, 2000), WAIT_OBJECT_0);
    while (!b.done) {
        aio_dispatch(ctx);
    }
    pipe_close(&a);
    pipe_close(&b);
}
END_TEST

/* An operation refused at once reports its error without a callback. */
START_TEST(test_refused_operation)
{
    Pipe p;
    AioWin32Op op;
    BOOL ok;

    pipe_open(&p, 500);
    aio_win32_op_init(ctx, &op, 0, pipe_read_done, &p);
    /* Reading from the write-only side of the pipe is refused. */
    ok = ReadFile(p.client, p.buf, sizeof(p.buf), NULL, &op.ov);
    ck_assert(!ok);
    ck_assert(!aio_win32_op_started(&op, p.client, ok, false));
    ck_assert_uint_ne(op.error, ERROR_SUCCESS);
    ck_assert_uint_ne(op.error, ERROR_IO_PENDING);
    drain();
    ck_assert(!p.done);
    pipe_close(&p);
}
END_TEST

static Suite *aio_win32_suite(void)
{
    Suite *s = suite_create("aio-win32-port");
    TCase *tc = tcase_create("port");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_many_in_flight);
    tcase_add_test(tc, test_blocking_wakeup);
    tcase_add_test(tc, test_reset_by_new_operation);
    tcase_add_test(tc, test_event_handle_embedding);
    tcase_add_test(tc, test_refused_operation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(aio_win32_suite());
}
