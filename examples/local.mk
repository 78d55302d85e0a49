# examples/: programs showing how an emulator embeds libcoblock.  They use
# the public headers only.
noinst_PROGRAMS += examples/loop-demo
examples_loop_demo_SOURCES = examples/loop-demo.c
examples_loop_demo_LDADD = $(COBLOCK_INTERNAL)

if OS_POSIX
noinst_PROGRAMS += examples/emulator-disk
examples_emulator_disk_SOURCES = examples/emulator-disk.c
examples_emulator_disk_LDADD = $(COBLOCK_INTERNAL)
endif
