# qemu-img/: the qemu-img and qemu-io programs.

# Helpers both tools use (option parsing, size parsing).
noinst_LTLIBRARIES += qemu-img/libtool-common.la
qemu_img_libtool_common_la_SOURCES = qemu-img/tool-common.c qemu-img/tool-common.h

# qemu-io: the disk exerciser.
bin_PROGRAMS += qemu-img/qemu-io
qemu_img_qemu_io_SOURCES = qemu-img/qemu-io.c qemu-img/qemu-io-cmds.c \
	qemu-img/qemu-io.h qemu-img/qemu-io-help.h
qemu_img_qemu_io_LDADD = qemu-img/libtool-common.la $(COBLOCK_INTERNAL)
dist_man_MANS += docs/qemu-io.1
EXTRA_DIST += docs/tools.md

# qemu-io against QEMU's own, command line by command line.  Native
# builds only: a Windows build's qemu-io.exe is compared with QEMU by
# tests/unit/win32-interop.sh.
dist_noinst_SCRIPTS += tests/qemu-io-compare.sh
if !OS_WINDOWS
TESTS += tests/qemu-io-compare.sh
endif
