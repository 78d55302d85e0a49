# fuzz/: libFuzzer targets (the NBD server's is in nbd/local.mk).
#
# In a build configured for fuzzing (scripts/fuzz.sh does it):
#   ./configure CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address,undefined'
#   make fuzz-smoke      every target for FUZZ_SECONDS (default 60) each
#   make fuzz            the same for FUZZ_SECONDS=600
# Seeds are generated into fuzz/seeds/ (fuzz/make-seeds.sh); what the
# fuzzer adds is kept in fuzz/corpus-out/.  make check replays the seeds
# and fuzz/corpus/ (saved inputs, crashes once fixed) through every
# target without libFuzzer, under the sanitizers in a sanitizer build.
FUZZ_QCOW2_TARGETS = fuzz-qcow2-open fuzz-qcow2-read fuzz-qcow2-write \
	fuzz-qcow2-header fuzz-options
FUZZ_TARGETS = $(FUZZ_QCOW2_TARGETS) fuzz-nbd-server
EXTRA_DIST += fuzz/corpus/options fuzz/corpus/fuzz-qcow2-open \
	fuzz/corpus/fuzz-qcow2-read fuzz/corpus/fuzz-qcow2-write \
	fuzz/corpus/fuzz-qcow2-header
dist_noinst_SCRIPTS += fuzz/make-seeds.sh fuzz/run-fuzz.sh \
	tests/reliability/fuzz-replay.sh

if OS_LINUX
check_PROGRAMS += fuzz/fuzz-qcow2-open-replay fuzz/fuzz-qcow2-read-replay \
	fuzz/fuzz-qcow2-write-replay fuzz/fuzz-qcow2-header-replay \
	fuzz/fuzz-options-replay
fuzz_fuzz_qcow2_open_replay_SOURCES = fuzz/fuzz-qcow2.c fuzz/replay-main.c
fuzz_fuzz_qcow2_open_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=1
fuzz_fuzz_qcow2_open_replay_LDADD = $(COBLOCK_INTERNAL)
fuzz_fuzz_qcow2_read_replay_SOURCES = fuzz/fuzz-qcow2.c fuzz/replay-main.c
fuzz_fuzz_qcow2_read_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=2
fuzz_fuzz_qcow2_read_replay_LDADD = $(COBLOCK_INTERNAL)
fuzz_fuzz_qcow2_write_replay_SOURCES = fuzz/fuzz-qcow2.c fuzz/replay-main.c
fuzz_fuzz_qcow2_write_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=3
fuzz_fuzz_qcow2_write_replay_LDADD = $(COBLOCK_INTERNAL)
fuzz_fuzz_qcow2_header_replay_SOURCES = fuzz/fuzz-qcow2.c fuzz/replay-main.c
fuzz_fuzz_qcow2_header_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=4
fuzz_fuzz_qcow2_header_replay_LDADD = $(COBLOCK_INTERNAL)
fuzz_fuzz_options_replay_SOURCES = fuzz/fuzz-qcow2.c fuzz/replay-main.c
fuzz_fuzz_options_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=5
fuzz_fuzz_options_replay_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/reliability/fuzz-replay.sh
endif

# The libFuzzer binaries (only in a build configured for fuzzing).
FUZZ_LINK = $(LIBTOOL) --tag=CC --mode=link $(CC) $(DEFS) $(DEFAULT_INCLUDES) \
	$(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS) -fsanitize=fuzzer \
	$(AM_LDFLAGS) $(LDFLAGS)
fuzz/fuzz-qcow2-open: $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(FUZZ_LINK) -DFUZZ_TARGET=1 -o $@ $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la $(COBLOCK_LIBS)
fuzz/fuzz-qcow2-read: $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(FUZZ_LINK) -DFUZZ_TARGET=2 -o $@ $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la $(COBLOCK_LIBS)
fuzz/fuzz-qcow2-write: $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(FUZZ_LINK) -DFUZZ_TARGET=3 -o $@ $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la $(COBLOCK_LIBS)
fuzz/fuzz-qcow2-header: $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(FUZZ_LINK) -DFUZZ_TARGET=4 -o $@ $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la $(COBLOCK_LIBS)
fuzz/fuzz-options: $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la
	@$(MKDIR_P) fuzz
	$(FUZZ_LINK) -DFUZZ_TARGET=5 -o $@ $(srcdir)/fuzz/fuzz-qcow2.c libcoblock-internal.la $(COBLOCK_LIBS)
fuzz/fuzz-nbd-server: fuzz-nbd-server
CLEANFILES += $(FUZZ_QCOW2_TARGETS:%=fuzz/%)

FUZZ_SECONDS = 60
fuzz-smoke: all $(FUZZ_QCOW2_TARGETS:%=fuzz/%) fuzz-nbd-server \
		tests/qcow2-corpus/qcow2-corpus$(EXEEXT)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(srcdir)/fuzz/run-fuzz.sh \
		$(abs_top_builddir) $(abs_top_srcdir) $(FUZZ_TARGETS)
fuzz:
	$(MAKE) $(AM_MAKEFLAGS) fuzz-smoke FUZZ_SECONDS=600
.PHONY: fuzz fuzz-smoke
