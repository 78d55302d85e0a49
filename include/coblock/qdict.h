/*
 * coblock — option dictionaries
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A QDict holds the options of an image as a flat, ordered map from keys
 * to values.  Options of a child node use dotted keys, as on QEMU's
 * command line: "driver=qcow2", "file.filename=disk.qcow2",
 * "file.aio=native", "cache.direct=on".  Values are kept as text with
 * their JSON type (string, number, boolean or null), so that a QDict
 * parsed from a json: filename can be written back faithfully.
 *
 * Ownership: qdict_new returns a reference the caller owns; functions
 * documented as taking the QDict (blk_new_open, for one) consume that
 * reference.  A QDict is not thread-safe.
 */
#ifndef COBLOCK_QDICT_H
#define COBLOCK_QDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <coblock/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct QDict QDict;
typedef struct QDictEntry QDictEntry;

typedef enum QType {
    QTYPE_QSTRING,
    QTYPE_QNUM,
    QTYPE_QBOOL,
    QTYPE_QNULL,
} QType;

QDict *qdict_new(void);
QDict *qdict_ref(QDict *d);
void qdict_unref(QDict *d);
/* A new QDict with copies of every entry. */
QDict *qdict_clone(const QDict *d);

/* Setting a key that exists replaces its value in place. */
void qdict_put_str(QDict *d, const char *key, const char *value);
void qdict_put_int(QDict *d, const char *key, int64_t value);
void qdict_put_bool(QDict *d, const char *key, bool value);
void qdict_put_null(QDict *d, const char *key);
/* Put with an explicit type; @value is the text of the value. */
void qdict_put_typed(QDict *d, const char *key, QType type, const char *value);

bool qdict_haskey(const QDict *d, const char *key);
/* The text of the value of @key, or NULL. */
const char *qdict_get_try_str(const QDict *d, const char *key);
QType qdict_get_type(const QDict *d, const char *key);
void qdict_del(QDict *d, const char *key);
size_t qdict_size(const QDict *d);

/* Ordered iteration; entries stay valid until the QDict is changed. */
const QDictEntry *qdict_first(const QDict *d);
const QDictEntry *qdict_next(const QDict *d, const QDictEntry *e);
const char *qdict_entry_key(const QDictEntry *e);
const char *qdict_entry_value(const QDictEntry *e);
QType qdict_entry_type(const QDictEntry *e);

/* Move every "PREFIX.rest" entry of @src into a new QDict *dst as
 * "rest". */
void qdict_extract_subqdict(QDict *src, QDict **dst, const char *prefix);
/* Copy entries of @src whose key is not in @dst. */
void qdict_join(QDict *dst, const QDict *src, bool overwrite);

/* Parse "key=value,key=value".  A literal comma in a value is written
 * ",,".  A first element without "=" is taken as the value of
 * @implied_key (if not NULL).  Returns NULL and sets *errp on bad
 * syntax. */
QDict *qdict_parse_keyval(const char *str, const char *implied_key,
                          Error **errp);
/* Parse a JSON object (the part after "json:"), flattening nested
 * objects into dotted keys and arrays into ".0", ".1", ... keys.  Errors
 * are worded as QEMU's ("JSON parse error, premature EOI", "Invalid JSON
 * object given" for valid JSON that is not an object, ...). */
QDict *qdict_parse_json(const char *json, Error **errp);
/* The QDict as a nested JSON object, dotted keys unflattened; the caller
 * frees the string. */
char *qdict_to_json(const QDict *d);

/* Typed getters.  A missing key yields @def.  A value that does not
 * parse sets *errp ("Parameter 'KEY' expects ...", for sizes with a
 * hint on the suffixes; "Value 'V' is out of range for parameter 'KEY'"
 * for a size of 2^64 or more) and returns @def. */
bool qdict_get_bool_opt(const QDict *d, const char *key, bool def, Error **errp);
int64_t qdict_get_int_opt(const QDict *d, const char *key, int64_t def, Error **errp);
uint64_t qdict_get_size_opt(const QDict *d, const char *key, uint64_t def, Error **errp);

#ifdef __cplusplus
}
#endif

#endif /* COBLOCK_QDICT_H */
