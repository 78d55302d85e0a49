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
endif
EXTRA_DIST += nbd/coblock-nbd.c

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
