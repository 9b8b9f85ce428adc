/* Internal invariant checks. SP_ASSERT guards states that no caller argument and
   no peer byte can produce; it prints where and aborts, like any assertion. It
   must never be used to validate input: input errors return -errno. */
#ifndef SP_ERR_H
#define SP_ERR_H

#include <stdio.h>
#include <stdlib.h>

#define SP_ASSERT(cond)                                                        \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0)) {                                    \
            fprintf(stderr, "nanosp: internal invariant failed: %s (%s:%d)\n", \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Checks of the threading rules (which lock a function needs, which thread
   it runs on): on in every build without NDEBUG, which includes meson's
   default debugoptimized, the one CI tests with; compiled out (not even
   evaluated) in release builds, where they would cost the hot paths. */
#ifdef NDEBUG
#define SP_DEBUG_ASSERT(cond) ((void) 0)
#else
#define SP_DEBUG_ASSERT(cond) SP_ASSERT(cond)
#endif

/* Thread-local state of the library: the initial-exec model avoids a
   __tls_get_addr call per access on the hot path; the few bytes fit in the
   static TLS space glibc keeps for libraries loaded with dlopen (bindings). */
#define SP_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

#define SP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SP_LIKELY(x) __builtin_expect(!!(x), 1)
/* The functions a message passes through: placed together (.text.hot), so
   that a send or a receive touches fewer code lines and pages. */
#define SP_HOT __attribute__((hot))
/* A path a message rarely takes (a sleep, a blocked send): kept out of line
   and away from the hot code, so that it does not spread the common path of
   its caller over more cache lines. */
#define SP_COLD __attribute__((cold, noinline))

#endif
