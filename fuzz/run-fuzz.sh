#!/bin/sh
# coblock — run libFuzzer targets for FUZZ_SECONDS each, from generated
# seeds, and report executions and corpus sizes
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: fuzz/run-fuzz.sh BUILDDIR SRCDIR TARGET...
# Exit status 1 if a target crashed (its reproducer is kept in
# BUILDDIR/fuzz/crashes/TARGET/).  Ends with "N passed, N failed".
set -u
b=$1 src=$2; shift 2
secs=${FUZZ_SECONDS:-60}
# FUZZ_SEED fixes libFuzzer's random seed (scripts/test.sh uses 1, so
# that CI explores the same mutations each run); unset: a random seed.
seed=${FUZZ_SEED:+-seed=$FUZZ_SEED}
seeds=$b/fuzz/seeds
rm -rf "$seeds"
"$src/fuzz/make-seeds.sh" "$b" "$seeds" || exit 1
cp "$src"/fuzz/corpus/options/* "$seeds/options/" 2>/dev/null || true
passed=0 failed=0
for t in "$@"; do
    case $t in
    fuzz-qcow2-header) in=$seeds/header ;;
    fuzz-options) in=$seeds/options ;;
    fuzz-nbd-server) in=$src/fuzz/corpus/nbd-server ;;
    *) in=$seeds/qcow2 ;;
    esac
    out=$b/fuzz/corpus-out/$t
    crashes=$b/fuzz/crashes/$t
    mkdir -p "$out" "$crashes"
    log=$b/fuzz/$t.log
    "$b/fuzz/$t" -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 -close_fd_mask=2 \
        -artifact_prefix="$crashes/" $seed \
        "$out" "$in" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    size=$(ls "$out" | wc -l)
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "$t: ${execs:-?} executions in ${secs}s, corpus $size inputs"
    else
        failed=$((failed + 1))
        echo "$t: FAILED (exit $rc) after ${execs:-?} executions; see $log"
        grep -E "^(==|SUMMARY)" "$log" | head -n 5
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
