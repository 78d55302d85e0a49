#!/bin/sh
# The quick group of the iotests on qcow2 images (see run-quick.sh).
exec "$(dirname "$0")/run-quick.sh" qcow2
