# util/: the event loop, threads, the thread pool, errors, helpers.

noinst_LTLIBRARIES += libcoblock-common.la
libcoblock_common_la_SOURCES = \
	$(COROUTINE_CORE_SOURCES) \
	util/async.c \
	util/cutils.c \
	util/error.c \
	util/iov.c \
	util/qdict.c \
	util/osdep.c \
	util/thread-pool.c \
	$(BLOCK_SOURCES)
if OS_WINDOWS
libcoblock_common_la_SOURCES += util/aio-win32.c util/thread-win32.c \
	util/win32-error.c
else
libcoblock_common_la_SOURCES += util/aio-posix.c util/thread-posix.c
endif
libcoblock_common_la_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) $(ZLIB_CFLAGS) $(ZSTD_CFLAGS)
EXTRA_DIST += util/aio-win32.c util/thread-win32.c util/win32-error.c \
	util/aio-posix.c util/thread-posix.c

pkginclude_HEADERS += include/coblock/aio.h include/coblock/error.h \
	include/coblock/thread-pool.h include/coblock/iov.h include/coblock/qdict.h
noinst_HEADERS += include/util/aio-int.h include/util/atomic.h \
	include/util/checked.h include/util/cutils.h include/util/qdict-json.h include/util/osdep.h include/util/queue.h \
	include/util/thread.h include/util/aio-win32.h include/util/win32-error.h
