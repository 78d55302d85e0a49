/*
 * coblock — qemu-img: JSON values and their QEMU-compatible printing
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Layout of QEMU's pretty printer, as observed: an object or array opens
 * on the line of its key, each member on its own line indented by four
 * more spaces, members separated by ",\n", the closing bracket on its own
 * line at the opening line's indentation; an empty array or object is
 * "[" newline "]".  Strings escape '"' and '\\', the usual \b \f \n \r \t,
 * other control characters and everything outside printable ASCII as
 * \uXXXX (upper-case hex, UTF-16 surrogate pairs above U+FFFF, U+FFFD for
 * each sequence that is not valid UTF-8; see utf8_next).
 */
#include "qemu-img/img-json.h"

typedef enum JType {
    J_OBJECT,
    J_ARRAY,
    J_STRING,
    J_NUMBER,       /* text kept as given */
    J_BOOL,
    J_NULL,
} JType;

struct JVal {
    JType type;
    char *text;             /* string, number */
    bool b;
    /* object members / array items */
    char **keys;            /* objects only */
    JVal **items;
    size_t n, cap;
};

static JVal *jval_new(JType type)
{
    JVal *v = qemu_xmalloc0(sizeof(*v));

    v->type = type;
    return v;
}

JVal *jobj_new(void)
{
    return jval_new(J_OBJECT);
}

JVal *jarr_new(void)
{
    return jval_new(J_ARRAY);
}

JVal *jstr_new(const char *s)
{
    JVal *v = jval_new(J_STRING);

    v->text = qemu_xstrdup(s);
    return v;
}

JVal *jint_new(int64_t n)
{
    JVal *v = jval_new(J_NUMBER);

    v->text = qemu_xasprintf("%" PRId64, n);
    return v;
}

void jval_free(JVal *v)
{
    size_t i;

    if (!v) {
        return;
    }
    for (i = 0; i < v->n; i++) {
        if (v->keys) {
            free(v->keys[i]);
        }
        jval_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->text);
    free(v);
}

static void grow(JVal *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->items = qemu_xrealloc(v->items, v->cap * sizeof(*v->items));
        if (v->type == J_OBJECT) {
            v->keys = qemu_xrealloc(v->keys, v->cap * sizeof(*v->keys));
        }
    }
}

void jobj_add(JVal *obj, const char *key, JVal *child)
{
    size_t i;

    assert(obj->type == J_OBJECT);
    for (i = 0; i < obj->n; i++) {
        if (!strcmp(obj->keys[i], key)) {
            jval_free(obj->items[i]);
            obj->items[i] = child;
            return;
        }
    }
    grow(obj);
    obj->keys[obj->n] = qemu_xstrdup(key);
    obj->items[obj->n++] = child;
}

void jobj_add_str(JVal *obj, const char *key, const char *s)
{
    jobj_add(obj, key, jstr_new(s));
}

void jobj_add_int(JVal *obj, const char *key, int64_t n)
{
    jobj_add(obj, key, jint_new(n));
}

void jobj_add_uint(JVal *obj, const char *key, uint64_t n)
{
    JVal *v = jval_new(J_NUMBER);

    v->text = qemu_xasprintf("%" PRIu64, n);
    jobj_add(obj, key, v);
}

void jobj_add_bool(JVal *obj, const char *key, bool b)
{
    JVal *v = jval_new(J_BOOL);

    v->b = b;
    jobj_add(obj, key, v);
}

void jarr_append(JVal *arr, JVal *child)
{
    assert(arr->type == J_ARRAY);
    grow(arr);
    arr->items[arr->n++] = child;
}

/* ---- from a flat, dotted QDict ---- */

static bool all_digits(const char *s, size_t len)
{
    size_t i;

    if (!len) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static JVal *leaf_from_entry(const QDictEntry *e)
{
    JVal *v;

    switch (qdict_entry_type(e)) {
    case QTYPE_QNUM:
        v = jval_new(J_NUMBER);
        v->text = qemu_xstrdup(qdict_entry_value(e));
        return v;
    case QTYPE_QBOOL:
        v = jval_new(J_BOOL);
        v->b = !strcmp(qdict_entry_value(e), "true") ||
               !strcmp(qdict_entry_value(e), "on");
        return v;
    case QTYPE_QNULL:
        return jval_new(J_NULL);
    case QTYPE_QSTRING:
    default:
        return jstr_new(qdict_entry_value(e));
    }
}

/* Find or create the container for @seg (length @len) inside @parent;
 * @want_array says what the next level is. */
static JVal *child_container(JVal *parent, const char *seg, size_t len,
                             bool want_array)
{
    size_t i;
    JVal *c;

    if (parent->type == J_OBJECT) {
        for (i = 0; i < parent->n; i++) {
            if (strlen(parent->keys[i]) == len &&
                !strncmp(parent->keys[i], seg, len)) {
                return parent->items[i];
            }
        }
        c = want_array ? jarr_new() : jobj_new();
        grow(parent);
        parent->keys[parent->n] = qemu_xstrndup(seg, len);
        parent->items[parent->n++] = c;
        return c;
    }
    /* arrays: items are appended in index order */
    i = (size_t)strtoul(seg, NULL, 10);
    if (i < parent->n) {
        return parent->items[i];
    }
    c = want_array ? jarr_new() : jobj_new();
    jarr_append(parent, c);
    return c;
}

JVal *jval_from_qdict(const QDict *d)
{
    JVal *root = jobj_new();
    const QDictEntry *e;

    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        const char *key = qdict_entry_key(e);
        JVal *cur = root;
        const char *dot;

        while ((dot = strchr(key, '.')) != NULL) {
            const char *next = dot + 1;
            const char *ndot = strchr(next, '.');
            size_t nlen = ndot ? (size_t)(ndot - next) : strlen(next);
            bool next_is_index = all_digits(next, nlen);

            if (cur->type == J_ARRAY && !all_digits(key, (size_t)(dot - key))) {
                break;          /* malformed; keep the rest as one key */
            }
            cur = child_container(cur, key, (size_t)(dot - key), next_is_index);
            key = next;
        }
        if (cur->type == J_ARRAY) {
            jarr_append(cur, leaf_from_entry(e));
        } else {
            jobj_add(cur, key, leaf_from_entry(e));
        }
    }
    return root;
}

/* ---- printing ---- */

/* Output goes to a growing buffer first (portable; no open_memstream). */
typedef struct StrBuf {
    char *buf;
    size_t len, cap;
} StrBuf;

static void sb_add(StrBuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = MAX(sb->cap * 2, sb->len + n + 64);
        sb->buf = qemu_xrealloc(sb->buf, sb->cap);
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sb_puts(StrBuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_putc(StrBuf *sb, char c)
{
    sb_add(sb, &c, 1);
}

static void QEMU_PRINTF(2, 3) sb_printf(StrBuf *sb, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof(tmp));
    sb_add(sb, tmp, (size_t)n);
}

static void sb_indent(StrBuf *sb, int n)
{
    while (n-- > 0) {
        sb_putc(sb, ' ');
    }
}

static void sb_flush(StrBuf *sb, FILE *f)
{
    if (sb->len) {
        fwrite(sb->buf, 1, sb->len, f);
    }
    free(sb->buf);
}

/*
 * Decode one sequence at *p the way QEMU's JSON output does ("modified"
 * UTF-8): the lead byte says how long the sequence is (up to six bytes);
 * a sequence cut short by a byte that is not a continuation byte is one
 * invalid character ending before that byte; a complete sequence that is
 * overlong, a surrogate or above U+10FFFF is one invalid character, except
 * C0 80, which is U+0000.  Returns the code point or -1 (invalid).
 */
static long utf8_next(const unsigned char **p)
{
    static const long min_cp[] = { 0, 0x80, 0x800, 0x10000, 0x200000,
                                   0x4000000 };
    const unsigned char *s = *p;
    long cp;
    int n, i;

    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    }
    if (s[0] < 0xc0 || s[0] >= 0xfe) {
        *p = s + 1;                 /* stray continuation byte, FE, FF */
        return -1;
    }
    if (s[0] < 0xe0) {
        n = 1;
        cp = s[0] & 0x1f;
    } else if (s[0] < 0xf0) {
        n = 2;
        cp = s[0] & 0x0f;
    } else if (s[0] < 0xf8) {
        n = 3;
        cp = s[0] & 0x07;
    } else if (s[0] < 0xfc) {
        n = 4;
        cp = s[0] & 0x03;
    } else {
        n = 5;
        cp = s[0] & 0x01;
    }
    for (i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *p = s + i;             /* cut short: ends before this byte */
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *p = s + n + 1;
    if (n == 1 && s[0] == 0xc0 && s[1] == 0x80) {
        return 0;
    }
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return -1;
    }
    return cp;
}

static void put_quoted(StrBuf *sb, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;

    sb_putc(sb, '"');
    while (*p) {
        long cp = utf8_next(&p);

        switch (cp) {
        case '"':  sb_puts(sb, "\\\""); break;
        case '\\': sb_puts(sb, "\\\\"); break;
        case '\b': sb_puts(sb, "\\b"); break;
        case '\f': sb_puts(sb, "\\f"); break;
        case '\n': sb_puts(sb, "\\n"); break;
        case '\r': sb_puts(sb, "\\r"); break;
        case '\t': sb_puts(sb, "\\t"); break;
        default:
            if (cp < 0) {
                sb_puts(sb, "\\uFFFD");
            } else if (cp >= 0x20 && cp < 0x7f) {
                sb_putc(sb, (char)cp);
            } else if (cp < 0x10000) {
                sb_printf(sb, "\\u%04lX", cp);
            } else {
                cp -= 0x10000;
                sb_printf(sb, "\\u%04lX\\u%04lX", 0xd800 + (cp >> 10),
                          0xdc00 + (cp & 0x3ff));
            }
        }
    }
    sb_putc(sb, '"');
}

char *json_quote(const char *s)
{
    StrBuf sb = { 0 };

    put_quoted(&sb, s);
    return sb.buf;
}

static void print_value(StrBuf *sb, const JVal *v, int level)
{
    size_t i;

    switch (v->type) {
    case J_STRING:
        put_quoted(sb, v->text);
        return;
    case J_NUMBER:
        sb_puts(sb, v->text);
        return;
    case J_BOOL:
        sb_puts(sb, v->b ? "true" : "false");
        return;
    case J_NULL:
        sb_puts(sb, "null");
        return;
    case J_OBJECT:
    case J_ARRAY:
        sb_putc(sb, v->type == J_OBJECT ? '{' : '[');
        for (i = 0; i < v->n; i++) {
            sb_puts(sb, i ? ",\n" : "\n");
            sb_indent(sb, (level + 1) * 4);
            if (v->type == J_OBJECT) {
                put_quoted(sb, v->keys[i]);
                sb_puts(sb, ": ");
            }
            print_value(sb, v->items[i], level + 1);
        }
        sb_putc(sb, '\n');
        sb_indent(sb, level * 4);
        sb_putc(sb, v->type == J_OBJECT ? '}' : ']');
        return;
    }
}

void jval_print(FILE *f, const JVal *v)
{
    StrBuf sb = { 0 };

    print_value(&sb, v, 0);
    sb_putc(&sb, '\n');
    sb_flush(&sb, f);
}

static void print_human_key(FILE *f, const char *key)
{
    for (; *key; key++) {
        fputc(*key == '-' ? ' ' : *key, f);
    }
}

static void print_human_scalar(FILE *f, const JVal *v)
{
    switch (v->type) {
    case J_STRING:
    case J_NUMBER:
        fputs(v->text, f);
        break;
    case J_BOOL:
        fputs(v->b ? "true" : "false", f);
        break;
    case J_NULL:
        fputs("null", f);
        break;
    default:
        break;
    }
}

/* One member (or array item, @key NULL, numbered @index) at @ind. */
static void print_human_item(FILE *f, const char *key, size_t index,
                             const JVal *v, int ind)
{
    size_t i;

    fprintf(f, "%*s", ind, "");
    if (key) {
        print_human_key(f, key);
    } else {
        fprintf(f, "[%zu]", index);
    }
    if (v->type == J_OBJECT || v->type == J_ARRAY) {
        fputs(":\n", f);
        for (i = 0; i < v->n; i++) {
            print_human_item(f, v->type == J_OBJECT ? v->keys[i] : NULL, i,
                             v->items[i], ind + 4);
        }
    } else {
        fputs(": ", f);
        print_human_scalar(f, v);
        fputc('\n', f);
    }
}

void jval_print_human(FILE *f, const JVal *v, int ind)
{
    size_t i;

    for (i = 0; i < v->n; i++) {
        print_human_item(f, v->type == J_OBJECT ? v->keys[i] : NULL, i,
                         v->items[i], ind);
    }
}

/* ---- ordering ---- */

static int rank_of(const char *const *order, const char *key)
{
    int i;

    for (i = 0; order[i]; i++) {
        if (!strcmp(order[i], key)) {
            return i;
        }
    }
    return i;
}

void jobj_sort(JVal *obj, const char *const *order)
{
    size_t i, j;

    if (!obj || obj->type != J_OBJECT) {
        return;
    }
    /* Insertion sort: stable, and objects are small. */
    for (i = 1; i < obj->n; i++) {
        char *k = obj->keys[i];
        JVal *v = obj->items[i];
        int r = rank_of(order, k);

        for (j = i; j > 0 && rank_of(order, obj->keys[j - 1]) > r; j--) {
            obj->keys[j] = obj->keys[j - 1];
            obj->items[j] = obj->items[j - 1];
        }
        obj->keys[j] = k;
        obj->items[j] = v;
    }
}

JVal *jobj_get(const JVal *obj, const char *key)
{
    size_t i;

    if (!obj || obj->type != J_OBJECT) {
        return NULL;
    }
    for (i = 0; i < obj->n; i++) {
        if (!strcmp(obj->keys[i], key)) {
            return obj->items[i];
        }
    }
    return NULL;
}

size_t jval_count(const JVal *v)
{
    return v ? v->n : 0;
}

JVal *jval_item(const JVal *v, size_t i)
{
    return v && i < v->n ? v->items[i] : NULL;
}
