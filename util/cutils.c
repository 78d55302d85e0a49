/*
 * coblock — string and number parsing
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "util/cutils.h"

#include <ctype.h>
#include <math.h>

static int suffix_shift(char c)
{
    switch (c) {
    case 'B': case 'b': return 0;
    case 'K': case 'k': return 10;
    case 'M': case 'm': return 20;
    case 'G': case 'g': return 30;
    case 'T': case 't': return 40;
    case 'P': case 'p': return 50;
    case 'E': case 'e': return 60;
    default: return -1;
    }
}

int qemu_strtosz_suffix(const char *nptr, const char **end, uint64_t *result,
                        char default_suffix)
{
    const char *p = nptr;
    uint64_t whole = 0, frac_num = 0, frac_den = 1;
    bool have_digits = false, have_frac = false;
    int shift;

    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '-') {
        return -EINVAL;
    }
    if (*p == '0' && (p[1] == 'x' || p[1] == 'X')) {
        /* Hexadecimal, bytes only, no fraction. */
        char *e;
        unsigned long long v;
        errno = 0;
        v = strtoull(p, &e, 16);
        if (e == p + 2) {
            return -EINVAL;
        }
        if (errno == ERANGE) {
            return -ERANGE;
        }
        p = e;
        whole = v;
        have_digits = true;
        if (suffix_shift(*p) > 0 || *p == '.') {
            return -EINVAL;
        }
    } else {
        while (isdigit((unsigned char)*p)) {
            uint64_t d = (uint64_t)(*p - '0');
            if (whole > (UINT64_MAX - d) / 10) {
                return -ERANGE;
            }
            whole = whole * 10 + d;
            have_digits = true;
            p++;
        }
        if (*p == '.') {
            p++;
            have_frac = true;
            while (isdigit((unsigned char)*p)) {
                if (frac_den < UINT64_C(1000000000000000)) {
                    frac_num = frac_num * 10 + (uint64_t)(*p - '0');
                    frac_den *= 10;
                }
                have_digits = true;
                p++;
            }
        }
    }
    if (!have_digits) {
        return -EINVAL;
    }
    shift = suffix_shift(*p);
    if (shift >= 0) {
        p++;
    } else {
        shift = suffix_shift(default_suffix);
        assert(shift >= 0);
    }
    if (have_frac && frac_num && shift == 0) {
        /* A fraction of a byte. */
        return -EINVAL;
    }
    if (end) {
        *end = p;
    } else if (*p != '\0') {
        return -EINVAL;
    }
    if (shift && whole > (UINT64_MAX >> shift)) {
        return -ERANGE;
    }
    {
        uint64_t val = whole << shift;
        if (frac_num) {
            /* frac_num / frac_den of one unit, rounded down */
            uint64_t unit = UINT64_C(1) << shift;
            double f = (double)frac_num / (double)frac_den * (double)unit;
            if ((double)val + f >= 18446744073709551616.0) {
                return -ERANGE;
            }
            val += (uint64_t)f;
        }
        *result = val;
    }
    return 0;
}

int qemu_strtosz(const char *nptr, const char **end, uint64_t *result)
{
    return qemu_strtosz_suffix(nptr, end, result, 'B');
}

int qemu_strtoi64(const char *nptr, const char **end, int base, int64_t *result)
{
    char *e;
    long long v;

    if (!nptr || !*nptr) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(nptr, &e, base);
    if (e == nptr) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (end) {
        *end = e;
    } else if (*e) {
        return -EINVAL;
    }
    *result = v;
    return 0;
}

int qemu_strtou64(const char *nptr, const char **end, int base, uint64_t *result)
{
    char *e;
    unsigned long long v;
    const char *p = nptr;

    if (!nptr || !*nptr) {
        return -EINVAL;
    }
    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '-') {
        return -ERANGE;
    }
    errno = 0;
    v = strtoull(nptr, &e, base);
    if (e == nptr) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (end) {
        *end = e;
    } else if (*e) {
        return -EINVAL;
    }
    *result = v;
    return 0;
}

int qemu_strtoi(const char *nptr, const char **end, int base, int *result)
{
    int64_t v;
    int ret = qemu_strtoi64(nptr, end, base, &v);

    if (ret < 0) {
        return ret;
    }
    if (v < INT_MIN || v > INT_MAX) {
        return -ERANGE;
    }
    *result = (int)v;
    return 0;
}

int qemu_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool qemu_parse_bool(const char *str, bool *value)
{
    if (!strcmp(str, "on") || !strcmp(str, "yes") || !strcmp(str, "true")) {
        *value = true;
        return true;
    }
    if (!strcmp(str, "off") || !strcmp(str, "no") || !strcmp(str, "false")) {
        *value = false;
        return true;
    }
    return false;
}

char *size_to_str(uint64_t val)
{
    static const char *const units[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    int exp, i;

    /* The unit is the largest power of 1024 below val * 1024 / 1000, so
     * that the number shown stays under 1000; three significant digits. */
    frexp((double)val / (1000.0 / 1024.0), &exp);
    i = (exp - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    if (i >= (int)ARRAY_SIZE(units)) {
        i = ARRAY_SIZE(units) - 1;
    }
    return qemu_xasprintf("%0.3g %sB", (double)val / (double)(UINT64_C(1) << (i * 10)),
                          units[i]);
}

bool path_is_absolute(const char *path)
{
#ifdef _WIN32
    if (path[0] && path[1] == ':') {
        return true;
    }
    return path[0] == '/' || path[0] == '\\';
#else
    return path[0] == '/';
#endif
}

char *path_combine(const char *base_path, const char *name)
{
    const char *slash;
    size_t dirlen;

    if (path_is_absolute(name)) {
        return qemu_xstrdup(name);
    }
    slash = strrchr(base_path, '/');
#ifdef _WIN32
    {
        const char *bs = strrchr(base_path, '\\');
        if (bs && (!slash || bs > slash)) {
            slash = bs;
        }
        if (!slash && base_path[0] && base_path[1] == ':') {
            slash = base_path + 1;
        }
    }
#endif
    if (!slash) {
        return qemu_xstrdup(name);
    }
    dirlen = (size_t)(slash - base_path) + 1;
    return qemu_xasprintf("%.*s%s", (int)dirlen, base_path, name);
}
