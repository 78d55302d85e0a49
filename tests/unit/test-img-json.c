/*
 * coblock — qemu-img's JSON output against the text QEMU 7.2 prints
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The expected texts are what QEMU 7.2's qemu-img prints for the same
 * values (info --output=json of images with such names and bitmaps);
 * scripts compare this output textually, so every byte matters.
 */
#include "test-common.h"
#include "qemu-img/img-json.h"

MINICHECK_GLOBALS

/* Everything @print wrote to a temporary file, as a string. */
static char *capture(void (*print)(FILE *f, const JVal *v, int arg),
                     const JVal *v, int arg)
{
    FILE *f = tmpfile();
    long len;
    char *buf;

    ck_assert_ptr_nonnull(f);
    print(f, v, arg);
    fflush(f);
    len = ftell(f);
    ck_assert_int_ge(len, 0);
    buf = qemu_xmalloc0((size_t)len + 1);
    rewind(f);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

static void print_json(FILE *f, const JVal *v, int arg)
{
    (void)arg;
    jval_print(f, v);
}

static void print_human(FILE *f, const JVal *v, int indent)
{
    jval_print_human(f, v, indent);
}

static void check_quote(const char *in, const char *expect)
{
    char *q = json_quote(in);

    ck_assert_str_eq(q, expect);
    free(q);
}

START_TEST(test_escaping)
{
    check_quote("plain/name.img", "\"plain/name.img\"");
    /* QEMU: "we\"i\\rd\t\u00E9\u007F.img" */
    check_quote("we\"i\\rd\t\xc3\xa9\x7f.img",
                "\"we\\\"i\\\\rd\\t\\u00E9\\u007F.img\"");
    check_quote("\b\f\n\r\x01\x1f", "\"\\b\\f\\n\\r\\u0001\\u001F\"");
    /* Invalid UTF-8: U+FFFD per bad sequence, as QEMU 7.2 prints the
     * names of images called so; C0 80 is U+0000 ("modified" UTF-8). */
    check_quote("ab\xff.img", "\"ab\\uFFFD.img\"");
    check_quote("\xc3(", "\"\\uFFFD(\"");
    check_quote("\xe2\x82(", "\"\\uFFFD(\"");
    check_quote("\x80\x80", "\"\\uFFFD\\uFFFD\"");
    check_quote("\xe0\x80\x80", "\"\\uFFFD\"");             /* overlong */
    check_quote("\xf0\x80\x80\x80", "\"\\uFFFD\"");
    check_quote("\xc1\xbf", "\"\\uFFFD\"");
    check_quote("\xed\xa0\x80", "\"\\uFFFD\"");             /* surrogate */
    check_quote("\xf4\x90\x80\x80", "\"\\uFFFD\"");         /* > U+10FFFF */
    check_quote("\xf8\x88\x80\x80\x80", "\"\\uFFFD\"");     /* five bytes */
    check_quote("a\xc0\x80" "b", "\"a\\u0000b\"");
    /* above U+FFFF: a surrogate pair */
    check_quote("x\xf0\x9f\x98\x80.img", "\"x\\uD83D\\uDE00.img\"");
    check_quote("", "\"\"");
}
END_TEST

START_TEST(test_layout)
{
    /* The shape of QEMU's info for a qcow2 image with two bitmaps. */
    JVal *o = jobj_new(), *fs = jobj_new(), *data = jobj_new();
    JVal *bitmaps = jarr_new(), *b1 = jobj_new(), *b2 = jobj_new();
    JVal *flags1 = jarr_new();
    char *out;

    jobj_add_int(o, "virtual-size", 1048576);
    jobj_add_str(o, "filename", "df.qcow2");
    jarr_append(flags1, jstr_new("auto"));
    jobj_add(b1, "flags", flags1);
    jobj_add_str(b1, "name", "bm1");
    jobj_add_int(b1, "granularity", 65536);
    jobj_add(b2, "flags", jarr_new());
    jobj_add_str(b2, "name", "bm2");
    jarr_append(bitmaps, b1);
    jarr_append(bitmaps, b2);
    jobj_add_str(data, "compat", "1.1");
    jobj_add(data, "bitmaps", bitmaps);
    jobj_add_bool(data, "corrupt", false);
    jobj_add_str(fs, "type", "qcow2");
    jobj_add(fs, "data", data);
    jobj_add(o, "format-specific", fs);
    jobj_add_bool(o, "dirty-flag", false);

    out = capture(print_json, o, 0);
    ck_assert_str_eq(out,
        "{\n"
        "    \"virtual-size\": 1048576,\n"
        "    \"filename\": \"df.qcow2\",\n"
        "    \"format-specific\": {\n"
        "        \"type\": \"qcow2\",\n"
        "        \"data\": {\n"
        "            \"compat\": \"1.1\",\n"
        "            \"bitmaps\": [\n"
        "                {\n"
        "                    \"flags\": [\n"
        "                        \"auto\"\n"
        "                    ],\n"
        "                    \"name\": \"bm1\",\n"
        "                    \"granularity\": 65536\n"
        "                },\n"
        "                {\n"
        "                    \"flags\": [\n"
        "                    ],\n"
        "                    \"name\": \"bm2\"\n"
        "                }\n"
        "            ],\n"
        "            \"corrupt\": false\n"
        "        }\n"
        "    },\n"
        "    \"dirty-flag\": false\n"
        "}\n");
    free(out);

    /* The human form of the same format-specific data. */
    out = capture(print_human, data, 4);
    ck_assert_str_eq(out,
        "    compat: 1.1\n"
        "    bitmaps:\n"
        "        [0]:\n"
        "            flags:\n"
        "                [0]: auto\n"
        "            name: bm1\n"
        "            granularity: 65536\n"
        "        [1]:\n"
        "            flags:\n"
        "            name: bm2\n"
        "    corrupt: false\n");
    free(out);
    jval_free(o);

    /* A top-level list (info --backing-chain --output=json). */
    o = jarr_new();
    jarr_append(o, jobj_new());
    out = capture(print_json, o, 0);
    ck_assert_str_eq(out, "[\n    {\n    }\n]\n");
    free(out);
    jval_free(o);
}
END_TEST

START_TEST(test_replace_and_sort)
{
    static const char *const order[] = {
        "compat", "compression-type", "lazy-refcounts", "refcount-bits",
        "corrupt", "extended-l2", NULL
    };
    JVal *o = jobj_new();
    char *out;

    /* Insertion order differs from QEMU's; an unknown key goes last. */
    jobj_add_bool(o, "extended-l2", false);
    jobj_add_str(o, "vendor-key", "x");
    jobj_add_bool(o, "corrupt", true);
    jobj_add_int(o, "refcount-bits", 16);
    jobj_add_str(o, "compat", "0.10");
    jobj_add_str(o, "compat", "1.1");        /* replaces, keeps one */
    jobj_add_str(o, "compression-type", "zlib");
    jobj_add_bool(o, "lazy-refcounts", false);
    jobj_sort(o, order);
    ck_assert_ptr_nonnull(jobj_get(o, "corrupt"));
    ck_assert_ptr_null(jobj_get(o, "missing"));
    ck_assert_int_eq(jval_count(o), 7);
    out = capture(print_json, o, 0);
    ck_assert_str_eq(out,
        "{\n"
        "    \"compat\": \"1.1\",\n"
        "    \"compression-type\": \"zlib\",\n"
        "    \"lazy-refcounts\": false,\n"
        "    \"refcount-bits\": 16,\n"
        "    \"corrupt\": true,\n"
        "    \"extended-l2\": false,\n"
        "    \"vendor-key\": \"x\"\n"
        "}\n");
    free(out);
    jval_free(o);
}
END_TEST

START_TEST(test_from_qdict)
{
    QDict *d = qdict_new();
    JVal *v, *list;
    char *out;

    /* A driver's flat, dotted keys become nested values, types kept. */
    qdict_put_str(d, "compat", "1.1");
    qdict_put_str(d, "bitmaps.0.flags.0", "in-use");
    qdict_put_str(d, "bitmaps.0.flags.1", "auto");
    qdict_put_str(d, "bitmaps.0.name", "a");
    qdict_put_int(d, "bitmaps.0.granularity", 65536);
    qdict_put_str(d, "bitmaps.1.name", "b");
    qdict_put_bool(d, "encrypt.slots.0.active", true);
    qdict_put_null(d, "nothing");
    v = jval_from_qdict(d);
    list = jobj_get(v, "bitmaps");
    ck_assert_int_eq(jval_count(list), 2);
    ck_assert_int_eq(jval_count(jobj_get(jval_item(list, 0), "flags")), 2);
    out = capture(print_json, v, 0);
    ck_assert_str_eq(out,
        "{\n"
        "    \"compat\": \"1.1\",\n"
        "    \"bitmaps\": [\n"
        "        {\n"
        "            \"flags\": [\n"
        "                \"in-use\",\n"
        "                \"auto\"\n"
        "            ],\n"
        "            \"name\": \"a\",\n"
        "            \"granularity\": 65536\n"
        "        },\n"
        "        {\n"
        "            \"name\": \"b\"\n"
        "        }\n"
        "    ],\n"
        "    \"encrypt\": {\n"
        "        \"slots\": [\n"
        "            {\n"
        "                \"active\": true\n"
        "            }\n"
        "        ]\n"
        "    },\n"
        "    \"nothing\": null\n"
        "}\n");
    free(out);
    jval_free(v);
    qdict_unref(d);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("img-json");
    TCase *tc = tcase_create("json");

    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_replace_and_sort);
    tcase_add_test(tc, test_from_qdict);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(json_suite());
}
