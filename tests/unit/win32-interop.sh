#!/bin/bash
# coblock — the Windows tools (qemu-img.exe, qemu-io.exe under Wine) and
# QEMU 7.2 on Linux exchange images, both ways
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Windows -> Linux: the .exe tools create raw and qcow2 images, write a
#   workload into them (patterns, misaligned writes, zero writes,
#   discards, compressed clusters) and convert them; QEMU's
#   `qemu-img check` must find them clean and `qemu-img compare` must
#   find them identical, byte for byte, to a raw reference that QEMU's
#   own qemu-io wrote with the same workload.  The Linux build of coblock
#   (if built beside, in _build) checks and compares them too.
# Linux -> Windows: QEMU creates images (qcow2 in several layouts,
#   compressed, with a backing file) and writes the workload; the .exe
#   tools must read them back identically (qemu-io.exe read -P, and
#   qemu-img.exe convert to raw compared with cmp).
# Plus: qemu-img.exe info/check print what QEMU prints (up to the CR of
#   Windows line ends), image locks work between two Windows processes,
#   and both spellings of Windows paths open the same file.
#
# Run from the mingw build's `make check` (tests/wine-wrapper runs .sh
# files natively).  Skipped (77) without Wine, QEMU's tools or the .exe
# tools.  Ends with "N passed, N failed".

set -u
top_builddir=$(cd "${top_builddir:-.}" && pwd)
top_srcdir=$(cd "${top_srcdir:-.}" && pwd)
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
QEMU_IO=${QEMU_IO:-/usr/bin/qemu-io}
EXE_IMG=$top_builddir/qemu-img/qemu-img.exe
EXE_IO=$top_builddir/qemu-img/qemu-io.exe
LINUX_BUILD=${COBLOCK_LINUX_BUILD:-$top_srcdir/_build}
LINUX_IMG=$LINUX_BUILD/qemu-img/qemu-img

WINE=""
for w in wine64 wine /usr/lib/wine/wine64; do
    if command -v "$w" >/dev/null 2>&1; then
        WINE=$(command -v "$w")
        break
    fi
done
[ -n "$WINE" ] || { echo "wine is not installed: skipped"; exit 77; }
[ -x "$QEMU_IMG" ] && [ -x "$QEMU_IO" ] || { echo "no QEMU tools: skipped"; exit 77; }
[ -f "$EXE_IMG" ] && [ -f "$EXE_IO" ] || { echo "no .exe tools built: skipped"; exit 77; }
[ -x "$LINUX_IMG" ] || LINUX_IMG=""
export WINEDEBUG=${WINEDEBUG:--all}
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine}

dir=$(mktemp -d "${TMPDIR:-/tmp}/win32-interop.XXXXXX")
holder_pid=""
cleanup() {
    if [ -n "$holder_pid" ]; then
        kill "$holder_pid" 2>/dev/null
        wait "$holder_pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir" || exit 1

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS $1"; }
ko() { failed=$((failed + 1)); echo "FAIL $1"; shift; [ $# -eq 0 ] || printf '  %s\n' "$@"; }

# Run a Windows tool; its output (CRs dropped) lands in $out and $err.
out=$dir/.out
err=$dir/.err
# Status 127 is wine failing to start the program (the tools never exit
# with it): seen once in a full run, with every other run of the same
# test passing; such a start is tried again, twice at most.
wrun() {
    local exe=$1 rc tries=0
    shift
    while :; do
        "$WINE" "$exe" "$@" >"$out.raw" 2>"$err.raw"
        rc=$?
        [ $rc -eq 127 ] && [ $tries -lt 2 ] || break
        tries=$((tries + 1))
        echo "  (wine could not start $(basename "$exe"): tried again)"
        sleep 1
    done
    tr -d '\r' <"$out.raw" >"$out"
    tr -d '\r' <"$err.raw" >"$err"
    return $rc
}
wimg() { wrun "$EXE_IMG" "$@"; }
wio() { wrun "$EXE_IO" "$@"; }
show() { cat "$out" "$err" | head -n 20 | sed 's/^/  | /'; }

# The workload, as qemu-io arguments.  Offsets and lengths are chosen to
# cover partial clusters at both ends, whole clusters, misaligned
# (byte-granular) writes, zero writes with and without unmap, discard and
# compressed clusters.
WORKLOAD=(
    -c "write -P 0x11 0 64k"
    -c "write -P 0x22 69632 3584"
    -c "write -P 0x33 1M 1536k"
    -c "write -P 0x44 12345 6789"
    -c "write -z 1200k 64k"
    -c "write -z -u 1408k 200k"
    -c "write -P 0x55 3M 8k"
    -c "discard 2M 64k"
    -c "write -P 0x66 7M 1M"
    -c "write -P 0x77 8060k 4k"
)
COMPRESSED=(
    -c "write -c -P 0x88 4M 64k"
    -c "write -c -P 0x99 5M 128k"
)
COMPRESSED_READBACK=(
    -c "read -P 0x88 4M 64k"
    -c "read -P 0x99 5M 128k"
)
# What a reader checks (after the workload; discarded ranges are left
# out: discard is advisory).
READBACK=(
    -c "read -P 0x11 0 12345"
    -c "read -P 0x44 12345 6789"
    -c "read -P 0x11 19134 46402"
    -c "read -P 0x22 69632 3584"
    -c "read -P 0x33 1M 176k"
    -c "read -P 0 1200k 64k"
    -c "read -P 0x33 1264k 144k"
    -c "read -P 0 1408k 200k"
    -c "read -P 0x55 3M 8k"
    -c "read -P 0x66 7M 892k"
    -c "read -P 0x77 8060k 4k"
    -c "read -P 0x66 8064k 128k"
)
SIZE=16M

# Raw references: QEMU writes the workload into raw files.  Raw images
# skip the discard (on a raw file it depends on the file system: Linux
# punches a hole, Wine cannot).
WORKLOAD_RAW=()
for ((i = 0; i < ${#WORKLOAD[@]}; i += 2)); do
    case ${WORKLOAD[i + 1]} in
    discard*) ;;
    *) WORKLOAD_RAW+=("${WORKLOAD[i]}" "${WORKLOAD[i + 1]}") ;;
    esac
done
"$QEMU_IMG" create -q -f raw ref.raw $SIZE
"$QEMU_IO" -f raw "${WORKLOAD_RAW[@]}" ref.raw >/dev/null || { echo "QEMU reference failed"; exit 1; }

# The reference for a qcow2 layout: what QEMU's image with the same
# options reads as after the same workload (a discard inside a large
# cluster, for instance, is advisory and may leave the data).
# qcow2_ref OPTS [WORKLOAD...] -> prints the name of a raw file
qcow2_ref() {
    local opts=$1 n
    shift
    n=$((nref += 1))
    rm -f "ref$n.qcow2"
    "$QEMU_IMG" create -q -f qcow2 ${opts:+-o "$opts"} "ref$n.qcow2" $SIZE &&
        "$QEMU_IO" -f qcow2 "$@" "ref$n.qcow2" >/dev/null &&
        "$QEMU_IMG" convert -O raw "ref$n.qcow2" "ref$n.raw" || return 1
    echo "ref$n.raw"
}
nref=0

# Check that QEMU (and the Linux build, when there) find IMG clean and
# identical to REF.
verify_on_linux() {
    local name=$1 fmt=$2 img=$3 ref=$4 msgs=()
    if [ "$fmt" = qcow2 ]; then
        "$QEMU_IMG" check "$img" >"$dir/.chk" 2>&1 ||
            msgs+=("QEMU check: $(tr '\n' ' ' <"$dir/.chk")")
        grep -q '^No errors were found on the image.$' "$dir/.chk" ||
            msgs+=("QEMU check output: $(tr '\n' ' ' <"$dir/.chk")")
    fi
    "$QEMU_IMG" compare -f "$fmt" -F raw "$img" "$ref" >"$dir/.cmp" 2>&1 ||
        msgs+=("QEMU compare: $(tr '\n' ' ' <"$dir/.cmp")")
    if [ -n "$LINUX_IMG" ]; then
        if [ "$fmt" = qcow2 ]; then
            "$LINUX_IMG" check "$img" >"$dir/.chk" 2>&1 ||
                msgs+=("coblock check: $(tr '\n' ' ' <"$dir/.chk")")
        fi
        "$LINUX_IMG" convert -f "$fmt" -O raw "$img" "$dir/.lin.raw" >/dev/null 2>&1 &&
            cmp -s "$dir/.lin.raw" "$ref" ||
            msgs+=("coblock (Linux) convert differs from the reference")
        rm -f "$dir/.lin.raw"
    fi
    if [ ${#msgs[@]} -eq 0 ]; then ok "$name"; else ko "$name" "${msgs[@]}"; fi
}

# ---- Windows writes, Linux verifies ----

if wimg create -f raw w.raw $SIZE && wio -f raw "${WORKLOAD_RAW[@]}" w.raw; then
    verify_on_linux "exe-writes-raw" raw w.raw ref.raw
else
    ko "exe-writes-raw"; show
fi

for opts in "" "cluster_size=4096" "cluster_size=2M,lazy_refcounts=on" "compat=0.10" \
            "refcount_bits=1"; do
    name="exe-writes-qcow2${opts:+ ($opts)}"
    rm -f w.qcow2
    ref=$(qcow2_ref "$opts" "${WORKLOAD[@]}") || { ko "$name" "QEMU reference failed"; continue; }
    if wimg create -f qcow2 ${opts:+-o "$opts"} w.qcow2 $SIZE &&
       wio -f qcow2 "${WORKLOAD[@]}" w.qcow2; then
        verify_on_linux "$name" qcow2 w.qcow2 "$ref"
    else
        ko "$name"; show
    fi
done

rm -f w.qcow2
ref=$(qcow2_ref "" "${WORKLOAD[@]}" "${COMPRESSED[@]}")
if wimg create -f qcow2 w.qcow2 $SIZE &&
   wio -f qcow2 "${WORKLOAD[@]}" "${COMPRESSED[@]}" w.qcow2; then
    verify_on_linux "exe-writes-compressed-qcow2" qcow2 w.qcow2 "$ref"
else
    ko "exe-writes-compressed-qcow2"; show
fi

# qemu-img.exe convert, plain and compressed, through Windows path spellings.
winpath=$(printf 'Z:%s' "$dir" | tr / '\\')
if wimg convert -f raw -O qcow2 ref.raw "$winpath\\conv.qcow2"; then
    verify_on_linux "exe-convert-raw-to-qcow2" qcow2 conv.qcow2 ref.raw
else
    ko "exe-convert-raw-to-qcow2"; show
fi
if wimg convert -c -f raw -O qcow2 ref.raw "Z:$dir/convc.qcow2"; then
    verify_on_linux "exe-convert-compressed" qcow2 convc.qcow2 ref.raw
else
    ko "exe-convert-compressed"; show
fi

# info and check say what QEMU says.  (check on images with compressed
# clusters is left out: its fragmentation count differs from QEMU's on
# every platform, which is a matter for the qcow2 check, not Windows.)
rm -f plain.qcow2
wimg create -f qcow2 plain.qcow2 $SIZE && wio -f qcow2 "${WORKLOAD[@]}" plain.qcow2 ||
    { ko "exe-writes-plain-qcow2"; show; }
for img in plain.qcow2 conv.qcow2 w.qcow2; do
    checks=("info" "info --output=json" "check" "check --output=json")
    [ "$img" != w.qcow2 ] || checks=("info" "info --output=json")
    for args in "${checks[@]}"; do
        name="exe-$args-matches-qemu ($img)"
        # shellcheck disable=SC2086
        wimg $args "$img"
        wrc=$?
        # shellcheck disable=SC2086
        "$QEMU_IMG" $args "$img" >"$dir/.qemu" 2>&1
        qrc=$?
        if [ $wrc -eq $qrc ] && cat "$out" "$err" | cmp -s - "$dir/.qemu"; then
            ok "$name"
        else
            ko "$name" "exit $wrc vs QEMU $qrc" \
               "$(cat "$out" "$err" | diff - "$dir/.qemu" | head -n 8 | tr '\n' ' ')"
        fi
    done
done

# ---- Linux writes, Windows reads ----

# The .exe tools read IMG: every pattern, and a conversion to raw that
# must equal REF byte for byte.
verify_on_windows() {
    local name=$1 img=$2 ref=$3 msgs=()
    local extra=()
    case $name in *compressed*) extra=("${COMPRESSED_READBACK[@]}") ;; esac
    wio -r "${READBACK[@]}" "${extra[@]}" "$img" ||
        msgs+=("qemu-io.exe read: $(grep -v '^read\|^[0-9]' "$out" "$err" | head -n 3 | tr '\n' ' ')")
    rm -f "$dir/.w.raw"
    if wimg convert -O raw "$img" .w.raw; then
        cmp -s "$dir/.w.raw" "$ref" || msgs+=("qemu-img.exe convert differs from the reference")
    else
        msgs+=("qemu-img.exe convert: $(head -n 3 "$err" | tr '\n' ' ')")
    fi
    if wimg check "$img"; then
        grep -q '^No errors were found on the image.$' "$out" ||
            msgs+=("qemu-img.exe check: $(tr '\n' ' ' <"$out")")
    else
        msgs+=("qemu-img.exe check: exit $? $(cat "$out" "$err" | head -n 3 | tr '\n' ' ')")
    fi
    if [ ${#msgs[@]} -eq 0 ]; then ok "$name"; else ko "$name" "${msgs[@]}"; fi
}

# QEMU's images: the reference is QEMU's own reading of them.
for opts in "" "cluster_size=4096" "cluster_size=2M" "compat=0.10" "refcount_bits=1" \
            "preallocation=metadata" "lazy_refcounts=on"; do
    name="qemu-writes-qcow2${opts:+ ($opts)}"
    ref=$(qcow2_ref "$opts" "${WORKLOAD[@]}") || { ko "$name" "QEMU could not write the image"; continue; }
    verify_on_windows "$name" "${ref%.raw}.qcow2" "$ref"
done

ref=$(qcow2_ref "" "${WORKLOAD[@]}" "${COMPRESSED[@]}")
verify_on_windows "qemu-writes-compressed-qcow2" "${ref%.raw}.qcow2" "$ref"

# A backing chain: the overlay holds part of the workload, the base the
# rest; the .exe tools must read the union.
rm -f base.qcow2 top.qcow2
"$QEMU_IMG" create -q -f qcow2 base.qcow2 $SIZE &&
    "$QEMU_IO" -f qcow2 -c "write -P 0x11 0 64k" -c "write -P 0x33 1M 1536k" \
        -c "write -P 0x66 7M 1M" base.qcow2 >/dev/null &&
    "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 &&
    "$QEMU_IO" -f qcow2 -c "write -P 0x22 69632 3584" -c "write -P 0x44 12345 6789" \
        -c "write -z 1200k 64k" -c "write -z -u 1408k 200k" -c "write -P 0x55 3M 8k" \
        -c "discard 2M 64k" -c "write -P 0x77 8060k 4k" top.qcow2 >/dev/null &&
    "$QEMU_IMG" convert -O raw top.qcow2 top.raw
verify_on_windows "qemu-writes-backing-chain" top.qcow2 top.raw
# The same chain read through a Windows path with backslashes (the
# relative backing name resolves against it).
verify_on_windows "qemu-writes-backing-chain (Windows path)" "$winpath\\top.qcow2" top.raw

# ... and the same chain made by the .exe tools, checked by QEMU.
rm -f ebase.qcow2 etop.qcow2
if wimg create -f qcow2 ebase.qcow2 $SIZE &&
   wio -f qcow2 -c "write -P 0x11 0 64k" -c "write -P 0x33 1M 1536k" \
       -c "write -P 0x66 7M 1M" ebase.qcow2 &&
   wimg create -f qcow2 -b ebase.qcow2 -F qcow2 "$winpath\\etop.qcow2" &&
   wio -f qcow2 -c "write -P 0x22 69632 3584" -c "write -P 0x44 12345 6789" \
       -c "write -z 1200k 64k" -c "write -z -u 1408k 200k" -c "write -P 0x55 3M 8k" \
       -c "discard 2M 64k" -c "write -P 0x77 8060k 4k" etop.qcow2; then
    msgs=()
    "$QEMU_IMG" info etop.qcow2 | grep -qx 'backing file: ebase.qcow2' ||
        msgs+=("QEMU sees another backing file: $("$QEMU_IMG" info etop.qcow2 | grep backing)")
    "$QEMU_IMG" check -q ebase.qcow2 || msgs+=("QEMU check ebase.qcow2 failed")
    "$QEMU_IMG" check -q etop.qcow2 || msgs+=("QEMU check etop.qcow2 failed")
    "$QEMU_IMG" compare -F raw etop.qcow2 top.raw >/dev/null 2>&1 ||
        msgs+=("QEMU compare: the chain differs from QEMU's own")
    if [ ${#msgs[@]} -eq 0 ]; then ok "exe-writes-backing-chain"; else ko "exe-writes-backing-chain" "${msgs[@]}"; fi
else
    ko "exe-writes-backing-chain"; show
fi

# zstd: Windows builds have no zstd; such images must fail cleanly, with
# a message, never a crash or wrong data.
rm -f z.qcow2
"$QEMU_IMG" create -q -f qcow2 -o compression_type=zstd z.qcow2 $SIZE &&
    "$QEMU_IO" -f qcow2 -c "write -c -P 0x5a 0 64k" z.qcow2 >/dev/null
wio -r -c "read -P 0x5a 0 64k" z.qcow2
rc=$?
if [ $rc -eq 0 ]; then
    ok "zstd-image-readable"       # a build with zstd after all
elif [ $rc -eq 1 ] && [ -s "$err" -o -s "$out" ] &&
     ! grep -q 'internal error\|Assertion' "$out" "$err"; then
    ok "zstd-image-refused-cleanly"
else
    ko "zstd-image-refused-cleanly" "exit $rc"; show
fi

# ---- locks between two Windows processes ----

rm -f lock.qcow2 fifo
"$QEMU_IMG" create -q -f qcow2 lock.qcow2 $SIZE
mkfifo fifo
"$WINE" "$EXE_IO" lock.qcow2 <fifo >"$dir/.holder" 2>&1 &
holder_pid=$!
exec 3>fifo
# Wait until the holder has the image open (it prints its prompt).
for _ in $(seq 100); do
    grep -q 'qemu-io>' "$dir/.holder" 2>/dev/null && break
    sleep 0.1
done
msgs=()
if wimg info lock.qcow2; then
    msgs+=("info succeeded while another process writes the image")
elif ! grep -qx 'qemu-img: Could not open '"'"'lock.qcow2'"'"': Failed to get shared "write" lock' "$err"; then
    msgs+=("unexpected message: $(tr '\n' ' ' <"$err")")
fi
wio -c "read 0 512" lock.qcow2 && msgs+=("a second writer got in")
grep -qx 'qemu-io: can'"'"'t open device lock.qcow2: Failed to get "write" lock' "$err" &&
    grep -qx 'Is another process using the image \[lock.qcow2\]?' "$err" ||
    msgs+=("second writer: $(tr '\n' ' ' <"$err")")
wimg info -U lock.qcow2 || msgs+=("info -U refused: $(tr '\n' ' ' <"$err")")
echo quit >&3
exec 3>&-
wait "$holder_pid"
holder_pid=""
wimg info lock.qcow2 || msgs+=("info refused after the writer quit: $(tr '\n' ' ' <"$err")")
if [ ${#msgs[@]} -eq 0 ]; then ok "locking-between-processes"; else ko "locking-between-processes" "${msgs[@]}"; fi

# ---- path spellings ----

msgs=()
for p in "$winpath\\w.qcow2" "Z:$dir/w.qcow2" "$dir/w.qcow2"; do
    wimg info "$p" || msgs+=("info '$p': $(tr '\n' ' ' <"$err")")
    grep -qxF "image: $p" "$out" || msgs+=("info '$p' printed: $(head -n 1 "$out")")
done
if [ ${#msgs[@]} -eq 0 ]; then ok "windows-path-spellings"; else ko "windows-path-spellings" "${msgs[@]}"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
