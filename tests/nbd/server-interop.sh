#!/bin/sh
# coblock — coblock-nbd against libnbd's tools and QEMU 7.2's
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The same image is served by coblock-nbd and by qemu-nbd with the same
# options; nbdinfo, nbdcopy, qemu-img and qemu-io must get the same
# answers from both (export description, allocation maps, bytes), writes
# must land in the file, several clients must work at once, and the
# hostile client must get correct answers.  Also: read-only exports,
# exit after the last client, --fork/--pid-file, TCP.

. "$top_srcdir/tests/nbd/common.sh"
require nbdinfo nbdcopy "$QEMU_IMG" "$QEMU_IO" "$QEMU_NBD"

img=$scratch/img.raw
ref=$scratch/ref.raw
ours=$scratch/ours.sock
theirs=$scratch/theirs.sock
make_test_image "$img"
cp --sparse=always "$img" "$ref"

step "command line mistakes: qemu-nbd's messages and exit status"
for args in "-f raw $scratch/nonexistent" "--cache=foo $img" "--aio=foo $img" \
    "--discard=foo $img" "--detect-zeroes=foo $img" "--detect-zeroes=unmap $img" \
    "-e -1 $img" "" "$img $img" "--image-opts -f raw driver=raw" \
    "-n --cache=none $img" "-f raw -b 1.2.3.4.5 $img" \
    "-f raw -k $scratch/no/such/dir/s $img" "--bogus $img" "-Z $img" \
    "-p" "-x $img"; do
    # shellcheck disable=SC2086
    st_ours=0; timeout 10 "$COBLOCK_NBD" $args > "$scratch/a" 2>&1 || st_ours=$?
    # shellcheck disable=SC2086
    st_qemu=0; timeout 10 "$QEMU_NBD" $args > "$scratch/b" 2>&1 || st_qemu=$?
    sed -i "s|^coblock-nbd:|PROG:|; s|^$COBLOCK_NBD:|PROG:|; s|\`$COBLOCK_NBD --help|\`PROG --help|" "$scratch/a"
    sed -i "s|^qemu-nbd:|PROG:|; s|^$QEMU_NBD:|PROG:|; s|\`$QEMU_NBD --help|\`PROG --help|" "$scratch/b"
    diff -u "$scratch/b" "$scratch/a" || fail "message for '$args'"
    [ $st_ours -eq $st_qemu ] || fail "exit status $st_ours for '$args', qemu-nbd $st_qemu"
done

start_bg "$COBLOCK_NBD" -f raw -k "$ours" -t -e 0 -A -x exp -D "test image" "$img"
ours_pid=$last_pid
start_bg "$QEMU_NBD" -f raw -k "$theirs" -t -e 0 -A -x exp -D "test image" "$ref"
theirs_pid=$last_pid
wait_socket "$ours"
wait_socket "$theirs"
U=$(uri "$ours" exp)
T=$(uri "$theirs" exp)

step "nbdinfo: the export as qemu-nbd describes it"
nbdinfo --list "$(uri "$ours")" | grep -v 'uri:' > "$scratch/a"
nbdinfo --list "$(uri "$theirs")" | grep -v 'uri:' > "$scratch/b"
diff -u "$scratch/b" "$scratch/a" || fail "nbdinfo --list differs from qemu-nbd's"
grep -q 'description: test image' "$scratch/a" || fail "no description"
grep -q 'qemu:allocation-depth' "$scratch/a" || fail "no allocation-depth context"

step "nbdinfo --map: base:allocation and qemu:allocation-depth as qemu-nbd"
for ctx in base:allocation qemu:allocation-depth; do
    nbdinfo --map="$ctx" "$U" > "$scratch/a"
    nbdinfo --map="$ctx" "$T" > "$scratch/b"
    diff -u "$scratch/b" "$scratch/a" || fail "map of $ctx differs"
done
grep -q 'hole,zero' "$scratch/a" 2>/dev/null || nbdinfo --map "$U" | grep -q 'hole,zero' ||
    fail "no hole reported"

step "qemu-img map through NBD, as through qemu-nbd"
"$QEMU_IMG" map --output=json -f raw "$U" > "$scratch/a"
"$QEMU_IMG" map --output=json -f raw "$T" > "$scratch/b"
diff -u "$scratch/b" "$scratch/a" || fail "qemu-img map differs"

step "nbdcopy out, one and four connections"
nbdcopy "$U" "$scratch/out1.raw"
cmp "$scratch/out1.raw" "$ref" || fail "nbdcopy read wrong bytes"
nbdcopy --connections=4 --requests=32 "$U" "$scratch/out4.raw"
cmp "$scratch/out4.raw" "$ref" || fail "nbdcopy (multi-conn) read wrong bytes"

step "qemu-img compare and convert through NBD"
"$QEMU_IMG" compare -f raw -F raw "$U" "$ref" >/dev/null || fail "qemu-img compare"
"$QEMU_IMG" convert -f raw -O qcow2 "$U" "$scratch/conv.qcow2"
"$QEMU_IMG" compare -f qcow2 -F raw "$scratch/conv.qcow2" "$ref" >/dev/null ||
    fail "qemu-img convert from NBD"
"$QEMU_IMG" info -f raw "$U" | grep -q 'virtual size: 64 MiB (67108864 bytes)' ||
    fail "qemu-img info"

step "qemu-io: writes, FUA, zeroes, AIO, on both servers alike"
for u in "$U" "$T"; do
    "$QEMU_IO" -f raw -c 'write -P 0x55 100 5000' -c 'write -f -P 0x66 8M 1M' \
        -c 'write -z 1M 64k' -c 'write -z 1179648 1' \
        -c 'aio_write -P 0x77 30M 64k' -c 'aio_write -P 0x78 31522816 64k' \
        -c 'aio_write -P 0x79 31588352 64k' -c 'aio_flush' -c 'flush' \
        "$u" >/dev/null || fail "qemu-io writes on $u"
done
"$QEMU_IO" -r -f raw -c 'read -P 0x55 100 5000' -c 'read -P 0x66 8M 1M' \
    -c 'read -P 0 1M 64k' -c 'read -P 0x22 1114112 64k' -c 'read -P 0 1179648 1' \
    -c 'read -P 0x78 31522816 64k' "$U" >/dev/null || fail "qemu-io read back"
"$QEMU_IMG" compare -f raw -F raw "$U" "$T" >/dev/null || fail "servers disagree after writes"

step "several clients at once"
cpids=""
for i in 0 1 2 3; do
    "$QEMU_IO" -f raw -c "write -P $((0x80 + i)) $((48 + i))M 1M" "$U" >/dev/null &
    cpids="$cpids $!"
done
nbdcopy "$U" "$scratch/during.raw" &
cpids="$cpids $!"
for p in $cpids; do
    wait "$p" || fail "a concurrent client failed"
done
for i in 0 1 2 3; do
    "$QEMU_IO" -r -f raw -c "read -P $((0x80 + i)) $((48 + i))M 1M" "$U" >/dev/null ||
        fail "concurrent write $i lost"
done

step "nbdcopy in, four connections"
head -c 64M /dev/urandom > "$scratch/random.raw"
nbdcopy --connections=4 "$scratch/random.raw" "$U"
nbdcopy "$U" "$scratch/back.raw"
cmp "$scratch/random.raw" "$scratch/back.raw" || fail "nbdcopy write wrong bytes"

step "SIGTERM: clean exit, image flushed, socket removed"
stop_bg "$ours_pid" || fail "coblock-nbd exited with $?"
[ ! -e "$ours" ] || fail "socket left behind"
cmp "$scratch/random.raw" "$img" || fail "image file differs after exit"
stop_bg "$theirs_pid" || true

step "read-only export"
start_bg "$COBLOCK_NBD" -f raw -r -k "$ours" -t "$img"
pid=$last_pid
wait_socket "$ours"
nbdinfo "$(uri "$ours")" | grep -q 'is_read_only: true' || fail "not read-only"
if "$QEMU_IO" -f raw -c 'write 0 512' "$(uri "$ours")" > "$scratch/out" 2>&1; then
    fail "qemu-io wrote to a read-only export"
fi
grep -q 'Permission denied' "$scratch/out" || fail "unexpected message: $(cat "$scratch/out")"
"$QEMU_IO" -r -f raw -c 'read 0 512' "$(uri "$ours")" >/dev/null || fail "read-only read"
stop_bg "$pid" || fail "coblock-nbd -r exited with $?"

step "without -t, the server leaves with its last client"
start_bg "$COBLOCK_NBD" -f raw -k "$ours" "$img"
pid=$last_pid
wait_socket "$ours"
nbdinfo --size "$(uri "$ours")" | grep -qx 67108864 || fail "size"
st=0
wait "$pid" || st=$?
bg_pids=$(echo "$bg_pids" | sed "s/ $pid\b//")
[ $st -eq 0 ] || fail "coblock-nbd exited with $st"
[ ! -e "$ours" ] || fail "socket left behind"

step "--fork and --pid-file"
"$COBLOCK_NBD" -f raw -k "$ours" -t --fork --pid-file "$scratch/pid" "$img" ||
    fail "--fork returned $?"
[ -S "$ours" ] || fail "no socket once --fork returned"
dpid=$(cat "$scratch/pid")
kill -0 "$dpid" || fail "no server process $dpid"
nbdinfo --size "$(uri "$ours")" >/dev/null || fail "forked server does not answer"
kill "$dpid"
i=0
while kill -0 "$dpid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 200 ] || fail "forked server did not exit"
    sleep 0.05
done
[ ! -e "$ours" ] || fail "socket left behind"

step "TCP"
port=$((20000 + $$ % 20000))
tries=0
while :; do
    start_bg "$COBLOCK_NBD" -f raw -r -b 127.0.0.1 -p "$port" -x exp -t "$img"
    pid=$last_pid
    sleep 0.3
    kill -0 "$pid" 2>/dev/null && break
    bg_pids=$(echo "$bg_pids" | sed "s/ $pid\b//")
    tries=$((tries + 1))
    [ $tries -lt 10 ] || fail "no free TCP port"
    port=$((port + 1))
done
nbdinfo --size "nbd://127.0.0.1:$port/exp" | grep -qx 67108864 || fail "nbdinfo over TCP"
"$QEMU_IMG" info -f raw "nbd://127.0.0.1:$port/exp" | grep -q "^image: nbd://127.0.0.1:$port/exp$" ||
    fail "qemu-img info over TCP"
"$QEMU_IMG" compare -f raw -F raw "nbd://127.0.0.1:$port/exp" "$img" >/dev/null ||
    fail "qemu-img compare over TCP"
stop_bg "$pid" || fail "coblock-nbd exited with $?"

step "the hostile client"
rm -f "$scratch/h.raw" "$scratch/hro.raw"
truncate -s 4M "$scratch/h.raw"
"$QEMU_IO" -f raw -c 'write -P 0xab 1M 1M' "$scratch/h.raw" >/dev/null
cp --sparse=always "$scratch/h.raw" "$scratch/hro.raw"
start_bg "$COBLOCK_NBD" -f raw -k "$scratch/h.sock" -t -e 0 "$scratch/h.raw"
hpid=$last_pid
start_bg "$COBLOCK_NBD" -f raw -r -k "$scratch/hro.sock" -t -e 0 "$scratch/hro.raw"
hropid=$last_pid
wait_socket "$scratch/h.sock"
wait_socket "$scratch/hro.sock"
"$NBD_HOSTILE" -t 10 "$scratch/h.sock" "$scratch/hro.sock" || fail "hostile client scenarios"
stop_bg "$hpid" || fail "coblock-nbd exited with $? after the hostile client"
stop_bg "$hropid" || fail "coblock-nbd -r exited with $? after the hostile client"

echo "PASS"
