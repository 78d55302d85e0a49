/*
 * coblock — run the hostile NBD client against a server
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: nbd-hostile [-v] [-t SECONDS] RW_SOCKET [RO_SOCKET]
 * -t: the server's handshake timeout, to check that a stalled client is
 * dropped in time (not checked without it).
 * Exit status: 0 when the server answered every scenario correctly.
 */
#include "util/osdep.h"
#include "hostile.h"

#include <signal.h>

int main(int argc, char **argv)
{
    bool verbose = false;
    int i = 1, failed, timeout = 0;

    signal(SIGPIPE, SIG_IGN);
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-v")) {
            verbose = true;
            i++;
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            timeout = atoi(argv[i + 1]);
            i += 2;
        } else {
            break;
        }
    }
    if (argc - i < 1 || argc - i > 2) {
        fprintf(stderr, "Usage: %s [-v] [-t SECONDS] RW_SOCKET [RO_SOCKET]\n",
                argv[0]);
        return 2;
    }
    failed = nbd_hostile_run(argv[i], i + 1 < argc ? argv[i + 1] : NULL,
                             timeout, stderr, verbose);
    return failed ? 1 : 0;
}
