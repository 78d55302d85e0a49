# tests/qemu-iotests/: golden-output regression tests of qemu-img and
# qemu-io, and their runner.  See docs/iotests.md.
#
#   make check              runs the quick group for raw and for qcow2
#                           (run-quick-raw.sh, run-quick-qcow2.sh) with the
#                           default cache mode and AIO engine
#   make check-iotests      every test, raw, and qcow2 with every AIO engine
#                           and cache=none/writeback (run-matrix.sh)
#   make check-iotests IOTESTS_MATRIX='qcow2:native:none' IOTESTS_FLAGS='-g rw'
#   make check-iotests-ref  the same against QEMU's own tools
#
# A new test (./new -c) goes into iotests_cases below, and its golden
# output(s) into iotests_golden: automake cannot glob, and make dist ships
# only what is listed.

iotests_cases = \
	tests/qemu-iotests/001 \
	tests/qemu-iotests/002 \
	tests/qemu-iotests/003 \
	tests/qemu-iotests/004 \
	tests/qemu-iotests/005 \
	tests/qemu-iotests/006 \
	tests/qemu-iotests/007 \
	tests/qemu-iotests/008 \
	tests/qemu-iotests/009 \
	tests/qemu-iotests/010 \
	tests/qemu-iotests/011 \
	tests/qemu-iotests/012 \
	tests/qemu-iotests/013 \
	tests/qemu-iotests/014 \
	tests/qemu-iotests/015 \
	tests/qemu-iotests/016 \
	tests/qemu-iotests/017 \
	tests/qemu-iotests/018 \
	tests/qemu-iotests/019 \
	tests/qemu-iotests/020 \
	tests/qemu-iotests/021 \
	tests/qemu-iotests/022 \
	tests/qemu-iotests/023 \
	tests/qemu-iotests/024 \
	tests/qemu-iotests/025 \
	tests/qemu-iotests/026 \
	tests/qemu-iotests/027 \
	tests/qemu-iotests/028 \
	tests/qemu-iotests/029 \
	tests/qemu-iotests/030 \
	tests/qemu-iotests/031 \
	tests/qemu-iotests/032 \
	tests/qemu-iotests/033 \
	tests/qemu-iotests/034 \
	tests/qemu-iotests/035 \
	tests/qemu-iotests/036 \
	tests/qemu-iotests/037 \
	tests/qemu-iotests/038 \
	tests/qemu-iotests/039 \
	tests/qemu-iotests/040 \
	tests/qemu-iotests/041 \
	tests/qemu-iotests/042 \
	tests/qemu-iotests/043 \
	tests/qemu-iotests/044 \
	tests/qemu-iotests/045 \
	tests/qemu-iotests/046 \
	tests/qemu-iotests/047 \
	tests/qemu-iotests/048 \
	tests/qemu-iotests/049 \
	tests/qemu-iotests/050 \
	tests/qemu-iotests/051 \
	tests/qemu-iotests/052 \
	tests/qemu-iotests/053 \
	tests/qemu-iotests/054 \
	tests/qemu-iotests/055 \
	tests/qemu-iotests/056 \
	tests/qemu-iotests/057 \
	tests/qemu-iotests/058 \
	tests/qemu-iotests/059 \
	tests/qemu-iotests/060 \
	tests/qemu-iotests/061 \
	tests/qemu-iotests/062 \
	tests/qemu-iotests/063 \
	tests/qemu-iotests/064 \
	tests/qemu-iotests/065 \
	tests/qemu-iotests/066 \
	tests/qemu-iotests/067 \
	tests/qemu-iotests/068 \
	tests/qemu-iotests/069 \
	tests/qemu-iotests/070 \
	tests/qemu-iotests/071 \
	tests/qemu-iotests/072 \
	tests/qemu-iotests/073 \
	tests/qemu-iotests/074 \
	tests/qemu-iotests/075 \
	tests/qemu-iotests/076 \
	tests/qemu-iotests/077 \
	tests/qemu-iotests/078 \
	tests/qemu-iotests/079 \
	tests/qemu-iotests/080 \
	tests/qemu-iotests/081 \
	tests/qemu-iotests/082 \
	tests/qemu-iotests/083 \
	tests/qemu-iotests/084 \
	tests/qemu-iotests/085 \
	tests/qemu-iotests/086 \
	tests/qemu-iotests/087 \
	tests/qemu-iotests/088 \
	tests/qemu-iotests/089 \
	tests/qemu-iotests/090 \
	tests/qemu-iotests/091 \
	tests/qemu-iotests/092 \
	tests/qemu-iotests/093 \
	tests/qemu-iotests/094 \
	tests/qemu-iotests/095 \
	tests/qemu-iotests/096 \
	tests/qemu-iotests/097 \
	tests/qemu-iotests/098 \
	tests/qemu-iotests/099 \
	tests/qemu-iotests/100 \
	tests/qemu-iotests/101 \
	tests/qemu-iotests/102 \
	tests/qemu-iotests/103 \
	tests/qemu-iotests/104 \
	tests/qemu-iotests/105 \
	tests/qemu-iotests/106 \
	tests/qemu-iotests/107 \
	tests/qemu-iotests/108 \
	tests/qemu-iotests/109 \
	tests/qemu-iotests/110 \
	tests/qemu-iotests/111 \
	tests/qemu-iotests/112 \
	tests/qemu-iotests/150 \
	tests/qemu-iotests/151

iotests_golden = \
	tests/qemu-iotests/001.out \
	tests/qemu-iotests/002.out \
	tests/qemu-iotests/003.out \
	tests/qemu-iotests/004.out \
	tests/qemu-iotests/005.out \
	tests/qemu-iotests/006.out \
	tests/qemu-iotests/007.out \
	tests/qemu-iotests/008.out \
	tests/qemu-iotests/009.out \
	tests/qemu-iotests/010.out \
	tests/qemu-iotests/011.out \
	tests/qemu-iotests/012.out \
	tests/qemu-iotests/013.out \
	tests/qemu-iotests/014.out \
	tests/qemu-iotests/015.out \
	tests/qemu-iotests/016.out \
	tests/qemu-iotests/017.out \
	tests/qemu-iotests/018.out.qcow2 \
	tests/qemu-iotests/018.out.raw \
	tests/qemu-iotests/019.out \
	tests/qemu-iotests/020.out \
	tests/qemu-iotests/021.out \
	tests/qemu-iotests/022.out \
	tests/qemu-iotests/023.out \
	tests/qemu-iotests/024.out \
	tests/qemu-iotests/025.out \
	tests/qemu-iotests/026.out \
	tests/qemu-iotests/027.out.qcow2 \
	tests/qemu-iotests/027.out.raw \
	tests/qemu-iotests/028.out \
	tests/qemu-iotests/029.out \
	tests/qemu-iotests/030.out \
	tests/qemu-iotests/031.out \
	tests/qemu-iotests/032.out \
	tests/qemu-iotests/033.out \
	tests/qemu-iotests/034.out \
	tests/qemu-iotests/035.out.qcow2 \
	tests/qemu-iotests/035.out.raw \
	tests/qemu-iotests/036.out \
	tests/qemu-iotests/037.out \
	tests/qemu-iotests/038.out \
	tests/qemu-iotests/039.out \
	tests/qemu-iotests/040.out \
	tests/qemu-iotests/041.out \
	tests/qemu-iotests/042.out \
	tests/qemu-iotests/043.out \
	tests/qemu-iotests/044.out \
	tests/qemu-iotests/045.out \
	tests/qemu-iotests/046.out \
	tests/qemu-iotests/047.out \
	tests/qemu-iotests/048.out \
	tests/qemu-iotests/049.out \
	tests/qemu-iotests/050.out \
	tests/qemu-iotests/051.out \
	tests/qemu-iotests/052.out \
	tests/qemu-iotests/053.out \
	tests/qemu-iotests/054.out \
	tests/qemu-iotests/055.out \
	tests/qemu-iotests/056.out \
	tests/qemu-iotests/057.out \
	tests/qemu-iotests/058.out \
	tests/qemu-iotests/059.out \
	tests/qemu-iotests/060.out \
	tests/qemu-iotests/061.out \
	tests/qemu-iotests/062.out \
	tests/qemu-iotests/063.out \
	tests/qemu-iotests/064.out \
	tests/qemu-iotests/065.out \
	tests/qemu-iotests/066.out \
	tests/qemu-iotests/067.out \
	tests/qemu-iotests/068.out \
	tests/qemu-iotests/069.out \
	tests/qemu-iotests/070.out \
	tests/qemu-iotests/071.out \
	tests/qemu-iotests/072.out \
	tests/qemu-iotests/073.out \
	tests/qemu-iotests/074.out \
	tests/qemu-iotests/075.out \
	tests/qemu-iotests/076.out \
	tests/qemu-iotests/077.out \
	tests/qemu-iotests/078.out \
	tests/qemu-iotests/079.out \
	tests/qemu-iotests/080.out \
	tests/qemu-iotests/081.out \
	tests/qemu-iotests/082.out \
	tests/qemu-iotests/083.out \
	tests/qemu-iotests/084.out \
	tests/qemu-iotests/085.out \
	tests/qemu-iotests/086.out \
	tests/qemu-iotests/087.out \
	tests/qemu-iotests/088.out \
	tests/qemu-iotests/089.out \
	tests/qemu-iotests/090.out.qcow2 \
	tests/qemu-iotests/090.out.raw \
	tests/qemu-iotests/091.out.qcow2 \
	tests/qemu-iotests/091.out.raw \
	tests/qemu-iotests/092.out.qcow2 \
	tests/qemu-iotests/092.out.raw \
	tests/qemu-iotests/093.out \
	tests/qemu-iotests/094.out \
	tests/qemu-iotests/095.out \
	tests/qemu-iotests/096.out \
	tests/qemu-iotests/097.out \
	tests/qemu-iotests/098.out \
	tests/qemu-iotests/099.out \
	tests/qemu-iotests/100.out \
	tests/qemu-iotests/101.out \
	tests/qemu-iotests/102.out \
	tests/qemu-iotests/103.out \
	tests/qemu-iotests/104.out \
	tests/qemu-iotests/105.out \
	tests/qemu-iotests/106.out \
	tests/qemu-iotests/107.out \
	tests/qemu-iotests/108.out \
	tests/qemu-iotests/109.out \
	tests/qemu-iotests/110.out.qcow2 \
	tests/qemu-iotests/110.out.raw \
	tests/qemu-iotests/111.out \
	tests/qemu-iotests/112.out.qcow2 \
	tests/qemu-iotests/112.out.raw \
	tests/qemu-iotests/150.out \
	tests/qemu-iotests/151.out

EXTRA_DIST += \
	tests/qemu-iotests/check \
	tests/qemu-iotests/new \
	tests/qemu-iotests/common.rc \
	tests/qemu-iotests/common.filter \
	tests/qemu-iotests/common.pattern \
	tests/qemu-iotests/known-failures \
	$(iotests_cases) \
	$(iotests_golden) \
	docs/iotests.md
dist_noinst_SCRIPTS += \
	tests/qemu-iotests/run-quick.sh \
	tests/qemu-iotests/run-quick-raw.sh \
	tests/qemu-iotests/run-quick-qcow2.sh \
	tests/qemu-iotests/run-matrix.sh

# make check: the quick group, native Linux builds only (the tools of a
# cross build do not run here; the Windows tools have tests of their own).
if OS_LINUX
if !CROSS_COMPILING
TESTS += tests/qemu-iotests/run-quick-raw.sh tests/qemu-iotests/run-quick-qcow2.sh
endif
endif

IOTESTS_MATRIX =
IOTESTS_FLAGS =

# Results (NNN.out.bad) and scratch images go to the build tree, so that
# the source tree may be read-only.
IOTESTS_OUTDIR = $(abs_top_builddir)/tests/qemu-iotests
IOTESTS_MATRIX_SCRIPT = $(abs_top_srcdir)/tests/qemu-iotests/run-matrix.sh

# Programs of the build tree some tests use (088: the hostile qcow2 images'
# generator); make check builds them anyway.
IOTESTS_HELPERS =
if OS_LINUX
IOTESTS_HELPERS += tests/qcow2-corpus/qcow2-corpus$(EXEEXT)
endif

check-iotests: all $(IOTESTS_HELPERS)
	@top_builddir=$(abs_top_builddir) IOTESTS_OUTDIR=$(IOTESTS_OUTDIR) \
	IOTESTS_FLAGS='$(IOTESTS_FLAGS)' \
		bash $(IOTESTS_MATRIX_SCRIPT) $(IOTESTS_MATRIX)

check-iotests-ref: $(IOTESTS_HELPERS)
	@IOTESTS_OUTDIR=$(IOTESTS_OUTDIR) IOTESTS_FLAGS='$(IOTESTS_FLAGS)' \
		bash $(IOTESTS_MATRIX_SCRIPT) -ref $(IOTESTS_MATRIX)

clean-iotests:
	-rm -rf tests/qemu-iotests/scratch tests/qemu-iotests/quick-raw \
		tests/qemu-iotests/quick-qcow2
	-rm -f tests/qemu-iotests/*.out.bad

.PHONY: check-iotests check-iotests-ref clean-iotests

clean-local: clean-iotests
