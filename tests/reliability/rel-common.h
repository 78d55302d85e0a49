/*
 * coblock — helpers shared by the reliability tests (fault campaign,
 * crash replay, stress): images made by the tools, checks by ours and
 * QEMU's, a shadow model of the guest disk
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef TESTS_RELIABILITY_REL_COMMON_H
#define TESTS_RELIABILITY_REL_COMMON_H

#include "util/osdep.h"
#include "block/block_int.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef QEMU_IMG_REF
#define QEMU_IMG_REF "/usr/bin/qemu-img"
#endif

/* Run a shell command quietly; its exit status, or -1. */
static inline int rel_system(const char *fmt, ...)
    QEMU_PRINTF(1, 2);
static inline int rel_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(stdout);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) {
        return -1;
    }
    return WEXITSTATUS(st);
}

/* Copy a file (whole, by bytes). */
static inline bool rel_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out;
    char buf[65536];
    ssize_t n;
    bool ok = true;

    if (in < 0) {
        return false;
    }
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return false;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            ok = false;
            break;
        }
    }
    if (n < 0) {
        ok = false;
    }
    close(in);
    close(out);
    return ok;
}

/* What the driver prints while a damaged image is opened or checked
 * ("Leaked cluster ...", one line a cluster, millions over a replay)
 * goes to /dev/null between rel_quiet_begin() and rel_quiet_end(),
 * unless REL_VERBOSE is set.  Failures are reported on stdout. */
static int rel_saved_stderr = -1;

static inline void rel_quiet_begin(void)
{
    int fd;

    if (getenv("REL_VERBOSE") || rel_saved_stderr >= 0) {
        return;
    }
    fflush(stderr);
    fd = open("/dev/null", O_WRONLY);
    if (fd < 0) {
        return;
    }
    rel_saved_stderr = dup(2);
    if (rel_saved_stderr >= 0) {
        dup2(fd, 2);
    }
    close(fd);
}

static inline void rel_quiet_end(void)
{
    if (rel_saved_stderr < 0) {
        return;
    }
    fflush(stderr);
    dup2(rel_saved_stderr, 2);
    close(rel_saved_stderr);
    rel_saved_stderr = -1;
}

/* Our check of a qcow2 image: the number of corruptions (leaks are
 * fine), or -1 if the image would not open or the check failed. */
static inline int rel_our_check(const char *path, int *leaks)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockDriverState *bs;
    BdrvCheckResult res;
    int ret;

    qdict_put_str(opts, "driver", "qcow2");
    bs = bdrv_open(path, opts, BDRV_O_CHECK | BDRV_O_NO_BACKING, &err);
    if (!bs) {
        fprintf(stderr, "%s: %s\n", path, error_get_pretty(err));
        error_free(err);
        return -1;
    }
    memset(&res, 0, sizeof(res));
    rel_quiet_begin();
    ret = bdrv_check(bs, &res, 0);
    rel_quiet_end();
    bdrv_unref(bs);
    if (leaks) {
        *leaks = res.leaks;
    }
    if (ret < 0 || res.check_errors) {
        return -1;
    }
    return res.corruptions;
}

/* QEMU's check: 0 clean, 3 leaks only, 2 corruptions, 1 could not
 * check; -1 when QEMU's tool is missing. */
static inline int rel_qemu_check(const char *path)
{
    if (access(QEMU_IMG_REF, X_OK) != 0) {
        return -1;
    }
    return rel_system("'%s' check -q -f qcow2 '%s' >/dev/null 2>&1",
                      QEMU_IMG_REF, path);
}

/* ---- the shadow model: what every byte of the guest disk must read ---- */

enum {
    SHADOW_KNOWN = 0,       /* must read exactly shadow->data */
    SHADOW_ANY = 1,         /* a failed or advisory operation: anything */
};

typedef struct Shadow {
    uint64_t size;
    uint8_t *data;
    uint8_t *state;         /* SHADOW_* per byte */
} Shadow;

static inline void shadow_init(Shadow *s, uint64_t size)
{
    s->size = size;
    s->data = qemu_xmalloc0(size);
    s->state = qemu_xmalloc0(size);
}

static inline void shadow_free(Shadow *s)
{
    free(s->data);
    free(s->state);
}

static inline void shadow_set(Shadow *s, uint64_t off, uint64_t len,
                              const uint8_t *buf)
{
    if (off >= s->size) {
        return;
    }
    len = MIN(len, s->size - off);
    if (buf) {
        memcpy(s->data + off, buf, len);
    } else {
        memset(s->data + off, 0, len);
    }
    memset(s->state + off, SHADOW_KNOWN, len);
}

static inline void shadow_any(Shadow *s, uint64_t off, uint64_t len)
{
    if (off >= s->size) {
        return;
    }
    len = MIN(len, s->size - off);
    memset(s->state + off, SHADOW_ANY, len);
}

/* Compare @buf (guest bytes [off, off + len)) with the model; returns the
 * first differing offset, or -1. */
static inline int64_t shadow_compare(const Shadow *s, uint64_t off,
                                     uint64_t len, const uint8_t *buf)
{
    for (uint64_t i = 0; i < len && off + i < s->size; i++) {
        if (s->state[off + i] == SHADOW_KNOWN && s->data[off + i] != buf[i]) {
            return (int64_t)(off + i);
        }
    }
    return -1;
}

/* Read the whole guest disk of @path (qcow2, its backing chain too)
 * with our driver and compare it with the model; returns the first bad
 * offset, -1 if all is well, -2 if it could not be read. */
static inline int64_t rel_verify_image(const char *path, const Shadow *s)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;
    const uint64_t chunk = 1024 * 1024;
    uint8_t *buf = qemu_xmalloc(chunk);
    int64_t bad = -1;
    uint64_t end;

    qdict_put_str(opts, "driver", "qcow2");
    blk = blk_new_open(path, opts, 0, &err);
    if (!blk) {
        fprintf(stderr, "%s: %s\n", path, error_get_pretty(err));
        error_free(err);
        free(buf);
        return -2;
    }
    {
        int64_t len = blk_getlength(blk);
        /* a resize the crash undid may leave the disk smaller: the
         * bytes past its end cannot be checked (the caller marks them
         * as changed) */
        end = len < 0 ? 0 : MIN(s->size, (uint64_t)len);
    }
    for (uint64_t off = 0; off < end && bad == -1; off += chunk) {
        uint64_t n = MIN(chunk, end - off);
        if (blk_pread(blk, (int64_t)off, (int64_t)n, buf, 0) < 0) {
            bad = -2;
            break;
        }
        bad = shadow_compare(s, off, n, buf);
    }
    blk_unref(blk);
    free(buf);
    return bad;
}

/* A deterministic pattern for a write: byte i of write @seed. */
static inline void rel_fill(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)(x ^ (i >> 9));
    }
}

#endif /* TESTS_RELIABILITY_REL_COMMON_H */
