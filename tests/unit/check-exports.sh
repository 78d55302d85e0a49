#!/bin/sh
# The shared library exports exactly the functions and variables declared
# in the public headers: nothing private leaks, nothing public is missing.
set -u
: "${NM:=nm}" "${top_srcdir:=.}" "${top_builddir:=.}"
lib=$(ls "$top_builddir"/.libs/libcoblock.so.* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "SKIP: no shared libcoblock built"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

$NM -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
    sed 's/@.*//' | grep -v '^COBLOCK_' | sort -u > "$tmp/exported"

# Names declared in public headers: identifiers directly followed by "("
# at the start of a declaration, plus extern variables.
cat "$top_srcdir"/include/coblock/*.h |
    sed -e 's,/\*.*\*/,,g' |
    awk '/^[ \t]*\*/ || /^[ \t]*\/\*/ || /^#/ { next } { print }' |
    grep -oE '[A-Za-z_][A-Za-z0-9_]*[ \t]*\(' | sed 's/[ \t]*(//' | sort -u > "$tmp/words"
grep -hoE '^extern [A-Za-z_ *]+ \**([A-Za-z_][A-Za-z0-9_]*);' "$top_srcdir"/include/coblock/*.h |
    sed -E 's/.* \**([A-Za-z_][A-Za-z0-9_]*);/\1/' >> "$tmp/words"
sort -u "$tmp/words" -o "$tmp/words"

fail=0
# Every exported symbol must be declared publicly.
for s in $(cat "$tmp/exported"); do
    grep -qx "$s" "$tmp/words" || { echo "FAIL: exported but not public: $s"; fail=1; }
done
# Every public function must be exported (declared names that are not
# macros, types or keywords).
grep -hoE '^[A-Za-z_][A-Za-z0-9_ \*]*[ \*]([a-z_][a-z0-9_]*)\(' "$top_srcdir"/include/coblock/*.h |
    sed -E 's/.*[ \*]([a-z_][a-z0-9_]*)\($/\1/' | sort -u > "$tmp/decls"
for s in $(cat "$tmp/decls"); do
    grep -qx "$s" "$tmp/exported" || { echo "FAIL: public but not exported: $s"; fail=1; }
done
echo "$(wc -l < "$tmp/exported") symbols exported, $(wc -l < "$tmp/decls") public functions"
exit $fail
