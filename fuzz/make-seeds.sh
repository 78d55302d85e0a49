#!/bin/sh
# coblock — generate the seed corpora of the qcow2 fuzz targets
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: fuzz/make-seeds.sh BUILDDIR OUTDIR
# Makes OUTDIR/qcow2 (valid images: every cluster size class, refcount
# width, lazy refcounts, compat=0.10, with allocated, compressed, zeroed
# and discarded clusters and a snapshot; plus the hostile images of
# tests/qcow2-corpus), OUTDIR/header (their header-extension areas) and
# OUTDIR/options (option strings).
set -eu
b=$(cd "$1" && pwd)
out=$2
img=$b/qemu-img/qemu-img
io=$b/qemu-img/qemu-io
mkdir -p "$out/qcow2" "$out/header" "$out/options"
n=0
for cs in 512 4096 65536 2M; do
    for rb in 1 16 64; do
        for extra in "" ",lazy_refcounts=on" ",compat=0.10"; do
            case "$extra:$rb" in *compat=0.10:1|*compat=0.10:64) continue ;; esac
            n=$((n + 1))
            f=$out/qcow2/valid-$n.qcow2
            "$img" create -q -f qcow2 -o "cluster_size=$cs,refcount_bits=$rb$extra" "$f" 4M
            "$io" -f qcow2 -c 'write -P 0x11 0 8k' -c 'write -P 0x22 1M 70k' \
                -c 'write -c -P 0x33 2M 64k' -c 'write -z 3M 64k' \
                -c 'discard 1M 4k' "$f" >/dev/null 2>&1 || true
            [ "$cs" = 4096 ] && "$img" snapshot -c snap "$f" 2>/dev/null || true
        done
    done
done
if [ -x "$b/tests/qcow2-corpus/qcow2-corpus" ]; then
    "$b/tests/qcow2-corpus/qcow2-corpus" generate "$out/corpus" >/dev/null
    for f in "$out"/corpus/*; do
        [ -f "$f" ] || continue
        sz=$(wc -c < "$f")
        [ "$sz" -le 4194304 ] && cp "$f" "$out/qcow2/hostile-$(basename "$f")"
    done
    rm -rf "$out/corpus"
fi
# The extension area of each valid image: bytes 104 up to the end of its
# first cluster (at most 64 KiB - 104).
for f in "$out"/qcow2/valid-*.qcow2; do
    dd if="$f" of="$out/header/$(basename "$f" .qcow2).ext" bs=1 skip=104 \
        count=4096 2>/dev/null
done
printf 'driver=qcow2,file.filename=a.qcow2,cache.direct=on' > "$out/options/keyval"
printf '{"driver":"null-co","size":1048576,"read-zeroes":true}' > "$out/options/json"
printf '{"driver":"null-co","size":"1M","node-name":"n0","detect-zeroes":"on"}' > "$out/options/json2"
printf '{"driver":"qcow2","file":{"driver":"file","filename":"x"},"backing":null}' > "$out/options/nested"
printf 'a=1,,2,b.c=[1],d' > "$out/options/commas"
echo "seeds: $(ls "$out/qcow2" | wc -l) images, $(ls "$out/header" | wc -l) extension areas, $(ls "$out/options" | wc -l) option strings"
