/*
 * coblock — run a libFuzzer target over saved inputs without libFuzzer
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: PROGRAM FILE|DIRECTORY...  Every file is passed once to
 * LLVMFuzzerTestOneInput; a crash or an abort is the failure.
 */
#include "util/osdep.h"

#include <dirent.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not replayed (libFuzzer's default
 * -max_len is far smaller). */
#define REPLAY_MAX (16 * 1024 * 1024)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    buf = qemu_xmalloc(REPLAY_MAX);
    n = fread(buf, 1, REPLAY_MAX, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int i, ret = 0, count = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;

            while (d && (e = readdir(d))) {
                char *p;

                if (e->d_name[0] == '.') {
                    continue;
                }
                p = qemu_xasprintf("%s/%s", argv[i], e->d_name);
                ret |= replay_file(p);
                count++;
                free(p);
            }
            if (d) {
                closedir(d);
            }
        } else {
            ret |= replay_file(argv[i]);
            count++;
        }
    }
    printf("replayed %d inputs\n", count);
    return ret;
}
