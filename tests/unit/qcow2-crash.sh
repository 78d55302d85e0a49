#!/bin/sh
# coblock — qcow2 crash safety: kill -9 a writer, then check
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A writer (test-qcow2-io crashwriter: allocating writes, zero writes,
# discards and flushes over a small image) is killed with SIGKILL at a
# random moment, many times over, on the same image.  After every kill:
#   - without lazy refcounts, QEMU's `qemu-img check` and ours must find
#     no corruption (leaked clusters are allowed: exit status 0 or 3);
#   - with lazy refcounts the image is dirty; opening it read-write
#     repairs it, after which QEMU's check must find nothing at all;
#   - QEMU must still read the whole image.
# ITERATIONS (default 12 per option set) controls the length.
#
# Skipped (77) without QEMU's tools.

set -u
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
T=${top_builddir:-.}/tests/unit/test-qcow2-io
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
ITERATIONS=${ITERATIONS:-12}
[ -x "$QEMU_IMG" ] || { echo "no qemu-img: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-crash.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
kills=0

die() { echo "FAIL: $*"; fail=1; }

# A pseudo-random delay of 20-300 ms from the iteration number.
delay() {
    awk -v s="$1" 'BEGIN { srand(s); printf "%.3f\n", 0.02 + rand() * 0.28 }'
}

crash_case() {
    opts=$1 lazy=$2 aio=$3
    rm -f img.qcow2
    $T img.qcow2 create 32M "$opts" || { die "[$opts] create"; return; }
    i=1
    while [ $i -le "$ITERATIONS" ]; do
        # shellcheck disable=SC2086
        $T $aio img.qcow2 crashwriter $((i * 7919)) 24M 2>/dev/null &
        pid=$!
        sleep "$(delay $i)"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        kills=$((kills + 1))

        if [ "$lazy" = yes ]; then
            # Opening read-write repairs the dirty image.
            $T img.qcow2 info >/dev/null || die "[$opts] #$i: repair on open failed"
            out=$($QEMU_IMG check img.qcow2 2>&1)
            rc=$?
            [ $rc -eq 0 ] || die "[$opts] #$i: after repair, qemu-img check: $out"
        else
            out=$($QEMU_IMG check img.qcow2 2>&1)
            rc=$?
            case $rc in
            0|3) ;;
            *) die "[$opts] #$i: qemu-img check ($rc): $out" ;;
            esac
            ours=$($T -r img.qcow2 check 2>&1)
            case $ours in
            *"corruptions=0 "*"check_errors=0 "*) ;;
            *) die "[$opts] #$i: our check: $ours" ;;
            esac
        fi
        $QEMU_IMG convert -O raw img.qcow2 out.raw || die "[$opts] #$i: QEMU cannot read the image"
        rm -f out.raw
        i=$((i + 1))
    done
    # In the end, a repair leaves nothing for QEMU to complain about.
    $T img.qcow2 check all >/dev/null
    out=$($QEMU_IMG check img.qcow2 2>&1) || die "[$opts] final: $out"
}

crash_case "" no ""
crash_case "cluster_size=4k" no "-N"
crash_case "cluster_size=512,refcount_bits=8" no ""
crash_case "compat=0.10" no ""
crash_case "lazy_refcounts=on" yes ""
crash_case "lazy_refcounts=on,cluster_size=8k" yes "-N"

echo "$kills kills"
exit $fail
