#!/bin/sh
# coblock — run the fault campaign (tests/reliability/fault-campaign.c)
# in a scratch directory (in memory when /dev/shm is there: the cases
# flush often).  FAULT_WORKLOAD limits it to one workload.
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
b=$(cd "${top_builddir:-.}" && pwd)
tmp=${TMPDIR:-/tmp}
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
dir=$(mktemp -d "$tmp/fault-campaign.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
"$b/tests/reliability/fault-campaign${EXEEXT:-}" "$dir" \
    "$b/qemu-img/qemu-img${EXEEXT:-}" ${FAULT_WORKLOAD:-}
