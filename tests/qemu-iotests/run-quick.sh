#!/bin/sh
# run-quick.sh FORMAT -- the quick group of the iotests for one image
# format, against the qemu-img and qemu-io of the build tree, with the
# default cache mode and AIO engine.  make check runs it through
# run-quick-raw.sh and run-quick-qcow2.sh.
#
# Exit status: 0 when every test passed (or was skipped, or is a known
# failure), 1 when one failed, 77 when this build has no driver for the
# format or its tools cannot run here.
#
# Environment: top_srcdir and top_builddir (set by make check),
# IOTESTS_FLAGS (more options for ./check, e.g. "-j 1" or "-strict").
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later

set -u
fmt=${1:?usage: run-quick.sh FORMAT}
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
img=$top_builddir/qemu-img/qemu-img
io=$top_builddir/qemu-img/qemu-io

if [ ! -x "$img" ] || [ ! -x "$io" ]; then
    echo "SKIP: no qemu-img and qemu-io in $top_builddir"
    exit 77
fi
formats=$("$img" --help 2>/dev/null | sed -n 's/^Supported formats://p')
if [ -z "$formats" ]; then
    echo "SKIP: $img does not run here"
    exit 77
fi
case " $formats " in
*" $fmt "*) ;;
*)  echo "SKIP: this build has no $fmt driver (formats:$formats)"
    exit 77 ;;
esac

# Results and scratch images go to the build tree (the source tree may be
# read-only, as under make distcheck).
outdir=$top_builddir/tests/qemu-iotests/quick-$fmt
QEMU_IMG_PROG=$img QEMU_IO_PROG=$io COBLOCK_BUILDDIR=$top_builddir \
IOTESTS_OUTDIR=$outdir \
    bash "$here/check" "-$fmt" -g quick -j 2 ${IOTESTS_FLAGS:-}
