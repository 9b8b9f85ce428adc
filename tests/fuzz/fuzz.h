/* The entry point every fuzz target defines (libFuzzer's convention). Built
   either with -fsanitize=fuzzer (tools/fuzz.sh) or with standalone.c, which
   replays a seed corpus and pseudo-random inputs (the 'fuzz' test suite). */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Default visibility: the library's build hides symbols, libFuzzer's runtime
   must still find this one. */
__attribute__((visibility("default"))) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
