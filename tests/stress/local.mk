# tests/stress/: long random workloads checked against a shadow model
# (docs/reliability.md).  make check runs a short pass over every case;
# run tests/stress/shadow-stress.sh SECONDS for a long one.
dist_noinst_SCRIPTS += tests/stress/shadow-stress.sh
if OS_LINUX
check_PROGRAMS += tests/stress/shadow-stress
tests_stress_shadow_stress_SOURCES = tests/stress/shadow-stress.c
tests_stress_shadow_stress_LDADD = $(COBLOCK_INTERNAL)
TESTS += tests/stress/shadow-stress.sh
endif
