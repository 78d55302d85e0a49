#include "qemu-img/img.h"
int img_compare(int argc, char **argv) { error_report("not implemented"); return 1; }
