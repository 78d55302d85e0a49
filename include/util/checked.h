/*
 * coblock — overflow-checked integer arithmetic
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Offsets and sizes read from image files are hostile: every computation
 * on them goes through these helpers, which return true when the result
 * overflowed (the result is then unusable).
 */
#ifndef UTIL_CHECKED_H
#define UTIL_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

#define CHECKED_ADD(a, b, r) __builtin_add_overflow((a), (b), (r))
#define CHECKED_SUB(a, b, r) __builtin_sub_overflow((a), (b), (r))
#define CHECKED_MUL(a, b, r) __builtin_mul_overflow((a), (b), (r))

/* [offset, offset + len) lies within [0, limit) without overflow. */
static inline bool range_within(uint64_t offset, uint64_t len, uint64_t limit)
{
    uint64_t end;
    return !CHECKED_ADD(offset, len, &end) && end <= limit;
}

/* Two ranges intersect. */
static inline bool ranges_overlap(uint64_t a, uint64_t alen,
                                  uint64_t b, uint64_t blen)
{
    if (!alen || !blen) {
        return false;
    }
    return a < b + blen && b < a + alen;
}

#endif /* UTIL_CHECKED_H */
