/*
 * coblock — string and number parsing
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef UTIL_CUTILS_H
#define UTIL_CUTILS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Parse a size: a number (decimal, or a fraction like "1.5" when a suffix
 * follows) with an optional suffix B, k/K, M, G, T, P, E (powers of 1024).
 * @default_suffix applies when none is given ('B' for bytes).  On success
 * returns 0, stores the value and, if @end is not NULL, where parsing
 * stopped (without @end the whole string must be consumed).  Returns
 * -EINVAL for bad syntax, -ERANGE when the value does not fit.
 */
int qemu_strtosz_suffix(const char *nptr, const char **end, uint64_t *result,
                        char default_suffix);
int qemu_strtosz(const char *nptr, const char **end, uint64_t *result);

/* Strict integer parsing (whole string, base 0 or 10); 0 or -errno. */
int qemu_strtoi64(const char *nptr, const char **end, int base, int64_t *result);
int qemu_strtou64(const char *nptr, const char **end, int base, uint64_t *result);
int qemu_strtoi(const char *nptr, const char **end, int base, int *result);

/* The value of hexadecimal digit @c, or -1 if it is not one. */
int qemu_hexval(char c);

/* "on"/"yes"/"true" and "off"/"no"/"false"; returns false if neither. */
bool qemu_parse_bool(const char *str, bool *value);

/* Size as QEMU prints it in human output: "64 KiB", "1.5 GiB", "512 B". */
char *size_to_str(uint64_t val);

/* Join @dir's directory part and the relative @name ("a/b.img" + "c.img"
 * -> "a/c.img"); absolute @name is returned as is.  Caller frees. */
char *path_combine(const char *base_path, const char *name);
bool path_is_absolute(const char *path);

#endif /* UTIL_CUTILS_H */
