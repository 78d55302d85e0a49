#!/bin/sh
# The embedding example as a test: an emulator-style device with its own
# poll loop drives asynchronous, verified sector I/O on real images
# (raw with the format given and probed, on every I/O engine this build
# has, and qcow2 when the driver is built in), then reads everything back.
set -u
: "${top_builddir:=.}"
prog="$top_builddir/examples/emulator-disk$EXEEXT"
[ -x "$prog" ] || { echo "SKIP: emulator-disk not built"; exit 77; }
# In the build tree: O_DIRECT needs a real file system (not tmpfs).
tmp=$(mktemp -d "$PWD/emulator-disk.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

run() {
    if "$prog" "$@"; then :; else echo "FAIL: emulator-disk $*"; fail=1; fi
}

truncate -s 64M "$tmp/disk.raw"
run "$tmp/disk.raw" raw 20000 32
run "$tmp/disk.raw" probe 5000 8
for aio in native io_uring; do
    run "json:{\"driver\": \"raw\", \"cache\": {\"direct\": true}, \"file\": {\"driver\": \"file\", \"filename\": \"$tmp/disk.raw\", \"aio\": \"$aio\"}}" probe 5000 64
done
if [ -x /usr/bin/qemu-img ] && "$top_builddir/qemu-img/qemu-img$EXEEXT" --help 2>/dev/null | grep -q qcow2; then
    /usr/bin/qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 64M
    run "$tmp/disk.qcow2" qcow2 20000 32
    /usr/bin/qemu-img check -q "$tmp/disk.qcow2" || { echo "FAIL: QEMU's check of the qcow2 image"; fail=1; }
fi
exit $fail
