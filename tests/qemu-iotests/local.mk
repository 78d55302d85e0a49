# tests/qemu-iotests/: golden-output regression tests.
