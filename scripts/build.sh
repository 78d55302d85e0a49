#!/bin/sh
# Configure (once) and build coblock in an out-of-tree directory.
# Usage: scripts/build.sh BUILDDIR [configure options...]
# Re-running rebuilds incrementally; a changed configure.ac or Makefile.am
# is picked up by the generated Makefiles themselves.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$1"; shift
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi >/dev/null
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ ! -f config.status ] ||
   [ "$(cat .configure-args 2>/dev/null)" != "$*" ]; then
    "$top/configure" "$@" > configure.out 2>&1 || { cat configure.out; exit 1; }
    printf '%s' "$*" > .configure-args
    sed -n '/^coblock .* configured/,$p' configure.out
fi
make -j"$(nproc)" >make.out 2>&1 || { tail -50 make.out; exit 1; }
