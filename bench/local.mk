# bench/: benchmarks (never timed tests).  coroutine-bench is a script that
# runs the benchmark program built against each POSIX backend.

BENCH_CO_CFLAGS = $(AM_CFLAGS)
bench_programs =
if HAVE_ASM_BACKEND
bench_programs += bench/coroutine-bench-asm
bench_coroutine_bench_asm_SOURCES = bench/co-bench.c
bench_coroutine_bench_asm_LDADD = libcoblock-with-asm.la $(COBLOCK_LIBS)
endif
if HAVE_UCONTEXT_BACKEND
bench_programs += bench/coroutine-bench-ucontext
bench_coroutine_bench_ucontext_SOURCES = bench/co-bench.c
bench_coroutine_bench_ucontext_LDADD = libcoblock-with-ucontext.la $(COBLOCK_LIBS)
endif
if HAVE_SIGALTSTACK_BACKEND
bench_programs += bench/coroutine-bench-sigaltstack
bench_coroutine_bench_sigaltstack_SOURCES = bench/co-bench.c
bench_coroutine_bench_sigaltstack_LDADD = libcoblock-with-sigaltstack.la $(COBLOCK_LIBS)
endif
noinst_PROGRAMS += $(bench_programs)
dist_noinst_SCRIPTS += bench/coroutine-bench

# The file driver's engines against fio (bench/file-bench-compare).
if OS_LINUX
noinst_PROGRAMS += bench/file-bench
bench_file_bench_SOURCES = bench/file-bench.c
bench_file_bench_LDADD = $(COBLOCK_INTERNAL)
endif
dist_noinst_SCRIPTS += bench/file-bench-compare
dist_noinst_SCRIPTS += bench/qemu-img-perf.sh

# qcow2 against raw (random reads) and against QEMU's qemu-img bench
# (allocating writes): bench/qcow2-bench-compare.
if OS_LINUX
noinst_PROGRAMS += bench/qcow2-bench
bench_qcow2_bench_SOURCES = bench/qcow2-bench.c
bench_qcow2_bench_LDADD = $(COBLOCK_INTERNAL)
endif
dist_noinst_SCRIPTS += bench/qcow2-bench-compare

# qemu-img against QEMU's, workload by workload (bench/compare-qemu), and
# the memory-bandwidth probe it prints beside the null-co benchmark.
if OS_LINUX
noinst_PROGRAMS += bench/membw
bench_membw_SOURCES = bench/membw.c
endif
EXTRA_DIST += bench/membw.c
dist_noinst_SCRIPTS += bench/compare-qemu
