# qemu-img/: the qemu-img and qemu-io programs.
