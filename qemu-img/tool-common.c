/*
 * coblock — helpers shared by the qemu-img and qemu-io programs
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "qemu-img/tool-common.h"
#include "util/cutils.h"

#include <ctype.h>

void tool_getopt_init(ToolGetopt *g)
{
    memset(g, 0, sizeof(*g));
    g->optind = 1;
    g->opterr = true;
    g->errfile = stderr;
}

static bool is_operand(const char *arg)
{
    return arg[0] != '-' || arg[1] == '\0';
}

static void reverse(char **argv, int from, int to)
{
    while (from < --to) {
        char *tmp = argv[from];
        argv[from] = argv[to];
        argv[to] = tmp;
        from++;
    }
}

/*
 * The operands skipped so far are argv[first_nonopt, last_nonopt), the
 * options found after them argv[last_nonopt, optind).  Swap the two
 * blocks (keeping the order inside each), so that the options come
 * first; the operands then sit just before optind.
 */
static void move_operands_back(ToolGetopt *g, char **argv)
{
    int first = g->first_nonopt, mid = g->last_nonopt, end = g->optind;

    reverse(argv, first, mid);
    reverse(argv, mid, end);
    reverse(argv, first, end);
    g->first_nonopt = first + (end - mid);
    g->last_nonopt = end;
}

static void report(ToolGetopt *g, const char *fmt, ...) QEMU_PRINTF(2, 3);
static void report(ToolGetopt *g, const char *fmt, ...)
{
    va_list ap;

    if (!g->opterr || g->quiet) {
        return;
    }
    va_start(ap, fmt);
    vfprintf(g->errfile ? g->errfile : stderr, fmt, ap);
    va_end(ap);
}

static int parse_long(ToolGetopt *g, int argc, char **argv,
                      const ToolOption *longopts, int *longindex,
                      bool colon_mode)
{
    const char *name = argv[g->optind] + 2;
    const char *eq = strchr(name, '=');
    size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
    const ToolOption *found = NULL;
    int found_index = -1;
    bool ambiguous = false;
    int i;

    for (i = 0; longopts && longopts[i].name; i++) {
        if (strlen(longopts[i].name) == namelen &&
            !strncmp(longopts[i].name, name, namelen)) {
            found = &longopts[i];
            found_index = i;
            ambiguous = false;
            break;
        }
        if (!strncmp(longopts[i].name, name, namelen)) {
            if (!found) {
                found = &longopts[i];
                found_index = i;
            } else if (found->has_arg != longopts[i].has_arg ||
                       found->val != longopts[i].val) {
                ambiguous = true;
            }
        }
    }

    g->nextchar = NULL;
    if (ambiguous) {
        if (g->opterr && !g->quiet) {
            FILE *f = g->errfile ? g->errfile : stderr;
            fprintf(f, "%s: option '--%s' is ambiguous; possibilities:",
                    argv[0], name);
            for (i = 0; longopts[i].name; i++) {
                if (!strncmp(longopts[i].name, name, namelen)) {
                    fprintf(f, " '--%s'", longopts[i].name);
                }
            }
            fprintf(f, "\n");
        }
        g->optind++;
        g->optopt = 0;
        return '?';
    }
    if (!found) {
        report(g, "%s: unrecognized option '--%s'\n", argv[0], name);
        g->optind++;
        g->optopt = 0;
        return '?';
    }

    g->optind++;
    g->optarg = NULL;
    if (eq) {
        if (found->has_arg == TOOL_NO_ARGUMENT) {
            report(g, "%s: option '--%s' doesn't allow an argument\n",
                   argv[0], found->name);
            g->optopt = found->val;
            return '?';
        }
        g->optarg = (char *)eq + 1;
    } else if (found->has_arg == TOOL_REQUIRED_ARGUMENT) {
        if (g->optind >= argc) {
            report(g, "%s: option '--%s' requires an argument\n",
                   argv[0], found->name);
            g->optopt = found->val;
            return colon_mode ? ':' : '?';
        }
        g->optarg = argv[g->optind++];
    }
    if (longindex) {
        *longindex = found_index;
    }
    return found->val;
}

int tool_getopt_long(ToolGetopt *g, int argc, char **argv,
                     const char *shortopts, const ToolOption *longopts,
                     int *longindex)
{
    bool in_order = false, colon_mode = false;
    const char *spec;
    int c;

    if (*shortopts == '+') {
        in_order = true;
        shortopts++;
    }
    if (*shortopts == ':') {
        /* The caller reports errors itself. */
        colon_mode = true;
        shortopts++;
    }
    g->quiet = colon_mode;
    if (!g->initialized) {
        g->first_nonopt = g->last_nonopt = g->optind;
        g->nextchar = NULL;
        g->initialized = true;
    }
    g->optarg = NULL;

    if (!g->nextchar || !*g->nextchar) {
        g->nextchar = NULL;
        if (g->last_nonopt > g->optind) {
            g->last_nonopt = g->optind;
        }
        if (g->first_nonopt > g->optind) {
            g->first_nonopt = g->optind;
        }
        if (!in_order) {
            if (g->first_nonopt != g->last_nonopt &&
                g->last_nonopt != g->optind) {
                move_operands_back(g, argv);
            } else if (g->last_nonopt != g->optind) {
                g->first_nonopt = g->optind;
            }
            while (g->optind < argc && is_operand(argv[g->optind])) {
                g->optind++;
            }
            g->last_nonopt = g->optind;
        }

        if (g->optind < argc && !strcmp(argv[g->optind], "--")) {
            g->optind++;
            if (g->first_nonopt != g->last_nonopt &&
                g->last_nonopt != g->optind) {
                move_operands_back(g, argv);
            } else if (g->first_nonopt == g->last_nonopt) {
                g->first_nonopt = g->optind;
            }
            g->last_nonopt = argc;
            g->optind = argc;
        }

        if (g->optind >= argc) {
            if (g->first_nonopt != g->last_nonopt) {
                g->optind = g->first_nonopt;
            }
            return -1;
        }
        if (is_operand(argv[g->optind])) {
            /* Only in order mode: stop at the first operand. */
            return -1;
        }
        if (argv[g->optind][1] == '-' && longopts) {
            return parse_long(g, argc, argv, longopts, longindex, colon_mode);
        }
        g->nextchar = argv[g->optind] + 1;
    }

    c = (unsigned char)*g->nextchar++;
    spec = c == ':' ? NULL : strchr(shortopts, c);
    if (!*g->nextchar) {
        g->optind++;
    }
    if (!spec) {
        report(g, "%s: invalid option -- '%c'\n", argv[0], c);
        g->optopt = c;
        return '?';
    }
    if (spec[1] == ':') {
        if (spec[2] == ':') {
            /* Optional argument: only in the same word. */
            if (*g->nextchar) {
                g->optarg = (char *)g->nextchar;
                g->optind++;
            }
            g->nextchar = NULL;
        } else if (*g->nextchar) {
            g->optarg = (char *)g->nextchar;
            g->optind++;
            g->nextchar = NULL;
        } else if (g->optind >= argc) {
            report(g, "%s: option requires an argument -- '%c'\n",
                   argv[0], c);
            g->optopt = c;
            g->nextchar = NULL;
            return colon_mode ? ':' : '?';
        } else {
            g->optarg = argv[g->optind++];
            g->nextchar = NULL;
        }
    }
    return c;
}

static int unit_shift(char c)
{
    switch (c) {
    case 'b': case 'B': return 0;
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
    case 'p': case 'P': return 50;
    case 'e': case 'E': return 60;
    default: return -1;
    }
}

int tool_parse_size(const char *str, uint64_t *value, bool *hex_suffix)
{
    const char *p = str;
    uint64_t whole = 0, mul = 1, add = 0;
    double fraction = 0;
    bool hex = false, overflow = false;
    int shift;

    *hex_suffix = false;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '+') {
        p++;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        qemu_hexval(p[2]) >= 0) {
        hex = true;
        for (p += 2; qemu_hexval(*p) >= 0; p++) {
            if (whole >> 60) {
                overflow = true;
            }
            whole = (whole << 4) | (uint64_t)qemu_hexval(*p);
        }
    } else {
        if (!isdigit((unsigned char)*p)) {
            return -EINVAL;
        }
        for (; isdigit((unsigned char)*p); p++) {
            uint64_t d = (uint64_t)(*p - '0');
            if (whole > (UINT64_MAX - d) / 10) {
                overflow = true;
            }
            whole = whole * 10 + d;
        }
        if (*p == '.') {
            /* The fraction: digits only (no exponent). */
            const char *start = p;
            char digits[64];
            size_t n;

            for (p++; isdigit((unsigned char)*p); p++) {
                /* nothing */
            }
            n = (size_t)(p - start);
            if (n >= sizeof(digits)) {
                n = sizeof(digits) - 1;
            }
            memcpy(digits, start, n);
            digits[n] = '\0';
            fraction = n > 1 ? strtod(digits, NULL) : 0;
            /* A fraction so long that it rounds to a whole unit counts
             * for nothing. */
            if (fraction >= 1.0) {
                fraction = 0;
            }
        }
    }
    if (overflow) {
        return -ERANGE;
    }

    shift = unit_shift(*p);
    if (shift >= 0) {
        mul = UINT64_C(1) << shift;
        p++;
        if (hex) {
            *hex_suffix = true;
        }
    }
    if (fraction != 0 && mul == 1) {
        /* A fraction of a byte. */
        return -EINVAL;
    }
    if (*p != '\0') {
        return -EINVAL;
    }
    if (whole > UINT64_MAX / mul) {
        return -ERANGE;
    }
    if (fraction != 0) {
        add = (uint64_t)(fraction * (double)mul + 0.5);
    }
    if (whole * mul > UINT64_MAX - add) {
        return -ERANGE;
    }
    *value = whole * mul + add;
    return 0;
}
