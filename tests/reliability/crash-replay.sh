#!/bin/sh
# coblock — run the crash replay (tests/reliability/crash-replay.c)
# in a scratch directory (in memory when /dev/shm is there: the states
# are many small files).  CRASH_WORKLOAD limits it to one workload.
# Long logs are sampled (at most about 250 prefix states each) unless
# CRASH_FULL=1; scripts/test.sh runs the full replay.
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
b=$(cd "${top_builddir:-.}" && pwd)
tmp=${TMPDIR:-/tmp}
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
dir=$(mktemp -d "$tmp/crash-replay.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
if [ "${CRASH_FULL:-0}" = 1 ]; then
    CRASH_MAX_PREFIXES=0
fi
CRASH_MAX_PREFIXES=${CRASH_MAX_PREFIXES:-250}
export CRASH_MAX_PREFIXES
"$b/tests/reliability/crash-replay${EXEEXT:-}" "$dir" \
    "$b/qemu-img/qemu-img${EXEEXT:-}" ${CRASH_WORKLOAD:-}
