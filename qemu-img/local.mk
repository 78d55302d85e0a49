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

# qemu-img
bin_PROGRAMS += qemu-img/qemu-img
qemu_img_qemu_img_SOURCES = \
	qemu-img/qemu-img.c \
	qemu-img/img.h \
	qemu-img/img-json.c \
	qemu-img/img-json.h \
	qemu-img/img-info.c \
	qemu-img/img-create.c \
	qemu-img/img-check.c \
	qemu-img/img-convert.c \
	qemu-img/img-compare.c \
	qemu-img/img-bench.c \
	qemu-img/img-commit.c \
	qemu-img/img-progress.c
qemu_img_qemu_img_LDADD = qemu-img/libtool-common.la $(COBLOCK_INTERNAL)
dist_man_MANS += docs/qemu-img.1

# qemu-img against QEMU's own, command line by command line (needs
# /usr/bin/qemu-img and qemu-io; skipped without them).
dist_noinst_SCRIPTS += tests/qemu-img-compare.sh
if !OS_WINDOWS
TESTS += tests/qemu-img-compare.sh
endif
