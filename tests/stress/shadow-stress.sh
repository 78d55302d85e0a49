#!/bin/sh
# coblock — the shadow-model stress test over several configurations
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: shadow-stress.sh [SECONDS_PER_CASE]   (default 5; make check)
#
# Each case makes a raw base of random data with holes, a qcow2 overlay
# over it (larger than the base) with the case's creation options, and
# runs tests/stress/shadow-stress on the overlay with the case's engine,
# cache mode and queue depth: every read must match the shadow model.
# Then the image must pass qemu-img check (ours and QEMU 7.2's: no
# corruption, no leak) and QEMU's qemu-img compare must find the overlay
# equal to the final shadow.  SHADOW_STRESS_SEED fixes the seed (it is
# printed for every case, so a failure can be replayed).
#
# Skipped (77) without QEMU's tools.

set -u
secs=${1:-5}
QEMU_IMG_REF=${QEMU_IMG_REF:-/usr/bin/qemu-img}
b=${top_builddir:-.}
b=$(cd "$b" && pwd)
S=$b/tests/stress/shadow-stress
IMG=$b/qemu-img/qemu-img
[ -x "$QEMU_IMG_REF" ] || { echo "no QEMU qemu-img: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/shadow-stress.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
cases=0

# run NAME CREATE_OPTS BASE_SIZE IMG_SIZE ENGINE CACHE QD MAXLEN
run() {
    name=$1 opts=$2 bsize=$3 isize=$4 engine=$5 cache=$6 qd=$7 maxlen=$8
    cases=$((cases + 1))
    rm -f base.raw ov.qcow2 shadow.raw
    seed=${SHADOW_STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    echo "== $name: -o $opts, $engine, cache=$cache, qd $qd, up to $maxlen bytes, seed $seed"
    # The base first (its size decides nothing in the overlay).
    "$S" -b base.raw -g "$bsize" -s "$seed" > /dev/null ||
        { echo "FAIL: $name: making the base"; fail=1; return; }
    "$IMG" create -q -f qcow2 -o "$opts" -b base.raw -F raw ov.qcow2 "$isize" ||
        { echo "FAIL: $name: create"; fail=1; return; }
    if [ "$cache" = none ] && ! dd if=/dev/zero of=odirect.t bs=4096 count=1 \
            oflag=direct status=none 2>/dev/null; then
        echo "   (no O_DIRECT here: cache=writeback instead)"
        cache=writeback
    fi
    rm -f odirect.t
    if ! "$S" -b base.raw -s "$seed" -t "$secs" -q "$qd" -m "$maxlen" \
            -i "$engine" -c "$cache" -o shadow.raw ov.qcow2; then
        echo "FAIL: $name (seed $seed)"
        fail=1
        return
    fi
    out=$("$IMG" check ov.qcow2 2>&1) ||
        { echo "FAIL: $name: our qemu-img check: $out"; fail=1; }
    out=$("$QEMU_IMG_REF" check ov.qcow2 2>&1) ||
        { echo "FAIL: $name: QEMU's qemu-img check: $out"; fail=1; }
    "$QEMU_IMG_REF" compare -q -f qcow2 -F raw ov.qcow2 shadow.raw ||
        { echo "FAIL: $name: QEMU reads something other than the shadow"; fail=1; }
}

run "64k clusters"      cluster_size=65536        48M 64M threads  writeback 64  4M
run "4k clusters"       cluster_size=4096         48M 64M native   none      256 4M
run "2M clusters"       cluster_size=2097152      48M 64M io_uring writeback 128 4M
run "512-byte clusters" cluster_size=512         12M 16M threads  writeback 32  1M
run "lazy refcounts"    lazy_refcounts=on,refcount_bits=2 48M 64M io_uring none 64 4M
run "version 2"         compat=0.10,cluster_size=16384 48M 64M native none 96 2M

echo "$cases cases, $([ $fail = 0 ] && echo 'all passed' || echo 'FAILED')"
exit $fail
