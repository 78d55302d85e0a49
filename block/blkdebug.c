/*
 * coblock — blkdebug: a filter that injects errors and suspends requests
 * at the debug events the drivers above it fire
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Compatible with QEMU's blkdebug driver: the filename
 * "blkdebug:CONFIG:IMAGE" or the options driver=blkdebug, config=FILE,
 * image.* (the child) or x-image=NAME, align, max-transfer,
 * opt-write-zero, max-write-zero, opt-discard, max-discard, and rules as
 * options (inject-error.N.KEY, set-state.N.KEY).
 *
 * The configuration file holds rules, one per section:
 *   [inject-error]  event, state, errno, sector, once, immediately, iotype
 *   [set-state]     event, state, new_state
 * and qemu-io adds breakpoints (suspend rules) at run time.
 *
 * How rules act: when a driver fires an event at this node, the rules
 * for that event whose state matches (0 = any state) run: set-state
 * rules choose the next state, inject-error rules become the "active"
 * set (replacing whatever was active before), breakpoints suspend the
 * firing request until qemu-io resumes it.  Every request that reaches
 * this node then fails with the errno of the first active rule whose
 * I/O type and sector match; a "once" rule is used up by its first
 * failure.  The state starts at 1.
 */
#include "util/osdep.h"
#include "util/queue.h"
#include "util/cutils.h"
#include "block/block_int.h"
#include <coblock/coroutine.h>

typedef enum {
    BLKDEBUG_IO_READ,
    BLKDEBUG_IO_WRITE,
    BLKDEBUG_IO_WRITE_ZEROES,
    BLKDEBUG_IO_DISCARD,
    BLKDEBUG_IO_FLUSH,
    BLKDEBUG_IO_BLOCK_STATUS,
    BLKDEBUG_IO__MAX,
} BlkdebugIOType;

static const char *const iotype_names[] = {
    [BLKDEBUG_IO_READ] = "read",
    [BLKDEBUG_IO_WRITE] = "write",
    [BLKDEBUG_IO_WRITE_ZEROES] = "write-zeroes",
    [BLKDEBUG_IO_DISCARD] = "discard",
    [BLKDEBUG_IO_FLUSH] = "flush",
    [BLKDEBUG_IO_BLOCK_STATUS] = "block-status",
};
_Static_assert(ARRAY_SIZE(iotype_names) == BLKDEBUG_IO__MAX,
               "every I/O type needs a name");

/* Without an iotype, a rule fails every kind of request but block
 * status queries. */
#define IOTYPE_DEFAULT_MASK \
    ((1u << BLKDEBUG_IO_READ) | (1u << BLKDEBUG_IO_WRITE) | \
     (1u << BLKDEBUG_IO_WRITE_ZEROES) | (1u << BLKDEBUG_IO_DISCARD) | \
     (1u << BLKDEBUG_IO_FLUSH))

typedef enum {
    ACTION_INJECT_ERROR,
    ACTION_SET_STATE,
    ACTION_SUSPEND,
} RuleAction;

typedef struct BlkdebugRule {
    BlkdebugEvent event;
    RuleAction action;
    int state;                  /* 0: any */
    /* inject-error */
    int error;
    bool once;
    bool immediately;
    int64_t offset;             /* -1: any */
    unsigned iotype_mask;
    /* set-state */
    int new_state;
    /* suspend */
    char *tag;
    QLIST_ENTRY(BlkdebugRule) next;
} BlkdebugRule;

typedef struct SuspendedReq {
    Coroutine *co;
    char *tag;
    QLIST_ENTRY(SuspendedReq) next;
} SuspendedReq;

typedef struct BDRVBlkdebugState {
    int state;
    QLIST_HEAD(, BlkdebugRule) rules[BLKDBG__MAX];
    /* The active inject-error rules, most recently activated last. */
    BlkdebugRule **active;
    size_t nactive, active_cap;
    QLIST_HEAD(, SuspendedReq) suspended;
    uint64_t align, max_transfer;
    uint64_t opt_write_zero, max_write_zero;
    uint64_t opt_discard, max_discard;
} BDRVBlkdebugState;

/* ---- rules ---- */

static void active_remove(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    size_t i;

    for (i = 0; i < s->nactive; i++) {
        if (s->active[i] == rule) {
            memmove(&s->active[i], &s->active[i + 1],
                    (s->nactive - i - 1) * sizeof(s->active[0]));
            s->nactive--;
            return;
        }
    }
}

static void active_add(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    if (s->nactive == s->active_cap) {
        s->active_cap = s->active_cap ? 2 * s->active_cap : 8;
        s->active = qemu_xrealloc(s->active, s->active_cap * sizeof(s->active[0]));
    }
    s->active[s->nactive++] = rule;
}

static void remove_rule(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    active_remove(s, rule);
    QLIST_REMOVE(rule, next);
    free(rule->tag);
    free(rule);
}

static void add_rule(BDRVBlkdebugState *s, BlkdebugRule *rule)
{
    QLIST_INSERT_HEAD(&s->rules[rule->event], rule, next);
}

/* ---- the configuration file ---- */

static const QemuOptsList inject_error_opts = {
    .name = "inject-error",
    .desc = {
        { "event", QEMU_OPT_STRING, NULL, NULL },
        { "state", QEMU_OPT_NUMBER, NULL, NULL },
        { "iotype", QEMU_OPT_STRING, NULL, NULL },
        { "errno", QEMU_OPT_NUMBER, NULL, NULL },
        { "sector", QEMU_OPT_STRING, NULL, NULL },  /* may be negative */
        { "once", QEMU_OPT_BOOL, NULL, NULL },
        { "immediately", QEMU_OPT_BOOL, NULL, NULL },
        { NULL, 0, NULL, NULL },
    },
};

static const QemuOptsList set_state_opts = {
    .name = "set-state",
    .desc = {
        { "event", QEMU_OPT_STRING, NULL, NULL },
        { "state", QEMU_OPT_NUMBER, NULL, NULL },
        { "new_state", QEMU_OPT_NUMBER, NULL, NULL },
        { NULL, 0, NULL, NULL },
    },
};

/* Turn one section's values into a rule. */
static bool make_rule(BDRVBlkdebugState *s, bool inject, QemuOpts *opts,
                      Error **errp)
{
    const char *event = qemu_opt_get(opts, "event");
    const char *iotype;
    BlkdebugRule *rule;
    int ev;

    if (!event) {
        error_setg(errp, "Missing event name for rule");
        return false;
    }
    ev = bdrv_debug_event_lookup(event);
    if (ev < 0) {
        error_setg(errp, "invalid parameter value: %s", event);
        return false;
    }
    rule = qemu_xmalloc0(sizeof(*rule));
    rule->event = (BlkdebugEvent)ev;
    rule->state = (int)(int64_t)qemu_opt_get_number(opts, "state", 0);
    if (inject) {
        const char *sector_str = qemu_opt_get(opts, "sector");
        int64_t sector = -1;

        if (sector_str && qemu_strtoi64(sector_str, NULL, 0, &sector) < 0) {
            error_setg(errp, "Parameter 'sector' expects a number");
            free(rule);
            return false;
        }

        rule->action = ACTION_INJECT_ERROR;
        rule->error = (int)(int64_t)qemu_opt_get_number(opts, "errno", EIO);
        rule->once = qemu_opt_get_bool(opts, "once", false);
        rule->immediately = qemu_opt_get_bool(opts, "immediately", false);
        rule->offset = -1;
        if (sector != -1) {
            /* Out-of-range sectors simply never match. */
            rule->offset = (sector > INT64_MAX / BDRV_SECTOR_SIZE ||
                            sector < INT64_MIN / BDRV_SECTOR_SIZE)
                           ? INT64_MIN : sector * (int64_t)BDRV_SECTOR_SIZE;
        }
        iotype = qemu_opt_get(opts, "iotype");
        if (iotype) {
            int i;

            for (i = 0; i < BLKDEBUG_IO__MAX; i++) {
                if (!strcmp(iotype, iotype_names[i])) {
                    break;
                }
            }
            if (i == BLKDEBUG_IO__MAX) {
                error_setg(errp, "invalid parameter value: %s", iotype);
                free(rule);
                return false;
            }
            rule->iotype_mask = 1u << i;
        } else {
            rule->iotype_mask = IOTYPE_DEFAULT_MASK;
        }
    } else {
        rule->action = ACTION_SET_STATE;
        rule->new_state = (int)(int64_t)qemu_opt_get_number(opts, "new_state", 0);
    }
    add_rule(s, rule);
    return true;
}

/* One line of the file: "[group]", "[group "id"]", key = "value", a
 * comment or nothing.  Returns false on a parse error. */
static bool parse_line(char *line, char **group, char **key, char **value)
{
    char *p = line, *end;

    *group = *key = *value = NULL;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    end = p + strlen(p);
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' ||
                       end[-1] == ' ' || end[-1] == '\t')) {
        *--end = '\0';
    }
    if (*p == '\0' || *p == '#') {
        return true;
    }
    if (*p == '[') {
        char *close = strchr(p, ']');
        char *name = p + 1;
        size_t n;

        if (!close || close[1] != '\0') {
            return false;
        }
        *close = '\0';
        n = strcspn(name, " \t");
        if (name[n]) {
            /* [group "id"]: the id is not used by blkdebug */
            name[n] = '\0';
        }
        if (!*name) {
            return false;
        }
        *group = name;
        return true;
    }
    /* key = "value" */
    *key = p;
    p += strcspn(p, " \t=");
    if (p == *key) {
        return false;
    }
    end = p;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p != '=') {
        return false;
    }
    *end = '\0';
    p++;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p != '"') {
        return false;
    }
    *value = ++p;
    end = strchr(p, '"');
    if (!end || end[1] != '\0') {
        return false;
    }
    *end = '\0';
    return true;
}

static bool flush_section(BDRVBlkdebugState *s, QemuOpts **opts, bool inject,
                          Error **errp)
{
    bool ok = true;

    if (*opts) {
        ok = make_rule(s, inject, *opts, errp);
        qemu_opts_del(*opts);
        *opts = NULL;
    }
    return ok;
}

static bool read_config(BDRVBlkdebugState *s, const char *path, Error **errp)
{
    FILE *f = fopen(path, "r");
    QemuOpts *opts = NULL;
    bool inject = false, ok = true;
    char line[1024];
    int lineno = 0;

    if (!f) {
        error_setg_errno(errp, errno, "Could not read blkdebug config file");
        return false;
    }
    while (ok && fgets(line, sizeof(line), f)) {
        char *group, *key, *value;

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            error_setg(errp, "%s:%d: line too long", path, lineno);
            ok = false;
            break;
        }
        if (!parse_line(line, &group, &key, &value)) {
            error_setg(errp, "%s:%d: parse error", path, lineno);
            ok = false;
            break;
        }
        if (group) {
            ok = flush_section(s, &opts, inject, errp);
            if (!ok) {
                break;
            }
            if (!strcmp(group, "inject-error")) {
                inject = true;
                opts = qemu_opts_create(&inject_error_opts);
            } else if (!strcmp(group, "set-state")) {
                inject = false;
                opts = qemu_opts_create(&set_state_opts);
            } else {
                error_setg(errp, "There is no option group '%s'", group);
                ok = false;
            }
        } else if (key) {
            if (!opts) {
                error_setg(errp, "%s:%d: no group defined", path, lineno);
                ok = false;
            } else {
                ok = qemu_opt_set(opts, key, value, errp);
            }
        }
    }
    if (ok && ferror(f)) {
        error_setg_errno(errp, EIO, "Could not read blkdebug config file");
        ok = false;
    }
    if (ok) {
        ok = flush_section(s, &opts, inject, errp);
    }
    qemu_opts_del(opts);
    fclose(f);
    return ok;
}

/* Rules given as options: inject-error.N.KEY=VALUE, set-state.N.KEY=VALUE
 * (N from 0 up, as QEMU's list options). */
static bool rules_from_options(BDRVBlkdebugState *s, QDict *options,
                               Error **errp)
{
    static const struct {
        const char *prefix;
        const QemuOptsList *list;
        bool inject;
    } kinds[] = {
        { "inject-error.", &inject_error_opts, true },
        { "set-state.", &set_state_opts, false },
    };

    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        for (unsigned n = 0;; n++) {
            char prefix[64];
            QDict *sub = NULL;
            QemuOpts *opts;
            const QDictEntry *e;
            bool ok = true;

            snprintf(prefix, sizeof(prefix), "%s%u", kinds[k].prefix, n);
            qdict_extract_subqdict(options, &sub, prefix);
            if (!qdict_size(sub)) {
                qdict_unref(sub);
                break;
            }
            opts = qemu_opts_create(kinds[k].list);
            for (e = qdict_first(sub); e && ok; e = qdict_next(sub, e)) {
                ok = qemu_opt_set(opts, qdict_entry_key(e),
                                  qdict_entry_value(e), errp);
            }
            if (ok) {
                ok = make_rule(s, kinds[k].inject, opts, errp);
            }
            qemu_opts_del(opts);
            qdict_unref(sub);
            if (!ok) {
                return false;
            }
        }
    }
    return true;
}

/* ---- open and close ---- */

static void blkdebug_parse_filename(const char *filename, QDict *options,
                                    Error **errp)
{
    const char *p, *c;
    char *config;

    if (strncmp(filename, "blkdebug:", 9)) {
        error_setg(errp, "File name string must start with 'blkdebug:'");
        return;
    }
    p = filename + 9;
    c = strchr(p, ':');
    if (!c) {
        error_setg(errp, "blkdebug requires both config file and image path");
        return;
    }
    if (c > p) {
        config = qemu_xstrndup(p, (size_t)(c - p));
        qdict_put_str(options, "config", config);
        free(config);
    }
    qdict_put_str(options, "x-image", c + 1);
}

static void free_rules(BDRVBlkdebugState *s)
{
    int i;

    for (i = 0; i < BLKDBG__MAX; i++) {
        while (!QLIST_EMPTY(&s->rules[i])) {
            remove_rule(s, QLIST_FIRST(&s->rules[i]));
        }
    }
    free(s->active);
    s->active = NULL;
    s->nactive = s->active_cap = 0;
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;

    free_rules(s);
}

static bool take_limit(QDict *options, const char *key, uint64_t *out,
                       Error **errp)
{
    Error *local_err = NULL;

    *out = bdrv_opt_take_size(options, key, 0, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return false;
    }
    return true;
}

static int blkdebug_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    char *config = NULL, *image = NULL;
    QDict *image_opts = NULL;
    BdrvChild *child;
    uint64_t align;
    int i, ret = -EINVAL;

    s->state = 1;
    for (i = 0; i < BLKDBG__MAX; i++) {
        QLIST_INIT(&s->rules[i]);
    }
    QLIST_INIT(&s->suspended);

    config = bdrv_opt_take_str(options, "config");
    image = bdrv_opt_take_str(options, "x-image");
    qdict_extract_subqdict(options, &image_opts, "image");
    if (qdict_haskey(options, "image")) {
        /* image=NAME: a filename (we have no node names to refer to) */
        char *name = bdrv_opt_take_str(options, "image");
        if (!image) {
            image = name;
        } else {
            free(name);
        }
    }
    if (!take_limit(options, "align", &s->align, errp) ||
        !take_limit(options, "max-transfer", &s->max_transfer, errp) ||
        !take_limit(options, "opt-write-zero", &s->opt_write_zero, errp) ||
        !take_limit(options, "max-write-zero", &s->max_write_zero, errp) ||
        !take_limit(options, "opt-discard", &s->opt_discard, errp) ||
        !take_limit(options, "max-discard", &s->max_discard, errp)) {
        goto out;
    }
    if (config && !read_config(s, config, errp)) {
        goto out;
    }
    if (!rules_from_options(s, options, errp)) {
        goto out;
    }

    child = bdrv_open_image_child(bs, image, image_opts,
                                  flags & ~BDRV_O_NO_BACKING, errp);
    image_opts = NULL;
    if (!child) {
        goto out;
    }
    bs->file = child;

    /* The limits must make sense together. */
    align = MAX(s->align, (uint64_t)child->bs->bl.request_alignment);
    if (s->align && (s->align >= INT_MAX || !is_power_of_2(s->align))) {
        error_setg(errp, "Cannot meet constraints with align %" PRIu64, s->align);
        goto out;
    }
    if (s->max_transfer &&
        (s->max_transfer >= INT_MAX || s->max_transfer % align)) {
        error_setg(errp, "Cannot meet constraints with max-transfer %" PRIu64,
                   s->max_transfer);
        goto out;
    }
    if (s->opt_write_zero &&
        (s->opt_write_zero >= INT_MAX || s->opt_write_zero % align)) {
        error_setg(errp, "Cannot meet constraints with opt-write-zero %" PRIu64,
                   s->opt_write_zero);
        goto out;
    }
    if (s->max_write_zero &&
        (s->max_write_zero >= INT_MAX ||
         s->max_write_zero % MAX(s->opt_write_zero, align))) {
        error_setg(errp, "Cannot meet constraints with max-write-zero %" PRIu64,
                   s->max_write_zero);
        goto out;
    }
    if (s->opt_discard &&
        (s->opt_discard >= INT_MAX || s->opt_discard % align)) {
        error_setg(errp, "Cannot meet constraints with opt-discard %" PRIu64,
                   s->opt_discard);
        goto out;
    }
    if (s->max_discard &&
        (s->max_discard >= INT_MAX ||
         s->max_discard % MAX(s->opt_discard, align))) {
        error_setg(errp, "Cannot meet constraints with max-discard %" PRIu64,
                   s->max_discard);
        goto out;
    }
    bs->supported_write_flags = BDRV_REQ_FUA & child->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP |
                                BDRV_REQ_NO_FALLBACK) &
                               child->bs->supported_zero_flags;
    ret = 0;
out:
    if (ret < 0) {
        free_rules(s);
    }
    qdict_unref(image_opts);
    free(config);
    free(image);
    return ret;
}

static void blkdebug_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlockDriverState *child = bs->file ? bs->file->bs : NULL;

    if (!child) {
        return;     /* before open */
    }
    bs->bl = child->bl;
    if (s->align) {
        bs->bl.request_alignment = (uint32_t)s->align;
    }
    if (s->max_transfer) {
        bs->bl.max_transfer = (int64_t)s->max_transfer;
    }
    if (s->opt_write_zero) {
        bs->bl.pwrite_zeroes_alignment = (uint32_t)s->opt_write_zero;
    }
    if (s->max_write_zero) {
        bs->bl.max_pwrite_zeroes = (int64_t)s->max_write_zero;
    }
    if (s->opt_discard) {
        bs->bl.pdiscard_alignment = (uint32_t)s->opt_discard;
    }
    if (s->max_discard) {
        bs->bl.max_pdiscard = (int64_t)s->max_discard;
    }
}

/* ---- requests ---- */

/* The error the active rules inject into a request of @type over
 * [offset, offset + bytes), or 0. */
static int coroutine_fn rule_check(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, BlkdebugIOType type)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule = NULL;
    size_t i;
    bool immediately;
    int error;

    for (i = s->nactive; i-- > 0;) {
        BlkdebugRule *r = s->active[i];

        if (!(r->iotype_mask & (1u << type))) {
            continue;
        }
        if (r->offset == -1 ||
            (bytes > 0 && r->offset >= offset && r->offset - offset < bytes)) {
            rule = r;
            break;
        }
    }
    if (!rule || !rule->error) {
        return 0;
    }
    error = rule->error;
    immediately = rule->immediately;
    if (rule->once) {
        remove_rule(s, rule);
    }
    if (!immediately) {
        /* Fail from a later turn of the loop, as a real request would. */
        aio_co_schedule(bdrv_get_aio_context(bs), qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return error > 0 ? -error : error;
}

static int coroutine_fn blkdebug_preadv(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_READ);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn blkdebug_pwritev(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes, QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_WRITE);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn blkdebug_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_WRITE_ZEROES);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn blkdebug_pdiscard(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_DISCARD);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

/* The core flushes the child after this. */
static int coroutine_fn blkdebug_flush(BlockDriverState *bs)
{
    return rule_check(bs, 0, 0, BLKDEBUG_IO_FLUSH);
}

static int coroutine_fn blkdebug_block_status(BlockDriverState *bs,
                                              bool want_zero, int64_t offset,
                                              int64_t bytes, int64_t *pnum,
                                              int64_t *map,
                                              BlockDriverState **file)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_BLOCK_STATUS);

    if (ret < 0) {
        return ret;
    }
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn blkdebug_truncate(BlockDriverState *bs, int64_t offset,
                                          bool exact, PreallocMode prealloc,
                                          BdrvRequestFlags flags, Error **errp)
{
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

/* ---- events and breakpoints ---- */

static void blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent ev)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule, *next;
    SuspendedReq *reqs[16];
    int nreqs = 0, new_state = s->state, i;
    bool injected = false;

    if ((unsigned)ev >= BLKDBG__MAX) {
        return;
    }
    QLIST_FOREACH_SAFE(rule, &s->rules[ev], next, next) {
        if (rule->state && rule->state != s->state) {
            continue;
        }
        switch (rule->action) {
        case ACTION_INJECT_ERROR:
            if (!injected) {
                s->nactive = 0;
                injected = true;
            }
            active_add(s, rule);
            break;
        case ACTION_SET_STATE:
            new_state = rule->new_state;
            break;
        case ACTION_SUSPEND:
            if (!qemu_in_coroutine() || nreqs == (int)ARRAY_SIZE(reqs)) {
                break;
            }
            reqs[nreqs] = qemu_xmalloc0(sizeof(SuspendedReq));
            reqs[nreqs]->co = qemu_coroutine_self();
            reqs[nreqs]->tag = rule->tag;
            rule->tag = NULL;
            remove_rule(s, rule);
            nreqs++;
            break;
        }
    }
    s->state = new_state;

    for (i = 0; i < nreqs; i++) {
        SuspendedReq *r = reqs[i];

        QLIST_INSERT_HEAD(&s->suspended, r, next);
        printf("blkdebug: Suspended request '%s'\n", r->tag);
        qemu_coroutine_yield();
        printf("blkdebug: Resuming request '%s'\n", r->tag);
        QLIST_REMOVE(r, next);
        free(r->tag);
        free(r);
    }
}

static int blkdebug_debug_breakpoint(BlockDriverState *bs, const char *event,
                                     const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule;
    int ev = bdrv_debug_event_lookup(event);

    if (ev < 0) {
        return -ENOENT;
    }
    rule = qemu_xmalloc0(sizeof(*rule));
    rule->event = (BlkdebugEvent)ev;
    rule->action = ACTION_SUSPEND;
    rule->state = 0;
    rule->tag = qemu_xstrdup(tag);
    add_rule(s, rule);
    return 0;
}

/* Resume the requests suspended under @tag (all, or the first). */
static int resume_by_tag(BDRVBlkdebugState *s, const char *tag, bool all)
{
    SuspendedReq *r;
    int ret = -ENOENT;

again:
    QLIST_FOREACH(r, &s->suspended, next) {
        if (!strcmp(r->tag, tag)) {
            /* The request frees @r when it runs on. */
            qemu_coroutine_enter(r->co, NULL);
            ret = 0;
            if (all) {
                goto again;
            }
            break;
        }
    }
    return ret;
}

static int blkdebug_debug_remove_breakpoint(BlockDriverState *bs,
                                            const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule, *next;
    int ret = -ENOENT, i;

    for (i = 0; i < BLKDBG__MAX; i++) {
        QLIST_FOREACH_SAFE(rule, &s->rules[i], next, next) {
            if (rule->action == ACTION_SUSPEND && !strcmp(rule->tag, tag)) {
                remove_rule(s, rule);
                ret = 0;
            }
        }
    }
    /* Requests suspended under the tag go on; that alone does not count
     * as removing a breakpoint (QEMU's answer). */
    resume_by_tag(s, tag, true);
    return ret;
}

static int blkdebug_debug_resume(BlockDriverState *bs, const char *tag)
{
    return resume_by_tag(bs->opaque, tag, false);
}

static bool blkdebug_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    SuspendedReq *r;

    QLIST_FOREACH(r, &s->suspended, next) {
        if (!strcmp(r->tag, tag)) {
            return true;
        }
    }
    return false;
}

static const char *const blkdebug_strong_opts[] = {
    "config", "x-image", "align", "max-transfer", "opt-write-zero",
    "max-write-zero", "opt-discard", "max-discard", NULL
};

const BlockDriver bdrv_blkdebug = {
    .struct_size = sizeof(BlockDriver),
    .api_version = BLOCK_DRIVER_API_VERSION,
    .format_name = "blkdebug",
    .protocol_name = "blkdebug",
    .instance_size = sizeof(BDRVBlkdebugState),
    .is_filter = true,
    .opens_children = true,
    .parse_filename = blkdebug_parse_filename,
    .open = blkdebug_open,
    .close = blkdebug_close,
    .refresh_limits = blkdebug_refresh_limits,
    .preadv = blkdebug_preadv,
    .pwritev = blkdebug_pwritev,
    .pwrite_zeroes = blkdebug_pwrite_zeroes,
    .pdiscard = blkdebug_pdiscard,
    .flush = blkdebug_flush,
    .block_status = blkdebug_block_status,
    .truncate = blkdebug_truncate,
    .getlength = blkdebug_getlength,
    .debug_event = blkdebug_debug_event,
    .debug_breakpoint = blkdebug_debug_breakpoint,
    .debug_remove_breakpoint = blkdebug_debug_remove_breakpoint,
    .debug_resume = blkdebug_debug_resume,
    .debug_is_suspended = blkdebug_debug_is_suspended,
    .growable = true,           /* as far as the image's file is */
    .has_variable_length = true,
    .strong_runtime_opts = blkdebug_strong_opts,
};
