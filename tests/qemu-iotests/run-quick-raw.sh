#!/bin/sh
# The quick group of the iotests on raw images (see run-quick.sh).
exec "$(dirname "$0")/run-quick.sh" raw
