# qemu-img/: the qemu-img and qemu-io programs.

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
qemu_img_qemu_img_LDADD = $(COBLOCK_INTERNAL)
