#ifndef COHORT_CROARING_SHIM_H
#define COHORT_CROARING_SHIM_H
// Debian's libroaring-dev ships no pkg-config file, so the module map links
// `roaring` directly and this shim pulls in the public header.
#include <roaring/roaring.h>
#endif
