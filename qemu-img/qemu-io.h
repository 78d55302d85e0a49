/*
 * coblock — qemu-io: what the program and its commands share
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * qemu-io keeps at most one image open (qemuio_blk).  Commands are
 * words separated by spaces; qemuio_command runs one command line.  The
 * output of every command, its messages and its failure status follow
 * QEMU's qemu-io, so that scripts written for it work unchanged.
 */
#ifndef QEMU_IMG_QEMU_IO_H
#define QEMU_IMG_QEMU_IO_H

#include "util/osdep.h"
#include <coblock/block.h>

/* The image the commands work on, or NULL. */
extern BlockBackend *qemuio_blk;
/* Set by the quit command. */
extern bool qemuio_quit;
/* --image-opts: the open command's path is an option string too. */
extern bool qemuio_image_opts;
/* -m: offset I/O buffers from their natural alignment. */
extern bool qemuio_misalign;

/*
 * Run one command line.  Returns 0, or a negative errno value if the
 * command failed (qemu-io then exits with status 1).
 */
int qemuio_command(const char *cmdline);

/* Run the completion callbacks of asynchronous requests that are ready
 * (without waiting). */
void qemuio_deliver_completions(BlockBackend *blk);

/* Open flags that qemu-io knows beyond the block layer's own. */
#define QEMUIO_O_SNAPSHOT       (1 << 28)   /* -s */

/*
 * Open @name (may be NULL when @opts say everything) as the image.  Takes
 * @opts (may be NULL).  Reports failure on stderr and returns 1; returns 0
 * on success.
 */
int qemuio_open(const char *name, QDict *opts, int flags, bool writethrough,
                bool force_share);
/* Parse an option string "a=b,c=d" (",," is a literal comma) into
 * @opts, as -o and --image-opts take it.  Reports errors on stderr. */
bool qemuio_parse_options(QDict *opts, const char *str);

/*
 * Diagnostics: "qemu-io: message" on stderr.  Unlike error_report, these
 * do not flush stdout first: QEMU's qemu-io does not, and scripts that
 * capture both streams together (2>&1) see the lines in QEMU's order.
 */
void qemuio_error(const char *fmt, ...) QEMU_PRINTF(1, 2);
void qemuio_warn(const char *fmt, ...) QEMU_PRINTF(1, 2);
/* Report @err (message and hint) like qemuio_error and free it. */
void qemuio_report_err(Error *err);

/*
 * Open the image again with changed settings: @mode < 0 read-only, > 0
 * read-write, 0 unchanged; @cache a cache mode or NULL; @opts (not taken,
 * may be NULL) options to add or change.  Requests in flight complete
 * first.  On failure the image is opened as it was, the error reported,
 * and a negative errno returned.
 */
int qemuio_reopen(int mode, const char *cache, QDict *opts);

/* Close the image (waits for its requests). */
void qemuio_close(void);

#endif /* QEMU_IMG_QEMU_IO_H */
