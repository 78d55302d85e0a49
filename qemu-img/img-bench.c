#include "qemu-img/img.h"
int img_bench(int argc, char **argv) { error_report("not implemented"); return 1; }
