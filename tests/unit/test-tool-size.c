/*
 * coblock — the tools' size syntax (tool_parse_size)
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The expected values follow from the syntax (units are powers of 1024,
 * fractions round to the nearest byte); tests/qemu-io-compare.sh checks
 * the same strings against QEMU's qemu-io itself.
 */
#include "test-common.h"
#include "qemu-img/tool-common.h"

MINICHECK_GLOBALS

#define KIB 1024ull
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)
#define PIB (TIB * 1024)
#define EIB (PIB * 1024)

static const struct {
    const char *str;
    int ret;
    uint64_t value;
    bool hex_suffix;
} cases[] = {
    { "0", 0, 0, false },
    { "4096", 0, 4096, false },
    { "010", 0, 10, false },            /* decimal, not octal */
    { "+1", 0, 1, false },
    { "1b", 0, 1, false },
    { "1B", 0, 1, false },
    { "1k", 0, KIB, false },
    { "1K", 0, KIB, false },
    { "1m", 0, MIB, false },
    { "1g", 0, GIB, false },
    { "1T", 0, TIB, false },
    { "1p", 0, PIB, false },
    { "1E", 0, EIB, false },
    { "15E", 0, 15 * EIB, false },      /* fits in 64 bits */
    { "16E", -ERANGE, 0, false },
    { "1.5k", 0, 1536, false },
    { "0.7k", 0, 717, false },          /* 716.8 rounds up */
    { "0.3k", 0, 307, false },          /* 307.2 rounds down */
    { "0.00048828125k", 0, 1, false },  /* exactly half a byte: up */
    { "1.", 0, 1, false },
    { "1.k", 0, KIB, false },
    { "1.0", 0, 1, false },             /* a zero fraction needs no unit */
    { "1.5", -EINVAL, 0, false },       /* a fraction of a byte */
    { "1.5b", -EINVAL, 0, false },
    { ".5k", -EINVAL, 0, false },
    { "0.999999999999999999k", 0, 0, false }, /* rounds to 1.0: dropped */
    { "0x10", 0, 16, false },
    { "0X10", 0, 16, false },
    { "0x10b", 0, 0x10b, false },       /* b and e are hex digits */
    { "0x1E", 0, 0x1e, false },
    { "0x10k", 0, 16 * KIB, true },
    { "0x1p3", -EINVAL, 0, true },      /* warned about, then refused */
    { "0x1.8k", -EINVAL, 0, false },
    { "0x", -EINVAL, 0, false },
    { "0xk", -EINVAL, 0, false },
    { "0xffffffffffffffff", 0, UINT64_MAX, false },
    { "0x10000000000000000", -ERANGE, 0, false },
    { "18446744073709551615", 0, UINT64_MAX, false },
    { "18446744073709551616", -ERANGE, 0, false },
    { "17179869183T", -ERANGE, 0, false },
    { "1e3", -EINVAL, 0, false },
    { "1kB", -EINVAL, 0, false },
    { "1k1", -EINVAL, 0, false },
    { "-1", -EINVAL, 0, false },
    { "", -EINVAL, 0, false },
    { "x", -EINVAL, 0, false },
    { "1.2.3", -EINVAL, 0, false },
    { "inf", -EINVAL, 0, false },
    { "1 ", -EINVAL, 0, false },
};

START_TEST(test_sizes)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t value = 12345;
        bool hex_suffix = !cases[i].hex_suffix;
        int ret = tool_parse_size(cases[i].str, &value, &hex_suffix);

        ck_assert_msg(ret == cases[i].ret, "\"%s\": returned %d, want %d",
                      cases[i].str, ret, cases[i].ret);
        ck_assert_msg(hex_suffix == cases[i].hex_suffix,
                      "\"%s\": hex suffix flag %d", cases[i].str, hex_suffix);
        if (ret == 0) {
            ck_assert_msg(value == cases[i].value,
                          "\"%s\": %" PRIu64 ", want %" PRIu64,
                          cases[i].str, value, cases[i].value);
        } else {
            ck_assert_msg(value == 12345, "\"%s\": value changed on error",
                          cases[i].str);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tool-size");
    TCase *tc = tcase_create("size");

    tcase_add_test(tc, test_sizes);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
