#ifndef COHORT_CINTRINSICS_SHIM_H
#define COHORT_CINTRINSICS_SHIM_H
// Compiler intrinsics Swift does not expose. Header-only: nothing to link.

// Asks the CPU to bring the cache line holding `address` closer (for a read, kept in
// every cache level). A hint: never faults, whatever the address.
static inline void cohort_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
#endif
