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

/* Optional, libFuzzer's too: called once before the first input (standalone.c
   calls it as well), while the process has no thread of the library yet. */
__attribute__((weak, visibility("default"))) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Optional, used by standalone.c only: writes a well-formed input of at most
   cap bytes into buf, using rnd() for every choice, and returns its length.
   Random mutations mostly produce inputs rejected early; a target that
   defines this gets a share of inputs that go deep. */
__attribute__((weak)) size_t fuzz_generate(uint8_t *buf, size_t cap, uint64_t (*rnd)(void));

#endif
