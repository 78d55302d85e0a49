#!/bin/sh
# coblock — the engine qemu-img convert picks for its files
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# convert opens source and target with BDRV_O_AIO_AUTO: io_uring where
# the kernel sets up a ring, the thread pool where it cannot.  Checked
# with the real kernel:
#   - a plain convert sets up a ring and moves its data through it (no
#     large pread/pwrite calls; strace),
#   - under a seccomp filter that refuses io_uring_setup (no-io-uring)
#     it falls back to the thread pool silently and writes the same
#     image, while an explicit aio=io_uring still fails with its error,
#   - an explicit file.aio=threads is obeyed,
#   - -C copies with copy_file_range where the target's file system may
#     offload, and reads and writes where it has no copy of its own
#     (ext4, tmpfs, ramfs) unless COBLOCK_COPY_OFFLOAD=always,
#   - a new raw target has its data ranges allocated before the copy
#     (fallocate), frees again the blocks that zero detection leaves
#     unwritten, and ends up exactly as sparse as QEMU's (st_blocks),
#     with or without -S 0, and preallocation=full is left alone,
# and every image is identical to the source and laid out as QEMU 7.2's
# own conversion (qemu-img compare, qemu-img map).
#
# Skipped (77) without strace or QEMU's tools, or where seccomp filters
# cannot be installed.

set -u
QEMU_IMG=${QEMU_IMG:-/usr/bin/qemu-img}
QEMU_IO=${QEMU_IO:-/usr/bin/qemu-io}
B=$(cd "${top_builddir:-.}" && pwd)
OURS=$B/qemu-img/qemu-img
OURS_IO=$B/qemu-io/qemu-io
[ -x "$OURS_IO" ] || OURS_IO=$B/qemu-img/qemu-io
NOURING=$B/tests/unit/no-io-uring
[ -x "$QEMU_IMG" ] && [ -x "$QEMU_IO" ] || { echo "no QEMU tools: skipped"; exit 77; }
command -v strace >/dev/null 2>&1 || { echo "no strace: skipped"; exit 77; }
"$NOURING" true || { echo "no seccomp filters here: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/convert-engine.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
die() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

# 24 MiB: data extents of 1 MiB and 320 KiB, a zero-filled MiB, holes.
"$QEMU_IMG" create -q -f raw src.raw 24M
"$QEMU_IO" -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0 3M 1M' \
    -c 'write -P 0xa5 8M 320k' -c 'write -P 0x33 20M 1M' src.raw >/dev/null
"$QEMU_IMG" convert -O qcow2 src.raw ref.qcow2
"$QEMU_IMG" map --output=json ref.qcow2 > ref.map

# strace, with LeakSanitizer off in a sanitizer build: it stops the
# process's threads with ptrace to scan them, which a traced process
# does not allow, and then reports false leaks.  (The runs without
# strace below keep it on.)
trace() {
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -o trace \
        -e trace=io_uring_setup,pread64,pwrite64,preadv,pwritev,copy_file_range,fallocate "$@"
}

# Large data calls outside the ring: pread64/pwrite64/preadv/pwritev
# with a byte count of 256 KiB or more (image creation writes its
# metadata, up to 192 KiB at once, through an open of its own).
big_calls() {
    grep -E '^[0-9]+ +(pread64|pwrite64|preadv|pwritev)\(' "$1" |
        awk -F'= ' '{ if ($NF + 0 >= 262144) n++ } END { print n + 0 }'
}

same_image() {   # $1: our image, $2: what is being checked
    if ! "$QEMU_IMG" compare -q src.raw "$1"; then
        die "$2: image differs from the source"
    elif ! "$QEMU_IMG" map --output=json "$1" | cmp -s - ref.map; then
        die "$2: layout differs from QEMU's conversion"
    else
        ok "$2: same data and layout as QEMU's conversion"
    fi
}

# 1. The default: a ring, and the data goes through it.
rm -f out.qcow2
if trace "$OURS" convert -O qcow2 src.raw out.qcow2; then
    if grep -qE 'io_uring_setup\(.*= [0-9]+$' trace; then
        ok "convert sets up an io_uring ring"
    else
        die "convert set up no ring: $(grep io_uring_setup trace | head -2)"
    fi
    big=$(big_calls trace)
    [ "$big" -eq 0 ] && ok "no data moved by pread/pwrite" ||
        die "$big large pread/pwrite calls beside the ring"
    same_image out.qcow2 "convert (io_uring)"
else
    die "convert failed"
fi

# 2. No ring to be had: the thread pool, silently, and the same image.
rm -f out.qcow2
if trace "$NOURING" "$OURS" convert -O qcow2 src.raw out.qcow2 2>err; then
    [ -s err ] && die "convert without io_uring printed: $(cat err)" ||
        ok "convert without io_uring prints nothing"
    grep -qE 'io_uring_setup\(.*= -1 ENOSYS' trace &&
        ok "io_uring_setup was refused" || die "io_uring_setup was not refused"
    big=$(big_calls trace)
    [ "$big" -gt 0 ] && ok "data moved by the thread pool ($big calls)" ||
        die "no pread/pwrite calls without io_uring"
    same_image out.qcow2 "convert (threads fallback)"
else
    die "convert without io_uring failed: $(cat err)"
fi
rm -f out.raw
if "$NOURING" "$OURS" convert -O raw out.qcow2 out.raw 2>err &&
        cmp -s src.raw out.raw; then
    ok "qcow2 -> raw without io_uring"
else
    die "qcow2 -> raw without io_uring: $(cat err)"
fi

# ... where an explicit aio=io_uring is an error, as it always was.
out=$("$NOURING" "$OURS_IO" --image-opts -c 'read 0 4k' \
      "driver=raw,file.driver=file,file.filename=src.raw,file.aio=io_uring" 2>&1)
st=$?
case "$out" in
*"Unable to use io_uring: failed to init linux io_uring ring: Function not implemented"*)
    [ "$st" -ne 0 ] && ok "explicit aio=io_uring fails without a ring" ||
        die "explicit aio=io_uring: exit status 0" ;;
*)  die "explicit aio=io_uring without a ring: $out (status $st)" ;;
esac

# 3. An explicit engine wins.
rm -f out.raw
if trace "$OURS" convert --image-opts -O raw \
        "driver=raw,file.driver=file,file.filename=src.raw,file.aio=threads" \
        out.raw && cmp -s src.raw out.raw; then
    # The source is read by the thread pool; the target may use a ring.
    grep -E '^[0-9]+ +(pread64|preadv)\(' trace | awk -F'= ' '$NF + 0 >= 262144' |
        grep -q . && ok "file.aio=threads on the source is obeyed" ||
        die "file.aio=threads: no reads by the thread pool"
else
    die "convert with file.aio=threads failed"
fi

# 4. -C: copy_file_range only where the storage can copy by itself.
"$QEMU_IMG" convert -C -O qcow2 src.raw refc.qcow2
"$QEMU_IMG" map --output=json refc.qcow2 > refc.map
# copy_file_range calls made, whatever their result (a file system may
# refuse them, and convert then reads and writes).
copies() { grep -cE '^[0-9]+ +copy_file_range\(' trace; }
same_copy() {   # $1: what is being checked
    if ! "$QEMU_IMG" compare -q src.raw out.qcow2; then
        die "$1: image differs from the source"
    elif ! "$QEMU_IMG" map --output=json out.qcow2 | cmp -s - refc.map; then
        die "$1: layout differs from QEMU's convert -C"
    else
        ok "$1: same data and layout as QEMU's convert -C"
    fi
}
fs=$(stat -f -c %T .)
case $fs in
ext2/ext3|tmpfs|ramfs) own_copy=no ;;
*) own_copy=maybe ;;
esac
rm -f out.qcow2
if trace "$OURS" convert -C -O qcow2 src.raw out.qcow2; then
    c=$(copies)
    if [ $own_copy = no ]; then
        [ "$c" -eq 0 ] && ok "-C on $fs reads and writes" ||
            die "-C on $fs: $c copy_file_range calls"
    else
        [ "$c" -gt 0 ] && ok "-C on $fs copies with copy_file_range ($c calls)" ||
            die "-C on $fs: no copy_file_range call"
    fi
    same_copy "-C on $fs"
else
    die "convert -C failed"
fi
rm -f out.qcow2
if COBLOCK_COPY_OFFLOAD=always trace "$OURS" convert -C -O qcow2 src.raw out.qcow2; then
    c=$(copies)
    [ "$c" -gt 0 ] && ok "COBLOCK_COPY_OFFLOAD=always: copy_file_range ($c calls)" ||
        die "COBLOCK_COPY_OFFLOAD=always: no copy_file_range call"
    same_copy "-C with COBLOCK_COPY_OFFLOAD=always"
else
    die "convert -C with COBLOCK_COPY_OFFLOAD=always failed"
fi

# 5. A new raw target: data ranges allocated first, where the file
# system can (fallocate with FALLOC_FL_ZERO_RANGE), and the same
# allocation as QEMU's conversion in the end (after sync, so that both
# files have been written back).  src.raw's MiB at 3M is allocated
# zeroes: zero detection skips it, and the blocks allocated for it are
# freed again.
blocks() { sync; stat -c %b "$1"; }
zr_calls() { grep -cE '^[0-9]+ +fallocate\(.*FALLOC_FL_ZERO_RANGE' trace; }
ph_calls() { grep -cE '^[0-9]+ +fallocate\(.*FALLOC_FL_PUNCH_HOLE' trace; }
# Whether this file system allocates with FALLOC_FL_ZERO_RANGE at all.
: > probe
fallocate -z -l 4096 probe 2>/dev/null && zero_range=yes || zero_range=no
rm -f probe
for sparse in "" "-S 0"; do
    what="convert ${sparse:+$sparse }-O raw"
    rm -f out.raw ref.raw
    # shellcheck disable=SC2086
    "$QEMU_IMG" convert $sparse -O raw src.raw ref.raw
    "$QEMU_IMG" map --output=json ref.raw > ref.rmap
    # shellcheck disable=SC2086
    if ! trace "$OURS" convert $sparse -O raw src.raw out.raw; then
        die "$what failed"
        continue
    fi
    if [ $zero_range = yes ]; then
        [ "$(zr_calls)" -gt 0 ] && ok "$what: data ranges allocated first" ||
            die "$what: no FALLOC_FL_ZERO_RANGE call"
        if [ -z "$sparse" ]; then
            [ "$(ph_calls)" -gt 0 ] && ok "$what: skipped zeroes freed again" ||
                die "$what: no FALLOC_FL_PUNCH_HOLE call"
        fi
    fi
    if ! "$QEMU_IMG" compare -q src.raw out.raw; then
        die "$what: image differs from the source"
    elif ! "$QEMU_IMG" map --output=json out.raw | cmp -s - ref.rmap; then
        die "$what: map differs from QEMU's conversion"
    elif [ "$(blocks out.raw)" != "$(blocks ref.raw)" ]; then
        die "$what: $(blocks out.raw) blocks allocated, QEMU's $(blocks ref.raw)"
    else
        ok "$what: same data, map and allocation as QEMU's conversion"
    fi
done
rm -f out.raw ref.raw
"$QEMU_IMG" convert -O raw -o preallocation=full src.raw ref.raw
if trace "$OURS" convert -O raw -o preallocation=full src.raw out.raw; then
    [ "$(ph_calls)" -eq 0 ] && ok "preallocation=full: nothing freed" ||
        die "preallocation=full: $(ph_calls) FALLOC_FL_PUNCH_HOLE calls"
    [ "$(blocks out.raw)" = "$(blocks ref.raw)" ] &&
        ok "preallocation=full: same allocation as QEMU's" ||
        die "preallocation=full: $(blocks out.raw) blocks, QEMU's $(blocks ref.raw)"
else
    die "convert -o preallocation=full failed"
fi

echo "1..$n"
exit $fail
