/*
 * coblock — qemu-img: declarations shared by the subcommand files
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * qemu-img.c holds main(), the command table, option parsing and the
 * helpers below; each img-*.c file implements one or a few subcommands
 * as `int img_NAME(int argc, char **argv)`, where argv[0] is the
 * subcommand's name.  A subcommand returns the process exit status, or
 * exits itself through img_error_exit() for usage errors.
 *
 * Everything a user sees (messages, exit codes, output layouts) follows
 * QEMU 7.2's qemu-img; the comparison test (tests/qemu-img-compare.sh)
 * holds us to it.
 */
#ifndef QEMU_IMG_IMG_H
#define QEMU_IMG_IMG_H

#include "util/osdep.h"
#include "block/block_int.h"
#include "qemu-img/tool-common.h"

/* The QEMU release whose command line and output we reproduce. */
#define QEMU_IMG_COMPAT_VERSION "7.2.0"

/* ---- usage errors ---- */

/* "PROG: MESSAGE" and the "Try 'qemu-img --help'" line, exit 1. */
void QEMU_NORETURN img_error_exit(const char *fmt, ...) QEMU_PRINTF(1, 2);
/* Print the help of subcommand @cmd (NULL: the whole tool), exit 0. */
void QEMU_NORETURN img_help(const char *cmd);

/* ---- option parsing ---- */

enum {
    IMG_NO_ARG = 0,
    IMG_REQ_ARG = 1,
    IMG_OPT_ARG = 2,
};

typedef struct ImgLongOpt {
    const char *name;
    int has_arg;        /* IMG_*_ARG */
    int val;
} ImgLongOpt;

/* Option values of long options without a short form. */
enum {
    OPT_OUTPUT = 256,
    OPT_BACKING_CHAIN,
    OPT_IMAGE_OPTS,
    OPT_TARGET_IMAGE_OPTS,
    OPT_OBJECT,
    OPT_START_OFFSET,
    OPT_MAX_LENGTH,
    OPT_SIZE,
    OPT_PREALLOCATION,
    OPT_SHRINK,
    OPT_FLUSH_INTERVAL,
    OPT_NO_DRAIN,
    OPT_PATTERN,
    OPT_FORCE,
    OPT_TARGET_IS_ZERO,
    OPT_SALVAGE,
    OPT_BITMAPS,
    OPT_SKIP_BROKEN,
    OPT_PROGRESS_JSON,
};

/* Parser state for one subcommand's argv (tool_getopt_long underneath,
 * which follows glibc's rules on every host). */
typedef struct ImgGetopt {
    const char *cmd;    /* for -h / --help */
    int optind;
    char *optarg;
    ToolGetopt tg;      /* private */
} ImgGetopt;

void img_getopt_init(ImgGetopt *g, const char *cmd);

/*
 * Next option of @argv (GNU conventions: clustering, abbreviated long
 * options, operands moved behind the options).  Returns the option's
 * character or value, or -1 at the end; g->optind is then the first
 * operand.  @shortopts must start with ':'.  Usage errors are reported
 * here as QEMU does ("unrecognized option '-z'", "missing argument for
 * option '-f'") and exit; -h and --help print the subcommand's help.
 */
int img_getopt(ImgGetopt *g, int argc, char **argv, const char *shortopts,
               const ImgLongOpt *longopts);

/* ---- output ---- */

typedef enum OutputFormat {
    OFORMAT_HUMAN,
    OFORMAT_JSON,
} OutputFormat;

/* Parse --output's argument; an unknown one is reported
 * ("--output must be used with human or json as argument.") and exits. */
OutputFormat img_parse_output_format(const char *arg);

/* printf to stdout unless @quiet. */
void qprintf(bool quiet, const char *fmt, ...) QEMU_PRINTF(2, 3);

/* ---- opening images ---- */

/*
 * Open @filename for a subcommand: with @image_opts it is a key=value
 * option string; @fmt (may be NULL) names the format; @force_share is -U.
 * Errors are reported as "Could not open 'NAME': ..." and NULL returned.
 */
BlockBackend *img_open(bool image_opts, const char *filename, const char *fmt,
                       int flags, bool writethrough, bool quiet,
                       bool force_share);
/* Same, with extra options (consumed). */
BlockBackend *img_open_opts(bool image_opts, const char *filename,
                            const char *fmt, QDict *extra, int flags,
                            bool writethrough, bool quiet, bool force_share);

/* Parse a -t/-T cache mode; reports "Invalid cache option: X" and
 * returns false. */
bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     bool is_source);

/* Parse a size argument as qemu-img does (suffixes k..E, default B).
 * Returns -1 (and reports nothing) on a bad value. */
int64_t img_cvtnum(const char *s);
/* The same with an explicit upper bound; returns -ERANGE / -EINVAL. */
int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max);

/* Accumulate repeated -o arguments the way QEMU does ("a,b"). */
char *img_add_option(char *options, const char *arg);
/* True if the comma-separated list asks for "help" or "?". */
bool img_options_want_help(const char *options);
/* A QemuOptsList with "help" and "?" recognised is printed. */
int img_print_create_opts_help(const char *fmt, const char *filename,
                               bool for_amend);

/* The creation options of format @fmt, merged with those of the protocol
 * of @filename when one is given (for amend: the amendment options).
 * The caller frees the list. */
QemuOptsList *img_create_opts_list(const char *fmt, const char *filename,
                                   bool for_amend, Error **errp);

/* Round the "size" option up to whole sectors. */
void img_round_size_opt(QemuOpts *opts);

/* The QEMU-compatible "Formatting 'NAME', fmt=F opt=v ..." line. */
void img_print_formatting(const char *filename, const char *fmt,
                          const QemuOptsList *list, QemuOpts *opts);

/* ---- progress (img-progress.c) ---- */

/*
 * Progress of a long-running command.  Human mode (-p) prints
 * "    (NN.NN/100%)" with carriage returns to stdout, as QEMU does; the JSON
 * mode (--progress-json[=FD]) writes one object per line with the bytes
 * done and the total.  Both advance only by bytes actually processed.
 */
/* @min_skip: percentage points a human line must move (QEMU: 1 or 2). */
void img_progress_init(bool human, int json_fd, const char *op,
                       double min_skip);
/* Total work in bytes (may grow). */
void img_progress_set_total(uint64_t total);
void img_progress_add(uint64_t bytes);
/* A percentage in [0, 100] for commands that count in other units. */
void img_progress_set_done(uint64_t done);
/* The command completed: report 100%. */
void img_progress_finish(void);
/* Close the report (a newline in human mode, a final JSON line). */
void img_progress_end(bool success);
/* Parse the argument of --progress-json ("" = stderr). */
int img_parse_progress_fd(const char *arg);

/* ---- subcommands ---- */

int img_info(int argc, char **argv);
int img_map(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_create(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);

#endif /* QEMU_IMG_IMG_H */
