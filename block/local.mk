# block/: the block layer (drivers, generic I/O path, BlockBackend).
BLOCK_SOURCES = \
	block/block.c \
	block/block-backend.c \
	block/drivers.c \
	block/io.c \
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
noinst_HEADERS += include/block/block.h include/block/block_int.h
