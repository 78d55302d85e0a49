#!/bin/sh
# coblock — every fuzz target over generated seeds and the saved inputs
# of fuzz/corpus/, without libFuzzer (fuzz/replay-main.c): no crash, no
# sanitizer report, no hang.
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
b=$(cd "${top_builddir:-.}" && pwd)
src=$(cd "${top_srcdir:-.}" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-replay.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
"$src/fuzz/make-seeds.sh" "$b" "$dir" || exit 1
fail=0
run() {
    t=$1; shift
    if ! timeout 600 "$b/fuzz/$t-replay" "$@" > "$dir/$t.out" 2>&1; then
        echo "FAIL $t"; tail -n 20 "$dir/$t.out"; fail=1
    else
        echo "ok $t"
    fi
}
for t in fuzz-qcow2-open fuzz-qcow2-read fuzz-qcow2-write; do
    run $t "$dir/qcow2" "$src/fuzz/corpus/$t"
done
run fuzz-qcow2-header "$dir/header" "$src/fuzz/corpus/fuzz-qcow2-header"
run fuzz-options "$dir/options" "$src/fuzz/corpus/options"
exit $fail
