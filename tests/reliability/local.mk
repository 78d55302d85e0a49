# tests/reliability/: fault injection, crash consistency, stress.
#   fault-campaign   every blkdebug event x errno x once over four qcow2
#                    workloads; checks by ours and QEMU's
noinst_HEADERS += tests/reliability/rel-common.h
dist_noinst_SCRIPTS += tests/reliability/fault-campaign.sh
if OS_LINUX
check_PROGRAMS += tests/reliability/fault-campaign
tests_reliability_fault_campaign_SOURCES = tests/reliability/fault-campaign.c
tests_reliability_fault_campaign_CPPFLAGS = $(AM_CPPFLAGS) \
	-DQEMU_IMG_REF='"$(QEMU_IMG_REF)"'
tests_reliability_fault_campaign_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/reliability/fault-campaign.sh
endif

#   crash-replay     log-writes records every write and flush; the image is
#                    rebuilt at every prefix and with reordered or dropped
#                    writes since the last flush, and each state checked
dist_noinst_SCRIPTS += tests/reliability/crash-replay.sh
if OS_LINUX
check_PROGRAMS += tests/reliability/crash-replay
tests_reliability_crash_replay_SOURCES = tests/reliability/crash-replay.c
tests_reliability_crash_replay_CPPFLAGS = $(AM_CPPFLAGS) \
	-DQEMU_IMG_REF='"$(QEMU_IMG_REF)"'
tests_reliability_crash_replay_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/reliability/crash-replay.sh
endif
