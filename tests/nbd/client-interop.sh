#!/bin/sh
# coblock — the nbd client driver against nbdkit and qemu-nbd
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/nbd/nbd-io opens nbd:// URIs through the block layer.  Against
# nbdkit's memory and file plugins (with and without structured replies,
# with block size limits, over TCP) and qemu-nbd serving a qcow2 with a
# backing file, what it reads must be the server's bytes, what it writes
# must arrive, and its block status must agree with nbdinfo's map of the
# same server.  A server that fails requests or goes away mid-copy must
# give errors, never a hang.

. "$top_srcdir/tests/nbd/common.sh"
require nbdkit nbdinfo nbdcopy "$QEMU_IMG" "$QEMU_IO" "$QEMU_NBD"

# nbdinfo --map lines ("offset length type description") in nbd-io's
# map format ("offset length description"), merged where equal.
nbdinfo_map() {
    nbdinfo --map "$1" | awk '
        { d = $4; if (d == "data") d = "data"; else if (d == "zero") d = "zero";
          if (n && d == last) { len += $2 } else { if (n) print start, len, last;
          start = $1; len = $2; last = d; n = 1 } }
        END { if (n) print start, len, last }'
}

# nbd-io's map, same format (data that also reads as zero is "zero").
ours_map() {
    "$NBD_IO" -r "$1" map
}

img=$scratch/img.raw
make_test_image "$img"

step "nbdkit memory: load, dump, map, zero, trim"
sock=$scratch/mem.sock
rm -f "$sock"
start_bg nbdkit -f -U "$sock" memory 64M
kpid=$last_pid
wait_socket "$sock"
U=$(uri "$sock")
"$NBD_IO" "$U" info | grep -qx 'driver nbd+unix' || fail "driver name"
"$NBD_IO" "$U" info | grep -qx "filename nbd+unix://?socket=$sock" || fail "display name"
"$NBD_IO" "$U" load "$img"
"$NBD_IO" -r "$U" dump "$scratch/out.raw"
cmp "$img" "$scratch/out.raw" || fail "dump differs from what was loaded"
nbdcopy "$U" "$scratch/theirs.raw"
cmp "$img" "$scratch/theirs.raw" || fail "nbdcopy sees other bytes than we wrote"
"$NBD_IO" "$U" zero 0 1M unmap -- zero 20M 4k -- discard 63M 1M -- flush
"$NBD_IO" -r "$U" verify 0 1M 0 -- verify 20M 4k 0 -- verify 1M 3M 0x22
ours_map "$U" > "$scratch/a"
nbdinfo_map "$U" > "$scratch/b"
diff -u "$scratch/b" "$scratch/a" || fail "our map differs from nbdinfo's"
grep -q 'hole,zero' "$scratch/a" || fail "no holes in the map"
"$NBD_IO" "$U" stress 256 42
"$NBD_IO" "$U" write 5 100000f 0x5a -- verify 5 100000 0x5a -- verify 0 5 0
stop_bg "$kpid" || true

step "our qemu-io against QEMU's, both on nbdkit memory"
if [ -x "$OUR_QEMU_IO" ]; then
    sock2=$scratch/mem2.sock
    rm -f "$sock" "$sock2"
    start_bg nbdkit -f -U "$sock" memory 64M
    k1=$last_pid
    start_bg nbdkit -f -U "$sock2" memory 64M
    k2=$last_pid
    wait_socket "$sock"
    wait_socket "$sock2"
    nbdcopy "$img" "$U"
    nbdcopy "$img" "$(uri "$sock2")"
    for pair in "$OUR_QEMU_IO:$U:a" "$QEMU_IO:$(uri "$sock2"):b"; do
        tool=${pair%%:*}
        rest=${pair#*:}
        target=${rest%:*}
        out=${rest##*:}
        "$tool" -f raw -c 'read -P 0x22 1M 3M' -c 'read -v 65530 12' \
            -c 'write -P 0x5a 100 5000' -c 'write -f -P 0x5b 8M 1M' \
            -c 'write -z 20M 4k' -c 'write -z -u 22M 64k' -c 'discard 60M 64k' \
            -c 'aio_write -P 0x5c 30M 64k' -c 'aio_flush' -c 'aio_write -P 0x5d 31M 64k' \
            -c 'aio_flush' -c 'flush' -c 'readv -P 0x5c 30M 32k 32k' \
            -c 'alloc 0 64M' -c 'map' -c 'read 64M 1' -c 'length' \
            "$target" 2>&1 | sed 's/; [0-9:.]* sec .*//' > "$scratch/$out"
    done
    diff -u "$scratch/b" "$scratch/a" || fail "our qemu-io on nbd:// differs from QEMU's"
    nbdcopy "$U" "$scratch/q1.raw"
    nbdcopy "$(uri "$sock2")" "$scratch/q2.raw"
    cmp "$scratch/q1.raw" "$scratch/q2.raw" || fail "the images differ after both qemu-io runs"
    stop_bg "$k1" || true
    stop_bg "$k2" || true
else
    echo "(our qemu-io is not built: skipped)"
fi

step "nbdkit memory without structured replies"
rm -f "$sock"
start_bg nbdkit -f --no-sr -U "$sock" memory 64M
kpid=$last_pid
wait_socket "$sock"
"$NBD_IO" "$U" load "$img"
"$NBD_IO" -r "$U" dump "$scratch/out.raw"
cmp "$img" "$scratch/out.raw" || fail "dump without structured replies"
"$NBD_IO" -r "$U" map > "$scratch/a"
[ "$(cat "$scratch/a")" = "0 67108864 data" ] || fail "map without base:allocation: $(cat "$scratch/a")"
"$NBD_IO" "$U" stress 64 7
stop_bg "$kpid" || true

step "nbdkit memory with block size limits (512 minimum, 64k maximum)"
rm -f "$sock"
start_bg nbdkit -f -U "$sock" --filter=blocksize-policy memory 64M \
    blocksize-minimum=512 blocksize-preferred=4096 blocksize-maximum=65536 \
    blocksize-error-policy=error
kpid=$last_pid
wait_socket "$sock"
"$NBD_IO" "$U" load "$img"
"$NBD_IO" "$U" write 1000 3000 0x99 -- verify 1000 3000 0x99 -- verify 999 1 0x11
"$NBD_IO" "$U" write 1000 3000 0x11 -- zero 513 70000
"$NBD_IO" -r "$U" verify 513 70000 0 -- verify 0 513 0x11
"$NBD_IO" "$U" write 513 65023 0x11
"$NBD_IO" -r "$U" dump "$scratch/out.raw"
cmp "$img" "$scratch/out.raw" || fail "dump with block size limits"
"$NBD_IO" "$U" stress 100 3
stop_bg "$kpid" || true

step "nbdkit file, over TCP"
cp --sparse=always "$img" "$scratch/file.raw"
port=$((20000 + ($$ + 7) % 20000))
tries=0
while :; do
    start_bg nbdkit -f -i 127.0.0.1 -p "$port" file "$scratch/file.raw"
    kpid=$last_pid
    sleep 0.3
    kill -0 "$kpid" 2>/dev/null && break
    bg_pids=$(echo "$bg_pids" | sed "s/ $kpid\b//")
    tries=$((tries + 1))
    [ $tries -lt 10 ] || fail "no free TCP port"
    port=$((port + 1))
done
T="nbd://127.0.0.1:$port"
"$NBD_IO" -r "$T" info | grep -qx "filename nbd://127.0.0.1:$port" || fail "TCP display name"
"$NBD_IO" -r "$T" dump "$scratch/out.raw"
cmp "$img" "$scratch/out.raw" || fail "dump from nbdkit file"
ours_map "$T" > "$scratch/a"
nbdinfo_map "$T" > "$scratch/b"
diff -u "$scratch/b" "$scratch/a" || fail "our map of nbdkit file differs"
"$NBD_IO" "$T" write 10M 1M 0x42 -- flush
"$QEMU_IO" -f raw -r -c 'read -P 0x42 10M 1M' "$scratch/file.raw" >/dev/null ||
    fail "write did not reach the file"
stop_bg "$kpid" || true

step "qemu-nbd serving a qcow2 with a backing file"
"$QEMU_IMG" create -f qcow2 "$scratch/base.qcow2" 64M >/dev/null
"$QEMU_IO" -f qcow2 -c 'write -P 0x61 0 4M' -c 'write -P 0x62 32M 1M' \
    "$scratch/base.qcow2" >/dev/null
"$QEMU_IMG" create -f qcow2 -b base.qcow2 -F qcow2 "$scratch/top.qcow2" >/dev/null
"$QEMU_IO" -f qcow2 -c 'write -P 0x63 1M 1M' -c 'write -z 2M 1M' \
    -c 'write -P 0x64 50M 64k' "$scratch/top.qcow2" >/dev/null
"$QEMU_IMG" convert -O raw "$scratch/top.qcow2" "$scratch/expect.raw"
qsock=$scratch/q.sock
start_bg "$QEMU_NBD" -f qcow2 -k "$qsock" -t -e 0 "$scratch/top.qcow2"
qpid=$last_pid
wait_socket "$qsock"
Q=$(uri "$qsock")
"$NBD_IO" -r "$Q" dump "$scratch/out.raw"
cmp "$scratch/expect.raw" "$scratch/out.raw" || fail "dump of qcow2 through qemu-nbd"
ours_map "$Q" > "$scratch/a"
nbdinfo_map "$Q" > "$scratch/b"
diff -u "$scratch/b" "$scratch/a" || fail "our map of qemu-nbd's export differs"
"$NBD_IO" "$Q" stress 128 99
"$NBD_IO" "$Q" write 60M 2M 0x71 -- zero 61M 64k -- flush
stop_bg "$qpid" || true
"$QEMU_IO" -f qcow2 -r -c 'read -P 0x71 60M 1M' -c 'read -P 0 61M 64k' \
    -c 'read -P 0x71 64028672 983040' "$scratch/top.qcow2" >/dev/null ||
    fail "writes through qemu-nbd did not reach the qcow2"
"$QEMU_IMG" check "$scratch/top.qcow2" >/dev/null || fail "qcow2 corrupted"

step "errors from the server are errors, not hangs"
rm -f "$sock"
start_bg nbdkit -f -U "$sock" --filter=error memory 16M error-pread-rate=100% error=EIO
kpid=$last_pid
wait_socket "$sock"
if timeout 30 "$NBD_IO" -r "$U" verify 0 64k 0 2> "$scratch/err"; then
    fail "read succeeded against a failing server"
fi
grep -q 'Input/output error' "$scratch/err" || fail "unexpected error: $(cat "$scratch/err")"
"$NBD_IO" "$U" write 0 64k 1 || fail "writes should still work"
stop_bg "$kpid" || true

step "a server that goes away mid-copy"
rm -f "$sock"
start_bg nbdkit -f -U "$sock" --filter=delay memory 64M rdelay=200ms
kpid=$last_pid
wait_socket "$sock"
timeout 60 "$NBD_IO" -r "$U" dump "$scratch/out.raw" 2> "$scratch/err" &
dpid=$!
sleep 0.5
# SIGKILL: the server vanishes without a word (and nbdkit 1.32's delay
# filter can abort on a polite shutdown).
kill -9 "$kpid"
stop_bg "$kpid" || true
st=0
wait "$dpid" || st=$?
[ $st -ne 0 ] && [ $st -ne 124 ] || fail "dump status $st (124: it hung)"
grep -q 'Input/output error' "$scratch/err" || fail "unexpected error: $(cat "$scratch/err")"

step "an old-style server is refused with a message"
rm -f "$sock"
start_bg nbdkit -f -o -U "$sock" memory 1M
kpid=$last_pid
wait_socket "$sock"
if "$NBD_IO" -r "$U" info 2> "$scratch/err"; then
    fail "oldstyle server accepted"
fi
grep -q 'oldstyle' "$scratch/err" || fail "unexpected error: $(cat "$scratch/err")"
stop_bg "$kpid" || true

echo "PASS"
