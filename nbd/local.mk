# nbd/: the NBD protocol (shared by both sides), the server and the
# coblock-nbd program; the client driver is block/nbd.c.

libcoblock_common_la_SOURCES += \
	block/nbd.c \
	nbd/client.c \
	nbd/cosocket.c \
	nbd/protocol.c \
	nbd/server.c \
	nbd/socket.c
noinst_HEADERS += include/block/nbd.h

if OS_POSIX
bin_PROGRAMS += nbd/coblock-nbd
nbd_coblock_nbd_SOURCES = nbd/coblock-nbd.c
nbd_coblock_nbd_LDADD = $(COBLOCK_INTERNAL)
dist_man_MANS += docs/coblock-nbd.1
endif
EXTRA_DIST += nbd/coblock-nbd.c docs/nbd.md docs/coblock-nbd.1 bench/nbd-bench.sh

# Tests: the unit test runs our client against our server and the hostile
# client against our server, in one process; the scripts in tests/nbd/
# run both sides against nbdkit, libnbd's tools and QEMU's.
if OS_POSIX
check_PROGRAMS += tests/unit/test-nbd tests/nbd/nbd-hostile
tests_unit_test_nbd_SOURCES = tests/unit/test-nbd.c tests/nbd/hostile.c
tests_unit_test_nbd_CPPFLAGS = $(UNIT_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_nbd_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_nbd_LDADD = $(COBLOCK_INTERNAL) $(UNIT_LIBS)
TESTS += tests/unit/test-nbd
VALGRIND_TESTS += tests/unit/test-nbd

tests_nbd_nbd_hostile_SOURCES = tests/nbd/nbd-hostile.c tests/nbd/hostile.c
tests_nbd_nbd_hostile_LDADD = $(COBLOCK_INTERNAL)
endif
noinst_HEADERS += tests/nbd/hostile.h

if OS_POSIX
check_PROGRAMS += tests/nbd/nbd-io
tests_nbd_nbd_io_SOURCES = tests/nbd/nbd-io.c
tests_nbd_nbd_io_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/nbd/server-interop.sh tests/nbd/client-interop.sh
endif
dist_noinst_SCRIPTS += tests/nbd/server-interop.sh tests/nbd/client-interop.sh
dist_noinst_DATA += tests/nbd/common.sh

# The server's handshake and request parser as a libFuzzer target.
#
#   ./configure CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address,undefined'
#   make fuzz-nbd-server
#   ./fuzz/fuzz-nbd-server $(srcdir)/fuzz/corpus/nbd-server
#
# make check replays the seed corpus through the same code without
# libFuzzer (fuzz/replay-main.c supplies main).
if OS_POSIX
check_PROGRAMS += fuzz/fuzz-nbd-server-replay
fuzz_fuzz_nbd_server_replay_SOURCES = fuzz/fuzz-nbd-server.c fuzz/replay-main.c
fuzz_fuzz_nbd_server_replay_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/nbd/fuzz-replay.sh
endif
NBD_FUZZ_LINK_FLAGS = -fsanitize=fuzzer
fuzz-nbd-server: $(srcdir)/fuzz/fuzz-nbd-server.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(LIBTOOL) --tag=CC --mode=link $(CC) $(DEFS) $(DEFAULT_INCLUDES) \
		$(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS) $(NBD_FUZZ_LINK_FLAGS) \
		$(AM_LDFLAGS) $(LDFLAGS) -o fuzz/fuzz-nbd-server \
		$(srcdir)/fuzz/fuzz-nbd-server.c libcoblock-internal.la $(COBLOCK_LIBS)
CLEANFILES += fuzz/fuzz-nbd-server
.PHONY: fuzz-nbd-server
EXTRA_DIST += fuzz/corpus/nbd-server
dist_noinst_SCRIPTS += tests/nbd/fuzz-replay.sh

# The Windows build's nbd driver (Winsock) under Wine against nbdkit.
if OS_WINDOWS
TESTS += tests/nbd/win32-client.sh
endif
dist_noinst_SCRIPTS += tests/nbd/win32-client.sh
