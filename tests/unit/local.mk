# tests/unit/: Check unit tests (a small Check stand-in on mingw).

UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
if HAVE_CHECK
UNIT_CPPFLAGS += -DHAVE_CHECK_H_REAL
endif
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
UNIT_LIBS = $(CHECK_LIBS)

noinst_HEADERS += tests/unit/test-common.h tests/unit/minicheck.h

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

# qcow2: a command-line driver of the library for the shell tests, which
# compare our results with QEMU's tools.
check_PROGRAMS += tests/unit/test-qcow2-io
tests_unit_test_qcow2_io_SOURCES = tests/unit/test-qcow2-io.c
tests_unit_test_qcow2_io_LDADD = $(COBLOCK_INTERNAL)
