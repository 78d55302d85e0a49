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
#include "util/qdict-json.h"
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

/* ---- JSON ----
 *
 * Two passes: a lexer cuts the text into tokens, then a recursive
 * descent parser builds the flat QDict.  Errors are worded as QEMU's
 * json: parser words them, so that the tools print the same messages:
 *   lexer     "stray 'TEXT'" (TEXT: the token read so far, with the
 *             character that cannot continue it);
 *   parser    "premature EOI", "expecting value", "invalid keyword 'x'",
 *             "key is not a string in object", "missing : in object pair",
 *             "expected separator in dict" / "in list", "duplicate key",
 *             and string escapes;
 * all after "JSON parse error, "; and "Expecting a JSON value" (nothing
 * there), "Expecting at most one JSON value" (something after the first
 * value).  Single-quoted strings are accepted, as QEMU accepts them.
 */

typedef enum {
    JT_LBRACE, JT_RBRACE, JT_LBRACKET, JT_RBRACKET, JT_COLON, JT_COMMA,
    JT_STRING, JT_NUMBER, JT_KEYWORD,
} JsonTokenType;

typedef struct JsonToken {
    JsonTokenType type;
    const char *text;
    size_t len;
} JsonToken;

typedef struct JsonParser {
    JsonToken *tok;
    size_t ntok, pos, end;      /* the parser reads tok[pos, end) */
    Error **errp;
    bool failed;
    bool more;                  /* something follows the first value */
    QDict *out;
} JsonParser;

/* Brackets open at once, as in QEMU. */
#define JSON_MAX_DEPTH 1024

static void json_error(JsonParser *jp, const char *fmt, ...)
    QEMU_PRINTF(2, 3);

static void json_error(JsonParser *jp, const char *fmt, ...)
{
    va_list ap;
    char *what;

    if (jp->failed) {
        return;
    }
    va_start(ap, fmt);
    what = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    error_setg(jp->errp, "JSON parse error, %s", what);
    free(what);
    jp->failed = true;
}

static bool json_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of the number at @p, or 0 and *bad the length of the stray
 * text (the characters read, including the one that does not fit). */
static size_t json_lex_number(const char *p, size_t *bad)
{
    size_t i = 0;

    *bad = 0;
    if (p[i] == '-') {
        i++;
    }
    if (p[i] == '0') {
        i++;
        if (isdigit((unsigned char)p[i])) {
            *bad = i + 1;
            return 0;
        }
    } else if (isdigit((unsigned char)p[i])) {
        while (isdigit((unsigned char)p[i])) {
            i++;
        }
    } else {
        *bad = p[i] ? i + 1 : i;
        return 0;
    }
    if (p[i] == '.') {
        i++;
        if (!isdigit((unsigned char)p[i])) {
            *bad = p[i] ? i + 1 : i;
            return 0;
        }
        while (isdigit((unsigned char)p[i])) {
            i++;
        }
    }
    if (p[i] == 'e' || p[i] == 'E') {
        i++;
        if (p[i] == '+' || p[i] == '-') {
            i++;
        }
        if (!isdigit((unsigned char)p[i])) {
            *bad = p[i] ? i + 1 : i;
            return 0;
        }
        while (isdigit((unsigned char)p[i])) {
            i++;
        }
    }
    return i;
}

/* Cut @json into jp->tok, up to the end of the first complete top-level
 * value (jp->more tells whether anything follows it).  Returns false
 * with the error set for text that is no token. */
static bool json_lex(JsonParser *jp, const char *json)
{
    const char *p = json;
    size_t cap = 16;
    int depth = 0;
    bool first_done = false;

    jp->tok = qemu_new(JsonToken, cap);
    jp->ntok = 0;
    jp->end = 0;
    for (;;) {
        JsonToken t;
        size_t bad = 0;

        while (json_is_ws(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        if (first_done) {
            jp->more = true;
            break;
        }
        t.text = p;
        switch (*p) {
        case '{': t.type = JT_LBRACE; t.len = 1; break;
        case '}': t.type = JT_RBRACE; t.len = 1; break;
        case '[': t.type = JT_LBRACKET; t.len = 1; break;
        case ']': t.type = JT_RBRACKET; t.len = 1; break;
        case ':': t.type = JT_COLON; t.len = 1; break;
        case ',': t.type = JT_COMMA; t.len = 1; break;
        case '"':
        case '\'': {
            size_t i = 1;

            while (p[i] && p[i] != p[0]) {
                i += (p[i] == '\\' && p[i + 1]) ? 2 : 1;
            }
            if (!p[i]) {
                bad = i;
            } else {
                t.type = JT_STRING;
                t.len = i + 1;
            }
            break;
        }
        default:
            if (*p == '-' || isdigit((unsigned char)*p)) {
                t.type = JT_NUMBER;
                t.len = json_lex_number(p, &bad);
            } else if (*p >= 'a' && *p <= 'z') {
                t.type = JT_KEYWORD;
                t.len = 0;
                while (p[t.len] >= 'a' && p[t.len] <= 'z') {
                    t.len++;
                }
            } else {
                bad = 1;
            }
            break;
        }
        if (bad) {
            error_setg(jp->errp, "JSON parse error, stray '%.*s'", (int)bad, p);
            jp->failed = true;
            return false;
        }
        if (jp->ntok == cap) {
            cap *= 2;
            jp->tok = qemu_xrealloc(jp->tok, cap * sizeof(JsonToken));
        }
        jp->tok[jp->ntok++] = t;
        p += t.len;
        if (t.type == JT_LBRACE || t.type == JT_LBRACKET) {
            if (++depth > JSON_MAX_DEPTH) {
                error_setg(jp->errp, "JSON nesting depth limit exceeded");
                jp->failed = true;
                return false;
            }
        } else if (t.type == JT_RBRACE || t.type == JT_RBRACKET) {
            depth--;
        }
        if (depth <= 0) {
            first_done = true;
            jp->end = jp->ntok;
        }
    }
    if (!first_done) {
        jp->end = jp->ntok;
    }
    return true;
}

/* Decode a string token (quotes included); NULL and an error for a bad
 * escape.  \u0000 becomes the two-byte form C0 80, as in QEMU. */
static char *json_string(JsonParser *jp, const JsonToken *t)
{
    const char *p = t->text + 1, *stop = t->text + t->len - 1;
    char *buf = qemu_xmalloc(t->len + 1), *o = buf;

    while (p < stop) {
        unsigned cp;

        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case '"': case '\'': case '\\': case '/':
            *o++ = *p++;
            continue;
        case 'b': *o++ = '\b'; p++; continue;
        case 'f': *o++ = '\f'; p++; continue;
        case 'n': *o++ = '\n'; p++; continue;
        case 'r': *o++ = '\r'; p++; continue;
        case 't': *o++ = '\t'; p++; continue;
        case 'u':
            break;
        default:
            json_error(jp, "invalid escape sequence in string");
            free(buf);
            return NULL;
        }
        /* \uXXXX, perhaps a surrogate pair */
        {
            const char *esc = p - 1;
            int i;

            cp = 0;
            for (i = 1; i <= 4; i++) {
                int h = p + i < stop ? qemu_hexval(p[i]) : -1;
                if (h < 0) {
                    json_error(jp, "invalid escape sequence in string");
                    free(buf);
                    return NULL;
                }
                cp = cp * 16 + (unsigned)h;
            }
            p += 5;
            if (cp >= 0xd800 && cp <= 0xdbff && p + 6 <= stop &&
                p[0] == '\\' && p[1] == 'u') {
                unsigned lo = 0;
                bool ok = true;

                for (i = 2; i < 6; i++) {
                    int h = qemu_hexval(p[i]);
                    ok = ok && h >= 0;
                    lo = lo * 16 + (unsigned)(h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff) {
                json_error(jp, "%.6s is not a valid Unicode character", esc);
                free(buf);
                return NULL;
            }
        }
        if (cp == 0) {
            *o++ = (char)0xc0;
            *o++ = (char)0x80;
        } else if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *o = '\0';
    return buf;
}

/* The next token, or NULL (and "premature EOI") at the end. */
static const JsonToken *json_next(JsonParser *jp)
{
    if (jp->pos >= jp->end) {
        json_error(jp, "premature EOI");
        return NULL;
    }
    return &jp->tok[jp->pos++];
}

static void json_value(JsonParser *jp, const char *key, int depth,
                       bool *is_object);

static void json_object(JsonParser *jp, const char *prefix, int depth)
{
    const JsonToken *t;
    char **seen = NULL;
    size_t nseen = 0, i;

    if (jp->pos < jp->end && jp->tok[jp->pos].type == JT_RBRACE) {
        jp->pos++;
        return;
    }
    for (;;) {
        char *k, *full;

        t = json_next(jp);
        if (!t) {
            break;
        }
        if (t->type == JT_KEYWORD && !(t->len == 4 && !strncmp(t->text, "true", 4)) &&
            !(t->len == 5 && !strncmp(t->text, "false", 5)) &&
            !(t->len == 4 && !strncmp(t->text, "null", 4))) {
            json_error(jp, "invalid keyword '%.*s'", (int)t->len, t->text);
            break;
        }
        if (t->type != JT_STRING && t->type != JT_NUMBER &&
            t->type != JT_KEYWORD && t->type != JT_LBRACE &&
            t->type != JT_LBRACKET) {
            json_error(jp, "expecting value");
            break;
        }
        if (t->type != JT_STRING) {
            json_error(jp, "key is not a string in object");
            break;
        }
        k = json_string(jp, t);
        if (!k) {
            break;
        }
        for (i = 0; i < nseen && strcmp(seen[i], k); i++) {
        }
        if (i < nseen) {
            json_error(jp, "duplicate key");
            free(k);
            break;
        }
        seen = qemu_xrealloc(seen, (nseen + 1) * sizeof(*seen));
        seen[nseen++] = k;
        t = json_next(jp);
        if (!t) {
            break;
        }
        if (t->type != JT_COLON) {
            json_error(jp, "missing : in object pair");
            break;
        }
        full = prefix ? qemu_xasprintf("%s.%s", prefix, k) : qemu_xstrdup(k);
        json_value(jp, full, depth + 1, NULL);
        free(full);
        if (jp->failed) {
            break;
        }
        t = json_next(jp);
        if (!t) {
            break;
        }
        if (t->type == JT_RBRACE) {
            break;
        }
        if (t->type != JT_COMMA) {
            json_error(jp, "expected separator in dict");
            break;
        }
    }
    for (i = 0; i < nseen; i++) {
        free(seen[i]);
    }
    free(seen);
}

static void json_array(JsonParser *jp, const char *prefix, int depth)
{
    const JsonToken *t;
    int index = 0;

    if (jp->pos < jp->end && jp->tok[jp->pos].type == JT_RBRACKET) {
        jp->pos++;
        return;
    }
    for (;;) {
        char *full = prefix ? qemu_xasprintf("%s.%d", prefix, index)
                            : qemu_xasprintf("%d", index);

        index++;
        json_value(jp, full, depth + 1, NULL);
        free(full);
        if (jp->failed) {
            return;
        }
        t = json_next(jp);
        if (!t || t->type == JT_RBRACKET) {
            return;
        }
        if (t->type != JT_COMMA) {
            json_error(jp, "expected separator in list");
            return;
        }
    }
}

/* One value, stored under @key (the top-level value has none: only an
 * object's members are kept; *is_object says whether it was one). */
static void json_value(JsonParser *jp, const char *key, int depth,
                       bool *is_object)
{
    const JsonToken *t = json_next(jp);
    char *s;

    if (!t) {
        return;
    }
    if (depth > JSON_MAX_DEPTH) {
        /* The lexer bounds the nesting; this bounds the recursion. */
        json_error(jp, "nesting too deep");
        return;
    }
    if (is_object) {
        *is_object = t->type == JT_LBRACE;
    }
    switch (t->type) {
    case JT_LBRACE:
        json_object(jp, key, depth);
        return;
    case JT_LBRACKET:
        json_array(jp, key, depth);
        return;
    case JT_STRING:
        s = json_string(jp, t);
        if (s && key) {
            qdict_put_str(jp->out, key, s);
        }
        free(s);
        return;
    case JT_NUMBER:
        if (key) {
            s = qemu_xstrndup(t->text, t->len);
            qdict_put_typed(jp->out, key, QTYPE_QNUM, s);
            free(s);
        }
        return;
    case JT_KEYWORD:
        if (t->len == 4 && !strncmp(t->text, "true", 4)) {
            if (key) {
                qdict_put_bool(jp->out, key, true);
            }
        } else if (t->len == 5 && !strncmp(t->text, "false", 5)) {
            if (key) {
                qdict_put_bool(jp->out, key, false);
            }
        } else if (t->len == 4 && !strncmp(t->text, "null", 4)) {
            if (key) {
                qdict_put_null(jp->out, key);
            }
        } else {
            json_error(jp, "invalid keyword '%.*s'", (int)t->len, t->text);
        }
        return;
    default:
        json_error(jp, "expecting value");
        return;
    }
}

QDict *qdict_parse_json_value(const char *json, bool *not_object,
                              Error **errp)
{
    JsonParser jp = { .errp = errp, .out = qdict_new() };
    bool is_object = false;

    *not_object = false;
    if (!json_lex(&jp, json)) {
        goto fail;
    }
    if (jp.ntok == 0) {
        error_setg(errp, "Expecting a JSON value");
        goto fail;
    }
    json_value(&jp, NULL, 0, &is_object);
    if (jp.failed) {
        goto fail;
    }
    if (jp.pos < jp.ntok || jp.more) {
        error_setg(errp, "Expecting at most one JSON value");
        goto fail;
    }
    if (!is_object) {
        *not_object = true;
        error_setg(errp, "Invalid JSON object given");
        goto fail;
    }
    free(jp.tok);
    return jp.out;

fail:
    free(jp.tok);
    qdict_unref(jp.out);
    return NULL;
}

QDict *qdict_parse_json(const char *json, Error **errp)
{
    bool not_object;

    return qdict_parse_json_value(json, &not_object, errp);
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
    int ret;

    if (!v) {
        return def;
    }
    ret = qemu_strtosz(v, NULL, &n);
    if (ret == -ERANGE) {
        error_setg(errp, "Value '%s' is out of range for parameter '%s'", v, key);
        return def;
    }
    if (ret < 0) {
        error_setg(errp, "Parameter '%s' expects a non-negative number below 2^64",
                   key);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means kilo-, "
                          "mega-, giga-, tera-, peta-\nand exabytes, respectively.\n");
        return def;
    }
    return n;
}
