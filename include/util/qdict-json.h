/*
 * coblock — the JSON parser behind qdict_parse_json, for json: filenames
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef UTIL_QDICT_JSON_H
#define UTIL_QDICT_JSON_H

#include <coblock/qdict.h>

/*
 * qdict_parse_json(), telling apart a text that is valid JSON but not an
 * object (*not_object set, error "Invalid JSON object given"), which
 * json: filenames report without the "Could not parse the JSON options"
 * prefix, as QEMU does.
 */
QDict *qdict_parse_json_value(const char *json, bool *not_object,
                              Error **errp);

#endif /* UTIL_QDICT_JSON_H */
