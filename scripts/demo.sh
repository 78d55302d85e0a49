#!/bin/sh
# The main job: set up a fresh Debian machine, build coblock, and show it
# at work on real images, side by side with QEMU 7.2's own tools:
#   1. qemu-img create, qemu-io writes, info and check, human and JSON;
#   2. a backing chain: map, commit and rebase;
#   3. convert raw <-> qcow2 (plain and compressed), verified by QEMU;
#   4. images made by QEMU read by coblock and the other way round;
#   5. the same qemu-img output from both implementations, byte for byte;
#   6. an image served by coblock-nbd and read by QEMU's qemu-img;
#   7. an emulator-style program driving an image from its own loop;
#   8. bench on null-co (the block layer's cost per request) and the
#      coroutine benchmark.
# Every check that fails stops the demo with a message.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup-deps.sh"
"$top/scripts/build.sh" _build --enable-werror
B=$top/_build
IMG=$B/qemu-img/qemu-img
IO=$B/qemu-img/qemu-io
NBD=$B/nbd/coblock-nbd
QIMG=/usr/bin/qemu-img
QIO=/usr/bin/qemu-io
work=$(mktemp -d "${TMPDIR:-/var/tmp}/coblock-demo.XXXXXX")
nbd_pid=
cleanup() {
    [ -n "$nbd_pid" ] && kill "$nbd_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

say() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$B/qemu-img/||g; s|$B/nbd/||g; s|$B/||g; s|$work/||g"; "$@"; }
ok() { printf '   ok: %s\n' "$*"; }
die() { printf 'demo FAILED: %s\n' "$*" >&2; exit 1; }

say "1. create an image, write to it, look at it"
run "$IMG" create -f qcow2 disk.qcow2 1G
run "$IO" -c 'write -P 0xaa 0 1M' -c 'write -P 0xbb 512M 64k' -c 'write -z 1M 1M' disk.qcow2
run "$IMG" info disk.qcow2
run "$IMG" check disk.qcow2
run "$IMG" map --output=json disk.qcow2
run "$QIMG" check disk.qcow2 >/dev/null && ok "QEMU's qemu-img check finds the image clean"
run "$QIO" -c 'read -P 0xaa 0 1M' -c 'read -P 0 1M 1M' -c 'read -P 0xbb 512M 64k' disk.qcow2 |
    grep -q 'read 65536/65536' && ok "QEMU's qemu-io reads back what coblock wrote"

say "2. a backing chain: map, commit, rebase"
run "$IMG" create -f qcow2 -b disk.qcow2 -F qcow2 top.qcow2
run "$IO" -c 'write -P 0xcc 256k 128k' top.qcow2
run "$IMG" info --backing-chain top.qcow2 | grep -E '^(image|backing file):'
run "$IMG" map top.qcow2
run "$IMG" commit top.qcow2
run "$IO" -c 'read -P 0xcc 256k 128k' -c 'read -P 0xaa 0 256k' disk.qcow2 >/dev/null &&
    ok "the committed data is in the base"
run "$IMG" create -f raw newbase.raw 1G
run "$IMG" rebase -f qcow2 -b newbase.raw -F raw top.qcow2
run "$IMG" compare top.qcow2 disk.qcow2 && ok "safe rebase kept the guest's view"

say "3. convert raw <-> qcow2, plain and compressed, checked by QEMU"
run "$IMG" convert -p -O raw disk.qcow2 disk.raw
run "$IMG" convert -c -O qcow2 disk.raw small.qcow2
run "$IMG" convert -O qcow2 -o compression_type=zstd -c disk.qcow2 zstd.qcow2
for f in disk.raw small.qcow2 zstd.qcow2; do
    "$QIMG" compare disk.qcow2 "$f" >/dev/null || die "QEMU finds $f different"
    ok "QEMU's qemu-img compare: disk.qcow2 and $f are identical"
done
ls -ls disk.raw disk.qcow2 small.qcow2 zstd.qcow2 | awk '{ printf "   %-12s %8d KiB on disk\n", $NF, $1 }'

say "4. images move both ways between coblock and QEMU"
run "$QIMG" create -q -f qcow2 -o cluster_size=4096,refcount_bits=64 q.qcow2 64M
run "$QIO" -c 'write -P 0x11 0 3M' -c 'write -c -P 0x22 8M 64k' q.qcow2 >/dev/null
run "$IMG" check q.qcow2
run "$IO" -c 'read -P 0x11 0 3M' -c 'read -P 0x22 8M 64k' -c 'write -P 0x33 16M 1M' q.qcow2 >/dev/null
run "$QIMG" check q.qcow2 >/dev/null && ok "QEMU checks the image coblock wrote into: clean"
run "$QIO" -c 'read -P 0x33 16M 1M' q.qcow2 >/dev/null && ok "QEMU reads coblock's write"

say "5. the same output as QEMU's qemu-img, byte for byte"
for args in "info disk.qcow2" "info --output=json top.qcow2" "check --output=json q.qcow2" \
            "map --output=json small.qcow2" "measure -O qcow2 disk.raw"; do
    # shellcheck disable=SC2086  # args holds several words
    "$IMG" $args > ours.out 2>&1 || true
    # shellcheck disable=SC2086
    "$QIMG" $args > qemu.out 2>&1 || true
    if cmp -s ours.out qemu.out; then
        ok "qemu-img $args"
    else
        diff -u qemu.out ours.out || true
        die "qemu-img $args differs from QEMU's"
    fi
done

say "6. coblock-nbd serves an image, QEMU reads it"
run "$NBD" -f qcow2 -r -k "$work/nbd.sock" -t disk.qcow2 &
nbd_pid=$!
i=0
while [ ! -S "$work/nbd.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
run "$QIMG" info --output=json "nbd+unix:///?socket=$work/nbd.sock" | grep virtual-size
run "$QIMG" compare -f raw "nbd+unix:///?socket=$work/nbd.sock" disk.raw &&
    ok "QEMU reads the export byte for byte as the image"
kill "$nbd_pid"
wait "$nbd_pid" 2>/dev/null || true
nbd_pid=

say "7. an emulator's disk model on libcoblock (its own poll loop, 32 requests in flight)"
run "$IMG" create -q -f qcow2 guest.qcow2 64M
run "$B/examples/emulator-disk" guest.qcow2 qcow2 20000 32
run "$QIMG" check guest.qcow2 >/dev/null && ok "QEMU finds the guest's disk clean"

say "8. the cost of the block layer itself: 1M requests on null-co"
for tool in "$IMG" "$QIMG"; do
    name=coblock
    [ "$tool" = "$QIMG" ] && name="QEMU 7.2"
    printf '   %-9s ' "$name:"
    "$tool" bench -c 1000000 -s 4096 --image-opts driver=null-co,size=5G | tail -n 1
done
say "   the coroutine benchmark (ns per operation, best of 7 runs)"
cd "$B"
../bench/coroutine-bench

printf '\ndemo finished: every check passed\n'
