/*
 * coblock — a minimal stand-in for the Check API, for hosts without Check
 * (the mingw cross build, whose test programs run under wine)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * It implements the subset the unit tests use, with the same meaning:
 * suites of test cases of tests; a failed assertion fails its test, the
 * runner goes on with the next test and srunner_ntests_failed() counts the
 * failures.  A failure inside a coroutine cannot unwind across stacks, so
 * it ends the program with status 1 after printing the failure.  Output:
 * one "PASS name" or "FAIL name: file:line: message" line per test, then
 * "N passed, N failed".
 */
#ifndef TESTS_MINICHECK_H
#define TESTS_MINICHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_NORMAL 1
#define CK_VERBOSE 2
#define CK_ENV 3
#define CK_ATTRIBUTE_UNUSED __attribute__((unused))

typedef void (*mc_test_fn)(int);

typedef struct TCase {
    const char *name;
    struct { mc_test_fn fn; const char *name; int loop_i; } tests[128];
    int ntests;
    void (*setup)(void);
    void (*teardown)(void);
    struct TCase *next;
} TCase;

typedef struct Suite {
    const char *name;
    TCase *first, *last;
} Suite;

typedef struct SRunner {
    Suite *suites[16];
    int nsuites;
    int failed, passed;
} SRunner;

extern jmp_buf mc_jmp;
extern int mc_in_test;
extern char mc_msg[1024];
int mc_in_coroutine(void);

static inline void mc_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(gnu_printf, 3, 4)));  /* mingw only */
static inline void mc_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(mc_msg, sizeof(mc_msg), "%s:%d: ", file, line);

    va_start(ap, fmt);
    vsnprintf(mc_msg + n, sizeof(mc_msg) - n, fmt, ap);
    va_end(ap);
    if (!mc_in_test || mc_in_coroutine()) {
        printf("FAIL (inside a coroutine, aborting the run): %s\n", mc_msg);
        fflush(stdout);
        exit(1);
    }
    longjmp(mc_jmp, 1);
}

#define START_TEST(name) static void name(int _i CK_ATTRIBUTE_UNUSED)
#define END_TEST

#define ck_assert_msg(expr, ...) \
    do { if (!(expr)) mc_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define ck_assert(expr) ck_assert_msg(expr, "Assertion '%s' failed", #expr)
#define ck_abort_msg(...) mc_fail(__FILE__, __LINE__, __VA_ARGS__)
#define ck_abort() mc_fail(__FILE__, __LINE__, "aborted")
#define MC_CMP(type, fmt, a, op, b) do {                                   \
        type _a = (a);                                                     \
        type _b = (b);                                                     \
        if (!(_a op _b))                                                   \
            mc_fail(__FILE__, __LINE__, "Assertion '%s' failed: %s == " fmt \
                    ", %s == " fmt, #a " " #op " " #b, #a, _a, #b, _b);    \
    } while (0)
#define ck_assert_int_eq(a, b) MC_CMP(intmax_t, "%jd", a, ==, b)
#define ck_assert_int_ne(a, b) MC_CMP(intmax_t, "%jd", a, !=, b)
#define ck_assert_int_lt(a, b) MC_CMP(intmax_t, "%jd", a, <, b)
#define ck_assert_int_le(a, b) MC_CMP(intmax_t, "%jd", a, <=, b)
#define ck_assert_int_gt(a, b) MC_CMP(intmax_t, "%jd", a, >, b)
#define ck_assert_int_ge(a, b) MC_CMP(intmax_t, "%jd", a, >=, b)
#define ck_assert_uint_eq(a, b) MC_CMP(uintmax_t, "%ju", a, ==, b)
#define ck_assert_uint_ne(a, b) MC_CMP(uintmax_t, "%ju", a, !=, b)
#define ck_assert_uint_lt(a, b) MC_CMP(uintmax_t, "%ju", a, <, b)
#define ck_assert_uint_le(a, b) MC_CMP(uintmax_t, "%ju", a, <=, b)
#define ck_assert_uint_gt(a, b) MC_CMP(uintmax_t, "%ju", a, >, b)
#define ck_assert_uint_ge(a, b) MC_CMP(uintmax_t, "%ju", a, >=, b)
#define ck_assert_ptr_eq(a, b) MC_CMP(const void *, "%p", a, ==, b)
#define ck_assert_ptr_ne(a, b) MC_CMP(const void *, "%p", a, !=, b)
#define ck_assert_ptr_null(a) ck_assert_ptr_eq(a, NULL)
#define ck_assert_ptr_nonnull(a) ck_assert_ptr_ne(a, NULL)
#define ck_assert_str_eq(a, b) do {                                        \
        const char *_a = (a), *_b = (b);                                   \
        if (!_a || !_b || strcmp(_a, _b))                                  \
            mc_fail(__FILE__, __LINE__, "Assertion '%s == %s' failed: "   \
                    "\"%s\" vs \"%s\"", #a, #b, _a ? _a : "(null)",        \
                    _b ? _b : "(null)");                                   \
    } while (0)
#define ck_assert_mem_eq(a, b, n) \
    ck_assert_msg(memcmp((a), (b), (n)) == 0, "memory differs: %s vs %s", #a, #b)

static inline Suite *suite_create(const char *name)
{
    Suite *s = calloc(1, sizeof(*s));
    s->name = name;
    return s;
}

static inline TCase *tcase_create(const char *name)
{
    TCase *tc = calloc(1, sizeof(*tc));
    tc->name = name;
    return tc;
}

static inline void suite_add_tcase(Suite *s, TCase *tc)
{
    if (s->last) {
        s->last->next = tc;
    } else {
        s->first = tc;
    }
    s->last = tc;
}

static inline void mc_tcase_add_i(TCase *tc, mc_test_fn fn, const char *name,
                                  int i)
{
    if (tc->ntests == 128) {
        fprintf(stderr, "minicheck: too many tests in %s\n", tc->name);
        exit(2);
    }
    tc->tests[tc->ntests].fn = fn;
    tc->tests[tc->ntests].name = name;
    tc->tests[tc->ntests].loop_i = i;
    tc->ntests++;
}
#define tcase_add_test(tc, fn) mc_tcase_add_i(tc, fn, #fn, 0)
/* Check's loop tests: the test runs once for each _i in [start, end). */
#define tcase_add_loop_test(tc, fn, start, end) do {                     \
        int mc_i_;                                                       \
        for (mc_i_ = (start); mc_i_ < (end); mc_i_++) {                  \
            mc_tcase_add_i(tc, fn, #fn, mc_i_);                          \
        }                                                                \
    } while (0)
#define tcase_set_timeout(tc, t) ((void)(tc), (void)(t))
#define tcase_add_checked_fixture(tc, su, td) \
    ((tc)->setup = (su), (tc)->teardown = (td))
#define tcase_add_unchecked_fixture tcase_add_checked_fixture

static inline SRunner *srunner_create(Suite *s)
{
    SRunner *sr = calloc(1, sizeof(*sr));
    sr->suites[sr->nsuites++] = s;
    return sr;
}

static inline void srunner_add_suite(SRunner *sr, Suite *s)
{
    sr->suites[sr->nsuites++] = s;
}

#define srunner_set_fork_status(sr, x) ((void)(sr), (void)(x))
#define srunner_set_tap(sr, x) ((void)(sr), (void)(x))
#define CK_NOFORK 0

/* Run one test; returns 1 if it passed.  Kept apart so that no local of
 * the loops below lives across the setjmp. */
static __attribute__((noinline, unused)) int mc_run_one(TCase *tc, int j)
{
    volatile int passed = 0;

    mc_in_test = 1;
    if (setjmp(mc_jmp) == 0) {
        if (tc->setup) {
            tc->setup();
        }
        tc->tests[j].fn(tc->tests[j].loop_i);
        if (tc->teardown) {
            tc->teardown();
        }
        printf("PASS %s/%s\n", tc->name, tc->tests[j].name);
        passed = 1;
    } else {
        printf("FAIL %s/%s: %s\n", tc->name, tc->tests[j].name, mc_msg);
    }
    mc_in_test = 0;
    fflush(stdout);
    return passed;
}

static inline void srunner_run_all(SRunner *sr, int mode)
{
    int i, j;

    (void)mode;
    for (i = 0; i < sr->nsuites; i++) {
        TCase *tc;
        for (tc = sr->suites[i]->first; tc; tc = tc->next) {
            for (j = 0; j < tc->ntests; j++) {
                if (mc_run_one(tc, j)) {
                    sr->passed++;
                } else {
                    sr->failed++;
                }
            }
        }
    }
    printf("%d passed, %d failed\n", sr->passed, sr->failed);
}

static inline int srunner_ntests_failed(SRunner *sr)
{
    return sr->failed;
}

static inline void srunner_free(SRunner *sr)
{
    int i;
    for (i = 0; i < sr->nsuites; i++) {
        TCase *tc = sr->suites[i]->first;
        while (tc) {
            TCase *next = tc->next;
            free(tc);
            tc = next;
        }
        free(sr->suites[i]);
    }
    free(sr);
}

/* Define the globals in exactly one file. */
#define MINICHECK_GLOBALS \
    jmp_buf mc_jmp; int mc_in_test; char mc_msg[1024]; \
    int mc_in_coroutine(void) { return qemu_in_coroutine(); }

#endif /* TESTS_MINICHECK_H */
