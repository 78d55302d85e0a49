/*
 * coblock — run the hostile NBD client against a server
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: nbd-hostile [-v] RW_SOCKET [RO_SOCKET]
 * Exit status: 0 when the server answered every scenario correctly.
 */
#include "util/osdep.h"
#include "hostile.h"

#include <signal.h>

int main(int argc, char **argv)
{
    bool verbose = false;
    int i = 1, failed;

    signal(SIGPIPE, SIG_IGN);
    if (i < argc && !strcmp(argv[i], "-v")) {
        verbose = true;
        i++;
    }
    if (argc - i < 1 || argc - i > 2) {
        fprintf(stderr, "Usage: %s [-v] RW_SOCKET [RO_SOCKET]\n", argv[0]);
        return 2;
    }
    failed = nbd_hostile_run(argv[i], i + 1 < argc ? argv[i + 1] : NULL,
                             stderr, verbose);
    return failed ? 1 : 0;
}
