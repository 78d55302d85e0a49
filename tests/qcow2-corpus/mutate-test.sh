#!/bin/sh
# coblock — random damage to a valid qcow2 image, fed to the driver
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Beyond the hand-made corpus: COUNT (default 150) copies of a small
# valid image (data, compressed and zero clusters) get 1 to 12 random
# bytes overwritten, mostly in the first bytes of the header, the
# refcount table and block, the L1 and L2 tables, and each is then checked,
# read whole, written to, repaired and written again.  Results may be
# anything but a crash, a hang (20 s) or running out of a 2 GiB address
# space.  The damage is a function of the round number (SEED shifts it),
# so a failure can be reproduced.

set -u
T=${top_builddir:-.}/tests/unit/test-qcow2-io
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
COUNT=${COUNT:-150}
SEED=${SEED:-1}
dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-mutate.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1

"$T" base.qcow2 create 4M -- write 0 64k 1 -- writec 1M 64k 2 -- \
    zero 2M 64k -- write 3M 128k 3 >/dev/null || { echo "FAIL: base image"; exit 1; }
size=$(stat -c %s base.qcow2)
fail=0

# A 2 GiB address space, unless the program cannot even start in one
# (AddressSanitizer reserves terabytes for its shadow memory).
use_limit=yes
(ulimit -v 2000000; "$T" -r base.qcow2 info) >/dev/null 2>&1 || use_limit=no
limited() {
    if [ $use_limit = yes ]; then
        (ulimit -v 2000000; timeout 20 "$@")
    else
        timeout 20 "$@"
    fi
}

i=1
while [ $i -le "$COUNT" ]; do
    cp base.qcow2 img.qcow2
    # "offset byte" pairs from a seeded generator.
    awk -v s=$((SEED * 100003 + i)) -v size="$size" 'BEGIN {
        srand(s); n = 1 + int(rand() * 12);
        for (k = 0; k < n; k++) {
            c = int(rand() * 7);
            o = rand() < 0.75 ? int(rand() * 128) : int(rand() * 65536);
            off = c * 65536 + o; if (off >= size) off = int(rand() * size);
            printf "%d %d\n", off, int(rand() * 256);
        }
    }' | while read -r off byte; do
        printf "$(printf '\\%03o' "$byte")" |
            dd of=img.qcow2 bs=1 seek="$off" conv=notrunc status=none
    done
    cp img.qcow2 damaged.qcow2
    for cmd in "-r img.qcow2 check" "-r img.qcow2 readraw 0 4M /dev/null" \
               "img.qcow2 write 0 64k 7 -- write 1M 64k 8 -- write 2M 4k 9 -- flush" \
               "img.qcow2 check all" "img.qcow2 write 64k 128k 1 -- flush"; do
        # shellcheck disable=SC2086
        limited "$T" $cmd >/dev/null 2>&1
        rc=$?
        if [ $rc -ge 124 ]; then
            echo "FAIL: round $i (SEED=$SEED): '$cmd' exit status $rc"
            cp damaged.qcow2 "${TMPDIR:-/tmp}/qcow2-mutate-failed-$SEED-$i.qcow2"
            fail=1
        fi
    done
    i=$((i + 1))
done
echo "$COUNT damaged images"
exit $fail
