/* Shared by the unit suites: cmocka, and whether AddressSanitizer or
   ThreadSanitizer is in the build (a few checks read memory that both rightly
   call freed, and are only compiled in builds without either: UNIT_READS_FREED). Unit tests link the static library and include
   internal headers, so they are built with lib_c_args. */
#ifndef UNITTEST_H
#define UNITTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_HAVE_ASAN 1
#endif
#endif
#ifndef UNIT_HAVE_ASAN
#define UNIT_HAVE_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define UNIT_HAVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNIT_HAVE_TSAN 1
#endif
#endif
#ifndef UNIT_HAVE_TSAN
#define UNIT_HAVE_TSAN 0
#endif

#define UNIT_READS_FREED (!UNIT_HAVE_ASAN && !UNIT_HAVE_TSAN)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fills p with a pattern that depends on the position and a seed, so that a
   byte moved to the wrong place is noticed. */
static inline void unit_fill(void *p, size_t len, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char) (i * 31u + seed * 7u + (i >> 8));
}

/* True when p holds the pattern unit_fill(.., len, seed) wrote, starting at
   pattern position from. */
static inline bool unit_check(const void *p, size_t len, unsigned seed, size_t from)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        size_t k = i + from;
        if (b[i] != (unsigned char) (k * 31u + seed * 7u + (k >> 8)))
            return false;
    }
    return true;
}

#endif
