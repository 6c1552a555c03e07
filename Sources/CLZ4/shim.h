#ifndef COHORT_CLZ4_SHIM_H
#define COHORT_CLZ4_SHIM_H
#include <lz4.h>
#endif
