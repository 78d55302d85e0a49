#include "qemu-img/img.h"
int img_commit(int argc, char **argv) { error_report("not implemented"); return 1; }
int img_rebase(int argc, char **argv) { error_report("not implemented"); return 1; }
