/*
 * coblock — shared helpers for the unit tests
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef TESTS_TEST_COMMON_H
#define TESTS_TEST_COMMON_H

#include "util/osdep.h"

#ifdef HAVE_CHECK_H_REAL
#include <check.h>
#define MINICHECK_GLOBALS
#else
#include "minicheck.h"
#endif

#ifndef _WIN32
#include <sys/wait.h>

/*
 * Run @fn in a child process and require that it dies of SIGABRT with
 * @expect somewhere in what it wrote to stderr.  Works with and without
 * Check's own forking.
 */
static inline void expect_abort(void (*fn)(void), const char *expect)
{
    int pipefd[2], status;
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    ck_assert_int_eq(pipe(pipefd), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        _exit(0);   /* fn returned: not what we expected */
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += n;
    }
    buf[len] = '\0';
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "expected SIGABRT, got status 0x%x (stderr: %s)", status, buf);
    ck_assert_msg(strstr(buf, expect) != NULL,
                  "expected '%s' in stderr, got: %s", expect, buf);
}
#endif

/* Run a Check suite and turn the result into an exit status. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif /* TESTS_TEST_COMMON_H */
