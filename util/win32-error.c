/*
 * coblock — Windows system errors as errno values and messages
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "util/osdep.h"
#include "util/win32-error.h"

/* @exact: the errno means the same thing, so its strerror() text may
 * stand for the Windows message (and match what the POSIX build says). */
static const struct {
    DWORD err;
    int errnum;
    bool exact;
} win32_errno_table[] = {
    { ERROR_FILE_NOT_FOUND,         ENOENT,       true },
    { ERROR_PATH_NOT_FOUND,         ENOENT,       true },
    { ERROR_INVALID_DRIVE,          ENOENT,       false },
    { ERROR_BAD_NETPATH,            ENOENT,       false },
    { ERROR_BAD_NET_NAME,           ENOENT,       false },
    { ERROR_BAD_PATHNAME,           ENOENT,       false },
    { ERROR_INVALID_NAME,           ENOENT,       false },
    { ERROR_ACCESS_DENIED,          EACCES,       true },
    { ERROR_PRIVILEGE_NOT_HELD,     EPERM,        false },
    { ERROR_WRITE_PROTECT,          EROFS,        true },
    { ERROR_SHARING_VIOLATION,      EBUSY,        false },
    { ERROR_LOCK_VIOLATION,         EAGAIN,       false },
    { ERROR_NOT_LOCKED,             ENOLCK,       false },
    { ERROR_NOT_ENOUGH_MEMORY,      ENOMEM,       true },
    { ERROR_OUTOFMEMORY,            ENOMEM,       true },
    { ERROR_NO_SYSTEM_RESOURCES,    ENOMEM,       false },
    { ERROR_WORKING_SET_QUOTA,      ENOMEM,       false },
    { ERROR_NOT_ENOUGH_QUOTA,       ENOMEM,       false },
    { ERROR_INVALID_HANDLE,         EBADF,        true },
    { ERROR_INVALID_PARAMETER,      EINVAL,       true },
    { ERROR_NEGATIVE_SEEK,          EINVAL,       false },
    { ERROR_INVALID_USER_BUFFER,    EINVAL,       false },
    { ERROR_INVALID_FUNCTION,       ENOTSUP,      false },
    { ERROR_NOT_SUPPORTED,          ENOTSUP,      false },
    { ERROR_CALL_NOT_IMPLEMENTED,   ENOTSUP,      false },
    { ERROR_DISK_FULL,              ENOSPC,       true },
    { ERROR_HANDLE_DISK_FULL,       ENOSPC,       true },
    { ERROR_FILE_TOO_LARGE,         EFBIG,        true },
    { ERROR_FILE_EXISTS,            EEXIST,       true },
    { ERROR_ALREADY_EXISTS,         EEXIST,       true },
    { ERROR_TOO_MANY_OPEN_FILES,    EMFILE,       true },
    { ERROR_FILENAME_EXCED_RANGE,   ENAMETOOLONG, true },
    { ERROR_BUFFER_OVERFLOW,        ENAMETOOLONG, false },
    { ERROR_DIRECTORY,              ENOTDIR,      false },
    { ERROR_DIR_NOT_EMPTY,          ENOTEMPTY,    true },
    { ERROR_BROKEN_PIPE,            EPIPE,        true },
    { ERROR_NO_DATA,                EPIPE,        false },
    { ERROR_NOT_READY,              ENOMEDIUM,    false },
    { ERROR_OPERATION_ABORTED,      ECANCELED,    false },
    { ERROR_CRC,                    EIO,          false },
    { ERROR_READ_FAULT,             EIO,          false },
    { ERROR_WRITE_FAULT,            EIO,          false },
    { ERROR_GEN_FAILURE,            EIO,          false },
    { ERROR_IO_DEVICE,              EIO,          false },
    { ERROR_SECTOR_NOT_FOUND,       EIO,          false },
    { ERROR_NETNAME_DELETED,        EIO,          false },
    { ERROR_SEM_TIMEOUT,            ETIMEDOUT,    false },
};

static int lookup(DWORD err, bool *exact)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(win32_errno_table); i++) {
        if (win32_errno_table[i].err == err) {
            *exact = win32_errno_table[i].exact;
            return win32_errno_table[i].errnum;
        }
    }
    *exact = false;
    return EIO;
}

int win32_error_to_errno(DWORD err)
{
    bool exact;

    return lookup(err, &exact);
}

char *win32_wide_to_utf8(const wchar_t *s)
{
    int len = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1,
                                  NULL, 0, NULL, NULL);
    char *out;

    if (len <= 0) {
        errno = EINVAL;
        return NULL;
    }
    out = qemu_xmalloc((size_t)len);
    if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, out, len,
                            NULL, NULL) != len) {
        free(out);
        errno = EINVAL;
        return NULL;
    }
    return out;
}

wchar_t *win32_utf8_to_wide(const char *s)
{
    int len = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1,
                                  NULL, 0);
    wchar_t *out;

    if (len <= 0) {
        errno = EINVAL;
        return NULL;
    }
    out = qemu_xmalloc((size_t)len * sizeof(wchar_t));
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out,
                            len) != len) {
        free(out);
        errno = EINVAL;
        return NULL;
    }
    return out;
}

char *win32_error_text(DWORD err)
{
    wchar_t *wmsg = NULL;
    char *msg = NULL;
    DWORD n;
    size_t len;

    n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER |
                       FORMAT_MESSAGE_FROM_SYSTEM |
                       FORMAT_MESSAGE_IGNORE_INSERTS |
                       FORMAT_MESSAGE_MAX_WIDTH_MASK,
                       NULL, err, MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT),
                       (LPWSTR)&wmsg, 0, NULL);
    if (n && wmsg) {
        msg = win32_wide_to_utf8(wmsg);
    }
    if (wmsg) {
        LocalFree(wmsg);
    }
    if (!msg) {
        return qemu_xasprintf("Win32 error %lu", (unsigned long)err);
    }
    /* One phrase: no trailing blanks, line breaks or period. */
    len = strlen(msg);
    while (len && (msg[len - 1] == ' ' || msg[len - 1] == '\r' ||
                   msg[len - 1] == '\n' || msg[len - 1] == '.')) {
        msg[--len] = '\0';
    }
    if (!len) {
        free(msg);
        return qemu_xasprintf("Win32 error %lu", (unsigned long)err);
    }
    return msg;
}

void error_setg_win32(Error **errp, DWORD err, const char *fmt, ...)
{
    va_list ap;
    char *what, *text;
    bool exact;
    int errnum;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    what = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    errnum = lookup(err, &exact);
    if (exact) {
        error_setg_errno(errp, errnum, "%s", what);
    } else {
        text = win32_error_text(err);
        error_setg(errp, "%s: %s", what, text);
        free(text);
    }
    free(what);
}
