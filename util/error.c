/*
 * coblock — error objects and reporting
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"

struct Error {
    char *msg;
    char *hint;
    int os_errno;
};

/* Distinct addresses used as markers: &error_abort and &error_fatal. */
Error *error_abort;
Error *error_fatal;

static char *progname;

void error_set_progname(const char *argv0)
{
    const char *base = argv0;
    const char *p;

    free(progname);
    progname = NULL;
    if (!argv0) {
        return;
    }
    for (p = argv0; *p; p++) {
        if (*p == '/'
#ifdef _WIN32
            || *p == '\\'
#endif
            ) {
            base = p + 1;
        }
    }
    progname = qemu_xstrdup(base);
#ifdef _WIN32
    {
        size_t len = strlen(progname);
        if (len > 4 && !_stricmp(progname + len - 4, ".exe")) {
            progname[len - 4] = '\0';
        }
    }
#endif
}

const char *error_get_progname(void)
{
    return progname;
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

const char *error_get_hint(const Error *err)
{
    return err->hint;
}

int error_get_errno(const Error *err)
{
    return err->os_errno;
}

void error_free(Error *err)
{
    if (err) {
        free(err->msg);
        free(err->hint);
        free(err);
    }
}

void error_free_or_abort(Error **errp)
{
    assert(errp);
    error_free(*errp);
    *errp = NULL;
}

static void error_handle_special(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        fprintf(stderr, "Unexpected error: %s\n", err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
}

static void error_setv(Error **errp, int os_errno, const char *fmt, va_list ap)
{
    Error *err;

    if (!errp) {
        return;
    }
    if (*errp && errp != &error_abort && errp != &error_fatal) {
        qemu_abort("error set twice: had '%s'", (*errp)->msg);
    }
    err = qemu_xmalloc0(sizeof(*err));
    err->msg = qemu_xvasprintf(fmt, ap);
    if (os_errno) {
        char *full = qemu_xasprintf("%s: %s", err->msg, strerror(os_errno));
        free(err->msg);
        err->msg = full;
        err->os_errno = os_errno;
    }
    if (errp == &error_abort || errp == &error_fatal) {
        error_handle_special(errp, err);
    }
    *errp = err;
}

void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, 0, fmt, ap);
    va_end(ap);
}

void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
{
    va_list ap;

    if (os_errno < 0) {
        os_errno = -os_errno;
    }
    va_start(ap, fmt);
    error_setv(errp, os_errno, fmt, ap);
    va_end(ap);
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (dst_errp == &error_abort || dst_errp == &error_fatal) {
        error_handle_special(dst_errp, local_err);
    }
    if (!dst_errp) {
        error_free(local_err);
        return;
    }
    if (*dst_errp) {
        /* The first error wins; the later one is dropped. */
        error_free(local_err);
        return;
    }
    *dst_errp = local_err;
}

void error_prepend(Error **errp, const char *fmt, ...)
{
    va_list ap;
    char *prefix, *msg;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    prefix = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    msg = qemu_xasprintf("%s%s", prefix, (*errp)->msg);
    free(prefix);
    free((*errp)->msg);
    (*errp)->msg = msg;
}

void error_append_hint(Error **errp, const char *fmt, ...)
{
    va_list ap;
    char *add, *hint;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    add = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    hint = qemu_xasprintf("%s%s", (*errp)->hint ? (*errp)->hint : "", add);
    free(add);
    free((*errp)->hint);
    (*errp)->hint = hint;
}

void error_vreport(const char *fmt, va_list ap)
{
    /* stdout is not flushed first: QEMU's tools do not either, and
     * scripts that merge the two streams see the same order. */
    if (progname) {
        fprintf(stderr, "%s: ", progname);
    }
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    if (progname) {
        fprintf(stderr, "%s: ", progname);
    }
    fputs("warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void error_report_err(Error *err)
{
    error_report("%s", err->msg);
    if (err->hint) {
        fputs(err->hint, stderr);
    }
    error_free(err);
}

void warn_report_err(Error *err)
{
    warn_report("%s", err->msg);
    if (err->hint) {
        fputs(err->hint, stderr);
    }
    error_free(err);
}
