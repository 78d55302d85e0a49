#!/bin/sh
# The whole test suite, as CI runs it, on a fresh Debian machine:
# installs what is missing, builds, and runs
#   1. make check (unit tests, header and export checks, iotests quick group)
#   2. make check-iotests (every iotest: raw, and qcow2 with each AIO engine
#      and cache=none/writeback; each test run counts)
#   3. make check-valgrind (unit tests under valgrind memcheck)
#   4. make check in an ASan+UBSan build
#   5. the mingw-w64 build's tests under wine64
#   6. the aarch64 cross build's tests under qemu-user (the asm coroutine
#      backend's other architecture)
#   7. make distcheck
# and ends with one line "N passed, N failed" over every test it ran.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup-deps.sh" || exit 1

start=$(date +%s)
passed=0
failed=0
failures=""

# Add up the automake test-suite summaries of a build directory.
count() {
    stage="$1" log="$2"
    if [ ! -f "$log" ]; then
        failed=$((failed + 1))
        failures="$failures\n  $stage: no test log (build or harness failed)"
        return
    fi
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -n 1)
    x=$(sed -n 's/^# XFAIL: *//p' "$log" | head -n 1)
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -n 1)
    xp=$(sed -n 's/^# XPASS: *//p' "$log" | head -n 1)
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -n 1)
    p=$((${p:-0} + ${x:-0}))
    f=$((${f:-0} + ${xp:-0} + ${e:-0}))
    passed=$((passed + p))
    failed=$((failed + f))
    echo "== $stage: $p passed, $f failed"
    if [ "$f" -gt 0 ]; then
        failures="$failures\n  $stage:"
        for t in $(grep -E '^(FAIL|XPASS|ERROR): ' "$log" | sed 's/^[A-Z]*: //'); do
            failures="$failures $t"
        done
    fi
}

stage() {
    name="$1" dir="$2" target="$3"; shift 3
    t0=$(date +%s)
    echo "== $name: building in $dir"
    if ! "$top/scripts/build.sh" "$dir" "$@"; then
        failed=$((failed + 1))
        failures="$failures\n  $name: build failed"
        return
    fi
    rm -f "$dir/test-suite.log"
    echo "== $name: make $target"
    (cd "$dir" && make -j"$(nproc)" $target ${STAGE_TESTS:+TESTS="$STAGE_TESTS"} \
        > "$target.out" 2>&1)
    # Show the failing tests' logs.
    grep -E '^(FAIL|ERROR)' "$dir/$target.out" || true
    for t in $(grep -E '^(FAIL|ERROR): ' "$dir/$target.out" | sed 's/^[A-Z]*: //'); do
        echo "---- $t.log"
        tail -n 40 "$dir/$t.log" 2>/dev/null
    done
    count "$name" "$dir/test-suite.log"
    echo "== $name: $(($(date +%s) - t0)) s"
}

STAGE_TESTS=""
stage "check" _build check --enable-werror

# The iotests, in every configuration of make check-iotests.  The runner
# ends with "N passed, N failed" over all its runs; tests listed in
# tests/qemu-iotests/known-failures count as neither.
iotests() {
    t0=$(date +%s)
    echo "== iotests: make check-iotests"
    if ! (cd _build && make check-iotests > check-iotests.out 2>&1); then
        grep -E '^[0-9]{3,} +fail' _build/check-iotests.out || true
    fi
    sed -n '/^=== iotests summary/,$p' _build/check-iotests.out
    last=$(tail -n 1 _build/check-iotests.out)
    case "$last" in
    *" passed, "*" failed")
        p=${last%% passed*}
        f=${last#*passed, }
        f=${f%% failed}
        ;;
    *)
        p=0 f=1 ;;
    esac
    passed=$((passed + p))
    failed=$((failed + f))
    echo "== iotests: $p passed, $f failed"
    echo "== iotests: $(($(date +%s) - t0)) s"
    if [ "$f" -gt 0 ]; then
        failures="$failures\n  iotests: see _build/check-iotests.out"
    fi
}
iotests
stage "check-valgrind" _build check-valgrind --enable-werror
stage "asan+ubsan" _build-asan check --enable-werror --enable-sanitizers CC=clang
stage "mingw+wine" _build-win check --enable-werror --host=x86_64-w64-mingw32
# Under qemu-user: the programs that test the CPU-dependent parts (the
# coroutine switch, the loop, the generic I/O path).  The shell-script
# tests would run the cross-built tools natively, and qemu-user does not
# emulate Linux AIO or io_uring.
STAGE_TESTS="tests/unit/test-coroutine tests/unit/test-coroutine-asm \
tests/unit/test-coroutine-ucontext tests/unit/test-coroutine-sigaltstack \
tests/unit/test-aio tests/unit/test-block-io"
stage "aarch64+qemu-user" _build-aarch64 check --enable-werror --host=aarch64-linux-gnu
STAGE_TESTS=""

echo "== distcheck"
t0=$(date +%s)
if (cd _build && make -j"$(nproc)" distcheck > distcheck.out 2>&1); then
    passed=$((passed + 1))
    echo "== distcheck: passed"
else
    failed=$((failed + 1))
    failures="$failures\n  distcheck"
    tail -n 40 _build/distcheck.out
fi
echo "== distcheck: $(($(date +%s) - t0)) s"

# A program's own closing "N passed, N failed" line, added to the totals.
count_line() {
    stage="$1" out="$2"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        failures="$failures\n  $stage: no result"
        echo "== $stage: no result"
        tail -n 20 "$out"
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }; f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    echo "== $stage: $p passed, $f failed"
    [ "$f" -eq 0 ] || failures="$failures\n  $stage"
}

echo "== crash replay (full)"
(cd _build && CRASH_FULL=1 top_builddir=. EXEEXT= \
    sh "$top/tests/reliability/crash-replay.sh" > crash-replay-full.out 2>&1)
# One test: every crash state must pass.
sed -n 's/^[0-9]* states, 0 failed$/1 passed, 0 failed/p;
        s/^[0-9]* states, [1-9][0-9]* failed$/0 passed, 1 failed/p' \
    _build/crash-replay-full.out > _build/crash-replay-full.count
grep -E '^(FAIL|[a-z0-9]+.*states)' _build/crash-replay-full.out || true
count_line "crash replay (full)" _build/crash-replay-full.count

echo "== fuzz smoke"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} FUZZ_SEED=${FUZZ_SEED-1} "$top/scripts/fuzz.sh" smoke > _build/fuzz-smoke.out 2>&1
grep -E '^fuzz-' _build/fuzz-smoke.out || true
count_line "fuzz smoke" _build/fuzz-smoke.out

if [ "$failed" -gt 0 ]; then
    printf "failures:$failures\n"
fi
echo "total time: $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
