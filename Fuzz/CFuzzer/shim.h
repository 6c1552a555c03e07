#ifndef COHORT_CFUZZER_SHIM_H
#define COHORT_CFUZZER_SHIM_H
#include <stddef.h>
#include <stdint.h>
// libFuzzer's driver (in the runtime -sanitize=fuzzer links): runs the fuzzing loop with
// the command line's options, calling `callback` for each input.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
