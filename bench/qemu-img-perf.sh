#!/bin/sh
# Time our qemu-img against QEMU's on the same commands (a benchmark, not a
# test).  Runs alternate between the two programs; reported are the median
# wall time (and its ratio, ours / QEMU's), the median CPU time (user +
# system) and the largest peak RSS of each.
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: bench/qemu-img-perf.sh BUILDDIR [RUNS] [WORKDIR]
# The work directory (default BUILDDIR/perf) needs about 4 GiB.  Images:
# a 2 GiB raw image holding 1 GiB of data (1 MiB extents every other MiB,
# each half random, half text), and its qcow2 conversion.
set -eu

build=$(cd "$1" && pwd)
runs=${2:-5}
work=${3:-$build/perf}
REF=${QEMU_IMG_REF:-/usr/bin/qemu-img}
OURS=$build/qemu-img/qemu-img

mkdir -p "$work"
cd "$work"
if [ ! -f src.raw ]; then
    "$REF" create -q -f raw src.raw 2G
    python3 - <<'EOF'
import os
text = b"coblock qemu-img benchmark line of moderately compressible text\n"
with open("src.raw", "r+b") as f:
    for i in range(1024):
        f.seek((i * 2) << 20)
        f.write(os.urandom(1 << 19) + (text * 9000)[:1 << 19])
EOF
fi
[ -f src.qcow2 ] || "$REF" convert -O qcow2 src.raw src.qcow2

# measure LABEL ARGS...: ARGS with "@OUT" replaced by the output name
measure() {
    label=$1
    shift
    : >"$work/ref.t"
    : >"$work/our.t"
    i=0
    while [ $i -lt "$runs" ]; do
        for who in ref our; do
            if [ $who = ref ]; then bin=$REF; else bin=$OURS; fi
            rm -f out.img
            /usr/bin/time -f "%e %M %U %S" -o "$work/one.t" \
                "$bin" "$@" >/dev/null
            cat "$work/one.t" >>"$work/$who.t"
        done
        i=$((i + 1))
    done
    rm -f out.img
    med() { sort -n "$1" | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'; }
    cpu() { awk '{ print $3 + $4 }' "$1" >"$1.cpu"; med "$1.cpu"; }
    rss() { sort -k2 -n "$1" | tail -1 | awk '{ print $2 }'; }
    ratio() { echo "$1 $2" | awk '{ printf "%f", ($2 > 0) ? ($1 / $2) : 0 }'; }
    r=$(med "$work/ref.t") o=$(med "$work/our.t")
    rc=$(cpu "$work/ref.t") oc=$(cpu "$work/our.t")
    printf '%-24s wall QEMU %6.2f ours %6.2f ratio %.2f | cpu QEMU %6.2f ours %6.2f | peak RSS QEMU %6s ours %6s KiB\n' \
        "$label" "$r" "$o" "$(ratio "$o" "$r")" "$rc" "$oc" \
        "$(rss "$work/ref.t")" "$(rss "$work/our.t")"
}

measure "bench null-co 1Mx4k" bench -c 1000000 -s 4096 \
    --image-opts driver=null-co,size=5G
measure "convert raw->qcow2" convert -O qcow2 src.raw out.img
measure "convert qcow2->raw" convert -O raw src.qcow2 out.img
measure "convert -c raw->qcow2" convert -c -O qcow2 src.raw out.img
