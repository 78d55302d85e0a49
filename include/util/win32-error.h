/*
 * coblock — Windows system errors as errno values and messages
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Windows-only.  I/O paths turn a GetLastError() code into -errno with
 * win32_error_to_errno(); open and create paths report it through an
 * Error with error_setg_win32(), which words the message the way the
 * POSIX build would where the errno is exact (so "No such file or
 * directory" reads the same on both) and otherwise appends the system's
 * own text (FormatMessage), without its trailing period.
 */
#ifndef UTIL_WIN32_ERROR_H
#define UTIL_WIN32_ERROR_H

#ifdef _WIN32
#include "util/osdep.h"

/* The errno value closest to the Win32 error @err (EIO when none is). */
int win32_error_to_errno(DWORD err);

/* The system's message for @err as UTF-8, one phrase without trailing
 * punctuation or newline ("Win32 error N" if the system has none).
 * The caller frees it. */
char *win32_error_text(DWORD err);

/* Set *errp to "FMT: REASON" for the Win32 error @err.  When @err has an
 * exact errno counterpart, REASON is its strerror() text and
 * error_get_errno() returns it; otherwise REASON is the system's text. */
void error_setg_win32(Error **errp, DWORD err, const char *fmt, ...)
    QEMU_PRINTF(3, 4);

/* UTF-8 <-> UTF-16 for file names.  Return NULL for invalid input
 * (sets errno to EINVAL); the caller frees the result. */
wchar_t *win32_utf8_to_wide(const char *s);
char *win32_wide_to_utf8(const wchar_t *s);

#endif /* _WIN32 */
#endif /* UTIL_WIN32_ERROR_H */
