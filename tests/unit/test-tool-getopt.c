/*
 * coblock — the tools' option parser, checked against the C library's
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * qemu-img and qemu-io parse options with tool_getopt_long so that they
 * behave (and word their errors) like GNU getopt_long on every host.  On
 * glibc the reference is right here: every argument vector below, and a
 * few thousand pseudo-random ones, go through both parsers, and the
 * returned options, their arguments, optind, optopt, the final order of
 * argv and the error messages must all be the same.  Elsewhere the same
 * vectors check the properties that do not need the reference.
 */
#include "test-common.h"
#include "qemu-img/tool-common.h"

#if defined(__GLIBC__)
#include <getopt.h>
#define HAVE_REFERENCE 1
#endif

MINICHECK_GLOBALS

#define MAX_ARGS 16
#define LOG_SIZE 8192

static const char *const shortopts_list[] = {
    "ab:c::d",
    "+ab:c::d",
    ":ab:c::d",
    "hVc:d:f:rsnCmki:t:T:U",
    "bCl:pP:qs:v",
};

static const ToolOption tool_longopts[] = {
    { "alpha", TOOL_NO_ARGUMENT, 'a' },
    { "beta", TOOL_REQUIRED_ARGUMENT, 'b' },
    { "betamax", TOOL_NO_ARGUMENT, 'M' },
    { "bravo", TOOL_NO_ARGUMENT, 'B' },
    { "charlie", TOOL_OPTIONAL_ARGUMENT, 'c' },
    { "cmd", TOOL_REQUIRED_ARGUMENT, 'x' },
    { "copy", TOOL_NO_ARGUMENT, 'y' },
    { "cache", TOOL_REQUIRED_ARGUMENT, 'z' },
    { "dup", TOOL_NO_ARGUMENT, 'D' },
    { "duplicate", TOOL_NO_ARGUMENT, 'D' },
    { NULL, 0, 0 },
};

/* What one parse did, as text, so that two parses compare at once. */
typedef struct Trace {
    char log[LOG_SIZE];
    size_t len;
} Trace;

static void trace_add(Trace *t, const char *fmt, ...) QEMU_PRINTF(2, 3);
static void trace_add(Trace *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->log + t->len, sizeof(t->log) - t->len, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    t->len += (size_t)n;
    ck_assert_uint_lt(t->len, sizeof(t->log));
}

static void split(const char *line, char *buf, size_t size, char **argv,
                  int *argc)
{
    char *p;

    snprintf(buf, size, "%s", line);
    *argc = 0;
    argv[(*argc)++] = (char *)"prog";
    for (p = strtok(buf, " "); p; p = strtok(NULL, " ")) {
        ck_assert_int_lt(*argc, MAX_ARGS);
        argv[(*argc)++] = p;
    }
    argv[*argc] = NULL;
}

static void read_all(FILE *f, Trace *t)
{
    char buf[512];
    size_t n;

    rewind(f);
    while ((n = fread(buf, 1, sizeof(buf) - 1, f)) > 0) {
        buf[n] = '\0';
        trace_add(t, "%s", buf);
    }
}

static void finish(Trace *t, int argc, char **argv, int optind_val)
{
    int i;

    trace_add(t, "| optind=%d argv=", optind_val);
    for (i = 0; i < argc; i++) {
        trace_add(t, "[%s]", argv[i]);
    }
}

static void run_ours(const char *line, const char *shortopts, bool longs,
                     bool opterr, Trace *t)
{
    char buf[512], *argv[MAX_ARGS + 1];
    FILE *err = tmpfile();
    int argc, c, idx, guard = 0;
    ToolGetopt g;

    ck_assert_ptr_nonnull(err);
    split(line, buf, sizeof(buf), argv, &argc);
    tool_getopt_init(&g);
    g.opterr = opterr;
    g.errfile = err;
    for (;;) {
        idx = -1;
        c = tool_getopt_long(&g, argc, argv, shortopts,
                             longs ? tool_longopts : NULL, &idx);
        if (c == -1) {
            break;
        }
        trace_add(t, "c=%d arg=%s idx=%d optind=%d", c,
                  g.optarg ? g.optarg : "(null)", idx, g.optind);
        if (c == '?' || c == ':') {
            trace_add(t, " optopt=%d", g.optopt);
        }
        trace_add(t, "; ");
        ck_assert_int_lt(++guard, 64);
    }
    read_all(err, t);
    fclose(err);
    finish(t, argc, argv, g.optind);
}

#ifdef HAVE_REFERENCE
static const struct option ref_longopts[] = {
    { "alpha", no_argument, NULL, 'a' },
    { "beta", required_argument, NULL, 'b' },
    { "betamax", no_argument, NULL, 'M' },
    { "bravo", no_argument, NULL, 'B' },
    { "charlie", optional_argument, NULL, 'c' },
    { "cmd", required_argument, NULL, 'x' },
    { "copy", no_argument, NULL, 'y' },
    { "cache", required_argument, NULL, 'z' },
    { "dup", no_argument, NULL, 'D' },
    { "duplicate", no_argument, NULL, 'D' },
    { NULL, 0, NULL, 0 },
};

static void run_reference(const char *line, const char *shortopts, bool longs,
                          bool opterr_val, Trace *t)
{
    char buf[512], *argv[MAX_ARGS + 1];
    FILE *err = tmpfile();
    int argc, c, idx, guard = 0, saved;

    ck_assert_ptr_nonnull(err);
    split(line, buf, sizeof(buf), argv, &argc);
    fflush(stderr);
    saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(err), 2), 0);
    optind = 0;             /* full reinitialisation */
    opterr = opterr_val;
    for (;;) {
        idx = -1;
        c = getopt_long(argc, argv, shortopts, longs ? ref_longopts : NULL,
                        &idx);
        if (c == -1) {
            break;
        }
        trace_add(t, "c=%d arg=%s idx=%d optind=%d", c,
                  optarg ? optarg : "(null)", idx, optind);
        if (c == '?' || c == ':') {
            trace_add(t, " optopt=%d", optopt);
        }
        trace_add(t, "; ");
        ck_assert_int_lt(++guard, 64);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    opterr = 1;
    read_all(err, t);
    fclose(err);
    finish(t, argc, argv, optind);
}
#endif

static const char *const vectors[] = {
    "",
    "-a",
    "-a -d",
    "-ad",
    "-bx",
    "-b x",
    "-b",
    "-a -b",
    "-c",
    "-cx",
    "-c x",
    "-x",
    "-:",
    "-a-",
    "file",
    "file -a",
    "-a file",
    "f1 -a f2 -b arg f3",
    "f1 -ab arg f2 -- -d f3",
    "-- -a",
    "f1 -- -a",
    "-",
    "- -a",
    "-a - -",
    "--alpha",
    "--alp",
    "--a",
    "--b",
    "--be",
    "--bet x",
    "--beta",
    "--beta=x",
    "--beta=",
    "--beta x y",
    "--betam",
    "--betamax=x",
    "--br",
    "--ch",
    "--charlie",
    "--charlie=v",
    "--charlie v",
    "--c",
    "--c=x",
    "--co",
    "--cm x",
    "--ca",
    "--d",
    "--du",
    "--dup",
    "--nosuch",
    "--nosuch=x",
    "--=x",
    "f1 --alpha f2 --beta v f3",
    "f1 f2 f3 -a",
    "-a f1 f2 -- f3 -d",
    "-dadada",
    "-P 0x11 -s 10 -l 20 100 100",
    "0 -1",
    "-- -1 1",
    "-v 0 16 -q",
    "-f raw img -c length -c read",
    "img -f",
    "-U -r --cache=none img",
};

static void compare_one(const char *line, const char *shortopts, bool longs,
                        bool opterr_val)
{
    Trace ours = { "", 0 };

    run_ours(line, shortopts, longs, opterr_val, &ours);
#ifdef HAVE_REFERENCE
    {
        Trace ref = { "", 0 };

        run_reference(line, shortopts, longs, opterr_val, &ref);
        ck_assert_msg(!strcmp(ours.log, ref.log),
                      "\"%s\" with \"%s\"%s:\n  ours: %s\n  libc: %s",
                      line, shortopts, longs ? " (long options)" : "",
                      ours.log, ref.log);
    }
#endif
}

START_TEST(test_vectors)
{
    size_t i, j;

    for (i = 0; i < ARRAY_SIZE(vectors); i++) {
        for (j = 0; j < ARRAY_SIZE(shortopts_list); j++) {
            compare_one(vectors[i], shortopts_list[j], true, true);
            compare_one(vectors[i], shortopts_list[j], false, true);
            compare_one(vectors[i], shortopts_list[j], true, false);
        }
    }
}
END_TEST

/* Vectors put together from a pool of words by a fixed pseudo-random
 * sequence. */
START_TEST(test_random)
{
    static const char *const pool[] = {
        "-a", "-b", "-c", "-d", "-x", "-ab", "-ba", "-cd", "-dc", "-bd",
        "f1", "f2", "-", "--", "--alpha", "--beta", "--beta=v", "--be",
        "--c", "--ch=3", "--charlie", "--dup", "--nosuch", "v", "-P", "-s",
        "-l", "7", "--bravo=1", "-q", "--cmd", "--ca=x", "--d",
    };
    uint32_t seed = 12345;
    int n;

    for (n = 0; n < 3000; n++) {
        char line[256] = "";
        int words, w;

        seed = seed * 1103515245u + 12345u;
        words = (int)((seed >> 16) % 7);
        for (w = 0; w < words; w++) {
            seed = seed * 1103515245u + 12345u;
            if (w) {
                strcat(line, " ");
            }
            strcat(line, pool[(seed >> 16) % ARRAY_SIZE(pool)]);
        }
        compare_one(line, shortopts_list[n % ARRAY_SIZE(shortopts_list)],
                    n % 3 != 0, true);
    }
}
END_TEST

/* The state is per parser: two parses can be interleaved. */
START_TEST(test_reentrant)
{
    char *a[] = { (char *)"p", (char *)"x", (char *)"-a", NULL };
    char *b[] = { (char *)"p", (char *)"-b", (char *)"v", (char *)"y", NULL };
    ToolGetopt ga, gb;

    tool_getopt_init(&ga);
    tool_getopt_init(&gb);
    ck_assert_int_eq(tool_getopt(&gb, 4, b, "ab:"), 'b');
    ck_assert_int_eq(tool_getopt(&ga, 3, a, "ab:"), 'a');
    ck_assert_str_eq(gb.optarg, "v");
    ck_assert_int_eq(tool_getopt(&gb, 4, b, "ab:"), -1);
    ck_assert_int_eq(tool_getopt(&ga, 3, a, "ab:"), -1);
    ck_assert_int_eq(ga.optind, 2);
    ck_assert_str_eq(a[2], "x");
    ck_assert_int_eq(gb.optind, 3);
    ck_assert_str_eq(b[3], "y");
}
END_TEST

static Suite *getopt_suite(void)
{
    Suite *s = suite_create("tool-getopt");
    TCase *tc = tcase_create("getopt");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_reentrant);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
#ifndef HAVE_REFERENCE
    printf("tool-getopt: no glibc getopt_long to compare with; "
           "checking our own behaviour only\n");
#endif
    return run_suite(getopt_suite());
}
