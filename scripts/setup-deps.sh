#!/bin/sh
# Install what building and testing coblock needs on a Debian machine.
# Installs only what is missing; safe to run again.  Uses sudo when not
# root.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config \
libaio-dev liburing-dev check zlib1g-dev libzstd-dev \
qemu-utils fio valgrind clang libclang-rt-14-dev \
wine64 gcc-mingw-w64-x86-64 libz-mingw-w64-dev \
qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
xz-utils strace \
nbdkit libnbd-bin"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "setup-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
