/*
 * coblock — helpers for the unit tests that make qcow2 images in a
 * scratch directory of their own (include after test-common.h)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef TESTS_TEST_IMAGE_H
#define TESTS_TEST_IMAGE_H

#include "util/cutils.h"
#include "block/block_int.h"

/* The scratch directory, made by test_image_main. */
static char test_dir[256];

/* A file name in the scratch directory (free it). */
static inline char *tpath(const char *name)
{
    return qemu_xasprintf("%s/%s", test_dir, name);
}

/* Create a qcow2 image of @size ("64M") with creation options @opts
 * ("cluster_size=4096,..."; NULL: the defaults). */
static inline void create(const char *path, const char *size,
                          const char *opts)
{
    const BlockDriver *drv = bdrv_find_format("qcow2");
    QemuOptsList *list = qemu_opts_append(drv->create_opts,
                                          bdrv_find_protocol(path, &error_abort)
                                          ->create_opts);
    QemuOpts *o = qemu_opts_create(list);
    Error *err = NULL;

    qemu_opt_set(o, "size", size, &error_abort);
    if (opts) {
        ck_assert(qemu_opts_do_parse(o, opts, &error_abort));
    }
    ck_assert_msg(bdrv_create(drv, path, o, &err) == 0, "create: %s",
                  err ? error_get_pretty(err) : "?");
    qemu_opts_del(o);
    free(list);
}

/* Open a qcow2 image with @flags and open options @opts ("a=b,c.d=e";
 * NULL: none). */
static inline BlockBackend *open_opts(const char *path, int flags,
                                      const char *opts)
{
    QDict *o = opts ? qdict_parse_keyval(opts, NULL, &error_abort) : qdict_new();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(o, "driver", "qcow2");
    blk = blk_new_open(path, o, flags, &err);
    ck_assert_msg(blk != NULL, "open %s: %s", path,
                  err ? error_get_pretty(err) : "?");
    return blk;
}

/* main(): run the suite @make_suite makes in a new scratch directory
 * $TMPDIR/@name.XXXXXX, removed afterwards. */
static inline int test_image_main(const char *name,
                                  Suite *(*make_suite)(void))
{
    char *cmd;
    int ret;

    snprintf(test_dir, sizeof(test_dir), "%s/%s.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    bdrv_init();
    ret = run_suite(make_suite());
    cmd = qemu_xasprintf("rm -rf '%s'", test_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", test_dir);
    }
    free(cmd);
    return ret;
}

#endif /* TESTS_TEST_IMAGE_H */
