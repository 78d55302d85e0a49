# qemu-img/: the qemu-img and qemu-io programs.

# Helpers both tools use (option parsing).
noinst_LTLIBRARIES += qemu-img/libtool-common.la
qemu_img_libtool_common_la_SOURCES = qemu-img/tool-common.c qemu-img/tool-common.h

# qemu-io.  The program is built once the block layer it drives exists;
# until then its code is compiled (and warning-checked) as a library.
noinst_LTLIBRARIES += qemu-img/libqemu-io.la
qemu_img_libqemu_io_la_SOURCES = qemu-img/qemu-io.c qemu-img/qemu-io-cmds.c \
	qemu-img/qemu-io.h qemu-img/qemu-io-help.h
