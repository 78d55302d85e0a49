# coblock — shared functions of the NBD interop tests (sourced)
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every server runs on a Unix socket in a scratch directory (TCP only
# where TCP itself is tested), in the foreground, as a child of the test;
# the EXIT trap stops what is left and removes the directory.  A test
# whose peer program is not installed exits 77 (skipped).

set -eu

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
COBLOCK_NBD="$top_builddir/nbd/coblock-nbd"
NBD_IO="$top_builddir/tests/nbd/nbd-io"
NBD_HOSTILE="$top_builddir/tests/nbd/nbd-hostile"
OUR_QEMU_IO="$top_builddir/qemu-img/qemu-io"
QEMU_IMG="${QEMU_IMG_REF:-/usr/bin/qemu-img}"
QEMU_IO="${QEMU_IO_REF:-/usr/bin/qemu-io}"
QEMU_NBD="${QEMU_NBD_REF:-/usr/bin/qemu-nbd}"

scratch=$(mktemp -d "${COBLOCK_TEST_DIR:-/var/tmp}/coblock-nbd-test-XXXXXX")
bg_pids=""

# A Linux cross build (aarch64, say) runs its programs under qemu-user:
# wrappers keep the names the tests use (and argv[0], for messages).
if [ -n "${QEMU_USER:-}" ]; then
    mkdir -p "$scratch/bin"
    abs_builddir=$(cd "$top_builddir" && pwd)
    for p in nbd/coblock-nbd tests/nbd/nbd-io tests/nbd/nbd-hostile qemu-img/qemu-io; do
        [ -x "$abs_builddir/$p" ] || continue
        w="$scratch/bin/$(basename "$p")"
        printf '#!/bin/sh\nexec "%s" -0 "$0" "%s" "$@"\n' \
            "$QEMU_USER" "$abs_builddir/$p" > "$w"
        chmod +x "$w"
    done
    COBLOCK_NBD=$scratch/bin/coblock-nbd
    NBD_IO=$scratch/bin/nbd-io
    NBD_HOSTILE=$scratch/bin/nbd-hostile
    [ ! -x "$scratch/bin/qemu-io" ] || OUR_QEMU_IO=$scratch/bin/qemu-io
fi

cleanup() {
    for p in $bg_pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $bg_pids; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

step() {
    echo "== $*"
}

require() {
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "$t" ]; then
            echo "SKIP: $t is not installed"
            exit 77
        fi
    done
}

# Run "$@" in the background; its pid is in $last_pid.
start_bg() {
    "$@" &
    last_pid=$!
    bg_pids="$bg_pids $last_pid"
}

# Stop the background process $1 (SIGTERM) and return its exit status.
stop_bg() {
    kill "$1" 2>/dev/null || true
    st=0
    wait "$1" || st=$?
    bg_pids=$(echo "$bg_pids" | sed "s/ $1\b//")
    return $st
}

# Wait until $1 is a socket (servers create it when they listen).
wait_socket() {
    i=0
    while [ ! -S "$1" ]; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "no socket at $1"
        sleep 0.05
    done
}

# The URI of export $2 (default "") on the Unix socket $1.
uri() {
    echo "nbd+unix:///${2:-}?socket=$1"
}

# A sparse raw image of 64 MiB with data in a few places: patterns,
# random bytes, and an explicitly zeroed range.
make_test_image() {
    rm -f "$1"
    truncate -s 64M "$1"
    "$QEMU_IO" -f raw -c 'write -P 0x11 0 64k' -c 'write -P 0x22 1M 3M' \
        -c 'write -P 0x33 20M 4k' -c 'write -P 0x44 63M 1M' "$1" >/dev/null
    head -c 2M /dev/urandom | dd of="$1" bs=1M seek=40 conv=notrunc status=none
}
