#!/bin/sh
# coblock — the nbd driver of the Windows build (Winsock, the loop's
# WSAEventSelect socket handlers) under Wine, against nbdkit on Linux
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# qemu-io.exe writes a workload over nbd://127.0.0.1 into nbdkit memory
# (patterns, FUA, zeroes, AIO, with and without structured replies) and
# reads it back; nbdcopy and QEMU's qemu-io check the bytes on the Linux
# side.  A server that vanishes must give an error, not a hang.  Run
# from the mingw build's make check; skipped without Wine, nbdkit,
# libnbd's tools or QEMU's qemu-io.

. "$top_srcdir/tests/nbd/common.sh"
require nbdkit nbdcopy "$QEMU_IO"
EXE_IO=$top_builddir/qemu-img/qemu-io.exe
[ -x "$EXE_IO" ] || { echo "SKIP: no qemu-io.exe"; exit 77; }
WINE=""
for w in wine64 wine /usr/lib/wine/wine64; do
    if command -v "$w" >/dev/null 2>&1; then
        WINE=$(command -v "$w")
        break
    fi
done
[ -n "$WINE" ] || { echo "SKIP: wine is not installed"; exit 77; }
WINEDEBUG=${WINEDEBUG:--all}
export WINEDEBUG

start_nbdkit() {    # extra nbdkit options...
    port=$((20000 + ($$ + 13) % 20000))
    tries=0
    while :; do
        start_bg nbdkit -f -i 127.0.0.1 -p "$port" "$@"
        kpid=$last_pid
        sleep 0.3
        kill -0 "$kpid" 2>/dev/null && break
        bg_pids=$(echo "$bg_pids" | sed "s/ $kpid\b//")
        tries=$((tries + 1))
        [ $tries -lt 10 ] || fail "no free TCP port"
        port=$((port + 1))
    done
    U="nbd://127.0.0.1:$port"
}

for sr in "" "--no-sr"; do
    step "qemu-io.exe over TCP ${sr:-with structured replies}"
    # shellcheck disable=SC2086
    start_nbdkit $sr memory 64M
    timeout 120 "$WINE" "$EXE_IO" -f raw -c 'write -P 0x41 0 64k' \
        -c 'write -f -P 0x42 1M 1M' -c 'write -z 4M 2M' -c 'write -P 0x43 100 5000' \
        -c 'aio_write -P 0x44 8M 1M' -c 'aio_write -P 0x45 10M 1M' -c 'aio_flush' \
        -c 'read -P 0x43 100 5000' -c 'read -P 0x44 8M 1M' -c 'read -P 0 4M 2M' \
        -c 'flush' "$U" > "$scratch/out" 2>&1 || { cat "$scratch/out"; fail "qemu-io.exe"; }
    if grep -q 'fail' "$scratch/out"; then
        cat "$scratch/out"
        fail "qemu-io.exe reported a failure"
    fi
    nbdcopy "$U" "$scratch/img.raw"
    "$QEMU_IO" -f raw -r -c 'read -P 0x41 0 100' -c 'read -P 0x43 100 5000' \
        -c 'read -P 0x41 5100 60436' -c 'read -P 0x42 1M 1M' -c 'read -P 0 4M 2M' \
        -c 'read -P 0x44 8M 1M' -c 'read -P 0x45 10M 1M' "$scratch/img.raw" \
        > "$scratch/out" 2>&1
    if grep -q 'fail' "$scratch/out"; then
        cat "$scratch/out"
        fail "the bytes qemu-io.exe wrote are wrong"
    fi
    stop_bg "$kpid" || true
done

step "a server that vanishes"
start_nbdkit --filter=delay memory 64M rdelay=10
timeout 120 "$WINE" "$EXE_IO" -f raw -c 'aio_read 0 1M' -c 'aio_read 1M 1M' \
    -c 'aio_read 2M 1M' -c 'aio_flush' "$U" > "$scratch/out" 2>&1 &
wpid=$!
sleep 2
kill -9 "$kpid"
stop_bg "$kpid" || true
st=0
wait "$wpid" || st=$?
[ $st -ne 124 ] || fail "qemu-io.exe hung after the server went away"
grep -q 'Input/output error' "$scratch/out" || { cat "$scratch/out"; fail "no I/O error reported"; }

echo "PASS"
