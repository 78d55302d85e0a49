#!/bin/sh
# coblock — feed the corpus of broken qcow2 images to the driver
#
# Copyright (C) 2026 The coblock authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Generates the images in a temporary directory and runs each against the
# driver (see qcow2-corpus.c): every case must end with the expected
# error or result, and none may crash, hang or exceed its memory limit.

set -u
P=${top_builddir:-.}/tests/qcow2-corpus/qcow2-corpus
P=$(cd "$(dirname "$P")" && pwd)/$(basename "$P")
dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-corpus.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$P" run "$dir"
