/*
 * coblock — helpers shared by the qemu-img and qemu-io programs
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Command-line parsing.  The tools must reject and report bad options with
 * exactly the messages scripts already expect from the GNU C library, on
 * every host (the Windows C runtime has no getopt_long, and other C
 * libraries word their messages differently), so they use this
 * re-entrant parser instead of getopt_long.  It implements the GNU
 * conventions:
 *
 *   - short options may be clustered ("-rU"); an option that takes an
 *     argument takes the rest of its word ("-fraw") or the next word;
 *   - long options may be abbreviated to any unique prefix and take their
 *     argument as "--name=value" or as the next word;
 *   - options and operands may be mixed: operands are moved behind the
 *     options, keeping their order, so that once the parser returns -1,
 *     argv[optind..argc) are the operands;
 *   - "--" ends the options;
 *   - a leading '+' in the short option string stops at the first operand
 *     instead, and a leading ':' (after the '+', if any) makes a missing
 *     argument return ':' instead of '?' and silences the messages;
 *   - without long options, "--name" is a cluster of short options.
 *
 * Errors are printed to stderr as "PROG: message" (PROG being argv[0]),
 * unless ToolGetopt.opterr is false, and '?' is returned.
 */
#ifndef QEMU_IMG_TOOL_COMMON_H
#define QEMU_IMG_TOOL_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    TOOL_NO_ARGUMENT = 0,
    TOOL_REQUIRED_ARGUMENT = 1,
    TOOL_OPTIONAL_ARGUMENT = 2,
};

/* One long option; a table ends with an entry whose name is NULL. */
typedef struct ToolOption {
    const char *name;
    int has_arg;        /* TOOL_*_ARGUMENT */
    int val;            /* returned when the option is seen */
} ToolOption;

/* Parser state; initialise with tool_getopt_init before the first call,
 * and again to parse another vector. */
typedef struct ToolGetopt {
    int optind;         /* next element of argv to look at */
    char *optarg;       /* argument of the option just returned */
    int optopt;         /* the offending option character on error */
    bool opterr;        /* print error messages (default true) */
    FILE *errfile;      /* where (default stderr) */

    /* private */
    const char *nextchar;   /* rest of a cluster of short options */
    int first_nonopt;       /* operands skipped so far: [first, last) */
    int last_nonopt;
    bool initialized;
    bool quiet;             /* the option string starts with ':' */
} ToolGetopt;

void tool_getopt_init(ToolGetopt *g);

/*
 * Return the next option character (or a long option's val), '?' for an
 * unknown option or a missing argument (':' for the latter when the
 * option string asks for it), or -1 when the options are exhausted.
 * @longopts may be NULL.  *@longindex (if not NULL) is set to the index
 * of the long option found.  argv's elements are permuted, never
 * modified.
 */
int tool_getopt_long(ToolGetopt *g, int argc, char **argv,
                     const char *shortopts, const ToolOption *longopts,
                     int *longindex);

static inline int tool_getopt(ToolGetopt *g, int argc, char **argv,
                              const char *shortopts)
{
    return tool_getopt_long(g, argc, argv, shortopts, NULL, NULL);
}

/*
 * Parse a byte count the way QEMU's tools do: a decimal number with an
 * optional fraction ("1.5") and an optional unit suffix (b/B, k/K, m/M,
 * g/G, t/T, p/P, e/E; powers of 1024), or a hexadecimal number ("0x200").
 * A fraction needs a unit other than bytes and is rounded to the nearest
 * byte.  Returns 0, -EINVAL for bad syntax or -ERANGE when the value does
 * not fit in 64 bits.  *@hex_suffix is set when a hexadecimal number
 * carries a unit suffix (accepted, but the tools warn about it), even if
 * the parse then fails.
 */
int tool_parse_size(const char *str, uint64_t *value, bool *hex_suffix);

#endif /* QEMU_IMG_TOOL_COMMON_H */
