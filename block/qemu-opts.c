/*
 * coblock — typed option sets for image creation and amendment
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A QemuOpts is a QDict of the values the user set, checked against a
 * QemuOptsList of descriptors (name, type, help, default).  Values keep
 * the order in which they were set; defaults are applied by the typed
 * getters, not stored.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/block_int.h"

struct QemuOpts {
    const QemuOptsList *list;
    QDict *values;
};

QemuOpts *qemu_opts_create(const QemuOptsList *list)
{
    QemuOpts *opts = qemu_xmalloc0(sizeof(*opts));

    opts->list = list;
    opts->values = qdict_new();
    return opts;
}

void qemu_opts_del(QemuOpts *opts)
{
    if (opts) {
        qdict_unref(opts->values);
        free(opts);
    }
}

const QemuOptsList *qemu_opts_list(const QemuOpts *opts)
{
    return opts->list;
}

const QDict *qemu_opts_values(const QemuOpts *opts)
{
    return opts->values;
}

static const QemuOptDesc *find_desc(const QemuOptsList *list, const char *name)
{
    const QemuOptDesc *d;

    if (!list) {
        return NULL;
    }
    for (d = list->desc; d->name; d++) {
        if (!strcmp(d->name, name)) {
            return d;
        }
    }
    return NULL;
}

static bool check_value(const QemuOptDesc *desc, const char *value, Error **errp)
{
    uint64_t n;
    bool b;
    int ret;

    switch (desc->type) {
    case QEMU_OPT_STRING:
        return true;
    case QEMU_OPT_BOOL:
        if (!qemu_parse_bool(value, &b)) {
            error_setg(errp, "Parameter '%s' expects 'on' or 'off'", desc->name);
            return false;
        }
        return true;
    case QEMU_OPT_NUMBER:
        if (qemu_strtou64(value, NULL, 0, &n) < 0) {
            error_setg(errp, "Parameter '%s' expects a number", desc->name);
            return false;
        }
        return true;
    case QEMU_OPT_SIZE:
        ret = qemu_strtosz(value, NULL, &n);
        if (ret == -ERANGE) {
            error_setg(errp, "Value '%s' is out of range for parameter '%s'",
                       value, desc->name);
            return false;
        }
        if (ret < 0) {
            error_setg(errp, "Parameter '%s' expects a non-negative number below 2^64",
                       desc->name);
            error_append_hint(errp, "Optional suffix k, M, G, T, P or E means kilo-, "
                              "mega-, giga-, tera-, peta-\nand exabytes, respectively.\n");
            return false;
        }
        return true;
    }
    return false;
}

bool qemu_opt_set(QemuOpts *opts, const char *name, const char *value,
                  Error **errp)
{
    const QemuOptDesc *desc = find_desc(opts->list, name);

    if (!desc) {
        error_setg(errp, "Invalid parameter '%s'", name);
        return false;
    }
    if (!check_value(desc, value, errp)) {
        return false;
    }
    qdict_put_str(opts->values, name, value);
    return true;
}

void qemu_opt_set_number(QemuOpts *opts, const char *name, int64_t val)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, val);
    qdict_put_str(opts->values, name, buf);
}

bool qemu_opts_do_parse(QemuOpts *opts, const char *params, Error **errp)
{
    QDict *d = qdict_parse_keyval(params, NULL, errp);
    const QDictEntry *e;
    bool ok = true;

    if (!d) {
        return false;
    }
    for (e = qdict_first(d); e && ok; e = qdict_next(d, e)) {
        ok = qemu_opt_set(opts, qdict_entry_key(e), qdict_entry_value(e), errp);
    }
    qdict_unref(d);
    return ok;
}

bool qemu_opt_has(const QemuOpts *opts, const char *name)
{
    return qdict_haskey(opts->values, name);
}

const char *qemu_opt_get(const QemuOpts *opts, const char *name)
{
    return qdict_get_try_str(opts->values, name);
}

static const char *value_or_default(const QemuOpts *opts, const char *name)
{
    const char *v = qemu_opt_get(opts, name);
    const QemuOptDesc *desc;

    if (v) {
        return v;
    }
    desc = find_desc(opts->list, name);
    return desc ? desc->def_value_str : NULL;
}

const char *qemu_opt_get_str(const QemuOpts *opts, const char *name)
{
    return value_or_default(opts, name);
}

bool qemu_opt_get_bool(const QemuOpts *opts, const char *name, bool def)
{
    const char *v = value_or_default(opts, name);
    bool b;

    return v && qemu_parse_bool(v, &b) ? b : def;
}

uint64_t qemu_opt_get_size(const QemuOpts *opts, const char *name, uint64_t def)
{
    const char *v = value_or_default(opts, name);
    uint64_t n;

    return v && qemu_strtosz(v, NULL, &n) == 0 ? n : def;
}

uint64_t qemu_opt_get_number(const QemuOpts *opts, const char *name, uint64_t def)
{
    const char *v = value_or_default(opts, name);
    uint64_t n;

    return v && qemu_strtou64(v, NULL, 0, &n) == 0 ? n : def;
}

void qemu_opt_unset(QemuOpts *opts, const char *name)
{
    qdict_del(opts->values, name);
}

QemuOptsList *qemu_opts_append(const QemuOptsList *a, const QemuOptsList *b)
{
    QemuOptsList *list = qemu_xmalloc0(sizeof(*list));
    size_t n = 0;
    const QemuOptDesc *d;

    list->name = a ? a->name : (b ? b->name : NULL);
    if (a) {
        for (d = a->desc; d->name && n + 1 < ARRAY_SIZE(list->desc); d++) {
            list->desc[n++] = *d;
        }
    }
    if (b) {
        for (d = b->desc; d->name && n + 1 < ARRAY_SIZE(list->desc); d++) {
            if (!find_desc(list, d->name)) {
                list->desc[n++] = *d;
            }
        }
    }
    return list;
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(((const QemuOptDesc *)a)->name, ((const QemuOptDesc *)b)->name);
}

static const char *type_hint(QemuOptType type)
{
    switch (type) {
    case QEMU_OPT_STRING: return "str";
    case QEMU_OPT_BOOL: return "bool (on/off)";
    case QEMU_OPT_NUMBER: return "num";
    case QEMU_OPT_SIZE: return "size";
    }
    return "?";
}

void qemu_opts_print_help(const QemuOptsList *list, bool print_caption)
{
    QemuOptDesc sorted[ARRAY_SIZE(list->desc)];
    size_t n = 0, i;

    for (i = 0; list->desc[i].name; i++) {
        sorted[n++] = list->desc[i];
    }
    qsort(sorted, n, sizeof(sorted[0]), cmp_desc);
    if (print_caption && list->name) {
        printf("%s options:\n", list->name);
    }
    for (i = 0; i < n; i++) {
        char *left = qemu_xasprintf("%s=<%s>", sorted[i].name,
                                    type_hint(sorted[i].type));
        printf("  %-22s", left);
        if (sorted[i].help) {
            printf(" - %s", sorted[i].help);
        }
        printf("\n");
        free(left);
    }
}
