/*
 * coblock — the "file" protocol driver on Windows: what tests may ask
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The driver itself is block/file-win32.c; this header only exposes the
 * counters that tell which path a request took, so that tests can check
 * that vectored requests are not bounced, that scatter/gather is used
 * where Windows allows it, and which features the file system offered.
 */
#ifndef BLOCK_FILE_WIN32_H
#define BLOCK_FILE_WIN32_H

#ifdef _WIN32
#include "util/osdep.h"
#include <coblock/block.h>

typedef struct FileWin32Stats {
    uint64_t requests;          /* reads and writes */
    uint64_t bounced;           /* copied through an aligned buffer */
    uint64_t vectored;          /* several pieces, one operation each */
    uint64_t scatter_gather;    /* ReadFileScatter / WriteFileGather */
    uint64_t native_ops;        /* operations through the completion port */
    uint64_t thread_jobs;       /* jobs run on the thread pool */
    uint64_t fua_writes;        /* writes on the write-through handle */
    /* What the open file turned out to support. */
    bool native;                /* aio=native in use */
    bool nocache;               /* FILE_FLAG_NO_BUFFERING */
    bool write_through_handle;  /* FUA writes have their own handle */
    bool sparse_volume;         /* the volume supports sparse files */
    bool sparse_file;           /* the file is sparse now */
    bool zero_data;             /* FSCTL_SET_ZERO_DATA works (so far) */
    bool allocated_ranges;      /* FSCTL_QUERY_ALLOCATED_RANGES works */
    bool locking;               /* image locks are taken */
    uint32_t sector_size;       /* alignment for unbuffered I/O */
} FileWin32Stats;

/* Fill @st for a node of the file driver; false for any other node. */
bool file_win32_get_stats(BlockDriverState *bs, FileWin32Stats *st);

#endif /* _WIN32 */
#endif /* BLOCK_FILE_WIN32_H */
