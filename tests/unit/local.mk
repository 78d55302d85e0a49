# tests/unit/: Check unit tests (a small Check stand-in on mingw).

UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
if HAVE_CHECK
UNIT_CPPFLAGS += -DHAVE_CHECK_H_REAL
endif
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
UNIT_LIBS = $(CHECK_LIBS)

noinst_HEADERS += tests/unit/test-common.h tests/unit/test-image.h \
	tests/unit/minicheck.h

# The coroutine suite, against the configured backend ...
check_PROGRAMS += tests/unit/test-coroutine tests/unit/test-aio
tests_unit_test_coroutine_SOURCES = tests/unit/test-coroutine.c
tests_unit_test_coroutine_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_coroutine_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_coroutine_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)

tests_unit_test_aio_SOURCES = tests/unit/test-aio.c
tests_unit_test_aio_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_aio_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aio_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test-block-io
tests_unit_test_block_io_SOURCES = tests/unit/test-block-io.c
tests_unit_test_block_io_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_block_io_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_block_io_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)

TESTS += tests/unit/test-coroutine tests/unit/test-aio tests/unit/test-block-io
VALGRIND_TESTS = tests/unit/test-coroutine tests/unit/test-aio tests/unit/test-block-io

# Windows: the completion-port loop and the file driver, on real files
# and pipes (run under wine when cross-built).
if OS_WINDOWS
check_PROGRAMS += tests/unit/test-aio-win32 tests/unit/test-file-win32
tests_unit_test_aio_win32_SOURCES = tests/unit/test-aio-win32.c
tests_unit_test_aio_win32_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_aio_win32_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aio_win32_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
tests_unit_test_file_win32_SOURCES = tests/unit/test-file-win32.c
tests_unit_test_file_win32_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_file_win32_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_file_win32_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-aio-win32 tests/unit/test-file-win32
# The .exe tools under wine and QEMU on Linux exchange images (skipped
# without wine, QEMU's tools or the tools).
TESTS += tests/unit/win32-interop.sh
endif
EXTRA_DIST += tests/unit/test-aio-win32.c tests/unit/test-file-win32.c
dist_noinst_SCRIPTS += tests/unit/win32-interop.sh
# The tools' option parser, against the C library's getopt_long.
check_PROGRAMS += tests/unit/test-tool-getopt
tests_unit_test_tool_getopt_SOURCES = tests/unit/test-tool-getopt.c
tests_unit_test_tool_getopt_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tool_getopt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tool_getopt_LDADD = qemu-img/libtool-common.la $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-tool-getopt
VALGRIND_TESTS += tests/unit/test-tool-getopt
# qemu-img's JSON output, byte for byte as QEMU prints it.
check_PROGRAMS += tests/unit/test-img-json
tests_unit_test_img_json_SOURCES = tests/unit/test-img-json.c qemu-img/img-json.c
tests_unit_test_img_json_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_img_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_img_json_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-img-json
VALGRIND_TESTS += tests/unit/test-img-json

# ... and their size syntax.
check_PROGRAMS += tests/unit/test-tool-size
tests_unit_test_tool_size_SOURCES = tests/unit/test-tool-size.c
tests_unit_test_tool_size_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_tool_size_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tool_size_LDADD = qemu-img/libtool-common.la $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-tool-size
VALGRIND_TESTS += tests/unit/test-tool-size

# ... and against every other backend this host can build.
if HAVE_ASM_BACKEND
check_PROGRAMS += tests/unit/test-coroutine-asm
tests_unit_test_coroutine_asm_SOURCES = tests/unit/test-coroutine.c
tests_unit_test_coroutine_asm_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_coroutine_asm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_coroutine_asm_LDADD = libcoblock-with-asm.la $(COBLOCK_LIBS) $(UNIT_LIBS)
TESTS += tests/unit/test-coroutine-asm
VALGRIND_TESTS += tests/unit/test-coroutine-asm
endif
if HAVE_UCONTEXT_BACKEND
check_PROGRAMS += tests/unit/test-coroutine-ucontext
tests_unit_test_coroutine_ucontext_SOURCES = tests/unit/test-coroutine.c
tests_unit_test_coroutine_ucontext_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_coroutine_ucontext_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_coroutine_ucontext_LDADD = libcoblock-with-ucontext.la $(COBLOCK_LIBS) $(UNIT_LIBS)
TESTS += tests/unit/test-coroutine-ucontext
VALGRIND_TESTS += tests/unit/test-coroutine-ucontext
endif
if HAVE_SIGALTSTACK_BACKEND
check_PROGRAMS += tests/unit/test-coroutine-sigaltstack
tests_unit_test_coroutine_sigaltstack_SOURCES = tests/unit/test-coroutine.c
tests_unit_test_coroutine_sigaltstack_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_coroutine_sigaltstack_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_coroutine_sigaltstack_LDADD = libcoblock-with-sigaltstack.la $(COBLOCK_LIBS) $(UNIT_LIBS)
TESTS += tests/unit/test-coroutine-sigaltstack
# Not under valgrind: see tests/valgrind.supp.
endif

# Public headers stand alone; the installed library exports exactly the
# public API.
dist_noinst_SCRIPTS += tests/unit/check-headers.sh tests/unit/check-exports.sh
TESTS += tests/unit/check-headers.sh
if OS_POSIX
dist_noinst_SCRIPTS += tests/unit/emulator-disk.sh
TESTS += tests/unit/emulator-disk.sh
endif
if !OS_WINDOWS
if HAVE_LD_VERSION_SCRIPT
TESTS += tests/unit/check-exports.sh
endif
endif

TESTS_ENVIRONMENT = \
	CC='$(CC)' top_srcdir='$(top_srcdir)' top_builddir='$(top_builddir)' \
	NM='$(NM)' EXEEXT='$(EXEEXT)' \
	MALLOC_PERTURB_=165 \
	CK_DEFAULT_TIMEOUT=60 \
	; export CC top_srcdir top_builddir NM EXEEXT MALLOC_PERTURB_ CK_DEFAULT_TIMEOUT ;

# Windows programs built here run under wine.
if OS_WINDOWS
if CROSS_COMPILING
LOG_COMPILER = $(abs_top_srcdir)/tests/wine-wrapper
endif
endif
# A Linux cross build (aarch64, say) runs its tests under qemu-user.
if CROSS_LINUX
LOG_COMPILER = $(abs_top_srcdir)/tests/qemu-user-wrapper
TESTS_ENVIRONMENT += QEMU_USER='$(QEMU_USER)' QEMU_LD_PREFIX='$(QEMU_USER_PREFIX)'; export QEMU_USER QEMU_LD_PREFIX;
endif
dist_noinst_SCRIPTS += tests/valgrind-wrapper tests/wine-wrapper tests/qemu-user-wrapper
EXTRA_DIST += tests/valgrind.supp

# The file protocol driver and its I/O engines, on real files.
if OS_LINUX
check_PROGRAMS += tests/unit/test-aio-engines
tests_unit_test_aio_engines_SOURCES = tests/unit/test-aio-engines.c
tests_unit_test_aio_engines_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_aio_engines_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aio_engines_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-aio-engines
VALGRIND_TESTS += tests/unit/test-aio-engines
endif

if OS_LINUX
check_PROGRAMS += tests/unit/test-file-posix
tests_unit_test_file_posix_SOURCES = tests/unit/test-file-posix.c
tests_unit_test_file_posix_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-DQEMU_IMG_REF='"$(QEMU_IMG_REF)"' -DQEMU_IO_REF='"$(QEMU_IO_REF)"'
tests_unit_test_file_posix_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_file_posix_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-file-posix
VALGRIND_TESTS += tests/unit/test-file-posix
endif

# The engine qemu-img convert picks (io_uring, else threads), with a
# seccomp helper that takes io_uring away.  Not for cross builds: the
# script runs the host's strace on the tools.
if OS_LINUX
if CONFIG_LINUX_IO_URING
if !CROSS_LINUX
check_PROGRAMS += tests/unit/no-io-uring
tests_unit_no_io_uring_SOURCES = tests/unit/no-io-uring.c
dist_noinst_SCRIPTS += tests/unit/convert-engine.sh
TESTS += tests/unit/convert-engine.sh
endif
endif
endif

# qcow2 (Linux: the tests use POSIX file calls and QEMU's tools).
#   test-qcow2        unit tests: pure functions, and the driver on files
#   test-qcow2-io     a command-line driver of the library for the scripts
#   qcow2-interop.sh  both ways against QEMU 7.2 (options, backing, snapshots)
#   qcow2-crash.sh    kill -9 a writer, then check (ours and QEMU's)
#   qcow2-stress.sh   64 requests in flight with a byte-exact mirror
#   qcow2-corpus      the broken images of tests/qcow2-corpus/, and random
#                     damage to a valid image (mutate-test.sh)
dist_noinst_SCRIPTS += tests/unit/qcow2-interop.sh tests/unit/qcow2-crash.sh \
	tests/unit/qcow2-stress.sh tests/qcow2-corpus/corpus-test.sh \
	tests/qcow2-corpus/record-qemu.sh tests/qcow2-corpus/mutate-test.sh
noinst_HEADERS += tests/qcow2-corpus/expectations.h
EXTRA_DIST += tests/qcow2-corpus/qemu-7.2.txt
if OS_LINUX
check_PROGRAMS += tests/unit/test-qcow2 tests/unit/test-qcow2-io \
	tests/qcow2-corpus/qcow2-corpus
tests_unit_test_qcow2_SOURCES = tests/unit/test-qcow2.c
tests_unit_test_qcow2_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_qcow2_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
tests_unit_test_qcow2_io_SOURCES = tests/unit/test-qcow2-io.c
tests_unit_test_qcow2_io_LDADD = $(COBLOCK_INTERNAL)
tests_qcow2_corpus_qcow2_corpus_SOURCES = tests/qcow2-corpus/qcow2-corpus.c
tests_qcow2_corpus_qcow2_corpus_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/unit/test-qcow2 tests/unit/qcow2-interop.sh \
	tests/unit/qcow2-crash.sh tests/unit/qcow2-stress.sh \
	tests/qcow2-corpus/corpus-test.sh tests/qcow2-corpus/mutate-test.sh
VALGRIND_TESTS += tests/unit/test-qcow2
endif

# Copy-on-read through the generic I/O path, on qcow2 chains on files.
EXTRA_DIST += tests/unit/test-copy-on-read.c
if OS_LINUX
check_PROGRAMS += tests/unit/test-copy-on-read
tests_unit_test_copy_on_read_SOURCES = tests/unit/test-copy-on-read.c
tests_unit_test_copy_on_read_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_copy_on_read_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_copy_on_read_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-copy-on-read
VALGRIND_TESTS += tests/unit/test-copy-on-read
endif
