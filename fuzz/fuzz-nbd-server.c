/*
 * coblock — libFuzzer target: the NBD server's handshake and request
 * parser
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each input is what a client sends on one connection, from the client
 * flags on.  The real server code serves it over a socketpair: the input
 * is fed in as fast as the server reads it, everything the server sends
 * back is read and dropped, and the input's end is the client hanging up.
 * The export is a 1 MiB null-co device (reads return zeroes, writes are
 * dropped), so the run exercises the protocol code and the generic block
 * layer without touching files.  A run must end with the connection
 * closed by the server: a server still waiting after the client is gone
 * is a hang, and aborts.
 *
 * Build it with libFuzzer (see nbd/local.mk: make fuzz-nbd-server), or
 * link it with fuzz/replay-main.c to replay saved inputs.
 */
#include "util/osdep.h"
#include "block/block_int.h"
#include "block/nbd.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static AioContext *ctx;
static NBDServer *server;

static void fuzz_init(void)
{
    NBDExportConfig cfg = { .name = "", .description = "fuzz",
                            .allocation_depth = true, .multi_conn = true };
    NBDExportConfig ro = { .name = "ro", .read_only = true };
    QDict *opts;
    BlockBackend *blk;

    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    ctx = qemu_get_aio_context();
    server = nbd_server_new(ctx, NULL, NULL);

    opts = qdict_new();
    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "size", "1048576");
    qdict_put_str(opts, "read-zeroes", "on");
    blk = blk_new_open(NULL, opts, BDRV_O_RDWR, &error_abort);
    nbd_export_new(server, blk, &cfg, &error_abort);

    opts = qdict_new();
    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "size", "65536");
    blk = blk_new_open(NULL, opts, 0, &error_abort);
    nbd_export_new(server, blk, &ro, &error_abort);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    uint8_t sink[65536];
    size_t fed = 0;
    bool shut = false;
    long spins = 0;
    int sv[2];

    if (!initialised) {
        fuzz_init();
        initialised = true;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        abort();
    }
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    nbd_server_add_client(server, sv[0]);

    while (nbd_server_client_count(server) > 0) {
        ssize_t n;

        /* Feed what the socket takes, then hang up. */
        if (fed < size) {
            n = send(sv[1], data + fed, size - fed, MSG_NOSIGNAL);
            if (n > 0) {
                fed += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                fed = size;         /* the server closed its end */
            }
        }
        if (fed == size && !shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        /* Drop whatever the server answers. */
        while ((n = recv(sv[1], sink, sizeof(sink), 0)) > 0) {
        }
        if (!aio_poll(ctx, false)) {
            if (++spins > 10 * 1000 * 1000) {
                fprintf(stderr, "fuzz-nbd-server: the server hangs\n");
                abort();
            }
        } else {
            spins = 0;
        }
    }
    close(sv[1]);
    return 0;
}
