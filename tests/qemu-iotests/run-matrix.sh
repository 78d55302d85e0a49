#!/bin/bash
# run-matrix.sh [-ref] [CONFIG...] -- every iotest in several
# configurations, one ./check run each, and the totals.  A CONFIG is
# FORMAT[:AIO[:CACHE]]: raw, qcow2:native:none, qcow2:io_uring:writeback.
# Without CONFIGs, the matrix of make check-iotests:
#
#   raw:threads:writeback
#   qcow2:threads:writeback   qcow2:threads:none
#   qcow2:native:none         (Linux AIO needs O_DIRECT)
#   qcow2:io_uring:writeback  qcow2:io_uring:none
#
# The tools are those of $top_builddir (default: the build tree found by
# ./check), or with -ref QEMU's.  Each run has IOTESTS_JOBS tests at a
# time (default 2).  IOTESTS_FLAGS adds options to each run ("-g quick",
# "-x nbd", "-strict", "-valgrind"); IOTESTS_OUTDIR is where
# results and scratch images go.  A configuration whose format the tools
# lack is reported and counted as skipped.  The last line is
# "N passed, N failed" over all runs; the exit status is 1 when a test
# failed.
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later

set -u
here=$(cd "$(dirname "$0")" && pwd)
ref=()
refnote=
if [ "${1:-}" = -ref ]; then
    ref=(-ref)
    refnote=" (QEMU's tools)"
    shift
fi
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(raw:threads:writeback
             qcow2:threads:writeback qcow2:threads:none
             qcow2:native:none
             qcow2:io_uring:writeback qcow2:io_uring:none)
fi

env_tools=()
if [ -n "${top_builddir:-}" ]; then
    b=$(cd "$top_builddir" && pwd)
    env_tools=(COBLOCK_BUILDDIR="$b" QEMU_IMG_PROG="$b/qemu-img/qemu-img"
               QEMU_IO_PROG="$b/qemu-img/qemu-io")
fi

passed=0 failed=0 xfailed=0 skipped=0
summary=()
for c in "${configs[@]}"; do
    IFS=: read -r fmt aio cache <<<"$c"
    aio=${aio:-threads}
    cache=${cache:-writeback}
    echo "=== iotests: $fmt, aio=$aio, cache=$cache$refnote"
    start=$SECONDS
    log=$(mktemp "${TMPDIR:-/tmp}/iotests-matrix.XXXXXX") || exit 1
    # shellcheck disable=SC2086  # IOTESTS_FLAGS holds several words
    env "${env_tools[@]+"${env_tools[@]}"}" \
        bash "$here/check" "${ref[@]+"${ref[@]}"}" "-$fmt" -i "$aio" -c "$cache" \
            -j "${IOTESTS_JOBS:-2}" ${IOTESTS_FLAGS:-} 2>&1 | tee "$log"
    secs=$((SECONDS - start))
    last=$(tail -n 1 "$log")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
        s=$(sed -n 's/^Skipped: \([0-9]*\).*/\1/p' "$log")
        x=$(sed -n 's/^Known failures: \([0-9]*\).*/\1/p' "$log")
    else
        # The runner refused (no tools, a usage error): one failure.
        p=0 f=1 s=0 x=0
    fi
    rm -f "$log"
    passed=$((passed + p)) failed=$((failed + f))
    skipped=$((skipped + ${s:-0})) xfailed=$((xfailed + ${x:-0}))
    summary+=("$(printf '%-7s %-9s %-10s %4d passed %3d failed %3d known %3d skipped  %4ds' \
                 "$fmt" "$aio" "$cache" "$p" "$f" "${x:-0}" "${s:-0}" "$secs")")
    echo
done

echo "=== iotests summary"
printf '%s\n' "${summary[@]}"
echo "Known failures: $xfailed, skipped: $skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
