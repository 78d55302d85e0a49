# nbd/: the NBD protocol (shared by both sides), the server and the
# coblock-nbd program; the client driver is block/nbd.c.

libcoblock_common_la_SOURCES += \
	block/nbd.c \
	nbd/client.c \
	nbd/cosocket.c \
	nbd/protocol.c \
	nbd/server.c \
	nbd/socket.c
noinst_HEADERS += include/block/nbd.h

if OS_POSIX
bin_PROGRAMS += nbd/coblock-nbd
nbd_coblock_nbd_SOURCES = nbd/coblock-nbd.c
nbd_coblock_nbd_LDADD = $(COBLOCK_INTERNAL)
endif
EXTRA_DIST += nbd/coblock-nbd.c
