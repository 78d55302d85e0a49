#!/bin/sh
# The main job: set up a fresh Debian machine, build coblock, and show it
# at work: the coroutine benchmark for every backend, then a small
# event-loop demo.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup-deps.sh"
"$top/scripts/build.sh" _build --enable-werror
cd _build
echo
echo "== coroutine benchmark (ns per operation, best of 7 runs)"
../bench/coroutine-bench
echo
echo "== coroutines, timers and worker threads on one event loop"
./examples/loop-demo
