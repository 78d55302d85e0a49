#!/bin/sh
# coblock — record what QEMU's tools say about each corpus image
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: record-qemu.sh DIR > qemu-7.2.txt
# DIR holds the images of `qcow2-corpus generate DIR`.  For each image:
# the first line qemu-img info prints on error (or "ok"), the result of
# reading the whole disk with qemu-io, and the exit status of qemu-img
# check with its first message.  Paths are shown as DIR.

set -u
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
QEMU_IO=${QEMU_IO:-/usr/bin/qemu-io}
dir=$1

first_line() { sed -n 1p | sed "s|$dir|DIR|g"; }

"$QEMU_IMG" --version | sed -n 1p
while IFS='	' read -r name what; do
    img="$dir/$name.qcow2"
    info=$(timeout 10 "$QEMU_IMG" info -f qcow2 "$img" 2>&1 >/dev/null | first_line)
    [ -n "$info" ] || info=ok
    if [ "$info" = ok ]; then
        read=$(timeout 10 "$QEMU_IO" -r -f qcow2 -c 'read 0 4M' "$img" 2>&1 |
               grep -v -e '^read ' -e 'ops;' | first_line)
        [ -n "$read" ] || read=ok
        chk=$(timeout 10 "$QEMU_IMG" check -f qcow2 "$img" 2>&1 | first_line)
        timeout 10 "$QEMU_IMG" check -f qcow2 "$img" >/dev/null 2>&1
        rc=$?
        printf '%s\tinfo: ok\tread: %s\tcheck(%s): %s\n' "$name" "$read" "$rc" "$chk"
    else
        printf '%s\tinfo: %s\n' "$name" "$info"
    fi
done < "$dir/cases.txt"
