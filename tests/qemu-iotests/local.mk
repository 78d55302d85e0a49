# tests/qemu-iotests/: golden-output regression tests of qemu-img and
# qemu-io, and their runner.  See docs/iotests.md.
#
#   make check-iotests                  every test, raw then qcow2, against
#                                       the qemu-img and qemu-io of this build
#   make check-iotests IOTESTS_FORMATS=qcow2 IOTESTS_FLAGS='-g quick -j 4'
#   make check-iotests-ref              the same against QEMU's own tools
#
# Not part of "make check" yet.  A new test (./new -c) goes into
# iotests_cases below, and its golden output(s) into iotests_golden.

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
	tests/qemu-iotests/041

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
	tests/qemu-iotests/041.out

EXTRA_DIST += \
	tests/qemu-iotests/check \
	tests/qemu-iotests/new \
	tests/qemu-iotests/common.rc \
	tests/qemu-iotests/common.filter \
	tests/qemu-iotests/common.pattern \
	$(iotests_cases) \
	$(iotests_golden) \
	docs/iotests.md

IOTESTS_FORMATS = raw qcow2
IOTESTS_FLAGS =

# Results (NNN.out.bad) and scratch images go to the build tree, so that
# the source tree may be read-only.
IOTESTS_OUTDIR = $(abs_top_builddir)/tests/qemu-iotests
IOTESTS_CHECK = $(abs_top_srcdir)/tests/qemu-iotests/check

check-iotests: all
	@rc=0; for fmt in $(IOTESTS_FORMATS); do \
		echo "=== iotests, $$fmt"; \
		QEMU_IMG_PROG=$(abs_top_builddir)/qemu-img/qemu-img \
		QEMU_IO_PROG=$(abs_top_builddir)/qemu-img/qemu-io \
		IOTESTS_OUTDIR=$(IOTESTS_OUTDIR) \
			bash $(IOTESTS_CHECK) -$$fmt $(IOTESTS_FLAGS) || rc=1; \
	done; exit $$rc

check-iotests-ref:
	@rc=0; for fmt in $(IOTESTS_FORMATS); do \
		echo "=== iotests against QEMU's tools, $$fmt"; \
		IOTESTS_OUTDIR=$(IOTESTS_OUTDIR) \
			bash $(IOTESTS_CHECK) -ref -$$fmt $(IOTESTS_FLAGS) || rc=1; \
	done; exit $$rc

clean-iotests:
	-rm -rf tests/qemu-iotests/scratch
	-rm -f tests/qemu-iotests/*.out.bad

.PHONY: check-iotests check-iotests-ref clean-iotests

clean-local: clean-iotests
