# block/: the block layer (drivers, generic I/O path, BlockBackend).
BLOCK_SOURCES = \
	block/blkdebug.c \
	block/block.c \
	block/block-backend.c \
	block/drivers.c \
	block/io.c \
	block/log-writes.c \
	block/null.c \
	block/qemu-opts.c \
	block/raw-format.c \
	$(QCOW2_SOURCES)

# The qcow2 format driver.
QCOW2_SOURCES = \
	block/qcow2.c \
	block/qcow2-cache.c \
	block/qcow2-check.c \
	block/qcow2-cluster.c \
	block/qcow2-compress.c \
	block/qcow2-refcount.c
noinst_HEADERS += block/qcow2.h

pkginclude_HEADERS += include/coblock/block.h
noinst_HEADERS += include/block/block.h include/block/block_int.h \
	include/block/log-writes.h

# The file protocol driver on Windows (overlapped I/O, completion port).
if OS_WINDOWS
BLOCK_SOURCES += block/file-win32.c
endif
EXTRA_DIST += block/file-win32.c
noinst_HEADERS += include/block/file-win32.h
# The file protocol driver and its I/O engines (POSIX; the kernel engines
# on Linux only).
if OS_POSIX
BLOCK_SOURCES += block/file-posix.c block/raw-threads.c block/raw-aio-req.c
endif
if CONFIG_LINUX_AIO
BLOCK_SOURCES += block/linux-aio.c
endif
if CONFIG_LINUX_IO_URING
BLOCK_SOURCES += block/io-uring.c
endif
EXTRA_DIST += block/file-posix.c block/raw-threads.c block/raw-aio-req.c block/linux-aio.c block/io-uring.c
noinst_HEADERS += include/block/raw-aio.h
