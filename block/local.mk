# block/: the block layer (drivers, generic I/O path, BlockBackend).
BLOCK_SOURCES =
