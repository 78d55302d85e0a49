#!/bin/sh
# coblock — qcow2 interoperability with QEMU 7.2, both ways
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# For every creation option set: QEMU creates an image and writes a
# workload (patterns, partial clusters, zero writes with and without
# unmap, discards, compressed clusters); QEMU's own conversion to raw is
# the reference.  Then
#   - coblock reads QEMU's image and must match the reference,
#   - coblock's check must find QEMU's image clean,
#   - coblock creates an image with the same options and runs the same
#     workload; QEMU's `qemu-img check` must say "No errors were found on
#     the image." (no leaks either) and `qemu-img compare` must find it
#     identical to the reference.
# Backing chains are covered both ways as well (relative names, a
# backing file shorter than the overlay, COW from the backing file).
#
# Skipped (77) without QEMU's tools.

set -u
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
QEMU_IO=${QEMU_IO:-/usr/bin/qemu-io}
T=${top_builddir:-.}/tests/unit/test-qcow2-io
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
[ -x "$QEMU_IMG" ] && [ -x "$QEMU_IO" ] || { echo "no QEMU tools: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-interop.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
ntests=0

die() { echo "FAIL: $*"; fail=1; }

# The workload, one operation per line: VERB OFFSET LENGTH [PATTERN].
# Lengths are multiples of 512 (qemu-io needs that); offsets are chosen
# to cover partial clusters at both ends, whole clusters, runs crossing
# L2 slices, and the last cluster of the image.
workload() {
    cat <<EOF
write 0 64k 1
write 69632 3584 2
write 1M 1536k 3
zero 1200k 64k
zerou 1408k 200k
write 3M 8k 4
discard 2M 1M
write 7M 1M 5
write 8060k 4k 6
EOF
    case $1 in
    yes) cat <<EOF
writec 4M 64k 7
writec 5M 128k 8
EOF
    ;;
    2M) cat <<EOF
writec 4M 2M 7
EOF
    ;;
    esac
}

qemu_workload() {
    img=$1; shift
    workload "$@" | while read -r verb off len pat; do
        case $verb in
        write)   c="write -P $pat $off $len" ;;
        writec)  c="write -c -P $pat $off $len" ;;
        zero)    c="write -z $off $len" ;;
        zerou)   c="write -z -u $off $len" ;;
        discard) c="discard $off $len" ;;
        esac
        $QEMU_IO -c "$c" "$img" >/dev/null || echo "qemu-io $c failed"
    done
}

our_workload() {
    img=$1; shift
    workload "$@" | while read -r verb off len pat; do
        case $verb in
        write)   a="write $off $len $pat" ;;
        writec)  a="writec $off $len $pat" ;;
        zero)    a="zero $off $len" ;;
        zerou)   a="zero $off $len unmap" ;;
        discard) a="discard $off $len" ;;
        esac
        # shellcheck disable=SC2086
        $T "$img" $a || echo "coblock $a failed"
    done
}

qemu_check_clean() {
    out=$($QEMU_IMG check "$1" 2>&1)
    case $out in
    *"No errors were found on the image."*) ;;
    *) die "$2: qemu-img check: $out"; return ;;
    esac
    case $out in
    *leaked*) die "$2: qemu-img check reports leaks: $out" ;;
    esac
}

our_check_clean() {
    out=$($T -r "$1" check 2>&1) || die "$2: coblock check: $out"
}

run_case() {
    opts=$1 compress=$2 size=8M
    name="[-o ${opts:-defaults}]"
    ntests=$((ntests + 1))
    rm -f q.qcow2 c.qcow2 ref.raw

    # QEMU writes, coblock reads.
    $QEMU_IMG create -q -f qcow2 ${opts:+-o "$opts"} q.qcow2 $size ||
        { die "$name: qemu-img create"; return; }
    errs=$(qemu_workload q.qcow2 "$compress")
    [ -z "$errs" ] || die "$name: $errs"
    $QEMU_IMG convert -O raw q.qcow2 ref.raw || { die "$name: convert"; return; }
    $T -r q.qcow2 readraw 0 $size ref.raw || die "$name: coblock read of QEMU's image"
    our_check_clean q.qcow2 "$name (QEMU's image)"

    # coblock writes, QEMU reads and checks.
    $T c.qcow2 create $size "$opts" || { die "$name: coblock create"; return; }
    errs=$(our_workload c.qcow2 "$compress")
    [ -z "$errs" ] || die "$name: $errs"
    qemu_check_clean c.qcow2 "$name"
    $QEMU_IMG compare -f qcow2 -F raw c.qcow2 ref.raw >/dev/null ||
        die "$name: QEMU reads coblock's image differently"
    our_check_clean c.qcow2 "$name (our image)"
}

run_case "" yes
run_case "compat=0.10" yes
run_case "cluster_size=512" yes
run_case "cluster_size=4k" yes
run_case "cluster_size=2M" 2M
for bits in 1 2 4 8 32 64; do
    run_case "refcount_bits=$bits" yes
done
run_case "cluster_size=512,refcount_bits=1" yes
run_case "lazy_refcounts=on" yes
run_case "compression_type=zstd" yes
run_case "preallocation=metadata" no
run_case "preallocation=falloc" no
run_case "preallocation=full" no
run_case "compat=0.10,preallocation=metadata" no

# ---- backing chains ----

backing_case() {
    name="[backing $1]"
    ntests=$((ntests + 1))
    rm -rf sub base.qcow2 ov.qcow2 ref.raw
    mkdir sub
    # base: 4M with data; overlay: 8M (the base is shorter).
    if [ "$1" = "qemu-base" ]; then
        $QEMU_IMG create -q -f qcow2 sub/base.qcow2 4M
        $QEMU_IO -c 'write -P 11 0 4M' -c 'write -P 12 1M 64k' sub/base.qcow2 >/dev/null
    else
        $T sub/base.qcow2 create 4M -- write 0 4M 11 -- write 1M 64k 12 >/dev/null
    fi
    # The overlay names its backing file relative to its own directory.
    if [ "$2" = "qemu-overlay" ]; then
        $QEMU_IMG create -q -f qcow2 -b base.qcow2 -F qcow2 sub/ov.qcow2 8M
        $QEMU_IO -c 'write -P 13 4k 4k' -c 'write -P 14 3M 1200k' \
            -c 'write -z 2M 64k' -c 'discard 1M 64k' sub/ov.qcow2 >/dev/null
    else
        $T sub/ov.qcow2 create 8M "backing_file=base.qcow2,backing_fmt=qcow2" -- \
            write 4k 4k 13 -- write 3M 1200k 14 -- zero 2M 64k -- \
            discard 1M 64k >/dev/null
    fi
    $QEMU_IMG convert -O raw sub/ov.qcow2 ref.raw
    $T -r sub/ov.qcow2 readraw 0 8M ref.raw || die "$name: coblock reads the chain differently"
    qemu_check_clean sub/ov.qcow2 "$name"
    our_check_clean sub/ov.qcow2 "$name"
    # And through QEMU from another directory (relative name resolution).
    $QEMU_IO -r -c 'read -P 13 4k 4k' -c 'read -P 11 0 4k' -c 'read -P 0 7M 1M' \
        -c 'read -P 11 8k 56k' sub/ov.qcow2 >/dev/null || die "$name: qemu-io read"
}

backing_case qemu-base our-overlay
backing_case our-base our-overlay
backing_case our-base qemu-overlay

# ---- internal snapshots: QEMU takes one, we write (copying shared L2
# tables and clusters), the snapshot must be intact and the refcounts
# right, also after QEMU deletes it ----

snapshot_case() {
    name="[snapshot $1]"
    ntests=$((ntests + 1))
    rm -f sn.qcow2 snap.raw ref.raw
    $QEMU_IMG create -q -f qcow2 ${1:+-o "$1"} sn.qcow2 8M
    $QEMU_IO -c 'write -P 1 0 2M' -c 'write -c -P 2 4M 64k' \
        -c 'write -z 5M 64k' sn.qcow2 >/dev/null
    $QEMU_IMG snapshot -c snap1 sn.qcow2
    $QEMU_IMG convert -O raw sn.qcow2 snap.raw
    $T sn.qcow2 write 4k 4k 7 -- write 1M 64k 8 -- write 4M 4k 9 -- \
        zero 5M 64k -- discard 1536k 64k -- write 6M 64k 10 -- \
        zero 2M 64k unmap || die "$name: coblock writes"
    qemu_check_clean sn.qcow2 "$name"
    $QEMU_IMG convert -l snap1 -O raw sn.qcow2 ref.raw
    cmp -s snap.raw ref.raw || die "$name: the snapshot changed"
    $QEMU_IMG convert -O raw sn.qcow2 ref.raw
    $T -r sn.qcow2 readraw 0 8M ref.raw || die "$name: active layer differs"
    $T sn.qcow2 read 4k 4k 7 -- read 4M 4k 9 -- read 6M 64k 10 ||
        die "$name: coblock reads back something else"
    $QEMU_IMG snapshot -d snap1 sn.qcow2
    qemu_check_clean sn.qcow2 "$name, snapshot deleted"
    our_check_clean sn.qcow2 "$name, snapshot deleted"
}

snapshot_case ""
snapshot_case "cluster_size=4k,refcount_bits=8"
snapshot_case "compat=0.10"

# ---- amend: each change leaves an image QEMU finds clean, with the
# same data and the options QEMU reports ----

amend_case() {
    name="[amend $1 -> $2]"
    ntests=$((ntests + 1))
    rm -f am.qcow2 am.raw
    $QEMU_IMG create -q -f qcow2 ${1:+-o "$1"} am.qcow2 16M
    $QEMU_IO -c 'write -P 1 0 64k' -c 'write -z 1M 64k' \
        -c 'write -P 2 3M 1M' am.qcow2 >/dev/null
    case $1 in *compat=0.10*) ;; *)
        $QEMU_IO -c 'write -c -P 3 8M 64k' am.qcow2 >/dev/null ;;
    esac
    $QEMU_IMG convert -O raw am.qcow2 am.raw
    $T am.qcow2 amend "$2" || { die "$name: amend"; return; }
    qemu_check_clean am.qcow2 "$name"
    truncate -s "$(stat -c %s am.raw)" am.raw
    case $2 in *size=*) ;; *)
        $QEMU_IMG compare -q -f qcow2 -F raw am.qcow2 am.raw ||
            die "$name: QEMU reads other data" ;;
    esac
    info=$($QEMU_IMG info am.qcow2)
    case $2 in
    *compat=0.10*) expect="compat: 0.10" ;;
    *compat=1.1*) expect="compat: 1.1" ;;
    *lazy_refcounts=on*) expect="lazy refcounts: true" ;;
    *refcount_bits=*) expect="refcount bits: ${2#*refcount_bits=}" ;;
    *size=32M*) expect="virtual size: 32 MiB" ;;
    *) expect="" ;;
    esac
    case $info in *"$expect"*) ;; *) die "$name: qemu-img info: $info" ;; esac
}

amend_case "" "compat=0.10"
amend_case "compat=0.10" "compat=1.1"
amend_case "compat=0.10" "compat=1.1,lazy_refcounts=on"
amend_case "lazy_refcounts=on" "lazy_refcounts=off"
amend_case "" "refcount_bits=1"
amend_case "refcount_bits=1" "refcount_bits=64"
amend_case "cluster_size=512" "refcount_bits=8"
amend_case "" "size=32M"

# ---- measure: the same numbers as qemu-img measure ----

measure_case() {
    ntests=$((ntests + 1))
    if [ "$1" = "-" ]; then
        a=$($T - measure "$2" "$3")
        b=$($QEMU_IMG measure -O qcow2 ${2:+-o "$2"} --size "$3")
    else
        a=$($T -r "$1" measure "$2")
        b=$($QEMU_IMG measure -O qcow2 ${2:+-o "$2"} "$1" | grep -v bitmaps)
    fi
    [ "$a" = "$b" ] || die "[measure $1 $2 $3]: ours: $a QEMU: $b"
}

for sz in 0 1 1M 1G 100G 16T; do
    measure_case - "" $sz
done
measure_case - "cluster_size=512,refcount_bits=64" 1G
measure_case - "cluster_size=2M,preallocation=falloc" 1G
rm -f m.qcow2
$QEMU_IMG create -q -f qcow2 m.qcow2 100M
$QEMU_IO -c 'write 0 4k' -c 'write 1M 1M' -c 'write -z 3M 1M' \
    -c 'write 10M 100k' -c 'write 70k 1k' -c 'write -c 20M 64k' m.qcow2 >/dev/null
measure_case m.qcow2 ""
measure_case m.qcow2 "cluster_size=4k"
measure_case m.qcow2 "cluster_size=512,refcount_bits=1"

echo "$ntests interop cases"
exit $fail
