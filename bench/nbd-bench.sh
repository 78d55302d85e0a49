#!/bin/sh
# coblock — NBD throughput: coblock-nbd against qemu-nbd (served to
# nbdcopy over four connections, and to QEMU's qemu-img over one), and
# the nbd client driver against QEMU's (reading from qemu-nbd).
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage, from the build directory:
#   ../bench/nbd-bench.sh [SIZE_MIB [ROUNDS]]        (default 1024 5)
# Images live in ${COBLOCK_TEST_DIR:-/var/tmp} and are read once first,
# so every run reads from the page cache.  Each round runs every case
# once, in alternating order; the report gives the median of the rounds
# in MiB/s, with all the runs.
set -eu
size_mib=${1:-1024}
rounds=${2:-5}
: "${top_builddir:=.}"
COBLOCK_NBD="$top_builddir/nbd/coblock-nbd"
NBD_IO="$top_builddir/tests/nbd/nbd-io"
QEMU_IMG=/usr/bin/qemu-img
QEMU_NBD=/usr/bin/qemu-nbd
dir=$(mktemp -d "${COBLOCK_TEST_DIR:-/var/tmp}/coblock-nbd-bench-XXXXXX")
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"' EXIT

# A data image (random bytes) and a sparse one (one 4 MiB data block in
# every 64 MiB).
head -c "${size_mib}M" /dev/urandom > "$dir/data.raw"
truncate -s "${size_mib}M" "$dir/sparse.raw"
i=0
while [ $i -lt "$size_mib" ]; do
    head -c 4M /dev/urandom | dd of="$dir/sparse.raw" bs=1M seek=$i conv=notrunc status=none
    i=$((i + 64))
done
cat "$dir/data.raw" "$dir/sparse.raw" > /dev/null

serve() {   # name server image
    case $2 in
    ours) "$COBLOCK_NBD" -f raw -r -t -e 0 -k "$dir/$1.sock" "$dir/$3" & ;;
    qemu) "$QEMU_NBD" -f raw -r -t -e 0 -k "$dir/$1.sock" "$dir/$3" & ;;
    esac
    pids="$pids $!"
    while [ ! -S "$dir/$1.sock" ]; do sleep 0.05; done
}
serve ours-data ours data.raw
serve qemu-data qemu data.raw
serve ours-sparse ours sparse.raw
serve qemu-sparse qemu sparse.raw

# Seconds (with fractions) that "$@" takes.
timeit() {
    t0=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }'
}

uri() { echo "nbd+unix:///?socket=$dir/$1.sock"; }

run_case() {
    case $1 in
    nbdcopy-ours-data)   timeit nbdcopy "$(uri ours-data)" null: ;;
    nbdcopy-qemu-data)   timeit nbdcopy "$(uri qemu-data)" null: ;;
    nbdcopy-ours-sparse) timeit nbdcopy "$(uri ours-sparse)" null: ;;
    nbdcopy-qemu-sparse) timeit nbdcopy "$(uri qemu-sparse)" null: ;;
    qemu-img-from-ours)  timeit "$QEMU_IMG" convert -n -f raw --target-image-opts \
                             "$(uri ours-data)" "driver=null-co,size=$((size_mib * 1048576))" ;;
    qemu-img-from-qemu)  timeit "$QEMU_IMG" convert -n -f raw --target-image-opts \
                             "$(uri qemu-data)" "driver=null-co,size=$((size_mib * 1048576))" ;;
    client-ours)         timeit "$NBD_IO" -r "$(uri qemu-data)" dump /dev/null ;;
    client-qemu)         timeit "$QEMU_IMG" convert -n -f raw --target-image-opts \
                             "$(uri qemu-data)" "driver=null-co,size=$((size_mib * 1048576))" ;;
    esac
}

cases="nbdcopy-ours-data nbdcopy-qemu-data nbdcopy-ours-sparse nbdcopy-qemu-sparse qemu-img-from-ours qemu-img-from-qemu client-ours client-qemu"
rev=""
for c in $cases; do rev="$c $rev"; done
r=1
while [ $r -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then order=$cases; else order=$rev; fi
    for c in $order; do
        echo "$c $(run_case "$c")" >> "$dir/times"
    done
    r=$((r + 1))
done

printf "%-22s %10s   %s\n" case "MiB/s" "runs (s)"
for c in $cases; do
    grep "^$c " "$dir/times" | awk -v mib="$size_mib" -v name="$c" '
        { t[NR] = $2; runs = runs " " $2 }
        END {
            n = NR
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
            med = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
            printf "%-22s %10.0f  %s\n", name, mib / med, runs
        }'
done
