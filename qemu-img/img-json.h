/*
 * coblock — qemu-img: JSON values and their QEMU-compatible printing
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The --output=json of qemu-img is a pretty-printed document with
 * 4-space indentation.  Scripts compare it textually, so the member order
 * matters: QEMU's order is not insertion order but a fixed order per key
 * name (a property of how QEMU stores objects).  We reproduce it with a
 * table of key ranks (img-json.c) observed from QEMU 7.2's output; keys
 * we do not know keep insertion order after the known ones.
 *
 * The same tree also renders the human "Format specific information"
 * block (keys with '-' turned into spaces, nested values indented).
 */
#ifndef QEMU_IMG_IMG_JSON_H
#define QEMU_IMG_IMG_JSON_H

#include "util/osdep.h"
#include <coblock/qdict.h>

typedef struct JVal JVal;

JVal *jobj_new(void);
JVal *jarr_new(void);
void jval_free(JVal *v);

/* Members (added in any order; printing sorts them).  Adding a key that
 * exists replaces it.  jobj_add takes ownership of @child. */
void jobj_add(JVal *obj, const char *key, JVal *child);
void jobj_add_str(JVal *obj, const char *key, const char *s);
void jobj_add_int(JVal *obj, const char *key, int64_t n);
void jobj_add_uint(JVal *obj, const char *key, uint64_t n);
void jobj_add_bool(JVal *obj, const char *key, bool b);
void jarr_append(JVal *arr, JVal *child);
JVal *jstr_new(const char *s);
JVal *jint_new(int64_t n);

/* A value from a flat QDict with dotted keys ("a.b", "list.0.name"):
 * nested objects and arrays are rebuilt; types are kept. */
JVal *jval_from_qdict(const QDict *d);

/* Print @v as QEMU does (pretty, 4 spaces), followed by a newline. */
void jval_print(FILE *f, const JVal *v);
/* The human rendering of an object's members at @indent spaces. */
void jval_print_human(FILE *f, const JVal *v, int indent);

/* Reorder @obj's members: the keys in the NULL-terminated @order first,
 * in that order, then the others as they were. */
void jobj_sort(JVal *obj, const char *const *order);
/* A member of @obj, or NULL. */
JVal *jobj_get(const JVal *obj, const char *key);
/* Members or items of an object or array, and one of them by index. */
size_t jval_count(const JVal *v);
JVal *jval_item(const JVal *v, size_t i);

/* A string as a JSON string literal, QEMU's escaping (caller frees). */
char *json_quote(const char *s);

#endif /* QEMU_IMG_IMG_JSON_H */
