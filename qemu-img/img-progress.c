/*
 * coblock — qemu-img: progress reports
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Human mode reproduces QEMU's -p: "    (P/100%)\r" on stdout, with P
 * printed as %.2f; a line is printed when the command starts (0%), when
 * the value has moved by more than a command-specific step (one or two
 * percentage points, as in QEMU) since the last
 * line, and whenever it is 100%; commands that complete say so with
 * img_progress_finish (a 100% line, even if the last update was one
 * already), and the end of the report is a newline.  Percentages are computed from the
 * bytes a command has actually processed out of the bytes it has to
 * process (for convert: the data it copies, not the holes it skips).
 *
 * JSON mode (--progress-json[=FD]) writes, on the same occasions, one
 * line per report to FD (standard error by default):
 *   {"operation": "convert", "done": 1048576, "total": 4194304}
 * and a last line that adds "status": "finished" or "failed".
 * Lines are written with a single write(2) each, so another process can
 * read them as they come.
 */
#include "qemu-img/img.h"
#include "util/cutils.h"

#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#endif

static struct {
    bool human;
    int json_fd;            /* -1: off */
    const char *op;
    uint64_t done, total;
    double last_print;      /* percentage of the last human line */
    double min_skip;        /* smallest change worth a new line */
    double json_last;       /* percentage of the last JSON line */
    bool started;
    bool complete;
    bool json_wait_total;   /* no JSON line before the total is known */
} prog = { .json_fd = -1 };

static double percent(void)
{
    if (prog.complete) {
        return 100.0;
    }
    if (!prog.total) {
        return prog.done ? 100.0 : 0.0;
    }
    if (prog.done >= prog.total) {
        return 100.0;
    }
    return 100.0 * (double)prog.done / (double)prog.total;
}

static void human_line(double p)
{
    printf("    (%3.2f/100%%)\r", p);
    fflush(stdout);
}

static void json_line(const char *status)
{
    char buf[160];
    int n;

    n = snprintf(buf, sizeof(buf),
                 "{\"operation\": \"%s\", \"done\": %" PRIu64
                 ", \"total\": %" PRIu64 "%s%s%s}\n",
                 prog.op, prog.done, prog.total,
                 status ? ", \"status\": \"" : "", status ? status : "",
                 status ? "\"" : "");
    if (n > 0 && (size_t)n < sizeof(buf)) {
        ssize_t w = write(prog.json_fd, buf, (size_t)n);
        (void)w;    /* a reader that went away must not stop the command */
    }
}

static void report(void)
{
    double p = percent();

    if (prog.human) {
        if (p == 0.0 || p == 100.0 || p > prog.last_print + prog.min_skip ||
            p < prog.last_print - prog.min_skip) {
            prog.last_print = p;
            human_line(p);
        }
    }
    if (prog.json_fd >= 0 && !prog.json_wait_total) {
        if (!prog.started || p >= prog.json_last + 1.0 || p == 100.0) {
            prog.json_last = p;
            json_line(NULL);
        }
    }
    prog.started = true;
}

int img_parse_progress_fd(const char *arg)
{
    struct stat st;
    int64_t fd;

    if (!arg || !*arg) {
        return 2;
    }
    if (qemu_strtoi64(arg, NULL, 10, &fd) < 0 || fd < 0 || fd > INT_MAX) {
        error_report("Invalid file descriptor for --progress-json: '%s'", arg);
        return -1;
    }
    if (fstat((int)fd, &st) < 0) {
        error_report("Invalid file descriptor for --progress-json: '%s': %s",
                     arg, strerror(errno));
        return -1;
    }
    return (int)fd;
}

void img_progress_init(bool human, int json_fd, const char *op,
                       double min_skip)
{
    prog.min_skip = min_skip;
    prog.human = human;
    prog.json_fd = json_fd;
    prog.op = op;
    prog.done = 0;
    prog.total = 0;
    prog.last_print = 0;
    prog.json_last = 0;
    prog.started = false;
    prog.complete = false;
    prog.json_wait_total = json_fd >= 0;
    if (human || json_fd >= 0) {
        report();
    }
}

void img_progress_set_total(uint64_t total)
{
    prog.total = total;
    if (prog.json_wait_total) {
        prog.json_wait_total = false;
        prog.started = false;
        report();
    }
}

void img_progress_add(uint64_t bytes)
{
    if (!prog.human && prog.json_fd < 0) {
        return;
    }
    prog.done += bytes;
    if (prog.total && prog.done > prog.total) {
        prog.done = prog.total;
    }
    report();
}

void img_progress_set_done(uint64_t done)
{
    if (!prog.human && prog.json_fd < 0) {
        return;
    }
    prog.done = done;
    report();
}

void img_progress_finish(void)
{
    if (!prog.human && prog.json_fd < 0) {
        return;
    }
    if (prog.total < prog.done) {
        prog.total = prog.done;
    }
    prog.done = prog.total;
    prog.complete = true;
    prog.json_wait_total = false;
    report();
}

void img_progress_end(bool success)
{
    if (prog.human) {
        printf("\n");
        fflush(stdout);
    }
    if (prog.json_fd >= 0) {
        json_line(success ? "finished" : "failed");
    }
    prog.json_wait_total = false;
    prog.human = false;
    prog.json_fd = -1;
}
