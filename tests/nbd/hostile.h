/*
 * coblock — a hostile NBD client: malformed handshakes and requests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef TESTS_NBD_HOSTILE_H
#define TESTS_NBD_HOSTILE_H

#include <stdbool.h>
#include <stdio.h>

/*
 * The image behind the writable export must be HOSTILE_IMAGE_SIZE bytes:
 * HOSTILE_DATA_BYTE over [HOSTILE_DATA_OFFSET, + HOSTILE_DATA_LEN) and a
 * hole (reading as zeroes) everywhere else.  The read-only export (may be
 * NULL: its checks are skipped) serves any image.
 */
#define HOSTILE_IMAGE_SIZE   (4 * 1024 * 1024)
#define HOSTILE_DATA_OFFSET  (1024 * 1024)
#define HOSTILE_DATA_LEN     (1024 * 1024)
#define HOSTILE_DATA_BYTE    0xab

/* Run every scenario against the server listening on the Unix socket
 * @rw_path (export "") and @ro_path (export "", read-only); each scenario
 * opens its own connections.  With @handshake_timeout (seconds) > 0, also
 * check that a client that stalls in the handshake is dropped within
 * about that time.  Failures are described on @log.  Returns the number
 * of failed scenarios. */
int nbd_hostile_run(const char *rw_path, const char *ro_path,
                    int handshake_timeout, FILE *log, bool verbose);

#endif /* TESTS_NBD_HOSTILE_H */
