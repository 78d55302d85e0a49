#!/bin/sh
# Build the fuzz targets with clang's libFuzzer (ASan + UBSan) in
# _build-fuzz and run them: scripts/fuzz.sh [smoke|long]
#   smoke  every target for FUZZ_SECONDS (default 60) each (CI)
#   long   every target for 600 s each
# Ends with "N passed, N failed" over the targets.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-smoke}
"$top/scripts/build.sh" "$top/_build-fuzz" CC=clang \
    CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION'
cd "$top/_build-fuzz"
if [ "$mode" = long ]; then
    exec make fuzz
fi
exec make fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
