/* Every fuzz target implements the libFuzzer entry point; replay_main.c
 * drives it over a corpus when libFuzzer is not used. */
#ifndef PHI_FUZZ_H
#define PHI_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
