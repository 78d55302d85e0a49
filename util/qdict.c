/*
 * coblock — option dictionaries: storage, key=value and JSON parsing
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Option sets are small (tens of entries), so a QDict is an array kept in
 * insertion order and searched linearly.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include <coblock/qdict.h>

#include <ctype.h>

struct QDictEntry {
    char *key;
    char *value;
    QType type;
};

struct QDict {
    int refcnt;
    QDictEntry *entries;
    size_t n, alloc;
};

QDict *qdict_new(void)
{
    QDict *d = qemu_xmalloc0(sizeof(*d));
    d->refcnt = 1;
    return d;
}

QDict *qdict_ref(QDict *d)
{
    if (d) {
        d->refcnt++;
    }
    return d;
}

void qdict_unref(QDict *d)
{
    size_t i;

    if (!d || --d->refcnt > 0) {
        return;
    }
    for (i = 0; i < d->n; i++) {
        free(d->entries[i].key);
        free(d->entries[i].value);
    }
    free(d->entries);
    free(d);
}

static QDictEntry *find(const QDict *d, const char *key)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        if (!strcmp(d->entries[i].key, key)) {
            return &d->entries[i];
        }
    }
    return NULL;
}

void qdict_put_typed(QDict *d, const char *key, QType type, const char *value)
{
    QDictEntry *e = find(d, key);

    if (e) {
        free(e->value);
    } else {
        if (d->n == d->alloc) {
            d->alloc = d->alloc ? d->alloc * 2 : 8;
            d->entries = qemu_xrealloc(d->entries, d->alloc * sizeof(*d->entries));
        }
        e = &d->entries[d->n++];
        e->key = qemu_xstrdup(key);
    }
    e->value = qemu_xstrdup(value ? value : "");
    e->type = type;
}

void qdict_put_str(QDict *d, const char *key, const char *value)
{
    qdict_put_typed(d, key, QTYPE_QSTRING, value);
}

void qdict_put_int(QDict *d, const char *key, int64_t value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, value);
    qdict_put_typed(d, key, QTYPE_QNUM, buf);
}

void qdict_put_bool(QDict *d, const char *key, bool value)
{
    qdict_put_typed(d, key, QTYPE_QBOOL, value ? "true" : "false");
}

void qdict_put_null(QDict *d, const char *key)
{
    qdict_put_typed(d, key, QTYPE_QNULL, "");
}

QDict *qdict_clone(const QDict *d)
{
    QDict *c = qdict_new();
    size_t i;

    for (i = 0; i < d->n; i++) {
        qdict_put_typed(c, d->entries[i].key, d->entries[i].type,
                        d->entries[i].value);
    }
    return c;
}

bool qdict_haskey(const QDict *d, const char *key)
{
    return find(d, key) != NULL;
}

const char *qdict_get_try_str(const QDict *d, const char *key)
{
    const QDictEntry *e = d ? find(d, key) : NULL;
    return e ? e->value : NULL;
}

QType qdict_get_type(const QDict *d, const char *key)
{
    const QDictEntry *e = find(d, key);
    return e ? e->type : QTYPE_QNULL;
}

void qdict_del(QDict *d, const char *key)
{
    QDictEntry *e = find(d, key);

    if (e) {
        size_t idx = (size_t)(e - d->entries);
        free(e->key);
        free(e->value);
        memmove(e, e + 1, (d->n - idx - 1) * sizeof(*e));
        d->n--;
    }
}

size_t qdict_size(const QDict *d)
{
    return d->n;
}

const QDictEntry *qdict_first(const QDict *d)
{
    return d->n ? &d->entries[0] : NULL;
}

const QDictEntry *qdict_next(const QDict *d, const QDictEntry *e)
{
    size_t idx = (size_t)(e - d->entries) + 1;
    return idx < d->n ? &d->entries[idx] : NULL;
}

const char *qdict_entry_key(const QDictEntry *e)
{
    return e->key;
}

const char *qdict_entry_value(const QDictEntry *e)
{
    return e->value;
}

QType qdict_entry_type(const QDictEntry *e)
{
    return e->type;
}

void qdict_extract_subqdict(QDict *src, QDict **dst, const char *prefix)
{
    size_t plen = strlen(prefix);
    size_t i = 0;

    *dst = qdict_new();
    while (i < src->n) {
        QDictEntry *e = &src->entries[i];
        if (!strncmp(e->key, prefix, plen) && e->key[plen] == '.') {
            qdict_put_typed(*dst, e->key + plen + 1, e->type, e->value);
            qdict_del(src, e->key);
        } else {
            i++;
        }
    }
}

void qdict_join(QDict *dst, const QDict *src, bool overwrite)
{
    size_t i;

    for (i = 0; i < src->n; i++) {
        if (overwrite || !find(dst, src->entries[i].key)) {
            qdict_put_typed(dst, src->entries[i].key, src->entries[i].type,
                            src->entries[i].value);
        }
    }
}

/* ---- key=value,key=value ---- */

/* Read up to an unescaped @stop character (or '\0'), turning ",," into ",";
 * returns the text and advances *p past it (not past the stop char). */
static char *read_token(const char **p, char stop)
{
    size_t cap = 16, len = 0;
    char *buf = qemu_xmalloc(cap);
    const char *s = *p;

    while (*s) {
        if (*s == ',') {
            if (s[1] == ',') {
                s++;
            } else {
                break;
            }
        } else if (*s == stop) {
            break;
        }
        if (len + 2 > cap) {
            cap *= 2;
            buf = qemu_xrealloc(buf, cap);
        }
        buf[len++] = *s++;
    }
    buf[len] = '\0';
    *p = s;
    return buf;
}

QDict *qdict_parse_keyval(const char *str, const char *implied_key,
                          Error **errp)
{
    QDict *d = qdict_new();
    const char *p = str;
    bool first = true;

    while (*p) {
        char *key = read_token(&p, '=');

        if (*p == '=') {
            char *value;
            p++;
            value = read_token(&p, '\0');
            if (!*key) {
                error_setg(errp, "Invalid parameter ''");
                free(key);
                free(value);
                qdict_unref(d);
                return NULL;
            }
            qdict_put_str(d, key, value);
            free(value);
        } else if (first && implied_key) {
            qdict_put_str(d, implied_key, key);
        } else if (*key) {
            /* "flag" alone means "flag=on" */
            qdict_put_str(d, key, "on");
        }
        free(key);
        first = false;
        if (*p == ',') {
            p++;
        }
    }
    return d;
}

/* ---- JSON ---- */

typedef struct JsonParser {
    const char *p;
    Error **errp;
    bool failed;
    QDict *out;
} JsonParser;

static void json_error(JsonParser *jp, const char *what)
{
    if (!jp->failed) {
        error_setg(jp->errp, "JSON parse error, %s", what);
        jp->failed = true;
    }
}

static void json_ws(JsonParser *jp)
{
    while (isspace((unsigned char)*jp->p)) {
        jp->p++;
    }
}

static void put_utf8(char **buf, size_t *len, size_t *cap, unsigned cp)
{
    char tmp[4];
    size_t n, i;

    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xc0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xe0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        tmp[0] = (char)(0xf0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    for (i = 0; i < n; i++) {
        if (*len + 2 > *cap) {
            *cap *= 2;
            *buf = qemu_xrealloc(*buf, *cap);
        }
        (*buf)[(*len)++] = tmp[i];
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static char *json_string(JsonParser *jp)
{
    size_t cap = 32, len = 0;
    char *buf;

    if (*jp->p != '"') {
        json_error(jp, "expecting string");
        return NULL;
    }
    jp->p++;
    buf = qemu_xmalloc(cap);
    while (*jp->p && *jp->p != '"') {
        unsigned cp = (unsigned char)*jp->p++;
        if (cp == '\\') {
            char c = *jp->p++;
            switch (c) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                int i, h;
                cp = 0;
                for (i = 0; i < 4; i++) {
                    h = hexval(jp->p[i]);
                    if (h < 0) {
                        json_error(jp, "invalid escape sequence in string");
                        free(buf);
                        return NULL;
                    }
                    cp = cp * 16 + (unsigned)h;
                }
                jp->p += 4;
                if (cp == 0) {
                    json_error(jp, "NUL character in string");
                    free(buf);
                    return NULL;
                }
                put_utf8(&buf, &len, &cap, cp);
                continue;
            }
            default:
                json_error(jp, "invalid escape sequence in string");
                free(buf);
                return NULL;
            }
        }
        if (len + 2 > cap) {
            cap *= 2;
            buf = qemu_xrealloc(buf, cap);
        }
        buf[len++] = (char)cp;
    }
    if (*jp->p != '"') {
        json_error(jp, "missing closing quote");
        free(buf);
        return NULL;
    }
    jp->p++;
    buf[len] = '\0';
    return buf;
}

static void json_value(JsonParser *jp, const char *key, int depth);

static void json_object(JsonParser *jp, const char *prefix, int depth)
{
    jp->p++;    /* '{' */
    json_ws(jp);
    if (*jp->p == '}') {
        jp->p++;
        return;
    }
    for (;;) {
        char *k, *full;

        json_ws(jp);
        k = json_string(jp);
        if (!k) {
            return;
        }
        full = prefix ? qemu_xasprintf("%s.%s", prefix, k) : qemu_xstrdup(k);
        free(k);
        json_ws(jp);
        if (*jp->p != ':') {
            json_error(jp, "expecting ':'");
            free(full);
            return;
        }
        jp->p++;
        json_value(jp, full, depth + 1);
        free(full);
        if (jp->failed) {
            return;
        }
        json_ws(jp);
        if (*jp->p == ',') {
            jp->p++;
            continue;
        }
        if (*jp->p == '}') {
            jp->p++;
            return;
        }
        json_error(jp, "expecting ',' or '}'");
        return;
    }
}

static void json_array(JsonParser *jp, const char *prefix, int depth)
{
    int index = 0;

    jp->p++;    /* '[' */
    json_ws(jp);
    if (*jp->p == ']') {
        jp->p++;
        return;
    }
    for (;;) {
        char *full = qemu_xasprintf("%s.%d", prefix, index++);
        json_value(jp, full, depth + 1);
        free(full);
        if (jp->failed) {
            return;
        }
        json_ws(jp);
        if (*jp->p == ',') {
            jp->p++;
            continue;
        }
        if (*jp->p == ']') {
            jp->p++;
            return;
        }
        json_error(jp, "expecting ',' or ']'");
        return;
    }
}

static void json_value(JsonParser *jp, const char *key, int depth)
{
    json_ws(jp);
    if (depth > 64) {
        json_error(jp, "nesting too deep");
        return;
    }
    switch (*jp->p) {
    case '{':
        json_object(jp, key, depth);
        return;
    case '[':
        if (!key) {
            json_error(jp, "expecting an object");
            return;
        }
        json_array(jp, key, depth);
        return;
    case '"': {
        char *s = json_string(jp);
        if (s) {
            qdict_put_str(jp->out, key, s);
            free(s);
        }
        return;
    }
    case 't':
        if (!strncmp(jp->p, "true", 4)) {
            jp->p += 4;
            qdict_put_bool(jp->out, key, true);
            return;
        }
        break;
    case 'f':
        if (!strncmp(jp->p, "false", 5)) {
            jp->p += 5;
            qdict_put_bool(jp->out, key, false);
            return;
        }
        break;
    case 'n':
        if (!strncmp(jp->p, "null", 4)) {
            jp->p += 4;
            qdict_put_null(jp->out, key);
            return;
        }
        break;
    default:
        if (*jp->p == '-' || isdigit((unsigned char)*jp->p)) {
            const char *start = jp->p;
            char *num;
            if (*jp->p == '-') {
                jp->p++;
            }
            while (isdigit((unsigned char)*jp->p) || *jp->p == '.' ||
                   *jp->p == 'e' || *jp->p == 'E' || *jp->p == '+' ||
                   *jp->p == '-') {
                jp->p++;
            }
            num = qemu_xstrndup(start, (size_t)(jp->p - start));
            qdict_put_typed(jp->out, key, QTYPE_QNUM, num);
            free(num);
            return;
        }
        break;
    }
    json_error(jp, "invalid token");
}

QDict *qdict_parse_json(const char *json, Error **errp)
{
    JsonParser jp = { .p = json, .errp = errp, .out = qdict_new() };

    json_ws(&jp);
    if (*jp.p != '{') {
        error_setg(errp, "Could not parse JSON: expecting an object");
        qdict_unref(jp.out);
        return NULL;
    }
    json_value(&jp, NULL, 0);
    if (!jp.failed) {
        json_ws(&jp);
        if (*jp.p) {
            json_error(&jp, "trailing characters after the object");
        }
    }
    if (jp.failed) {
        qdict_unref(jp.out);
        return NULL;
    }
    return jp.out;
}

/* ---- back to nested JSON ---- */

typedef struct StrBuf {
    char *s;
    size_t len, cap;
} StrBuf;

static void sb_add(StrBuf *sb, const char *text, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = MAX(sb->cap * 2, sb->len + n + 1);
        sb->s = qemu_xrealloc(sb->s, sb->cap);
    }
    memcpy(sb->s + sb->len, text, n);
    sb->len += n;
    sb->s[sb->len] = '\0';
}

static void sb_puts(StrBuf *sb, const char *text)
{
    sb_add(sb, text, strlen(text));
}

static void sb_json_string(StrBuf *sb, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;

    sb_puts(sb, "\"");
    for (; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_puts(sb, "\\\""); break;
        case '\\': sb_puts(sb, "\\\\"); break;
        case '\b': sb_puts(sb, "\\b"); break;
        case '\f': sb_puts(sb, "\\f"); break;
        case '\n': sb_puts(sb, "\\n"); break;
        case '\r': sb_puts(sb, "\\r"); break;
        case '\t': sb_puts(sb, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                sb_puts(sb, esc);
            } else {
                sb_add(sb, (const char *)p, 1);
            }
        }
    }
    sb_puts(sb, "\"");
}

/*
 * Members are written in the order QEMU's own dictionaries iterate, so
 * that json: filenames read exactly as QEMU prints them: by a hash of the
 * key modulo 512 (the TDB string hash), and within one bucket the key set
 * last first.
 */
static unsigned json_key_bucket(const char *key, size_t len)
{
    uint32_t v = (uint32_t)(0x238F13AFu * len);
    size_t i;

    for (i = 0; i < len; i++) {
        v += (uint32_t)(unsigned char)key[i] << (i * 5 % 24);
    }
    return (1103515243u * v + 12345u) % 512;
}

typedef struct JsonMember {
    const char *name;       /* not terminated: @len bytes */
    size_t len;
    size_t first;           /* index of its first key */
    unsigned bucket;
} JsonMember;

static int member_cmp(const void *a, const void *b)
{
    const JsonMember *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* Same bucket: the later one first. */
    return x->first > y->first ? -1 : (x->first < y->first ? 1 : 0);
}

/* Emit the members of the object whose keys start with @prefix (length
 * @plen, including the trailing dot, or 0 for the top level). */
static void emit_object(StrBuf *sb, const QDict *d, const char *prefix, size_t plen)
{
    JsonMember *members = qemu_xmalloc0(sizeof(*members) * (d->n + 1));
    size_t n = 0, i, j;

    for (i = 0; i < d->n; i++) {
        const char *key = d->entries[i].key;
        const char *rest, *dot;
        size_t namelen;

        if (plen && strncmp(key, prefix, plen)) {
            continue;
        }
        rest = key + plen;
        dot = strchr(rest, '.');
        namelen = dot ? (size_t)(dot - rest) : strlen(rest);
        for (j = 0; j < n; j++) {
            if (members[j].len == namelen && !strncmp(members[j].name, rest, namelen)) {
                break;
            }
        }
        if (j == n) {
            members[n].name = rest;
            members[n].len = namelen;
            members[n].first = i;
            members[n].bucket = json_key_bucket(rest, namelen);
            n++;
        }
    }
    qsort(members, n, sizeof(*members), member_cmp);

    sb_puts(sb, "{");
    for (j = 0; j < n; j++) {
        const QDictEntry *e = &d->entries[members[j].first];
        char *name = qemu_xstrndup(members[j].name, members[j].len);
        const char *rest = e->key + plen;

        if (j) {
            sb_puts(sb, ", ");
        }
        sb_json_string(sb, name);
        sb_puts(sb, ": ");
        if (rest[members[j].len] == '.') {
            char *sub = qemu_xasprintf("%.*s%s.", (int)plen, prefix, name);
            emit_object(sb, d, sub, strlen(sub));
            free(sub);
        } else {
            switch (e->type) {
            case QTYPE_QSTRING:
                sb_json_string(sb, e->value);
                break;
            case QTYPE_QNULL:
                sb_puts(sb, "null");
                break;
            default:
                sb_puts(sb, e->value);
            }
        }
        free(name);
    }
    sb_puts(sb, "}");
    free(members);
}

char *qdict_to_json(const QDict *d)
{
    StrBuf sb = { 0 };

    emit_object(&sb, d, "", 0);
    return sb.s;
}

/* ---- typed getters ---- */

bool qdict_get_bool_opt(const QDict *d, const char *key, bool def, Error **errp)
{
    const char *v = qdict_get_try_str(d, key);
    bool b;

    if (!v) {
        return def;
    }
    if (!qemu_parse_bool(v, &b)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return def;
    }
    return b;
}

int64_t qdict_get_int_opt(const QDict *d, const char *key, int64_t def, Error **errp)
{
    const char *v = qdict_get_try_str(d, key);
    int64_t n;

    if (!v) {
        return def;
    }
    if (qemu_strtoi64(v, NULL, 0, &n) < 0) {
        error_setg(errp, "Parameter '%s' expects a number", key);
        return def;
    }
    return n;
}

uint64_t qdict_get_size_opt(const QDict *d, const char *key, uint64_t def, Error **errp)
{
    const char *v = qdict_get_try_str(d, key);
    uint64_t n;

    if (!v) {
        return def;
    }
    if (qemu_strtosz(v, NULL, &n) < 0) {
        error_setg(errp, "Parameter '%s' expects a non-negative number below 2^64",
                   key);
        return def;
    }
    return n;
}
