#include "qemu-img/img.h"
int img_convert(int argc, char **argv) { error_report("not implemented"); return 1; }
int img_dd(int argc, char **argv) { error_report("not implemented"); return 1; }
