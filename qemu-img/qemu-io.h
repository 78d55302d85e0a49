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

#include <stdbool.h>
#include <coblock/block.h>

/* The image the commands work on, or NULL. */
extern BlockBackend *qemuio_blk;
/* Set by the quit command. */
extern bool qemuio_quit;
/* -m: offset I/O buffers from their natural alignment. */
extern bool qemuio_misalign;

/*
 * Run one command line.  Returns 0, or a negative errno value if the
 * command failed (qemu-io then exits with status 1).
 */
int qemuio_command(const char *cmdline);

/* Open flags that qemu-io knows beyond the block layer's own. */
#define QEMUIO_O_SNAPSHOT       (1 << 28)   /* -s */
#define QEMUIO_O_COPY_ON_READ   (1 << 29)   /* -C */

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

/* Close the image (waits for its requests). */
void qemuio_close(void);

#endif /* QEMU_IMG_QEMU_IO_H */
