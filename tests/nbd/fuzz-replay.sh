#!/bin/sh
# coblock — replay the NBD server fuzz corpus through the fuzz target
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every saved input (the seeds, and crashes once fixed) must run through
# the real server code without a crash, a sanitizer report or a hang.
set -eu
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
# A Linux cross build runs it under qemu-user.
exec timeout 300 ${QEMU_USER:+"$QEMU_USER"} \
    "$top_builddir/fuzz/fuzz-nbd-server-replay" "$top_srcdir/fuzz/corpus/nbd-server"
