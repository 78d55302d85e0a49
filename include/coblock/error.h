/*
 * coblock — error objects
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Functions that open, create or configure something report failure
 * through an `Error **errp` argument: on failure they return a failure
 * value and, if errp is not NULL, set *errp to a new Error that the caller
 * owns (free it with error_free, or hand it on).  On success *errp is left
 * alone.  *errp must be NULL on entry.
 *
 * A message is one phrase naming the object, with no trailing punctuation
 * or newline, for example "Could not open 'x.qcow2': Invalid L1 table
 * offset".  An optional hint (one or more full sentences, each ending with
 * a newline) can be attached for the human reader.
 *
 * I/O paths do not use Error: they return -errno.
 */
#ifndef COBLOCK_ERROR_H
#define COBLOCK_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Error Error;

#if defined(__GNUC__) && defined(__MINGW32__)
/* libcoblock formats with the C99 (mingw ANSI) printf. */
#define COBLOCK_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#elif defined(__GNUC__)
#define COBLOCK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define COBLOCK_PRINTF(a, b)
#endif

/* The message of @err (never NULL). */
const char *error_get_pretty(const Error *err);
/* The hint attached to @err, or NULL. */
const char *error_get_hint(const Error *err);
/* The errno value given with error_setg_errno, or 0. */
int error_get_errno(const Error *err);
void error_free(Error *err);
/* Free *errp if set and reset it to NULL. */
void error_free_or_abort(Error **errp);

/* Set *errp (if errp is not NULL) to a new error.  Aborts if *errp is
 * already set: an error must be reported or freed before another one is
 * set. */
void error_setg(Error **errp, const char *fmt, ...) COBLOCK_PRINTF(2, 3);
/* Like error_setg, appending ": " and strerror(os_errno).  os_errno is a
 * positive errno value (a negative one is accepted and negated). */
void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
    COBLOCK_PRINTF(3, 4);
/* Move @local_err into *dst_errp (or free it if dst_errp is NULL). */
void error_propagate(Error **dst_errp, Error *local_err);
/* Prefix the message of *errp (if set) with the formatted text. */
void error_prepend(Error **errp, const char *fmt, ...) COBLOCK_PRINTF(2, 3);
/* Append a hint sentence to *errp (if set). */
void error_append_hint(Error **errp, const char *fmt, ...) COBLOCK_PRINTF(2, 3);

/* Reporting to the user: "PROGNAME: message\n" on stderr (PROGNAME is
 * left out when no program name was set). */
void error_set_progname(const char *argv0);
const char *error_get_progname(void);
void error_report(const char *fmt, ...) COBLOCK_PRINTF(1, 2);
void error_vreport(const char *fmt, va_list ap) COBLOCK_PRINTF(1, 0);
void warn_report(const char *fmt, ...) COBLOCK_PRINTF(1, 2);
/* Report @err (message, then its hint) and free it. */
void error_report_err(Error *err);
/* Like error_report_err with a "warning: " prefix. */
void warn_report_err(Error *err);

/* Special error destinations: pass &error_abort to abort on any error
 * (for callers that cannot fail), &error_fatal to report and exit(1). */
extern Error *error_abort;
extern Error *error_fatal;

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_ERROR_H */
