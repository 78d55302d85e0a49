#!/bin/sh
# coblock — qcow2 under concurrent allocating writes
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# 64 requests in flight at once (writes, zero writes with and without
# unmap) over a region a few clusters wide per request, so that
# allocations of the same and of neighbouring clusters overlap in time.
# The test program keeps a mirror of what the disk must hold and compares
# every byte at the end; then QEMU's check must find the image clean and
# QEMU must read the same bytes as the mirror.  Runs with small metadata
# caches too (eviction while requests wait), and with O_DIRECT + Linux AIO.
#
# Skipped (77) without QEMU's tools.

set -u
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
T=${top_builddir:-.}/tests/unit/test-qcow2-io
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
[ -x "$QEMU_IMG" ] || { echo "no qemu-img: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-stress.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
small="l2-cache-size=8k,refcount-cache-size=16k,l2-cache-entry-size=4k"

stress_case() {
    opts=$1 open=$2 nreq=$3 span=$4 maxlen=$5
    name="[-o ${opts:-defaults}] [${open:-default open}]"
    rm -f s.qcow2 mirror.raw
    $T s.qcow2 create 64M "$opts" || { echo "FAIL: $name: create"; fail=1; return; }
    # shellcheck disable=SC2086
    $T $open s.qcow2 stress $nreq $nreq 64 "$span" "$maxlen" mirror.raw ||
        { echo "FAIL: $name: stress"; fail=1; return; }
    out=$($QEMU_IMG check s.qcow2 2>&1) ||
        { echo "FAIL: $name: qemu-img check: $out"; fail=1; }
    $QEMU_IMG compare -q -f qcow2 -F raw s.qcow2 mirror.raw ||
        { echo "FAIL: $name: QEMU reads something else"; fail=1; }
}

stress_case "" "" 8000 32M 256k
stress_case "" "-o $small" 6000 32M 256k
stress_case "cluster_size=4k" "-N" 3000 16M 64k
stress_case "cluster_size=512,refcount_bits=1" "" 1500 8M 16k
stress_case "compat=0.10" "-N -o $small" 2000 32M 256k
stress_case "lazy_refcounts=on,cluster_size=2M" "" 1500 64M 1M
stress_case "refcount_bits=64,cluster_size=8k" "-o $small" 2000 16M 128k
exit $fail
