/*
 * coblock — the log-writes filter's log format (block/log-writes.c)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A log is a sequence of records: a 32-byte header, little-endian,
 *   u32 magic (LOG_WRITES_MAGIC), u32 type, u32 flags, u32 reserved,
 *   u64 offset, u64 length
 * followed, for LOG_WRITES_WRITE, by @length bytes of data.
 *   WRITE     [offset, offset + length) of the child got the data
 *   ZERO      ... was written with zeroes
 *   DISCARD   ... was discarded (reads as anything afterwards)
 *   FLUSH     a flush was issued: every record before it is stable once
 *             it completes
 *   TRUNCATE  the child was resized to @offset bytes
 *   MARK      @offset is a tag from log_writes_mark()
 * LOG_WRITES_FAILED in flags: the request failed (its bytes may or may
 * not have landed).
 */
#ifndef BLOCK_LOG_WRITES_H
#define BLOCK_LOG_WRITES_H

#include "block/block_int.h"

#define LOG_WRITES_MAGIC        0x474f4c57u     /* "WLOG" */
#define LOG_WRITES_RECORD_SIZE  32

enum {
    LOG_WRITES_WRITE = 1,
    LOG_WRITES_ZERO = 2,
    LOG_WRITES_DISCARD = 3,
    LOG_WRITES_FLUSH = 4,
    LOG_WRITES_TRUNCATE = 5,
    LOG_WRITES_MARK = 6,
};

#define LOG_WRITES_FAILED 1u

/* Append a MARK record with @tag to the log of the first log-writes node
 * at or below @bs (following file children); nothing if there is none. */
void log_writes_mark(BlockDriverState *bs, uint64_t tag);

#endif /* BLOCK_LOG_WRITES_H */
