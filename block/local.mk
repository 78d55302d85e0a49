# block/: the block layer (drivers, generic I/O path, BlockBackend).
BLOCK_SOURCES = \
	block/block.c \
	block/block-backend.c \
	block/drivers.c \
	block/io.c \
	block/null.c \
	block/qemu-opts.c \
	block/raw-format.c

pkginclude_HEADERS += include/coblock/block.h
noinst_HEADERS += include/block/block.h include/block/block_int.h

# The file protocol driver on Windows (overlapped I/O, completion port).
if OS_WINDOWS
BLOCK_SOURCES += block/file-win32.c
endif
EXTRA_DIST += block/file-win32.c
noinst_HEADERS += include/block/file-win32.h
