/*
 * coblock — the drivers built into this library
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An explicit table rather than constructors, so that a static link
 * keeps every driver and the registration order is fixed.  bdrv_init()
 * registers each entry through bdrv_register(), which checks it.
 */
#include "util/osdep.h"
#include "block/block_int.h"

extern const BlockDriver bdrv_raw;
extern const BlockDriver bdrv_null_co;
extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_qcow2;
extern const BlockDriver bdrv_nbd;
extern const BlockDriver bdrv_nbd_tcp;
extern const BlockDriver bdrv_nbd_unix;
extern const BlockDriver bdrv_blkdebug;
extern const BlockDriver bdrv_log_writes;

const BlockDriver *const bdrv_builtin_drivers[] = {
    &bdrv_raw,
    &bdrv_null_co,
    &bdrv_file,
    &bdrv_qcow2,
    &bdrv_nbd,
    &bdrv_nbd_tcp,
    &bdrv_nbd_unix,
    &bdrv_blkdebug,
    &bdrv_log_writes,
    NULL
};
