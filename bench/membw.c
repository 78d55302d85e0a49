/*
 * coblock — memory bandwidth, the limit of workloads that only move bytes
 * in memory (bench/compare-qemu prints it beside the null-co benchmark)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: bench/membw [BLOCK_BYTES [TOTAL_MIB]]
 * Copies TOTAL_MIB (default 4096) MiB in blocks of BLOCK_BYTES (default
 * 4096) from a 64 MiB source ring to a 64 MiB destination ring (larger
 * than the caches), best of three, and prints one line:
 *   "memcpy BLOCK_BYTES-byte blocks: GIB_PER_S GiB/s, BLOCKS_PER_S blocks/s"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING (64u << 20)

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t block = argc > 1 ? strtoul(argv[1], NULL, 0) : 4096;
    uint64_t total = (argc > 2 ? strtoull(argv[2], NULL, 0) : 4096) << 20;
    unsigned char *src, *dst;
    double best = 0;
    uint64_t blocks;
    int round;

    if (block == 0 || block > RING) {
        fprintf(stderr, "membw: block size must be 1..%u\n", RING);
        return 1;
    }
    src = malloc(RING);
    dst = malloc(RING);
    if (!src || !dst) {
        fprintf(stderr, "membw: out of memory\n");
        return 1;
    }
    memset(src, 0x5a, RING);
    memset(dst, 0, RING);
    blocks = total / block;
    for (round = 0; round < 3; round++) {
        size_t pos = 0;
        uint64_t i;
        double t0 = now(), dt;

        for (i = 0; i < blocks; i++) {
            if (pos + block > RING) {
                pos = 0;
            }
            memcpy(dst + pos, src + pos, block);
            pos += block;
        }
        dt = now() - t0;
        if (round == 0 || dt < best) {
            best = dt;
        }
    }
    /* Keep the copies from being optimised away. */
    if (dst[RING / 2] != 0x5a && dst[0] != 0x5a) {
        puts("?");
    }
    printf("memcpy %zu-byte blocks: %.2f GiB/s, %.0f blocks/s\n", block,
           (double)(blocks * block) / best / (1 << 30), (double)blocks / best);
    free(src);
    free(dst);
    return 0;
}
