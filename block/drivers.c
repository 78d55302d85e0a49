/*
 * coblock — the built-in drivers
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bdrv_init() registers every driver of this table, in order.
 */
#include "util/osdep.h"
#include "block/block_int.h"

#ifndef _WIN32
extern const BlockDriver bdrv_file;
#endif

const BlockDriver *const bdrv_builtin_drivers[] = {
#ifndef _WIN32
    &bdrv_file,
#endif
    NULL,
};
